// SPDX-License-Identifier: GPL-2.0

//! The `vassist` family's numbers and names, as in
//! include/uapi/linux/vassist.h (generated from the YAML spec); a test keeps
//! them equal to that header.

pub const FAMILY: &str = "vassist";
pub const VERSION: u8 = 1;
pub const MCGRP_MGMT: &str = "mgmt";

pub const CMD_PORT_ADD: u8 = 1;
pub const CMD_PORT_DEL: u8 = 2;
pub const CMD_PORT_GET: u8 = 3;
pub const CMD_PORT_SET: u8 = 4;
pub const CMD_FLOW_GET: u8 = 5;
pub const CMD_PORT_ADD_NTF: u8 = 6;
pub const CMD_PORT_CHANGE_NTF: u8 = 7;
pub const CMD_PORT_DEL_NTF: u8 = 8;

pub const A_PORT_IFINDEX: u16 = 1;
pub const A_PORT_IFNAME: u16 = 2;
pub const A_PORT_MASTER_IFINDEX: u16 = 3;
pub const A_PORT_FEATURES: u16 = 4;
pub const A_PORT_STATS: u16 = 5;
pub const A_PORT_DETACH_REASON: u16 = 6;
pub const A_PORT_ACK_OFFLOAD: u16 = 7;

/// port-stats attributes (1-based, in order), by their spec names.
pub const PORT_STATS: [&str; 21] = [
    "to-guest-packets",
    "to-guest-bytes",
    "to-guest-tcp-segs",
    "from-guest-packets",
    "from-guest-bytes",
    "from-guest-tcp-segs",
    "early-acks",
    "early-ack-errors",
    "ack-ineligible",
    "guest-acks-dropped",
    "acks-rewritten",
    "windows-capped",
    "offline-unexpected-seq",
    "offline-no-buf",
    "offline-window",
    "offline-flags",
    "flows-created",
    "flows-ended",
    "flows-expired",
    "table-full",
    "ring-estimate",
];

/// ack-offload-params attributes (1-based, all u32), by their spec names.
pub const ACK_OFFLOAD_PARAMS: [&str; 4] = ["buf-size", "ring-margin", "max-flows", "idle-timeout"];

/// How a flow attribute is read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    U16,
    U32,
    Uint,
    Flag,
    Addr,
    Mode,
}

/// flow attributes (1-based, in order): spec name and kind.
pub const FLOW: [(&str, Kind); 18] = [
    ("ifindex", Kind::U32),
    ("guest-addr", Kind::Addr),
    ("guest-port", Kind::U16),
    ("peer-addr", Kind::Addr),
    ("peer-port", Kind::U16),
    ("mode", Kind::Mode),
    ("handshake", Kind::Flag),
    ("next-seq", Kind::U32),
    ("acked", Kind::U32),
    ("vm-ack", Kind::U32),
    ("rcv-win", Kind::U32),
    ("wscale", Kind::U32),
    ("mss", Kind::U32),
    ("timestamps", Kind::Flag),
    ("idle-ms", Kind::U32),
    ("early-acks", Kind::Uint),
    ("acks-dropped", Kind::Uint),
    ("acks-rewritten", Kind::Uint),
];
pub const A_FLOW_IFINDEX: u16 = 1;

/// The `flow-mode` values, by their spec names.
pub const FLOW_MODES: [&str; 6] = [
    "active",
    "unexpected-seq",
    "no-buf",
    "window",
    "flags",
    "closing",
];

/// The `features` flags, bit by bit, by their spec names.
pub const FEATURES: [&str; 1] = ["ack-offload"];

