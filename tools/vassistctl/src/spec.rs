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
pub const CMD_PORT_ADD_NTF: u8 = 5;
pub const CMD_PORT_CHANGE_NTF: u8 = 6;
pub const CMD_PORT_DEL_NTF: u8 = 7;

pub const A_PORT_IFINDEX: u16 = 1;
pub const A_PORT_IFNAME: u16 = 2;
pub const A_PORT_MASTER_IFINDEX: u16 = 3;
pub const A_PORT_FEATURES: u16 = 4;
pub const A_PORT_STATS: u16 = 5;
pub const A_PORT_DETACH_REASON: u16 = 6;

/// port-stats attributes (1-based, in order), by their spec names.
pub const PORT_STATS: [&str; 6] = [
    "to-guest-packets",
    "to-guest-bytes",
    "to-guest-tcp-segs",
    "from-guest-packets",
    "from-guest-bytes",
    "from-guest-tcp-segs",
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
            if line.is_empty() || line.starts_with("__") || line.contains("_MAX") {
                continue;
            }
            let (name, val) = match line.split_once(" = ") {
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
    }

    #[test]
    fn enums_match_uapi() {
        let f = uapi_enum("VASSIST_FEATURES_ACK_OFFLOAD");
        for (i, name) in FEATURES.iter().enumerate() {
            assert_eq!(f[i], (c_name("VASSIST_FEATURES_", name), 1 << i));
        }
        let r = uapi_enum("VASSIST_DETACH_REASON_USER");
        for (i, name) in DETACH_REASONS.iter().enumerate() {
            assert_eq!(r[i], (c_name("VASSIST_DETACH_REASON_", name), i as i64));
        }
    }
}
