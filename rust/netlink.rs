// SPDX-License-Identifier: GPL-2.0

//! The `vassist` netlink commands (Documentation/netlink/specs/vassist.yaml):
//! port-add, port-del, port-get (do and dump), port-set, flow-get (dump),
//! and the `mgmt` group's notifications. Requests act on the ports of the
//! requester's namespace; changes run under RTNL, with what can be made
//! beforehand (device lookup, a flow table) made before it is taken.

use crate::defs::{
    self, ack_offload as ao, cmd, detach_reason, flow_mode, group, pipe_del_reason, pipe_state,
    stats, zone_notify, zone_params as zp, zone_stats as zs,
};
use crate::error::VaError;
use crate::flows::Entry;
use crate::hooks;
use crate::pipe::{Macs, Pipe};
use crate::policy::pipe::{self as pipe_rules, FlowKey, State};
use crate::policy::snoop::{Mode, Offline};
use crate::policy::zone::{Geometry, GeometryError};
use crate::port::{self, DetachReason, DirStats, FeatureChange, Port};
use crate::snoop::{self, Prepared, Settings, Stats};
use crate::sys::errno::eopnotsupp;
use crate::sys::genl::{Dump, DumpStop, Msg, MsgFull, Operations, Reject, Request, Sender};
use crate::sys::netdev::NetDeviceRef;
use crate::sys::rtnl::{self, Rtnl, RtnlGuard};
use crate::sys::time;
use crate::zone::{Notify, Params};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Features this build implements; the policy already rejects unknown bits.
const SUPPORTED_FEATURES: u32 = port::ACK_OFFLOAD | port::ZONE;

/// The family's handlers.
pub(crate) struct Netlink;

/// Where a dump resumes: the port (its ifindex) and, for flow dumps, the
/// slot of its flow table (a flow's slot is fixed for its life).
#[derive(Clone, Copy, Default)]
pub(crate) struct DumpCtx {
    ifindex: u32,
    slot: u32,
}

#[vtable]
impl Operations for Netlink {
    type DumpCtx = DumpCtx;

    fn doit(cmd: u8, req: &Request<'_>) -> Result<(), Reject> {
        match cmd {
            cmd::PORT_ADD => port_add(req),
            cmd::PORT_DEL => port_del(req),
            cmd::PORT_GET => port_get(req),
            cmd::PORT_SET => port_set(req),
            cmd::PIPE_ADD => pipe_add(req),
            cmd::PIPE_SET => pipe_set(req),
            cmd::PIPE_DEL => pipe_del(req),
            _ => Err(VaError::new(eopnotsupp(), c_str!("unknown command"))),
        }
        .map_err(Into::into)
    }

    fn dumpit(cmd: u8, dump: &mut Dump<'_, Self>) -> Result<(), DumpStop> {
        let mut rtnl = rtnl::lock();
        let rtnl = rtnl.held();
        match cmd {
            cmd::PORT_GET => port_dump(dump, rtnl),
            cmd::FLOW_GET => flow_dump(dump, rtnl),
            cmd::PIPE_GET => pipe_dump(dump, rtnl),
            _ => Err(DumpStop::Reject(
                VaError::new(eopnotsupp(), c_str!("unknown command")).into(),
            )),
        }
    }
}

/// The device a request names, by ifindex or ifname (both must agree).
fn request_dev(req: &Request<'_>) -> Result<NetDeviceRef, VaError> {
    request_dev_at(req, defs::port::IFINDEX, defs::port::IFNAME)
}

/// The device a request names by its attributes `ifindex` or `ifname`.
fn request_dev_at(req: &Request<'_>, ifindex: u32, ifname: u32) -> Result<NetDeviceRef, VaError> {
    let net = req.net();
    let by_index = match req.attr(ifindex).and_then(|a| a.u32()) {
        Some(i) => Some(
            NetDeviceRef::by_index(net, i)
                .ok_or(VaError::new(ENODEV, c_str!("no device with this ifindex")).at(ifindex))?,
        ),
        None => None,
    };
    let by_name = match req.attr(ifname).and_then(|a| a.str()) {
        Some(n) => Some(
            NetDeviceRef::by_name(net, n)
                .ok_or(VaError::new(ENODEV, c_str!("no device with this name")).at(ifname))?,
        ),
        None => None,
    };
    match (by_index, by_name) {
        (Some(i), Some(n)) if !i.is(&n) => Err(VaError::new(
            EINVAL,
            c_str!("ifindex and ifname name different devices"),
        )
        .at(ifname)),
        (Some(d), _) | (None, Some(d)) => Ok(d),
        (None, None) => {
            req.set_missing(ifindex);
            Err(VaError::new(
                EINVAL,
                c_str!("ifindex or ifname is required"),
            ))
        }
    }
}

