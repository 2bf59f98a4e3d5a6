// SPDX-License-Identifier: GPL-2.0

//! `vassistctl pipe`: piped connections (vPipe), parsed ip(8)-style.
//!
//! ```text
//! pipe add  dev IFNAME | ifindex N  shadow IFNAME  guest ADDR:PORT peer ADDR:PORT
//!           guest-mac MAC peer-mac MAC  [state hold|host]  [socket-owner]
//! pipe set  dev IFNAME | ifindex N  guest ADDR:PORT peer ADDR:PORT  state hold|host
//! pipe del  dev IFNAME | ifindex N  guest ADDR:PORT peer ADDR:PORT
//! pipe show [dev IFNAME | ifindex N]
//! ```
//! IPv6 endpoints are written `[ADDR]:PORT`.

use crate::nl::Attrs;
use crate::spec::SET_PIPE as PIPE;
use serde_json::Value;
use std::ffi::CString;
use std::net::{IpAddr, SocketAddr};

/// A pipe command's arguments.
#[derive(Default, Debug, PartialEq)]
pub struct PipeArgs {
    pub dev: Option<String>,
    pub ifindex: Option<u32>,
    pub shadow: Option<String>,
    pub guest: Option<SocketAddr>,
    pub peer: Option<SocketAddr>,
    pub guest_mac: Option<[u8; 6]>,
    pub peer_mac: Option<[u8; 6]>,
    pub state: Option<String>,
    /// The pipe goes when the socket that added it closes.
    pub socket_owner: bool,
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

pub fn parse(args: &[String]) -> Result<PipeArgs, String> {
    let mut out = PipeArgs::default();
    let mut it = args.iter();
    while let Some(key) = it.next() {
        if key == "socket-owner" {
            out.socket_owner = true;
            continue;
        }
        let v = it.next().ok_or_else(|| format!("'{key}' needs a value"))?;
        let endpoint = || {
            v.parse::<SocketAddr>()
                .map_err(|_| format!("bad {key} '{v}' (ADDR:PORT)"))
        };
        let mac = || parse_mac(v).ok_or_else(|| format!("bad {key} '{v}'"));
        match key.as_str() {
            "dev" => out.dev = Some(v.clone()),
            "ifindex" => out.ifindex = Some(v.parse().map_err(|_| format!("bad ifindex '{v}'"))?),
            "shadow" => out.shadow = Some(v.clone()),
            "guest" => out.guest = Some(endpoint()?),
            "peer" => out.peer = Some(endpoint()?),
            "guest-mac" => out.guest_mac = Some(mac()?),
            "peer-mac" => out.peer_mac = Some(mac()?),
            "state" => match v.as_str() {
                "hold" | "host" => out.state = Some(v.clone()),
                _ => return Err(format!("'state' takes hold|host, not '{v}'")),
            },
            k => return Err(format!("unexpected '{k}'")),
        }
    }
    Ok(out)
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn ifindex_of(name: &str) -> Result<u32, String> {
    let c = CString::new(name).map_err(|_| format!("bad device name '{name}'"))?;
    // SAFETY: `c` is NUL-terminated.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(format!("no device '{name}'")),
        i => Ok(i),
    }
}

impl PipeArgs {
    /// The port selector only (a dump's filter).
    pub fn port(&self) -> Attrs {
        let mut a = Attrs::new(&PIPE);
        if let Some(i) = self.ifindex {
            a.u32("ifindex", i);
        }
        if let Some(d) = &self.dev {
            a.str("ifname", d);
        }
        a
    }