/// The `detach-reason` values, by their spec names.
pub const DETACH_REASONS: [&str; 3] = ["user", "unregistered", "left-bridge"];

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries of the enum that contains `first` in the uapi header, with
    /// their values (explicit `= N` or the previous plus one).
    fn uapi_enum(first: &str) -> Vec<(String, i64)> {
        let h = include_str!("../../../include/uapi/linux/vassist.h");
        let start = h.find(&format!("\t{first}")).expect("entry in header");
        let body = &h[start..h[start..].find("};").unwrap() + start];
        let mut next = 0;
        let mut out = Vec::new();
        for line in body.lines() {
            let line = line.trim().trim_end_matches(',');
            if line.is_empty() || line.starts_with("__") {
                continue;
            }
            let (name, val) = match line.split_once(" = ") {
                Some((n, _)) if n.ends_with("_MAX") => continue,
                Some((n, v)) => (n, v.parse().unwrap()),
                None => (line, next),
            };
            out.push((name.to_string(), val));
            next = val + 1;
        }
        out
    }

    fn c_name(prefix: &str, spec_name: &str) -> String {
        format!("{prefix}{}", spec_name.to_uppercase().replace('-', "_"))
    }

    #[test]
    fn commands_match_uapi() {
        let want = [
            ("PORT_ADD", CMD_PORT_ADD),
            ("PORT_DEL", CMD_PORT_DEL),
            ("PORT_GET", CMD_PORT_GET),
            ("PORT_SET", CMD_PORT_SET),
            ("FLOW_GET", CMD_FLOW_GET),
            ("PORT_ADD_NTF", CMD_PORT_ADD_NTF),
            ("PORT_CHANGE_NTF", CMD_PORT_CHANGE_NTF),
            ("PORT_DEL_NTF", CMD_PORT_DEL_NTF),
        ];
        let got = uapi_enum("VASSIST_CMD_PORT_ADD");
        assert_eq!(got.len(), want.len());
        for ((n, v), (wn, wv)) in got.iter().zip(want) {
            assert_eq!(
                (n.as_str(), *v),
                (format!("VASSIST_CMD_{wn}").as_str(), i64::from(wv))
            );
        }
    }

    #[test]
    fn attributes_match_uapi() {
        let want = [
            ("IFINDEX", A_PORT_IFINDEX),
            ("IFNAME", A_PORT_IFNAME),
            ("MASTER_IFINDEX", A_PORT_MASTER_IFINDEX),
            ("FEATURES", A_PORT_FEATURES),
            ("STATS", A_PORT_STATS),
            ("DETACH_REASON", A_PORT_DETACH_REASON),
            ("ACK_OFFLOAD", A_PORT_ACK_OFFLOAD),
        ];
        let got = uapi_enum("VASSIST_A_PORT_IFINDEX");
        assert_eq!(got.len(), want.len());
        for ((n, v), (wn, wv)) in got.iter().zip(want) {
            assert_eq!(
                (n.as_str(), *v),
                (format!("VASSIST_A_PORT_{wn}").as_str(), i64::from(wv))
            );
        }
        let stats = uapi_enum("VASSIST_A_PORT_STATS_TO_GUEST_PACKETS");
        let names: Vec<_> = PORT_STATS
            .iter()
            .map(|s| c_name("VASSIST_A_PORT_STATS_", s))
            .collect();
        assert_eq!(
            stats.iter().map(|s| &s.0).collect::<Vec<_>>(),
            names.iter().collect::<Vec<_>>()
        );
        assert_eq!(stats[0].1, 1);
        for (first, prefix, names) in [
            (
                "VASSIST_A_ACK_OFFLOAD_PARAMS_BUF_SIZE",
                "VASSIST_A_ACK_OFFLOAD_PARAMS_",
                ACK_OFFLOAD_PARAMS.to_vec(),
            ),
            (
                "VASSIST_A_FLOW_IFINDEX",
                "VASSIST_A_FLOW_",
                FLOW.iter().map(|f| f.0).collect(),
            ),
        ] {
            let got = uapi_enum(first);
            let want: Vec<_> = names
                .iter()
                .enumerate()
                .map(|(i, n)| (c_name(prefix, n), i as i64 + 1))
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn enums_match_uapi() {
        let f = uapi_enum("VASSIST_FEATURES_ACK_OFFLOAD");
        for (i, name) in FEATURES.iter().enumerate() {
            assert_eq!(f[i], (c_name("VASSIST_FEATURES_", name), 1 << i));
        }
        let m = uapi_enum("VASSIST_FLOW_MODE_ACTIVE");
        for (i, name) in FLOW_MODES.iter().enumerate() {
            assert_eq!(m[i], (c_name("VASSIST_FLOW_MODE_", name), i as i64));
        }
        let r = uapi_enum("VASSIST_DETACH_REASON_USER");
        for (i, name) in DETACH_REASONS.iter().enumerate() {
            assert_eq!(r[i], (c_name("VASSIST_DETACH_REASON_", name), i as i64));
        }
    }
}
