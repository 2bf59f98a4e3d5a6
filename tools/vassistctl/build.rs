// SPDX-License-Identifier: GPL-2.0

//! Generates the family's tables (commands, definitions, attribute sets)
//! from Documentation/netlink/specs/vassist.yaml, the one source the kernel
//! side and the uapi header are generated from too.

use std::fmt::Write as _;
use std::path::PathBuf;
use yaml_rust2::{Yaml, YamlLoader};

const SPEC: &str = "../../Documentation/netlink/specs/vassist.yaml";

fn ident(name: &str) -> String {
    name.replace('-', "_").to_uppercase()
}

fn str_of<'a>(y: &'a Yaml, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{SPEC}: {what} is not a string"))
}

fn list(y: &Yaml) -> &[Yaml] {
    y.as_vec().map_or(&[], Vec::as_slice)
}

fn main() {
    println!("cargo:rerun-if-changed={SPEC}");
    let text = std::fs::read_to_string(SPEC).expect("read the netlink spec");
    let docs = YamlLoader::load_from_str(&text).expect("parse the netlink spec");
    let spec = &docs[0];
    let mut out = String::new();
    let name = str_of(&spec["name"], "name");
    let version = spec["version"].as_i64().unwrap_or(1);
    writeln!(out, "pub const FAMILY: &str = {name:?};").unwrap();
    writeln!(out, "pub const VERSION: u8 = {version};").unwrap();

    let groups: Vec<&str> = list(&spec["mcast-groups"]["list"])
        .iter()
        .map(|g| str_of(&g["name"], "mcast-groups name"))
        .collect();
    writeln!(out, "pub const MCGRPS: &[&str] = &{groups:?};").unwrap();

    // Commands are numbered from 1 in list order (genetlink), unless given.
    writeln!(out, "pub mod cmd {{").unwrap();
    let mut value = 0;
    for op in list(&spec["operations"]["list"]) {
        value = op["value"].as_i64().unwrap_or(value + 1);
        let n = str_of(&op["name"], "operation name");
        writeln!(out, "    pub const {}: u8 = {value};", ident(n)).unwrap();
    }
    writeln!(out, "}}").unwrap();

    // Enums count from value-start (0); flags are bits from it.
    for def in list(&spec["definitions"]) {
        let n = str_of(&def["name"], "definition name");
        let flags = matches!(def["type"].as_str(), Some("flags"));
        let start = def["value-start"].as_i64().unwrap_or(0);
        let entries: Vec<&str> = list(&def["entries"])
            .iter()
            .map(|e| {
                e.as_str()
                    .unwrap_or_else(|| str_of(&e["name"], "entry name"))
            })
            .collect();
        writeln!(
            out,
            "pub static ENUM_{}: Enum = Enum {{ flags: {flags}, start: {start}, entries: &{entries:?} }};",
            ident(n)
        )
        .unwrap();
    }

    // Attributes are numbered from 1 in list order, unless given.
    for set in list(&spec["attribute-sets"]) {
        let n = str_of(&set["name"], "attribute-set name");
        writeln!(
            out,
            "pub static SET_{}: AttrSet = AttrSet {{ name: {n:?}, attrs: &[",
            ident(n)
        )
        .unwrap();
        let mut value = 0;
        for a in list(&set["attributes"]) {
            value = a["value"].as_i64().unwrap_or(value + 1);
            let an = str_of(&a["name"], "attribute name");
            let ty = match str_of(&a["type"], "attribute type") {
                "u16" => "Type::U16".to_string(),
                "u32" => "Type::U32".to_string(),
                "uint" => "Type::Uint".to_string(),
                "flag" => "Type::Flag".to_string(),
                "string" => "Type::String".to_string(),
                "binary" => "Type::Binary".to_string(),
                "nest" => format!(
                    "Type::Nest(&SET_{})",
                    ident(str_of(&a["nested-attributes"], "nested-attributes"))
                ),
                t => panic!("{SPEC}: attribute {an}: type {t} not handled"),
            };
            let enumeration = a["enum"]
                .as_str()
                .map_or("None".to_string(), |e| format!("Some(&ENUM_{})", ident(e)));
            writeln!(
                out,
                "    Attr {{ name: {an:?}, value: {value}, ty: {ty}, enumeration: {enumeration} }},"
            )
            .unwrap();
        }
        writeln!(out, "] }};").unwrap();
    }
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("spec.rs");
    std::fs::write(dest, out).expect("write the generated tables");
}
