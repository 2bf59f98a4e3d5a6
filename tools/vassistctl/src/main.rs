// SPDX-License-Identifier: GPL-2.0

//! vassistctl: configure the vassist kernel module.
//!
//! ```text
//! vassistctl [-j] port add  dev IFNAME | ifindex N  [snoop on|off] [PARAM N]...
//! vassistctl [-j] port set  dev IFNAME | ifindex N  [snoop on|off] [PARAM N]...
//! vassistctl      port del  dev IFNAME | ifindex N
//! vassistctl [-j] port show [dev IFNAME | ifindex N]
//! vassistctl [-j] flow show [dev IFNAME | ifindex N]
//! vassistctl [-j] pipe add|set|del|show ...   (see `pipe`)
//! vassistctl [-j] monitor
//! ```
//! PARAM: the ack offload parameters `buf-size`, `ring-margin`, `max-flows`,
//! `idle-timeout` (milliseconds), `buffer-max` (bytes), `window-growth` (0|1).
//! `-j` prints JSON keyed by the netlink spec's attribute names. Errors print
//! the kernel's extended-ack message and exit non-zero.
//!
//! The netlink socket, family resolution, dumps, acks and extended acks are
//! neli's; the family's commands and attributes come from its YAML spec
//! (`build.rs` generates [`spec`]'s tables from it).

use vassistctl::nl::binary_text as addr_str;
use vassistctl::{nl, pipe, spec};

use clap::{Parser, Subcommand};
use nl::{Attrs, Ctl, Msg, Notice};
use serde_json::{json, Value};
use spec::{
    cmd, SET_ACK_OFFLOAD_PARAMS as PARAMS, SET_FLOW as FLOW, SET_PIPE as PIPE, SET_PORT as PORT,
    SET_ZONE_PARAMS as ZONE_PARAMS,
};
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
    /// Zone ports.
    Zone {
        #[command(subcommand)]
        cmd: ZoneCmd,
    },
    /// Connections piped through the host's shadow sockets (vPipe).
    Pipe {
        #[command(subcommand)]
        cmd: PipeCmd,
    },
    /// Print port notifications as they happen.
    Monitor,
}