fn attached(dev: &NetDeviceRef, rtnl: &Rtnl) -> Result<Arc<Port>, VaError> {
    port::find_locked(dev, rtnl).ok_or(VaError::new(
        ENOENT,
        c_str!("device is not an attached port"),
    ))
}

fn request_features(req: &Request<'_>) -> Result<Option<u32>, VaError> {
    match req.attr(defs::port::FEATURES).and_then(|a| a.u32()) {
        Some(f) if f & !SUPPORTED_FEATURES != 0 => Err(VaError::new(
            eopnotsupp(),
            c_str!("feature not implemented by this vassist build"),
        )
        .at(defs::port::FEATURES)),
        f => Ok(f),
    }
}

/// The change of features a port-set asks for: the bits of features-mask,
/// or all of them when it is absent; none without features.
fn request_feature_change(req: &Request<'_>) -> Result<FeatureChange, VaError> {
    let mask = req.attr(defs::port::FEATURES_MASK).and_then(|a| a.u32());
    match (request_features(req)?, mask) {
        (Some(value), mask) => Ok(FeatureChange {
            value,
            mask: mask.unwrap_or(u32::MAX),
        }),
        (None, None) => Ok(FeatureChange { value: 0, mask: 0 }),
        (None, Some(_)) => Err(VaError::new(EINVAL, c_str!("features-mask needs features"))
            .at(defs::port::FEATURES_MASK)),
    }
}

/// The ack offload parameters a request sets (the policy checked ranges).
fn request_settings(req: &Request<'_>) -> Settings {
    let nest = req.attr(defs::port::ACK_OFFLOAD);
    let get = |id| nest.and_then(|n| n.nested(id)).and_then(|a| a.u32());
    Settings {
        buf_size: get(ao::BUF_SIZE),
        ring_margin: get(ao::RING_MARGIN),
        max_flows: get(ao::MAX_FLOWS),
        idle_timeout_ms: get(ao::IDLE_TIMEOUT),
        buffer_max: get(ao::BUFFER_MAX),
        window_growth: get(ao::WINDOW_GROWTH),
    }
}

/// The zone parameters a request sets over `current` (the policy checked
/// ranges; powers of two are checked here). `None` without the nest.
fn request_zone(req: &Request<'_>, current: Params) -> Result<Option<Params>, VaError> {
    let Some(nest) = req.attr(defs::port::ZONE) else {
        return Ok(None);
    };
    let get = |id| nest.nested(id).and_then(|a| a.u32());
    let g = &current.geometry;
    let zones_max = get(zp::ZONES_MAX).map_or(g.zones_max(), |z| z as u16);
    let geometry = Geometry::new(
        get(zp::ZONE_SIZE).unwrap_or(g.zone_size()),
        zones_max,
        get(zp::RING).unwrap_or(g.ring()),
    )
    .map_err(|e| {
        let msg = match e {
            GeometryError::ZoneSize => c_str!("zone-size must be a power of two"),
            GeometryError::ZonesMax => c_str!("zones-max out of range"),
            GeometryError::Ring => c_str!("ring must be a power of two"),
        };
        VaError::new(EINVAL, msg).at(defs::port::ZONE)
    })?;
    // The policy admits only the enum's values.
    let notify = match get(zp::NOTIFY) {
        None => current.notify,
        Some(zone_notify::EVERY_FRAME) => Notify::EveryFrame,
        Some(zone_notify::TIMER) => Notify::Timer,
        Some(_) => Notify::EviEoc,
    };
    let coalesce_us = get(zp::COALESCE_USECS).unwrap_or(current.coalesce_us);
    Ok(Some(Params {
        geometry,
        notify,
        coalesce_us,
    }))
}

