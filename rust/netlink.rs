// SPDX-License-Identifier: GPL-2.0

//! The `vassist` netlink commands (Documentation/netlink/specs/vassist.yaml):
//! port-add, port-del, port-get (do and dump), port-set, flow-get (dump),
//! and the `mgmt` group's notifications. Handlers run under RTNL.

use crate::bindings as b;
use crate::error::VaError;
use crate::flows::Entry;
use crate::policy::snoop::{Mode, Offline};
use crate::port::{self, DirStats, Port};
use crate::snoop::{Config, Stats};
use crate::sys::genl::{self, Dump, Msg, MsgFull, Request};
use crate::sys::netdev::NetDevRef;
use crate::sys::rtnl::{Rtnl, RtnlGuard};
use crate::sys::time;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Features this build implements; the policy already rejects unknown bits.
const SUPPORTED_FEATURES: u32 = port::ACK_OFFLOAD;

/// Why a port stopped being attached (the spec's `detach-reason`).
#[derive(Clone, Copy)]
pub(crate) enum DetachReason {
    User = b::vassist_detach_reason_VASSIST_DETACH_REASON_USER as isize,
    Unregistered = b::vassist_detach_reason_VASSIST_DETACH_REASON_UNREGISTERED as isize,
    LeftBridge = b::vassist_detach_reason_VASSIST_DETACH_REASON_LEFT_BRIDGE as isize,
}

/// The device a request names, by ifindex or ifname (both must agree).
fn request_dev(req: &Request<'_>) -> Result<NetDevRef, VaError> {
    let net = req.net();
    let by_index = match req.u32_attr(b::VASSIST_A_PORT_IFINDEX) {
        Some(i) => Some(
            NetDevRef::by_index(&net, i).ok_or(
                VaError::new(ENODEV, c_str!("no device with this ifindex"))
                    .at(b::VASSIST_A_PORT_IFINDEX),
            )?,
        ),
        None => None,
    };
    let by_name = match req.str_attr(b::VASSIST_A_PORT_IFNAME) {
        Some(n) => Some(NetDevRef::by_name(&net, n).ok_or(
            VaError::new(ENODEV, c_str!("no device with this name")).at(b::VASSIST_A_PORT_IFNAME),
        )?),
        None => None,
    };
    match (by_index, by_name) {
        (Some(i), Some(n)) if !i.dev().is(&n.dev()) => Err(VaError::new(
            EINVAL,
            c_str!("ifindex and ifname name different devices"),
        )
        .at(b::VASSIST_A_PORT_IFNAME)),
        (Some(d), _) | (None, Some(d)) => Ok(d),
        (None, None) => Err(VaError::new(
            EINVAL,
            c_str!("ifindex or ifname is required"),
        )),
    }
}

fn request_port(req: &Request<'_>, rtnl: &mut RtnlGuard) -> Result<Arc<Port>, VaError> {
    let dev = request_dev(req)?;
    port::find_locked(&dev.dev(), rtnl.held()).ok_or(VaError::new(
        ENOENT,
        c_str!("device is not an attached port"),
    ))
}

fn request_features(req: &Request<'_>) -> Result<Option<u32>, VaError> {
    match req.u32_attr(b::VASSIST_A_PORT_FEATURES) {
        Some(f) if f & !SUPPORTED_FEATURES != 0 => Err(VaError::new(
            Error::from_errno(-(b::EOPNOTSUPP as i32)),
            c_str!("feature not implemented by this vassist build"),
        )
        .at(b::VASSIST_A_PORT_FEATURES)),
        f => Ok(f),
    }
}

/// The ack-offload parameters a request sets (the policy checked ranges).
pub(crate) struct Settings {
    values: [(u32, Option<u32>); 4],
}

impl Settings {
    fn from_request(req: &Request<'_>) -> Settings {
        let get = |a| (a, req.nested_u32_attr(b::VASSIST_A_PORT_ACK_OFFLOAD, a));
        Settings {
            values: [
                get(b::VASSIST_A_ACK_OFFLOAD_PARAMS_BUF_SIZE),
                get(b::VASSIST_A_ACK_OFFLOAD_PARAMS_RING_MARGIN),
                get(b::VASSIST_A_ACK_OFFLOAD_PARAMS_MAX_FLOWS),
                get(b::VASSIST_A_ACK_OFFLOAD_PARAMS_IDLE_TIMEOUT),
            ],
        }
    }

    /// Stores the values given; returns the values they replaced, to put
    /// back if the change cannot be completed.
    pub(crate) fn apply(&self, c: &Config) -> Settings {
        let mut old = Settings {
            values: self.values,
        };
        for (&(attr, v), (_, prev)) in self.values.iter().zip(old.values.iter_mut()) {
            *prev = v.map(|v| config_field(c, attr).swap(v, Relaxed));
        }
        old
    }