#[derive(Subcommand)]
enum PipeCmd {
    /// Pipe a connection: `dev NAME shadow NAME guest ADDR:PORT peer ADDR:PORT guest-mac MAC peer-mac MAC [state hold|host] [socket-owner]`.
    Add {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Change its owner: `dev NAME guest ADDR:PORT peer ADDR:PORT state hold|host`.
    Set {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Give it back to the guest: `dev NAME guest ADDR:PORT peer ADDR:PORT`.
    Del {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Show the pipes of one port or of all of this network namespace.
    Show {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
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
enum ZoneCmd {
    /// Show the zone ports of this network namespace, or one port's zones.
    Show {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Subcommand)]
enum PortCmd {
    /// Attach a bridge port: `dev NAME | ifindex N [snoop on|off] [zone on|off] [PARAM N]...`.
    Add {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Change a port: `dev NAME | ifindex N [snoop on|off] [zone on|off] [PARAM N]...`.
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
    /// Feature bits set (`value`) among those changed (`mask`).
    value: u32,
    mask: u32,
    /// (ack-offload-params attribute name, value)
    params: Vec<(&'static str, u32)>,
    /// (zone-params attribute name, value)
    zone: Vec<(&'static str, u32)>,
}

/// A size in bytes: a number with an optional K, M or G suffix (binary).
fn parse_size(v: &str) -> Option<u32> {
    let (num, mult) = match v.char_indices().last()? {
        (i, 'K' | 'k') => (&v[..i], 1 << 10),
        (i, 'M' | 'm') => (&v[..i], 1 << 20),
        (i, 'G' | 'g') => (&v[..i], 1 << 30),
        _ => (v, 1),
    };
    num.parse::<u32>().ok()?.checked_mul(mult)
}

fn features() -> &'static spec::Enum {
    PORT.attr("features")
        .enumeration
        .expect("features is an enum in the spec")
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
            "snoop" | "ack-offload" | "zone" if features_allowed => {
                let on = match value()?.as_str() {
                    "on" => true,
                    "off" => false,
                    v => return Err(format!("'{key}' takes on|off, not '{v}'")),
                };
                let name = if key == "zone" { "zone" } else { "ack-offload" };
                let bit = features().bit(name).expect("spec feature");
                out.mask |= bit;
                out.value = if on {
                    out.value | bit
                } else {
                    out.value & !bit
                };
            }
            k if features_allowed && ZONE_PARAMS.attrs.iter().any(|a| a.name == k) => {
                let v = value()?;
                let attr = ZONE_PARAMS.attr(k);
                let n = match attr.enumeration {
                    Some(e) => e
                        .value(v)
                        .ok_or_else(|| format!("'{k}' takes {}, not '{v}'", e.entries.join("|")))?,
                    None => parse_size(v).ok_or_else(|| format!("bad {k} '{v}'"))?,
                };
                out.zone.push((attr.name, n));
            }
            k if features_allowed && PARAMS.attrs.iter().any(|a| a.name == k) => {
                let v = value()?;
                let n = v.parse().map_err(|_| format!("bad {k} '{v}'"))?;
                out.params.push((PARAMS.attr(k).name, n));
            }
            k => return Err(format!("unexpected '{k}'")),
        }
    }
    Ok(out)
}

impl PortArgs {
    fn has_selector(&self) -> bool {
        self.dev.is_some() || self.ifindex.is_some()
    }

    /// The selector attributes.
    fn selector(&self) -> Attrs {
        let mut a = Attrs::new(&PORT);
        if let Some(i) = self.ifindex {
            a.u32("ifindex", i);
        }
        if let Some(d) = &self.dev {
            a.str("ifname", d);
        }
        a
    }

    /// The ack-offload and zone nests, if any of their parameters is set.
    fn params(&self, a: &mut Attrs) {
        if !self.params.is_empty() {
            let mut nest = Attrs::new(&PARAMS);
            for &(name, v) in &self.params {
                nest.u32(name, v);
            }
            a.nest("ack-offload", nest);
        }
        if !self.zone.is_empty() {
            let mut nest = Attrs::new(&ZONE_PARAMS);
            for &(name, v) in &self.zone {
                nest.u32(name, v);
            }
            a.nest("zone", nest);
        }
    }
}

fn print_flow(f: &Value) {
    let n = |k: &str| f[k].as_u64().unwrap_or(0);
    let ep = |a: &str, p: &str| pipe::endpoint(f, a, p);
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
        "    early-acks {} acks-dropped {} acks-rewritten {} held-bytes {} parked-bytes {} resends {}",
        n("early-acks"),
        n("acks-dropped"),
        n("acks-rewritten"),
        n("held-bytes"),
        n("parked-bytes"),
        n("resends")
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
    if p["zone-stats"].is_object() {
        print_zone(p);
    }
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
        "    ack-offload: buf-size {} ring-margin {} max-flows {} idle-timeout {} ms buffer-max {} \
         window-growth {}",
        c("buf-size"),
        c("ring-margin"),
        c("max-flows"),
        c("idle-timeout"),
        c("buffer-max"),
        c("window-growth")
    );
    println!(
        "    early-acks {} bytes {} (errors {}, ineligible {}) guest-acks-dropped {} \
         acks-rewritten {} windows-capped {}",
        s("early-acks"),
        s("early-acked-bytes"),
        s("early-ack-errors"),
        s("ack-ineligible"),
        s("guest-acks-dropped"),
        s("acks-rewritten"),
        s("windows-capped")
    );
    println!(
        "    offline: unexpected-seq {} no-buf {} window {} flags {} buffer-full {}",
        s("offline-unexpected-seq"),
        s("offline-no-buf"),
        s("offline-window"),
        s("offline-flags"),
        s("offline-buffer-full")
    );
    println!(
        "    flows: created {} ended {} expired {} reset {} table-full {}{}",
        s("flows-created"),
        s("flows-ended"),
        s("flows-expired"),
        s("flows-reset"),
        s("table-full"),
        p["stats"]["ring-estimate"]
            .as_u64()
            .map_or(String::new(), |r| format!(" ring-estimate {r}"))
    );
    println!(
        "    ring-drops {} held-bytes {} resends {} bad-checksums {} held-gaps {}",
        s("ring-drops"),
        s("held-bytes"),
        s("resends"),
        s("bad-checksums"),
        s("held-gaps")
    );
    println!("    parked {} released {}", s("parked"), s("released"));
}

/// A zone port's geometry, state and counters.
fn print_zone(p: &Value) {
    let g = |k: &str| p["zone"][k].as_u64().unwrap_or(0);
    let z = |k: &str| p["zone-stats"][k].as_u64().unwrap_or(0);
    println!(
        "    zone: zone-size {} zones {}/{} ring {} notify {} (coalesce-usecs {}) consumer {}",
        g("zone-size"),
        z("zones"),
        g("zones-max"),
        g("ring"),
        p["zone"]["notify"].as_str().unwrap_or("?"),
        g("coalesce-usecs"),
        if p["zone-stats"]["consumer"] == json!(true) {
            "bound"
        } else {
            "none"
        }
    );
    println!(
        "    frames {} bytes {} buffers free {} consumer {} returned {} notifications {} \
         ({:.3} per frame)",
        z("frames"),
        z("bytes"),
        z("buffers-free"),
        z("buffers-consumer"),
        z("returned"),
        z("notifications"),
        z("notifications") as f64 / z("frames").max(1) as f64
    );
    println!(
        "    dropped: no-consumer {} no-buffer {} ring-full {} unsupported {}; bad-desc {} \
         grow-failed {}",
        z("no-consumer"),
        z("no-buffer"),
        z("ring-full"),
        z("unsupported"),
        z("bad-desc"),
        z("grow-failed")
    );
    println!(
        "    notifications: evi {} evi-failed {} evi-coalesced {} premature {}; eoc {} \
         cold {} hot {} pending {} of {} batches",
        z("evi-sent"),
        z("evi-failed"),
        z("evi-coalesced"),
        z("premature"),
        z("eoc-sent"),
        z("eoc-cold"),
        z("eoc-hot"),
        z("eoc-pending"),
        z("batches")
    );
    println!(
        "    sent: frames {} bytes {} copied {} dropped {} buffers-sent {} completions {} kicks {}",
        z("tx-frames"),
        z("tx-bytes"),
        z("tx-copied-bytes"),
        z("tx-dropped"),
        z("buffers-sent"),
        z("completions"),
        z("kicks")
    );
}

/// Parses a command's arguments, which must name a port.
fn select(args: &[String], features: bool, what: &str) -> Result<PortArgs, String> {
    let p = parse_port_args(args, features)?;
    if !p.has_selector() {
        return Err(format!("port {what} needs 'dev NAME' or 'ifindex N'"));
    }
    Ok(p)
}

/// The replies as JSON: flows shown with their addresses as text.
fn json_of(msgs: &[Msg], set: &'static spec::AttrSet) -> Vec<Value> {
    msgs.iter().map(|m| m.json(set, addr_str)).collect()
}

/// Prints the family's notifications as they come (and vassist's unload
/// and load), whether or not it is loaded when this starts.
fn monitor() -> Result<(), String> {
    let mgmt = spec::MCGRPS
        .first()
        .ok_or("the family has no multicast group")?;
    for n in Ctl::follow(mgmt)? {
        let m = match n? {
            Notice::Msg(m) => m,
            // Not the spec's: vassist itself went or came.
            Notice::Gone => {
                println!("{}", json!({ "name": "unloaded" }));
                continue;
            }
            Notice::Back => {
                println!("{}", json!({ "name": "loaded" }));
                continue;
            }
        };
        let (name, set) = match m.cmd() {
            cmd::PORT_ADD_NTF => ("port-add-ntf", &PORT),
            cmd::PORT_CHANGE_NTF => ("port-change-ntf", &PORT),
            cmd::PORT_DEL_NTF => ("port-del-ntf", &PORT),
            cmd::PIPE_DEL_NTF => ("pipe-del-ntf", &PIPE),
            _ => continue,
        };
        println!("{}", json!({ "name": name, "msg": m.json(set, addr_str) }));
    }
    Ok(())
}

fn run(cli: Cli) -> Result<(), String> {
    let ctl = match cli.cmd {
        Cmd::Monitor => return monitor(),
        _ => Ctl::open()?,
    };
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
                let p = select(&args, true, "add")?;
                let mut a = p.selector();
                a.u32("features", p.value);
                p.params(&mut a);
                show(&json_of(&ctl.call(cmd::PORT_ADD, false, a)?, &PORT));
            }
            PortCmd::Set { args } => {
                // The kernel applies the features that change (the mask),
                // so the others are not read first.
                let p = select(&args, true, "set")?;
                let mut a = p.selector();
                if p.mask != 0 {
                    a.u32("features", p.value);
                    a.u32("features-mask", p.mask);
                }
                p.params(&mut a);
                show(&json_of(&ctl.call(cmd::PORT_SET, false, a)?, &PORT));
            }
            PortCmd::Del { args } => {
                let p = select(&args, false, "del")?;
                ctl.call(cmd::PORT_DEL, false, p.selector())?;
            }
            PortCmd::Show { args } => {
                let p = parse_port_args(&args, false)?;
                let replies = ctl.call(cmd::PORT_GET, !p.has_selector(), p.selector())?;
                show(&json_of(&replies, &PORT));
            }
        },
        Cmd::Flow {
            cmd: FlowCmd::Show { args },
        } => {
            let p = parse_port_args(&args, false)?;
            let mut a = Attrs::new(&FLOW);
            if p.has_selector() {
                // The dump filters by ifindex; a name is resolved through
                // the port (which must be attached).
                let port = json_of(&ctl.call(cmd::PORT_GET, false, p.selector())?, &PORT);
                let ifindex = port.first().and_then(|p| p["ifindex"].as_u64());
                a.u32("ifindex", ifindex.ok_or("no such port")? as u32);
            }
            let flows = json_of(&ctl.call(cmd::FLOW_GET, true, a)?, &FLOW);
            if cli.json {
                println!("{}", Value::Array(flows));
            } else {
                flows.iter().for_each(print_flow);
            }
        }
        Cmd::Zone {
            cmd: ZoneCmd::Show { args },
        } => {
            let p = parse_port_args(&args, false)?;
            let replies = ctl.call(cmd::PORT_GET, !p.has_selector(), p.selector())?;
            let zones: Vec<Value> = json_of(&replies, &PORT)
                .into_iter()
                .filter(|p| p["zone-stats"].is_object())
                .collect();
            if cli.json {
                println!("{}", Value::Array(zones));
            } else {
                for z in &zones {
                    println!("{}: {}", z["ifindex"], z["ifname"].as_str().unwrap_or("?"));
                    print_zone(z);
                }
            }
        }
        Cmd::Pipe { cmd } => match cmd {
            PipeCmd::Add { args } => {
                ctl.call(cmd::PIPE_ADD, false, pipe::parse(&args)?.request("add")?)?;
            }
            PipeCmd::Set { args } => {
                ctl.call(cmd::PIPE_SET, false, pipe::parse(&args)?.request("set")?)?;
            }
            PipeCmd::Del { args } => {
                ctl.call(cmd::PIPE_DEL, false, pipe::parse(&args)?.request("del")?)?;
            }
            PipeCmd::Show { args } => {
                let p = pipe::parse(&args)?;
                let mut a = Attrs::new(&PIPE);
                if p.dev.is_some() || p.ifindex.is_some() {
                    // The dump filters by ifindex; a name is resolved
                    // through the port (which must be attached).
                    let sel = PortArgs {
                        dev: p.dev.clone(),
                        ifindex: p.ifindex,
                        ..PortArgs::default()
                    };
                    let port = json_of(&ctl.call(cmd::PORT_GET, false, sel.selector())?, &PORT);
                    let ifindex = port.first().and_then(|p| p["ifindex"].as_u64());
                    a.u32("ifindex", ifindex.ok_or("no such port")? as u32);
                }
                let pipes = json_of(&ctl.call(cmd::PIPE_GET, true, a)?, &PIPE);
                if cli.json {
                    println!("{}", Value::Array(pipes));
                } else {
                    pipes.iter().for_each(pipe::print);
                }
            }
        },
        // Followed above: it needs no family to start.
        Cmd::Monitor => {}
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
        assert_eq!((p.value, p.mask), (1, 1));
        assert_eq!(
            parse_port_args(&args("ifindex 7"), false).unwrap().ifindex,
            Some(7)
        );
        let p = parse_port_args(&args("dev t max-flows 16 idle-timeout 500"), true).unwrap();
        assert_eq!(p.params, vec![("max-flows", 16), ("idle-timeout", 500)]);
        let p = parse_port_args(&args("dev tap0 snoop off"), true).unwrap();
        assert_eq!((p.value, p.mask), (0, 1));
        let p = parse_port_args(
            &args("dev tap0 zone on zone-size 4M ring 512 notify every-frame"),
            true,
        )
        .unwrap();
        assert_eq!((p.value, p.mask), (2, 2));
        assert_eq!(
            p.zone,
            vec![("zone-size", 4 << 20), ("ring", 512), ("notify", 1)]
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
        assert!(parse_port_args(&args("dev tap0 zone-size 5X"), true).is_err());
        assert!(parse_port_args(&args("dev tap0 zone-size 8G"), true).is_err());
        assert!(parse_port_args(&args("dev tap0 notify never"), true).is_err());
    }

    #[test]
    fn tables_follow_the_spec() {
        // The numbers the uapi header (generated from the same spec) has.
        let h = include_str!("../../../include/uapi/linux/vassist.h");
        assert!(h.contains(&format!("VASSIST_FAMILY_NAME\t\"{}\"", spec::FAMILY)));
        assert_eq!(PORT.attr("ifindex").value, 1);
        assert_eq!(PORT.attr("ack-offload").value, 7);
        assert_eq!(cmd::PORT_DEL_NTF, 8);
        assert_eq!(features().bit("ack-offload"), Some(1));
        let mode = FLOW.attr("mode").enumeration.unwrap();
        assert_eq!(mode.name(5), Some("closing"));
    }
}