/// The spec's `port-all` attributes.
fn fill_port(msg: &mut Msg, port: &Port, rtnl: &Rtnl) -> Result<(), MsgFull> {
    let dev = port.dev();
    msg.put_u32(defs::port::IFINDEX, dev.ifindex())?;
    msg.put_str(defs::port::IFNAME, dev.name(rtnl))?;
    if let Some(master) = dev.master(rtnl) {
        msg.put_u32(defs::port::MASTER_IFINDEX, master.ifindex())?;
    }
    msg.put_u32(defs::port::FEATURES, port.features())?;
    let c = &port.snoop.config;
    msg.nest(defs::port::ACK_OFFLOAD, |m| {
        m.put_u32(ao::BUF_SIZE, c.buf_size.load(Relaxed))?;
        m.put_u32(ao::RING_MARGIN, c.ring_margin.load(Relaxed))?;
        m.put_u32(ao::MAX_FLOWS, c.max_flows.load(Relaxed))?;
        m.put_u32(ao::IDLE_TIMEOUT, c.idle_timeout_ms.load(Relaxed))?;
        m.put_u32(ao::BUFFER_MAX, c.buffer_max.load(Relaxed))?;
        m.put_u32(ao::WINDOW_GROWTH, c.window_growth.load(Relaxed))
    })?;
    let p = port.zone.params(rtnl);
    msg.nest(defs::port::ZONE, |m| {
        m.put_u32(zp::ZONE_SIZE, p.geometry.zone_size())?;
        m.put_u32(zp::ZONES_MAX, p.geometry.zones_max().into())?;
        m.put_u32(zp::RING, p.geometry.ring())?;
        m.put_u32(
            zp::NOTIFY,
            match p.notify {
                Notify::EviEoc => zone_notify::EVI_EOC,
                Notify::EveryFrame => zone_notify::EVERY_FRAME,
                Notify::Timer => zone_notify::TIMER,
            },
        )?;
        m.put_u32(zp::COALESCE_USECS, p.coalesce_us)
    })?;
    if let Some((s, u, bound)) = port.zone.stats(rtnl) {
        msg.nest(defs::port::ZONE_STATS, |m| {
            m.put_u32(zs::ZONES, u.zones.into())?;
            if bound {
                m.put_flag(zs::CONSUMER)?;
            }
            m.put_u32(zs::BUFFERS_FREE, u.free)?;
            m.put_u32(zs::BUFFERS_CONSUMER, u.consumer)?;
            m.put_u32(zs::BUFFERS_SENT, u.sent)?;
            for (id, v) in [
                (zs::FRAMES, s.frames),
                (zs::BYTES, s.bytes),
                (zs::NO_CONSUMER, s.no_consumer),
                (zs::NO_BUFFER, s.no_buffer),
                (zs::RING_FULL, s.ring_full),
                (zs::UNSUPPORTED, s.unsupported),
                (zs::RETURNED, s.returned),
                (zs::BAD_DESC, s.bad_desc),
                (zs::NOTIFICATIONS, s.notifications),
                (zs::GROW_FAILED, s.grow_failed),
                (zs::TX_FRAMES, s.tx_frames),
                (zs::TX_BYTES, s.tx_bytes),
                (zs::TX_COPIED_BYTES, s.tx_copied),
                (zs::TX_DROPPED, s.tx_dropped),
                (zs::COMPLETIONS, s.completions),
                (zs::KICKS, s.kicks),
                (zs::EVI_SENT, s.evi.evi_sent),
                (zs::EVI_FAILED, s.evi.evi_failed),
                (zs::EVI_COALESCED, s.evi.evi_coalesced),
                (zs::PREMATURE, s.evi.premature),
                (zs::EOC_SENT, s.evi.eoc_sent),
                (zs::EOC_COLD, s.evi.eoc_cold),
                (zs::EOC_HOT, s.evi.eoc_hot),
                (zs::EOC_PENDING, s.evi.eoc_pending),
                (zs::BATCHES, s.evi.batches),
            ] {
                m.put_uint(id, v)?;
            }
            Ok(())
        })?;
    }
    msg.nest(defs::port::STATS, |m| {
        use stats::*;
        fill_dir(
            m,
            &port.to_guest,
            [TO_GUEST_PACKETS, TO_GUEST_BYTES, TO_GUEST_TCP_SEGS],
        )?;
        fill_dir(
            m,
            &port.from_guest,
            [FROM_GUEST_PACKETS, FROM_GUEST_BYTES, FROM_GUEST_TCP_SEGS],
        )?;
        fill_snoop_stats(m, &port.snoop.stats)?;
        let held = port
            .snoop
            .engine_locked(rtnl)
            .map_or(0, |e| e.flows.held_bytes());
        m.put_uint(HELD_BYTES, held)?;
        let ring = port.tap.ring.refresh(dev.ring_out());
        m.put_uint(RING_ESTIMATE, ring)
    })
}

