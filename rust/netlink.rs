// SPDX-License-Identifier: GPL-2.0

//! The `vassist` netlink commands (Documentation/netlink/specs/vassist.yaml):
//! port-add, port-del, port-get (do and dump), port-set, and the `mgmt`
//! group's notifications. Handlers run under RTNL.

use crate::bindings as b;
use crate::error::VaError;
use crate::port::{self, DirStats, Port};
use crate::sys::genl::{self, Dump, Msg, MsgFull, Request};
use crate::sys::netdev::NetDevRef;
use crate::sys::rtnl::{Rtnl, RtnlGuard};
use kernel::c_str;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Features this build implements; the policy already rejects unknown bits.
const SUPPORTED_FEATURES: u32 = 0;

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

/// The spec's `port-all` attributes.
fn fill_port(msg: &mut Msg<'_>, port: &Port, master: u32) -> Result<(), MsgFull> {
    let dev = port.dev();
    msg.put_u32(b::VASSIST_A_PORT_IFINDEX, dev.ifindex())?;
    msg.put_str(b::VASSIST_A_PORT_IFNAME, dev.name())?;
    if master != 0 {
        msg.put_u32(b::VASSIST_A_PORT_MASTER_IFINDEX, master)?;
    }
    msg.put_u32(b::VASSIST_A_PORT_FEATURES, port.features())?;
    msg.nest(b::VASSIST_A_PORT_STATS, |m| {
        use b::{
            VASSIST_A_PORT_STATS_FROM_GUEST_BYTES as FB,
            VASSIST_A_PORT_STATS_FROM_GUEST_PACKETS as FP,
            VASSIST_A_PORT_STATS_FROM_GUEST_TCP_SEGS as FT,
            VASSIST_A_PORT_STATS_TO_GUEST_BYTES as TB, VASSIST_A_PORT_STATS_TO_GUEST_PACKETS as TP,
            VASSIST_A_PORT_STATS_TO_GUEST_TCP_SEGS as TT,
        };
        fill_dir(m, &port.to_guest, [TP, TB, TT])?;
        fill_dir(m, &port.from_guest, [FP, FB, FT])
    })
}

/// One direction's counters: packets, bytes, TCP segments.
fn fill_dir(
    m: &mut Msg<'_>,
    d: &DirStats,
    [packets, bytes, segs]: [u32; 3],
) -> Result<(), MsgFull> {
    use core::sync::atomic::Ordering::Relaxed;
    m.put_uint(packets, d.packets.load(Relaxed))?;
    m.put_uint(bytes, d.bytes.load(Relaxed))?;
    m.put_uint(segs, d.tcp_segs.load(Relaxed))
}

/// Replies with the port and tells the `mgmt` group with `ntf`.
fn reply_and_notify(
    req: &Request<'_>,
    port: &Port,
    cmd: u32,
    ntf: u32,
    rtnl: &mut RtnlGuard,
) -> Result<(), VaError> {
    let master = port.dev().master_ifindex(rtnl.held());
    genl::notify(&port.dev().net(), ntf, |m| fill_port(m, port, master));
    req.reply(cmd, |m| fill_port(m, port, master))
}

pub(crate) fn port_add(req: &Request<'_>, rtnl: &mut RtnlGuard) -> Result<(), VaError> {
    let features = request_features(req)?.unwrap_or(0);
    let dev = request_dev(req)?;
    let port = port::attach(dev, features, rtnl.held())?;
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
    let master = port.dev().master_ifindex(rtnl.held());
    req.reply(b::VASSIST_CMD_PORT_GET, |m| fill_port(m, &port, master))
}

pub(crate) fn port_set(req: &Request<'_>, rtnl: &mut RtnlGuard) -> Result<(), VaError> {
    let features = request_features(req)?;
    let port = request_port(req, rtnl)?;
    if let Some(f) = features {
        port::set_features(&port, f);
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

/// Tells the port's namespace that it was detached, and why.
pub(crate) fn notify_detached(port: &Port, reason: DetachReason) {
    let dev = port.dev();
    genl::notify(&dev.net(), b::VASSIST_CMD_PORT_DEL_NTF, |m| {
        m.put_u32(b::VASSIST_A_PORT_IFINDEX, dev.ifindex())?;
        m.put_str(b::VASSIST_A_PORT_IFNAME, dev.name())?;
        m.put_u32(b::VASSIST_A_PORT_DETACH_REASON, reason as u32)
    });
}