    /// The attributes of `pipe add|set|del`: the port, the connection, and
    /// the rest given.
    pub fn request(&self, what: &str) -> Result<Attrs, String> {
        if self.dev.is_none() && self.ifindex.is_none() {
            return Err(format!("pipe {what} needs 'dev NAME' or 'ifindex N'"));
        }
        let (Some(guest), Some(peer)) = (self.guest, self.peer) else {
            return Err(format!(
                "pipe {what} needs 'guest ADDR:PORT' and 'peer ADDR:PORT'"
            ));
        };
        let mut a = self.port();
        a.bytes("guest-addr", &ip_bytes(guest.ip()));
        a.u16("guest-port", guest.port());
        a.bytes("peer-addr", &ip_bytes(peer.ip()));
        a.u16("peer-port", peer.port());
        if let Some(s) = &self.shadow {
            a.u32("shadow-ifindex", ifindex_of(s)?);
        }
        if let Some(m) = self.guest_mac {
            a.bytes("guest-mac", &m);
        }
        if let Some(m) = self.peer_mac {
            a.bytes("peer-mac", &m);
        }
        if let Some(s) = &self.state {
            let e = &crate::spec::ENUM_PIPE_STATE;
            let v = e.entries.iter().position(|n| n == s).expect("spec state");
            a.u32("state", (e.start + v as i64) as u32);
        }
        if self.socket_owner {
            a.flag("socket-owner");
        }
        Ok(a)
    }
}

/// The address attribute `addr` and port attribute `port` of a reply as
/// one endpoint, `ADDR:PORT` or `[ADDR]:PORT`.
pub fn endpoint(v: &Value, addr: &str, port: &str) -> String {
    let a = v[addr].as_str().unwrap_or("?");
    let n = v[port].as_u64().unwrap_or(0);
    if a.contains(':') {
        format!("[{a}]:{n}")
    } else {
        format!("{a}:{n}")
    }
}

/// One pipe as text.
pub fn print(p: &Value) {
    let n = |k: &str| p[k].as_u64().unwrap_or(0);
    let s = |k: &str| p[k].as_str().unwrap_or("?").to_string();
    let ep = |a: &str, port: &str| endpoint(p, a, port);
    println!(
        "{} guest {} peer {} {} shadow {}",
        p["ifindex"],
        ep("guest-addr", "guest-port"),
        ep("peer-addr", "peer-port"),
        s("state"),
        p["shadow-ifindex"],
    );
    if p["socket-owner"].as_bool() == Some(true) {
        println!("    owned by its socket");
    }
    println!(
        "    guest-mac {} peer-mac {} held {}",
        s("guest-mac"),
        s("peer-mac"),
        n("held")
    );
    println!(
        "    to-shadow {} frames {} bytes, from-shadow {} frames {} bytes",
        n("to-shadow-packets"),
        n("to-shadow-bytes"),
        n("from-shadow-packets"),
        n("from-shadow-bytes"),
    );
    println!(
        "    dropped: guest {} shadow {} hold {}",
        n("guest-dropped"),
        n("shadow-dropped"),
        n("hold-dropped"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_a_pipe() {
        let p = parse(&args(
            "dev tap0 shadow vph0 guest 10.0.0.2:80 peer [fd00::1]:4000 \
             guest-mac 52:54:00:00:00:01 peer-mac 02:00:00:00:00:0a state host socket-owner",
        ))
        .unwrap();
        assert!(p.socket_owner);
        assert_eq!(p.dev.as_deref(), Some("tap0"));
        assert_eq!(p.guest, Some("10.0.0.2:80".parse().unwrap()));
        assert_eq!(p.peer, Some("[fd00::1]:4000".parse().unwrap()));
        assert_eq!(p.guest_mac, Some([0x52, 0x54, 0, 0, 0, 1]));
        assert_eq!(p.state.as_deref(), Some("host"));
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse(&args("guest 10.0.0.2")).is_err());
        assert!(parse(&args("guest-mac 52:54:00:00:01")).is_err());
        assert!(parse(&args("guest-mac 52:54:00:00:00:01:02")).is_err());
        assert!(parse(&args("state gone")).is_err());
        assert!(parse(&args("dev")).is_err());
        assert!(parse(&args("dev t0 guest 10.0.0.2:1"))
            .unwrap()
            .request("del")
            .is_err());
    }
}