fn fill_snoop_stats(m: &mut Msg, s: &Stats) -> Result<(), MsgFull> {
    use stats::*;
    let all: [(u32, &AtomicU64); 23] = [
        (EARLY_ACKS, &s.early_acks),
        (EARLY_ACK_ERRORS, &s.early_ack_errors),
        (ACK_INELIGIBLE, &s.ack_ineligible),
        (GUEST_ACKS_DROPPED, &s.guest_acks_dropped),
        (ACKS_REWRITTEN, &s.acks_rewritten),
        (WINDOWS_CAPPED, &s.windows_capped),
        (OFFLINE_UNEXPECTED_SEQ, &s.offline_unexpected_seq),
        (OFFLINE_NO_BUF, &s.offline_no_buf),
        (OFFLINE_WINDOW, &s.offline_window),
        (OFFLINE_FLAGS, &s.offline_flags),
        (FLOWS_CREATED, &s.flows_created),
        (FLOWS_ENDED, &s.flows_ended),
        (FLOWS_EXPIRED, &s.flows_expired),
        (TABLE_FULL, &s.table_full),
        (RING_DROPS, &s.ring_drops),
        (OFFLINE_BUFFER_FULL, &s.offline_buffer_full),
        (RESENDS, &s.resends),
        (BAD_CHECKSUMS, &s.bad_checksums),
        (FLOWS_RESET, &s.flows_reset),
        (EARLY_ACKED_BYTES, &s.early_acked_bytes),
        (HELD_GAPS, &s.held_gaps),
        (PARKED, &s.parked),
        (RELEASED, &s.released),
    ];
    for (attr, c) in all {
        m.put_uint(attr, c.load(Relaxed))?;
    }
    Ok(())
}

/// One direction's counters: packets, bytes, TCP segments.
fn fill_dir(m: &mut Msg, d: &DirStats, ids: [u32; 3]) -> Result<(), MsgFull> {
    for (id, v) in ids.into_iter().zip(d.read()) {
        m.put_uint(id, v)?;
    }
    Ok(())
}

/// Replies with the port and tells the `mgmt` group with `ntf`.
fn reply_and_notify(
    req: &Request<'_>,
    port: &Port,
    reply: u8,
    ntf: u8,
    rtnl: &Rtnl,
) -> Result<(), VaError> {
    req.sender()
        .notify(port.dev().net(), group::MGMT, ntf, |m| {
            fill_port(m, port, rtnl)
        });
    Ok(req.reply(reply, |m| fill_port(m, port, rtnl))?)
}

/// A flow table of `max_flows` made before RTNL is taken. Out of memory
/// here, the change tries again under RTNL (and fails there if it must).
fn prepare(max_flows: Option<u32>) -> Option<Prepared> {
    Prepared::new(max_flows?).ok()
}

fn port_add(req: &Request<'_>) -> Result<(), VaError> {
    let features = request_features(req)?.unwrap_or(0);
    let settings = request_settings(req);
    let zone = request_zone(req, Params::default())?;
    let dev = request_dev(req)?;
    let on = features & port::ACK_OFFLOAD != 0;
    let prepared = prepare(on.then(|| settings.max_flows.unwrap_or(snoop::DEFAULT_MAX_FLOWS)));
    let mut guard = rtnl::lock();
    let rtnl = guard.held();
    // The hooks first: from the moment the port is published, every frame
    // it passes is seen (the ring gauge counts them all). The device is of
    // the requester's namespace.
    hooks::ensure(req.net(), rtnl)?;
    let attached = port::new(dev, features, &settings, prepared, zone, rtnl).and_then(|port| {
        hooks::watch_ingress(&port, rtnl)?;
        port::publish(&port, rtnl)?;
        Ok(port)
    });
    let port = match attached {
        Ok(port) => port,
        Err(e) => {
            // Nothing of a failed request stays.
            hooks::release_unused(req.net(), rtnl);
            return Err(e);
        }
    };
    reply_and_notify(req, &port, cmd::PORT_ADD, cmd::PORT_ADD_NTF, rtnl)
}

/// The attached port of `dev`; when the request `ends` its flows, looked
/// up again after its guests had their time to ack what they hold
/// ([`port::drain`], with RTNL let go).
fn attached_drained(
    dev: &NetDeviceRef,
    guard: &mut RtnlGuard,
    ends: impl Fn(&Port) -> bool,
) -> Result<Arc<Port>, VaError> {
    let port = attached(dev, guard.held())?;
    if !ends(&port) {
        return Ok(port);
    }
    port::drain(core::slice::from_ref(&port), guard);
    attached(dev, guard.held())
}

