// SPDX-License-Identifier: GPL-2.0

//! vassistctl: configure the vassist kernel module.
//!
//! ```text
//! vassistctl [-j] port add  dev IFNAME | ifindex N  [snoop on|off] [PARAM N]...
//! vassistctl [-j] port set  dev IFNAME | ifindex N  [snoop on|off] [PARAM N]...
//! vassistctl      port del  dev IFNAME | ifindex N
//! vassistctl [-j] port show [dev IFNAME | ifindex N]
//! vassistctl [-j] flow show [dev IFNAME | ifindex N]
//! vassistctl [-j] monitor
//! ```
//! PARAM: the ack offload parameters `buf-size`, `ring-margin`, `max-flows`,
//! `idle-timeout` (milliseconds).
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
    /// Ack offload flows.
    Flow {
        #[command(subcommand)]
        cmd: FlowCmd,
    },
    /// Print port notifications as they happen.
    Monitor,
}

#[derive(Subcommand)]
enum FlowCmd {
    /// Show the flows of one port or of all ports of this network namespace.
    Show {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum PortCmd {
    /// Attach a bridge port: `dev NAME | ifindex N [snoop on|off] [PARAM N]...`.
    Add {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Change a port: `dev NAME | ifindex N [snoop on|off] [PARAM N]...`.
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
    /// (ack-offload-params attribute, value)
    params: Vec<(u16, u32)>,
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
            k if features_allowed && spec::ACK_OFFLOAD_PARAMS.contains(&k) => {
                let v = value()?;
                let n = v.parse().map_err(|_| format!("bad {k} '{v}'"))?;
                let attr = spec::ACK_OFFLOAD_PARAMS.iter().position(|p| *p == k);
                out.params.push((attr.map_or(0, |i| i as u16 + 1), n));
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

    /// The ack-offload nest, if any parameter is set.
    fn params(&self, a: &mut AttrBuf) {
        if self.params.is_empty() {
            return;
        }
        let mut nest = AttrBuf::default();
        for &(attr, v) in &self.params {
            nest.u32(attr, v);
        }
        a.nest(spec::A_PORT_ACK_OFFLOAD, &nest);
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
            spec::A_PORT_ACK_OFFLOAD => o.insert(
                "ack-offload".into(),
                names_json(a.nested(), &spec::ACK_OFFLOAD_PARAMS),
            ),
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
    names_json(attrs, &spec::PORT_STATS)
}

/// Numeric attributes (1-based `names`) as JSON.
fn names_json(attrs: Attrs<'_>, names: &[&str]) -> Value {
    let mut o = Map::new();
    for a in attrs {
        if let Some(name) = names.get(usize::from(a.ty).wrapping_sub(1)) {
            o.insert((*name).into(), json!(a.uint()));
        }
    }
    Value::Object(o)
}

/// A flow message as JSON keyed by spec names.
fn flow_json(msg: &GenlMsg) -> Value {
    let mut o = Map::new();
    for a in msg.attrs() {
        let Some(&(name, kind)) = spec::FLOW.get(usize::from(a.ty).wrapping_sub(1)) else {
            continue;
        };
        let v = match kind {
            spec::Kind::U16 => json!(a.u16()),
            spec::Kind::U32 => json!(a.u32()),
            spec::Kind::Uint => json!(a.uint()),
            spec::Kind::Flag => json!(true),
            spec::Kind::Mode => json!(a.u32().and_then(|m| spec::FLOW_MODES.get(m as usize))),
            spec::Kind::Addr => json!(addr_str(a.data)),
        };
        o.insert(name.into(), v);
    }
    Value::Object(o)
}

fn addr_str(b: &[u8]) -> String {
    match b.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(b).unwrap_or_default()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap_or_default()).to_string(),
        _ => "?".into(),
    }
}

fn print_flow(f: &Value) {
    let n = |k: &str| f[k].as_u64().unwrap_or(0);
    let ep = |a: &str, p: &str| {
        let addr = f[a].as_str().unwrap_or("?");
        if addr.contains(':') {
            format!("[{addr}]:{}", n(p))
        } else {
            format!("{addr}:{}", n(p))
        }
    };
    println!(
        "{} guest {} peer {} {}{}",
        f["ifindex"],
        ep("guest-addr", "guest-port"),
        ep("peer-addr", "peer-port"),
        f["mode"].as_str().unwrap_or("?"),
        if f["handshake"] == json!(true) {
            " handshake"
        } else {
            ""
        }
    );
    println!(
        "    next-seq {} acked {} vm-ack {} rcv-win {} wscale {} mss {} ts {} idle {} ms",
        n("next-seq"),
        n("acked"),
        n("vm-ack"),
        n("rcv-win"),
        f["wscale"].as_u64().map_or("-".into(), |w| w.to_string()),
        n("mss"),
        if f["timestamps"] == json!(true) {
            "on"
        } else {
            "off"
        },
        n("idle-ms")
    );
    println!(
        "    early-acks {} acks-dropped {} acks-rewritten {}",
        n("early-acks"),
        n("acks-dropped"),
        n("acks-rewritten")
    );
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
    let c = |k: &str| p["ack-offload"][k].as_u64().unwrap_or(0);
    println!(
        "    ack-offload: buf-size {} ring-margin {} max-flows {} idle-timeout {} ms",
        c("buf-size"),
        c("ring-margin"),
        c("max-flows"),
        c("idle-timeout")
    );
    println!(
        "    early-acks {} (errors {}, ineligible {}) guest-acks-dropped {} acks-rewritten {} \
         windows-capped {}",
        s("early-acks"),
        s("early-ack-errors"),
        s("ack-ineligible"),
        s("guest-acks-dropped"),
        s("acks-rewritten"),
        s("windows-capped")
    );
    println!(
        "    offline: unexpected-seq {} no-buf {} window {} flags {}",
        s("offline-unexpected-seq"),
        s("offline-no-buf"),
        s("offline-window"),
        s("offline-flags")
    );
    println!(
        "    flows: created {} ended {} expired {} table-full {}{}",
        s("flows-created"),
        s("flows-ended"),
        s("flows-expired"),
        s("table-full"),
        p["stats"]["ring-estimate"]
            .as_u64()
            .map_or(String::new(), |r| format!(" ring-estimate {r}"))
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
        let json = if cmd == spec::CMD_FLOW_GET {
            flow_json
        } else {
            port_json
        };
        Ok(replies.iter().map(json).collect())
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
                p.params(&mut a);
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
                p.params(&mut a);
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
        Cmd::Flow {
            cmd: FlowCmd::Show { args },
        } => {
            let p = parse_port_args(&args, false)?;
            let mut a = AttrBuf::default();
            if p.has_selector() {
                // The dump filters by ifindex; a name is resolved through
                // the port (which must be attached).
                let mut sel = AttrBuf::default();
                p.selector(&mut sel);
                let port = ctl.call(spec::CMD_PORT_GET, false, &sel).map_err(nl)?;
                let ifindex = port.first().and_then(|p| p["ifindex"].as_u64());
                a.u32(spec::A_FLOW_IFINDEX, ifindex.ok_or("no such port")? as u32);
            }
            let flows = ctl.call(spec::CMD_FLOW_GET, true, &a).map_err(nl)?;
            if cli.json {
                println!("{}", Value::Array(flows));
            } else {
                flows.iter().for_each(print_flow);
            }
        }
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
        let p = parse_port_args(&args("dev t max-flows 16 idle-timeout 500"), true).unwrap();
        assert_eq!(p.params, vec![(3, 16), (4, 500)]);
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
        assert!(parse_port_args(&args("dev tap0 buf-size x"), true).is_err());
        assert!(parse_port_args(&args("dev tap0 max-flows 9"), false).is_err());
    }
}
