// SPDX-License-Identifier: GPL-2.0

//! vassistctl: configure the vassist kernel module.
//!
//! ```text
//! vassistctl [-j] port add  dev IFNAME | ifindex N  [snoop on|off]
//! vassistctl [-j] port set  dev IFNAME | ifindex N  [snoop on|off]
//! vassistctl      port del  dev IFNAME | ifindex N
//! vassistctl [-j] port show [dev IFNAME | ifindex N]
//! vassistctl [-j] monitor
//! ```
//! `-j` prints JSON keyed by the netlink spec's attribute names. Errors print
//! the kernel's extended-ack message and exit non-zero.

mod genl;
mod spec;

use clap::{Parser, Subcommand};
use genl::{AttrBuf, Attrs, GenlMsg, NlError, Socket};
use serde_json::{json, Map, Value};
use std::process::ExitCode;

#[derive(Parser)]
#[command(version, about = "Configure the vassist kernel module")]
struct Cli {
    /// JSON output, keyed by the netlink spec's attribute names.
    #[arg(short = 'j', long = "json", global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Ports: bridge port devices vassist assists.
    Port {
        #[command(subcommand)]
        cmd: PortCmd,
    },
    /// Print port notifications as they happen.
    Monitor,
}

#[derive(Subcommand)]
enum PortCmd {
    /// Attach a bridge port: `dev NAME | ifindex N [snoop on|off]`.
    Add {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Change a port's features: `dev NAME | ifindex N [snoop on|off]`.
    Set {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Detach a port: `dev NAME | ifindex N`.
    Del {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Show one port or all of this network namespace.
    Show {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// A port selector and feature changes, parsed ip(8)-style.
#[derive(Default, Debug, PartialEq)]
struct PortArgs {
    dev: Option<String>,
    ifindex: Option<u32>,
    /// (feature bit, on?)
    features: Vec<(u32, bool)>,
}

fn parse_port_args(args: &[String], features_allowed: bool) -> Result<PortArgs, String> {
    let mut out = PortArgs::default();
    let mut it = args.iter();
    while let Some(key) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("'{key}' needs a value"));
        match key.as_str() {
            "dev" => out.dev = Some(value()?.clone()),
            "ifindex" => {
                let v = value()?;
                out.ifindex = Some(v.parse().map_err(|_| format!("bad ifindex '{v}'"))?);
            }
            "snoop" | "ack-offload" if features_allowed => {
                let on = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    v => return Err(format!("'{key}' takes on|off, not '{v}'")),
                };
                out.features.push((1 << feature_bit("ack-offload"), on));
            }
            k => return Err(format!("unexpected '{k}'")),
        }
    }
    Ok(out)
}

fn feature_bit(name: &str) -> u32 {
    spec::FEATURES
        .iter()
        .position(|f| *f == name)
        .expect("spec feature") as u32
}

impl PortArgs {
    fn selector(&self, a: &mut AttrBuf) {
        if let Some(i) = self.ifindex {
            a.u32(spec::A_PORT_IFINDEX, i);
        }
        if let Some(d) = &self.dev {
            a.str(spec::A_PORT_IFNAME, d);
        }
    }

    fn has_selector(&self) -> bool {
        self.dev.is_some() || self.ifindex.is_some()
    }

    /// The feature mask after applying the changes to `current`.
    fn apply(&self, current: u32) -> u32 {
        self.features
            .iter()
            .fold(current, |f, &(bit, on)| if on { f | bit } else { f & !bit })
    }
}

/// A port (or port-del-ntf) message as JSON keyed by spec names.
fn port_json(msg: &GenlMsg) -> Value {
    let mut o = Map::new();
    for a in msg.attrs() {
        match a.ty {
            spec::A_PORT_IFINDEX => o.insert("ifindex".into(), json!(a.u32())),
            spec::A_PORT_IFNAME => o.insert("ifname".into(), json!(a.str())),
            spec::A_PORT_MASTER_IFINDEX => o.insert("master-ifindex".into(), json!(a.u32())),
            spec::A_PORT_FEATURES => {
                let bits = a.u32().unwrap_or(0);
                let names: Vec<_> = spec::FEATURES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| bits & (1 << i) != 0)
                    .map(|(_, n)| *n)
                    .collect();
                o.insert("features".into(), json!(names))
            }
            spec::A_PORT_STATS => o.insert("stats".into(), stats_json(a.nested())),
            spec::A_PORT_DETACH_REASON => o.insert(
                "detach-reason".into(),
                json!(a.u32().and_then(|r| spec::DETACH_REASONS.get(r as usize))),
            ),
            _ => None,
        };
    }
    Value::Object(o)
}

fn stats_json(attrs: Attrs<'_>) -> Value {
    let mut o = Map::new();
    for a in attrs {
        if let Some(name) = spec::PORT_STATS.get(usize::from(a.ty).wrapping_sub(1)) {
            o.insert((*name).into(), json!(a.uint()));
        }
    }
    Value::Object(o)
}

fn print_port(p: &Value) {
    let s = |k: &str| p["stats"][k].as_u64().unwrap_or(0);
    let features = p["features"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    println!(
        "{}: {} master {} features {}",
        p["ifindex"],
        p["ifname"].as_str().unwrap_or("?"),
        p["master-ifindex"],
        if features.is_empty() {
            "none"
        } else {
            &features
        }
    );
    println!(
        "    to-guest:   packets {} bytes {} tcp-segs {}",
        s("to-guest-packets"),
        s("to-guest-bytes"),
        s("to-guest-tcp-segs")
    );
    println!(
        "    from-guest: packets {} bytes {} tcp-segs {}",
        s("from-guest-packets"),
        s("from-guest-bytes"),
        s("from-guest-tcp-segs")
    );
}

/// Parses a command's arguments, which must name a port, into the
/// selector attributes.
fn select(args: &[String], features: bool, what: &str) -> Result<(PortArgs, AttrBuf), String> {
    let p = parse_port_args(args, features)?;
    if !p.has_selector() {
        return Err(format!("port {what} needs 'dev NAME' or 'ifindex N'"));
    }
    let mut a = AttrBuf::default();
    p.selector(&mut a);
    Ok((p, a))
}

struct Ctl {
    sock: Socket,
    family: u16,
    groups: Vec<(String, u32)>,
}

impl Ctl {
    fn open() -> Result<Ctl, NlError> {
        let mut sock = Socket::open()?;
        let (family, groups) = sock.resolve(spec::FAMILY).map_err(|e| match e.errno {
            libc::ENOENT => NlError {
                errno: e.errno,
                msg: Some(
                    "generic netlink family 'vassist' not found: is vassist.ko loaded?".into(),
                ),
            },
            _ => e,
        })?;
        Ok(Ctl {
            sock,
            family,
            groups,
        })
    }

    fn call(&mut self, cmd: u8, dump: bool, attrs: &AttrBuf) -> Result<Vec<Value>, NlError> {
        let replies = self
            .sock
            .request(self.family, cmd, spec::VERSION, dump, attrs)?;
        Ok(replies.iter().map(port_json).collect())
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let nl = |e: NlError| e.to_string();
    let mut ctl = Ctl::open().map_err(nl)?;
    let show = |ports: &[Value]| {
        if cli.json {
            println!("{}", Value::Array(ports.to_vec()));
        } else {
            ports.iter().for_each(print_port);
        }
    };
    match cli.cmd {
        Cmd::Port { cmd } => match cmd {
            PortCmd::Add { args } => {
                let (p, mut a) = select(&args, true, "add")?;
                a.u32(spec::A_PORT_FEATURES, p.apply(0));
                show(&ctl.call(spec::CMD_PORT_ADD, false, &a).map_err(nl)?);
            }
            PortCmd::Set { args } => {
                let (p, mut a) = select(&args, true, "set")?;
                let current = ctl.call(spec::CMD_PORT_GET, false, &a).map_err(nl)?;
                let bits = current
                    .first()
                    .and_then(|c| c["features"].as_array())
                    .map(|f| {
                        f.iter()
                            .filter_map(Value::as_str)
                            .fold(0, |m, n| m | 1 << feature_bit(n))
                    })
                    .unwrap_or(0);
                a.u32(spec::A_PORT_FEATURES, p.apply(bits));
                show(&ctl.call(spec::CMD_PORT_SET, false, &a).map_err(nl)?);
            }
            PortCmd::Del { args } => {
                let (_, a) = select(&args, false, "del")?;
                ctl.call(spec::CMD_PORT_DEL, false, &a).map_err(nl)?;
            }
            PortCmd::Show { args } => {
                let p = parse_port_args(&args, false)?;
                let mut a = AttrBuf::default();
                p.selector(&mut a);
                show(
                    &ctl.call(spec::CMD_PORT_GET, !p.has_selector(), &a)
                        .map_err(nl)?,
                );
            }
        },
        Cmd::Monitor => {
            let group = ctl
                .groups
                .iter()
                .find(|(n, _)| n == spec::MCGRP_MGMT)
                .map(|g| g.1)
                .ok_or("the family has no 'mgmt' group")?;
            ctl.sock.subscribe(group).map_err(|e| e.to_string())?;
            loop {
                for m in ctl.sock.next_notification().map_err(nl)? {
                    let what = match m.cmd {
                        spec::CMD_PORT_ADD_NTF => "port-add-ntf",
                        spec::CMD_PORT_CHANGE_NTF => "port-change-ntf",
                        spec::CMD_PORT_DEL_NTF => "port-del-ntf",
                        _ => continue,
                    };
                    println!("{}", json!({ "name": what, "msg": port_json(&m) }));
                }
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Like other CLI tools: a closed pipe ends the program quietly.
    // SAFETY: resetting a signal disposition before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vassistctl: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_ip_style_arguments() {
        let p = parse_port_args(&args("dev tap0 snoop on"), true).unwrap();
        assert_eq!(p.dev.as_deref(), Some("tap0"));
        assert_eq!(p.apply(0), 1);
        assert_eq!(
            parse_port_args(&args("ifindex 7"), false).unwrap().ifindex,
            Some(7)
        );
        assert_eq!(
            parse_port_args(&args("dev tap0 snoop off"), true)
                .unwrap()
                .apply(1),
            0
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse_port_args(&args("dev"), false).is_err());
        assert!(parse_port_args(&args("ifindex x"), false).is_err());
        assert!(parse_port_args(&args("dev tap0 snoop maybe"), true).is_err());
        assert!(parse_port_args(&args("dev tap0 snoop on"), false).is_err());
        assert!(parse_port_args(&args("bogus 1"), true).is_err());
    }
}