    /// Whether storing these values changes the flow table's size.
    fn resizes(&self, c: &Config) -> bool {
        self.values.iter().any(|&(attr, v)| {
            attr == b::VASSIST_A_ACK_OFFLOAD_PARAMS_MAX_FLOWS
                && v.is_some_and(|v| v != c.max_flows.load(Relaxed))
        })
    }
}

fn config_field(c: &Config, attr: u32) -> &AtomicU32 {
    match attr {
        b::VASSIST_A_ACK_OFFLOAD_PARAMS_BUF_SIZE => &c.buf_size,
        b::VASSIST_A_ACK_OFFLOAD_PARAMS_RING_MARGIN => &c.ring_margin,
        b::VASSIST_A_ACK_OFFLOAD_PARAMS_MAX_FLOWS => &c.max_flows,
        _ => &c.idle_timeout_ms,
    }
}

/// The spec's `port-all` attributes.
fn fill_port(msg: &mut Msg<'_>, port: &Port, master: u32) -> Result<(), MsgFull> {
    let dev = port.dev();
    msg.put_u32(b::VASSIST_A_PORT_IFINDEX, dev.ifindex())?;
    msg.put_str(b::VASSIST_A_PORT_IFNAME, dev.name())?;
    if master != 0 {
        msg.put_u32(b::VASSIST_A_PORT_MASTER_IFINDEX, master)?;
    }
    msg.put_u32(b::VASSIST_A_PORT_FEATURES, port.features())?;
    let c = &port.snoop.config;
    msg.nest(b::VASSIST_A_PORT_ACK_OFFLOAD, |m| {
        for attr in [
            b::VASSIST_A_ACK_OFFLOAD_PARAMS_BUF_SIZE,
            b::VASSIST_A_ACK_OFFLOAD_PARAMS_RING_MARGIN,
            b::VASSIST_A_ACK_OFFLOAD_PARAMS_MAX_FLOWS,
            b::VASSIST_A_ACK_OFFLOAD_PARAMS_IDLE_TIMEOUT,
        ] {
            m.put_u32(attr, config_field(c, attr).load(Relaxed))?;
        }
        Ok(())
    })?;
    msg.nest(b::VASSIST_A_PORT_STATS, |m| {
        use b::{
            VASSIST_A_PORT_STATS_FROM_GUEST_BYTES as FB,
            VASSIST_A_PORT_STATS_FROM_GUEST_PACKETS as FP,
            VASSIST_A_PORT_STATS_FROM_GUEST_TCP_SEGS as FT,
            VASSIST_A_PORT_STATS_TO_GUEST_BYTES as TB, VASSIST_A_PORT_STATS_TO_GUEST_PACKETS as TP,
            VASSIST_A_PORT_STATS_TO_GUEST_TCP_SEGS as TT,
        };
        fill_dir(m, &port.to_guest, [TP, TB, TT])?;
        fill_dir(m, &port.from_guest, [FP, FB, FT])?;
        fill_snoop_stats(m, &port.snoop.stats)?;
        let ring = port.ring.refresh(port.dev().ring_out());
        m.put_uint(b::VASSIST_A_PORT_STATS_RING_ESTIMATE, ring)
    })
}

fn fill_snoop_stats(m: &mut Msg<'_>, s: &Stats) -> Result<(), MsgFull> {
    let all: [(u32, &AtomicU64); 14] = [
        (b::VASSIST_A_PORT_STATS_EARLY_ACKS, &s.early_acks),
        (
            b::VASSIST_A_PORT_STATS_EARLY_ACK_ERRORS,
            &s.early_ack_errors,
        ),
        (b::VASSIST_A_PORT_STATS_ACK_INELIGIBLE, &s.ack_ineligible),
        (
            b::VASSIST_A_PORT_STATS_GUEST_ACKS_DROPPED,
            &s.guest_acks_dropped,
        ),
        (b::VASSIST_A_PORT_STATS_ACKS_REWRITTEN, &s.acks_rewritten),
        (b::VASSIST_A_PORT_STATS_WINDOWS_CAPPED, &s.windows_capped),
        (
            b::VASSIST_A_PORT_STATS_OFFLINE_UNEXPECTED_SEQ,
            &s.offline_unexpected_seq,
        ),
        (b::VASSIST_A_PORT_STATS_OFFLINE_NO_BUF, &s.offline_no_buf),
        (b::VASSIST_A_PORT_STATS_OFFLINE_WINDOW, &s.offline_window),
        (b::VASSIST_A_PORT_STATS_OFFLINE_FLAGS, &s.offline_flags),
        (b::VASSIST_A_PORT_STATS_FLOWS_CREATED, &s.flows_created),
        (b::VASSIST_A_PORT_STATS_FLOWS_ENDED, &s.flows_ended),
        (b::VASSIST_A_PORT_STATS_FLOWS_EXPIRED, &s.flows_expired),
        (b::VASSIST_A_PORT_STATS_TABLE_FULL, &s.table_full),
    ];
    for (attr, c) in all {
        m.put_uint(attr, c.load(Relaxed))?;
    }
    Ok(())
}