fn port_del(req: &Request<'_>) -> Result<(), VaError> {
    let dev = request_dev(req)?;
    let mut guard = rtnl::lock();
    let port = attached_drained(&dev, &mut guard, |_| true)?;
    let rtnl = guard.held();
    port::detach(&port, false, rtnl).inspect_err(|_| port.snoop.undrain(rtnl))?;
    hooks::release_unused(dev.net(), rtnl);
    notify_detached(req.sender(), &port, DetachReason::User, rtnl);
    Ok(())
}

fn port_get(req: &Request<'_>) -> Result<(), VaError> {
    let dev = request_dev(req)?;
    let mut guard = rtnl::lock();
    let rtnl = guard.held();
    let port = attached(&dev, rtnl)?;
    Ok(req.reply(cmd::PORT_GET, |m| fill_port(m, &port, rtnl))?)
}

fn port_set(req: &Request<'_>) -> Result<(), VaError> {
    let change = request_feature_change(req)?;
    let settings = request_settings(req);
    let dev = request_dev(req)?;
    // The table the change will need, if any, as the port is now.
    let on_after = |p: &Port| change.apply(p.features()) & port::ACK_OFFLOAD != 0;
    let size = port::with_port(&dev, |p| {
        let on = on_after(p);
        let s = &p.snoop;
        s.needs_table(on, &settings, s.is_running())
            .then(|| s.max_flows_after(&settings))
    });
    let prepared = prepare(size.flatten());
    let mut guard = rtnl::lock();
    let port = attached_drained(&dev, &mut guard, |p| {
        p.snoop.change_ends_flows(on_after(p), &settings)
    })?;
    let rtnl = guard.held();
    let zone = request_zone(req, port.zone.params(rtnl))?;
    port::set(&port, change, &settings, prepared, zone, rtnl)
        .inspect_err(|_| port.snoop.undrain(rtnl))?;
    reply_and_notify(req, &port, cmd::PORT_SET, cmd::PORT_CHANGE_NTF, rtnl)
}

/// Dumps the ports of the requester's namespace, resuming after the last
/// ifindex sent.
fn port_dump(dump: &mut Dump<'_, Netlink>, rtnl: &Rtnl) -> Result<(), DumpStop> {
    let net = dump.net();
    let from = dump.ctx().ifindex;
    let (generation, ports) = port::iter_from(net, from, rtnl);
    for port in ports {
        dump.add(cmd::PORT_GET, generation, |m| fill_port(m, port, rtnl))?;
        dump.ctx().ifindex = port.dev().ifindex() + 1;
    }
    Ok(())
}

/// Dumps the flows of the requester's namespace's ports (or of the port
/// the request names), resuming at the port and slot where the last round
/// stopped. Flows change all the time; a dump is a sample, consistent per
/// flow.
fn flow_dump(dump: &mut Dump<'_, Netlink>, rtnl: &Rtnl) -> Result<(), DumpStop> {
    let net = dump.net();
    let only = dump.attr(defs::flow::IFINDEX).and_then(|a| a.u32());
    let DumpCtx {
        ifindex: from,
        slot,
    } = *dump.ctx();
    let (generation, ports) = port::iter_from(net, only.unwrap_or(0).max(from), rtnl);
    let now = time::now_ms();
    for port in ports {
        let ifindex = port.dev().ifindex();
        if only.is_some_and(|o| o != ifindex) {
            break;
        }
        let Some(engine) = port.snoop.engine_locked(rtnl) else {
            continue;
        };
        let start = if ifindex == from { slot as usize } else { 0 };
        let idle = port.snoop.idle_ms();
        let mut full = false;
        let stop = engine.flows.for_each_from(start, now, idle, |e| {
            full = dump
                .add(cmd::FLOW_GET, generation, |m| fill_flow(m, ifindex, e, now))
                .is_err();
            !full
        });
        if let (Some(at), true) = (stop, full) {
            *dump.ctx() = DumpCtx {
                ifindex,
                slot: at as u32,
            };
            return Err(DumpStop::Full);
        }
        *dump.ctx() = DumpCtx {
            ifindex: ifindex + 1,
            slot: 0,
        };
    }
    Ok(())
}

fn flow_mode(mode: Mode) -> u32 {
    match mode {
        Mode::Active => flow_mode::ACTIVE,
        Mode::Offline(Offline::UnexpectedSeq) => flow_mode::UNEXPECTED_SEQ,
        Mode::Offline(Offline::NoBuf) => flow_mode::NO_BUF,
        Mode::Offline(Offline::Window) => flow_mode::WINDOW,
        Mode::Offline(Offline::Flags) => flow_mode::FLAGS,
        Mode::Offline(Offline::BufferFull) => flow_mode::BUFFER_FULL,
        Mode::Closing => flow_mode::CLOSING,
    }
}

/// The spec's flow attributes.
fn fill_flow(m: &mut Msg, ifindex: u32, e: &Entry, now: u64) -> Result<(), MsgFull> {
    use defs::flow::*;
    let k = &e.key;
    let v = e.flow.view();
    let alen = if k.v6 { 16 } else { 4 };
    m.put_u32(IFINDEX, ifindex)?;
    m.put_bytes(GUEST_ADDR, &k.guest[..alen])?;
    m.put_u16(GUEST_PORT, k.guest_port)?;
    m.put_bytes(PEER_ADDR, &k.peer[..alen])?;
    m.put_u16(PEER_PORT, k.peer_port)?;
    m.put_u32(MODE, flow_mode(e.flow.mode()))?;
    if v.handshake {
        m.put_flag(HANDSHAKE)?;
    }
    m.put_u32(NEXT_SEQ, v.next_seq)?;
    m.put_u32(ACKED, v.acked)?;
    m.put_u32(VM_ACK, v.vm_ack)?;
    m.put_u32(RCV_WIN, v.rcv_win)?;
    if let Some(ws) = v.wscale {
        m.put_u32(WSCALE, u32::from(ws))?;
    }
    m.put_u32(MSS, v.mss)?;
    if v.timestamps {
        m.put_flag(TIMESTAMPS)?;
    }
    let idle = now.saturating_sub(e.last_ms).min(u64::from(u32::MAX)) as u32;
    m.put_u32(IDLE_MS, idle)?;
    m.put_uint(EARLY_ACKS, e.early_acks)?;
    m.put_uint(ACKS_DROPPED, e.acks_dropped)?;
    m.put_uint(ACKS_REWRITTEN, e.acks_rewritten)?;
    m.put_u32(HELD_BYTES, e.held_bytes())?;
    m.put_uint(RESENDS, e.resends)?;
    m.put_u32(PARKED_BYTES, v.parked)
}

/// The connection a pipe request names.
fn request_pipe_key(req: &Request<'_>) -> Result<FlowKey, VaError> {
    use defs::pipe::*;
    for id in [GUEST_ADDR, GUEST_PORT, PEER_ADDR, PEER_PORT] {
        if req.attr(id).is_none() {
            req.set_missing(id);
            return Err(VaError::new(
                EINVAL,
                c_str!("guest-addr, guest-port, peer-addr and peer-port are required"),
            ));
        }
    }
    let bytes = |id| req.attr(id).map_or(&[][..], |a| a.bytes());
    let port = |id| req.attr(id).and_then(|a| a.u16()).unwrap_or(0);
    pipe_rules::key(
        bytes(GUEST_ADDR),
        port(GUEST_PORT),
        bytes(PEER_ADDR),
        port(PEER_PORT),
    )
    .ok_or(VaError::new(
        EINVAL,
        c_str!("addresses must be both IPv4 (4 bytes) or both IPv6 (16), ports non-zero"),
    ))
}

/// The state a pipe request asks for, `default` without one.
fn request_pipe_state(req: &Request<'_>, default: Option<State>) -> Result<State, VaError> {
    let attr = defs::pipe::STATE;
    match req.attr(attr).and_then(|a| a.u32()) {
        Some(pipe_state::HOLD) => Ok(State::Hold),
        Some(pipe_state::HOST) => Ok(State::Host),
        Some(_) => Err(VaError::new(EINVAL, c_str!("unknown pipe state")).at(attr)),
        None => default.ok_or_else(|| {
            req.set_missing(attr);
            VaError::new(EINVAL, c_str!("state is required"))
        }),
    }
}

/// A MAC address attribute of a pipe request, if given (the policy
/// checked its length).
fn request_mac(req: &Request<'_>, attr: u32) -> Result<Option<[u8; 6]>, VaError> {
    let Some(a) = req.attr(attr) else {
        return Ok(None);
    };
    let mac: [u8; 6] = a
        .bytes()
        .try_into()
        .map_err(|_| VaError::new(EINVAL, c_str!("a MAC address is 6 bytes")).at(attr))?;
    if !pipe_rules::unicast_mac(&mac) {
        return Err(
            VaError::new(EINVAL, c_str!("a pipe's MAC addresses must be unicast")).at(attr),
        );
    }
    Ok(Some(mac))
}