/// One direction's counters: packets, bytes, TCP segments.
fn fill_dir(
    m: &mut Msg<'_>,
    d: &DirStats,
    [packets, bytes, segs]: [u32; 3],
) -> Result<(), MsgFull> {
    let [p, b, s] = d.read();
    m.put_uint(packets, p)?;
    m.put_uint(bytes, b)?;
    m.put_uint(segs, s)
}

/// Replies with the port and tells the `mgmt` group with `ntf`.
fn reply_and_notify(
    req: &Request<'_>,
    port: &Port,
    cmd: u32,
    ntf: u32,
    rtnl: &mut RtnlGuard,
) -> Result<(), VaError> {
    let rtnl = rtnl.held();
    let master = port.dev().master_ifindex(rtnl);
    genl::notify(&port.dev().net(), ntf, |m| fill_port(m, port, master));
    req.reply(cmd, |m| fill_port(m, port, master))
}

pub(crate) fn port_add(req: &Request<'_>, rtnl: &mut RtnlGuard) -> Result<(), VaError> {
    let features = request_features(req)?.unwrap_or(0);
    let dev = request_dev(req)?;
    let port = port::attach(dev, features, &Settings::from_request(req), rtnl.held())?;
    reply_and_notify(
        req,
        &port,
        b::VASSIST_CMD_PORT_ADD,
        b::VASSIST_CMD_PORT_ADD_NTF,
        rtnl,
    )
}

pub(crate) fn port_del(req: &Request<'_>, rtnl: &mut RtnlGuard) -> Result<(), VaError> {
    let port = request_port(req, rtnl)?;
    port::detach(&port, rtnl.held())?;
    notify_detached(&port, DetachReason::User);
    Ok(())
}

pub(crate) fn port_get(req: &Request<'_>, rtnl: &mut RtnlGuard) -> Result<(), VaError> {
    let port = request_port(req, rtnl)?;
    let rtnl = rtnl.held();
    let master = port.dev().master_ifindex(rtnl);
    req.reply(b::VASSIST_CMD_PORT_GET, |m| fill_port(m, &port, master))
}

pub(crate) fn port_set(req: &Request<'_>, rtnl: &mut RtnlGuard) -> Result<(), VaError> {
    let features = request_features(req)?;
    let port = request_port(req, rtnl)?;
    let settings = Settings::from_request(req);
    let resize = settings.resizes(&port.snoop.config);
    let previous = settings.apply(&port.snoop.config);
    let features = features.unwrap_or(port.features());
    if let Err(e) = port::set_features(&port, features, resize, rtnl.held()) {
        // Nothing of a failed request stays.
        previous.apply(&port.snoop.config);
        return Err(e);
    }
    reply_and_notify(
        req,
        &port,
        b::VASSIST_CMD_PORT_SET,
        b::VASSIST_CMD_PORT_CHANGE_NTF,
        rtnl,
    )
}

/// Dumps the ports of the requester's namespace, resuming at the cursor.
pub(crate) fn port_dump(dump: &mut Dump<'_>, rtnl: &mut RtnlGuard) -> Result<(), MsgFull> {
    let net = dump.net();
    let rtnl: &Rtnl = rtnl.held();
    let start = *dump.cursor() as usize;
    let generation = port::generation(rtnl);
    for (i, port) in port::iter(rtnl).enumerate().skip(start) {
        if !port.dev().net().same(&net) {
            continue;
        }
        let master = port.dev().master_ifindex(rtnl);
        if let Err(full) = dump.add(b::VASSIST_CMD_PORT_GET, generation, |m| {
            fill_port(m, port, master)
        }) {
            *dump.cursor() = i as u64;
            return Err(full);
        }
    }
    Ok(())
}