/// The port device a pipe request names.
fn request_pipe_port(req: &Request<'_>) -> Result<NetDeviceRef, VaError> {
    request_dev_at(req, defs::pipe::IFINDEX, defs::pipe::IFNAME)
}

fn pipe_add(req: &Request<'_>) -> Result<(), VaError> {
    use defs::pipe::*;
    let key = request_pipe_key(req)?;
    let macs = match (request_mac(req, GUEST_MAC)?, request_mac(req, PEER_MAC)?) {
        (Some(guest), Some(peer)) => Some(Macs { guest, peer }),
        (None, None) => None,
        _ => {
            return Err(VaError::new(
                EINVAL,
                c_str!("guest-mac and peer-mac go together"),
            ))
        }
    };
    let state = request_pipe_state(req, Some(State::Hold))?;
    let dev = request_pipe_port(req)?;
    let Some(shadow_index) = req.attr(SHADOW_IFINDEX).and_then(|a| a.u32()) else {
        req.set_missing(SHADOW_IFINDEX);
        return Err(VaError::new(EINVAL, c_str!("shadow-ifindex is required")));
    };
    let shadow = NetDeviceRef::by_index(req.net(), shadow_index).ok_or(
        VaError::new(ENODEV, c_str!("no device with this shadow-ifindex")).at(SHADOW_IFINDEX),
    )?;
    let mut guard = rtnl::lock();
    let rtnl = guard.held();
    let port = attached(&dev, rtnl)?;
    if port.features() & port::ACK_OFFLOAD != 0 {
        // Bytes the host acked early and the guest has not taken would be
        // in no dump of its socket: lost.
        return Err(VaError::new(
            eopnotsupp(),
            c_str!("piping a connection on a port with ack offload is not supported yet"),
        ));
    }
    if shadow.is(&dev) || shadow.is_bridge_port(rtnl) || shadow.master(rtnl).is_some() {
        return Err(VaError::new(
            EINVAL,
            c_str!("the shadow device must not be a port or enslaved"),
        )
        .at(SHADOW_IFINDEX));
    }
    let owner = req.attr(SOCKET_OWNER).map(|_| req.portid());
    port.pipes.add(&shadow, key, macs, state, owner, rtnl)?;
    // Its frames are seen from now on; a failure leaves no pipe.
    if let Err(e) = hooks::watch_shadow(&port, rtnl) {
        let _ = port.pipes.del(&key, port.dev(), rtnl);
        hooks::release_unused(dev.net(), rtnl);
        return Err(e.into());
    }
    Ok(())
}

fn pipe_set(req: &Request<'_>) -> Result<(), VaError> {
    let key = request_pipe_key(req)?;
    let state = request_pipe_state(req, None)?;
    let dev = request_pipe_port(req)?;
    let mut guard = rtnl::lock();
    let rtnl = guard.held();
    attached(&dev, rtnl)?.pipes.set(&key, state, rtnl)
}

fn pipe_del(req: &Request<'_>) -> Result<(), VaError> {
    let key = request_pipe_key(req)?;
    let dev = request_pipe_port(req)?;
    let mut guard = rtnl::lock();
    let rtnl = guard.held();
    let port = attached(&dev, rtnl)?;
    port.pipes.del(&key, port.dev(), rtnl)?;
    hooks::release_unused(dev.net(), rtnl);
    notify_pipe_gone(req.sender(), &port, &key, PipeGone::User, false);
    Ok(())
}

/// Dumps the pipes of the requester's namespace's ports (or of the port
/// the request names), resuming at the port and pipe where the last round
/// stopped.
fn pipe_dump(dump: &mut Dump<'_, Netlink>, rtnl: &Rtnl) -> Result<(), DumpStop> {
    let net = dump.net();
    let only = dump.attr(defs::pipe::IFINDEX).and_then(|a| a.u32());
    let DumpCtx {
        ifindex: from,
        slot,
    } = *dump.ctx();
    let (generation, ports) = port::iter_from(net, only.unwrap_or(0).max(from), rtnl);
    for port in ports {
        let ifindex = port.dev().ifindex();
        if only.is_some_and(|o| o != ifindex) {
            break;
        }
        let Some(shadow) = port.pipes.shadow(rtnl) else {
            continue;
        };
        let shadow = shadow.ifindex();
        let start = if ifindex == from { slot as usize } else { 0 };
        for (i, p) in port.pipes.iter_from(start, rtnl).enumerate() {
            let added = dump.add(cmd::PIPE_GET, generation, |m| {
                fill_pipe(m, ifindex, shadow, p)
            });
            if added.is_err() {
                *dump.ctx() = DumpCtx {
                    ifindex,
                    slot: (start + i) as u32,
                };
                return Err(DumpStop::Full);
            }
        }
        *dump.ctx() = DumpCtx {
            ifindex: ifindex + 1,
            slot: 0,
        };
    }
    Ok(())
}

/// The spec's pipe attributes.
fn fill_pipe(m: &mut Msg, ifindex: u32, shadow: u32, p: &Pipe) -> Result<(), MsgFull> {
    use defs::pipe::*;
    let k = &p.key;
    let alen = if k.v6 { 16 } else { 4 };
    let (state, macs, s) = p.view();
    m.put_u32(IFINDEX, ifindex)?;
    m.put_u32(SHADOW_IFINDEX, shadow)?;
    m.put_bytes(GUEST_ADDR, &k.guest[..alen])?;
    m.put_u16(GUEST_PORT, k.guest_port)?;
    m.put_bytes(PEER_ADDR, &k.peer[..alen])?;
    m.put_u16(PEER_PORT, k.peer_port)?;
    if let Some(macs) = macs {
        m.put_bytes(GUEST_MAC, &macs.guest)?;
        m.put_bytes(PEER_MAC, &macs.peer)?;
    }
    if let Some(state) = match state {
        State::Hold => Some(pipe_state::HOLD),
        State::Host => Some(pipe_state::HOST),
        State::Gone => None,
    } {
        m.put_u32(STATE, state)?;
    }
    m.put_uint(TO_SHADOW_PACKETS, s.to_shadow[0])?;
    m.put_uint(TO_SHADOW_BYTES, s.to_shadow[1])?;
    m.put_uint(FROM_SHADOW_PACKETS, s.from_shadow[0])?;
    m.put_uint(FROM_SHADOW_BYTES, s.from_shadow[1])?;
    m.put_uint(GUEST_DROPPED, s.guest_dropped)?;
    m.put_uint(SHADOW_DROPPED, s.shadow_dropped)?;
    m.put_uint(HOLD_DROPPED, s.hold_dropped)?;
    m.put_u32(HELD, s.held)?;
    if p.owner.is_some() {
        m.put_flag(SOCKET_OWNER)?;
    }
    Ok(())
}

/// Why a pipe went (other than with its port).
pub(crate) enum PipeGone {
    User,
    OwnerGone,
    ShadowGone,
}

/// Tells the port's namespace that the pipe `key` went, why, and whether
/// the connection was reset.
pub(crate) fn notify_pipe_gone(
    to: Sender<'_>,
    port: &Port,
    key: &FlowKey,
    why: PipeGone,
    reset: bool,
) {
    use defs::pipe::*;
    let why = match why {
        PipeGone::User => pipe_del_reason::USER,
        PipeGone::OwnerGone => pipe_del_reason::OWNER_GONE,
        PipeGone::ShadowGone => pipe_del_reason::SHADOW_GONE,
    };
    let alen = if key.v6 { 16 } else { 4 };
    let fill = |m: &mut Msg| {
        m.put_u32(IFINDEX, port.dev().ifindex())?;
        m.put_bytes(GUEST_ADDR, &key.guest[..alen])?;
        m.put_u16(GUEST_PORT, key.guest_port)?;
        m.put_bytes(PEER_ADDR, &key.peer[..alen])?;
        m.put_u16(PEER_PORT, key.peer_port)?;
        m.put_u32(DEL_REASON, why)?;
        if reset {
            m.put_flag(RESET)?;
        }
        Ok(())
    };
    to.notify(port.dev().net(), group::MGMT, cmd::PIPE_DEL_NTF, fill);
}

/// Tells the port's namespace that it was detached, and why.
pub(crate) fn notify_detached(to: Sender<'_>, port: &Port, reason: DetachReason, rtnl: &Rtnl) {
    let dev = port.dev();
    let reason = match reason {
        DetachReason::User => detach_reason::USER,
        DetachReason::Unregistered => detach_reason::UNREGISTERED,
        DetachReason::LeftBridge => detach_reason::LEFT_BRIDGE,
    };
    let fill = |m: &mut Msg| {
        m.put_u32(defs::port::IFINDEX, dev.ifindex())?;
        m.put_str(defs::port::IFNAME, dev.name(rtnl))?;
        m.put_u32(defs::port::DETACH_REASON, reason)
    };
    to.notify(dev.net(), group::MGMT, cmd::PORT_DEL_NTF, fill);
}