/// Dumps the flows of the requester's namespace's ports (or of the port
/// the request names), resuming at the cursor: port position in the high
/// half, slot in the low half. Flows change all the time; a dump is a
/// sample, consistent per flow.
pub(crate) fn flow_dump(dump: &mut Dump<'_>, rtnl: &mut RtnlGuard) -> Result<(), MsgFull> {
    let net = dump.net();
    let only = dump.u32_attr(b::VASSIST_A_FLOW_IFINDEX);
    let rtnl: &Rtnl = rtnl.held();
    let cursor = *dump.cursor();
    let (first_port, first_slot) = ((cursor >> 32) as usize, cursor as u32 as usize);
    let generation = port::generation(rtnl);
    let now = time::now_ms();
    for (i, port) in port::iter(rtnl).enumerate().skip(first_port) {
        let dev = port.dev();
        if !dev.net().same(&net) || only.is_some_and(|o| o != dev.ifindex()) {
            continue;
        }
        let Some(engine) = port.snoop.engine_locked(rtnl) else {
            continue;
        };
        let start = if i == first_port { first_slot } else { 0 };
        let idle = port.snoop.idle_ms();
        let mut full = false;
        let stop = engine.flows.for_each_from(start, now, idle, |e| {
            full = dump
                .add(b::VASSIST_CMD_FLOW_GET, generation, |m| {
                    fill_flow(m, dev.ifindex(), e, now)
                })
                .is_err();
            !full
        });
        if let (Some(slot), true) = (stop, full) {
            *dump.cursor() = (i as u64) << 32 | slot as u64;
            return Err(MsgFull);
        }
    }
    Ok(())
}

fn flow_mode(mode: Mode) -> u32 {
    match mode {
        Mode::Active => b::vassist_flow_mode_VASSIST_FLOW_MODE_ACTIVE,
        Mode::Offline(Offline::UnexpectedSeq) => {
            b::vassist_flow_mode_VASSIST_FLOW_MODE_UNEXPECTED_SEQ
        }
        Mode::Offline(Offline::NoBuf) => b::vassist_flow_mode_VASSIST_FLOW_MODE_NO_BUF,
        Mode::Offline(Offline::Window) => b::vassist_flow_mode_VASSIST_FLOW_MODE_WINDOW,
        Mode::Offline(Offline::Flags) => b::vassist_flow_mode_VASSIST_FLOW_MODE_FLAGS,
        Mode::Closing => b::vassist_flow_mode_VASSIST_FLOW_MODE_CLOSING,
    }
}

/// The spec's flow attributes.
fn fill_flow(m: &mut Msg<'_>, ifindex: u32, e: &Entry, now: u64) -> Result<(), MsgFull> {
    let k = &e.key;
    let v = e.flow.view();
    let alen = if k.v6 { 16 } else { 4 };
    m.put_u32(b::VASSIST_A_FLOW_IFINDEX, ifindex)?;
    m.put_bytes(b::VASSIST_A_FLOW_GUEST_ADDR, &k.guest[..alen])?;
    m.put_u16(b::VASSIST_A_FLOW_GUEST_PORT, k.guest_port)?;
    m.put_bytes(b::VASSIST_A_FLOW_PEER_ADDR, &k.peer[..alen])?;
    m.put_u16(b::VASSIST_A_FLOW_PEER_PORT, k.peer_port)?;
    m.put_u32(b::VASSIST_A_FLOW_MODE, flow_mode(e.flow.mode()))?;
    if v.handshake {
        m.put_flag(b::VASSIST_A_FLOW_HANDSHAKE)?;
    }
    m.put_u32(b::VASSIST_A_FLOW_NEXT_SEQ, v.next_seq)?;
    m.put_u32(b::VASSIST_A_FLOW_ACKED, v.acked)?;
    m.put_u32(b::VASSIST_A_FLOW_VM_ACK, v.vm_ack)?;
    m.put_u32(b::VASSIST_A_FLOW_RCV_WIN, v.rcv_win)?;
    if let Some(ws) = v.wscale {
        m.put_u32(b::VASSIST_A_FLOW_WSCALE, u32::from(ws))?;
    }
    m.put_u32(b::VASSIST_A_FLOW_MSS, v.mss)?;
    if v.timestamps {
        m.put_flag(b::VASSIST_A_FLOW_TIMESTAMPS)?;
    }
    let idle = now.saturating_sub(e.last_ms).min(u64::from(u32::MAX)) as u32;
    m.put_u32(b::VASSIST_A_FLOW_IDLE_MS, idle)?;
    m.put_uint(b::VASSIST_A_FLOW_EARLY_ACKS, e.early_acks)?;
    m.put_uint(b::VASSIST_A_FLOW_ACKS_DROPPED, e.acks_dropped)?;
    m.put_uint(b::VASSIST_A_FLOW_ACKS_REWRITTEN, e.acks_rewritten)
}

/// Tells the port's namespace that it was detached, and why.
pub(crate) fn notify_detached(port: &Port, reason: DetachReason) {
    let dev = port.dev();
    genl::notify(&dev.net(), b::VASSIST_CMD_PORT_DEL_NTF, |m| {
        m.put_u32(b::VASSIST_A_PORT_IFINDEX, dev.ifindex())?;
        m.put_str(b::VASSIST_A_PORT_IFNAME, dev.name())?;
        m.put_u32(b::VASSIST_A_PORT_DETACH_REASON, reason as u32)
    });
}
