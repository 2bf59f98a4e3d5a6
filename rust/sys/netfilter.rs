// SPDX-License-Identifier: GPL-2.0

//! Bridge netfilter hooks in every network namespace: a pernet subsystem
//! registers them as namespaces come and go. Frames received on a bridge port
//! go to [`crate::hooks::from_port`], frames the bridge sends out of a port to
//! [`crate::hooks::to_port`].

use super::netdev::NetDev;
use super::rcu::RcuRead;
use super::skb::{Egress, Sent, SkBuff};
use crate::bindings;
use core::ptr::NonNull;
use kernel::ffi;
use kernel::prelude::*;
use kernel::types::Opaque;

/// What a hook decides for a frame. The frame goes back to netfilter with
/// the verdict unless vassist transmitted it: the payloads are ownership
/// proofs (a handler cannot accept a frame it gave away), never read.
pub(crate) enum Verdict<'a> {
    /// Let it continue through the bridge.
    Accept(#[allow(dead_code)] SkBuff<'a>),
    /// Drop it.
    Drop(#[allow(dead_code)] SkBuff<'a>),
    /// It was transmitted by vassist.
    Stolen(#[allow(dead_code)] Sent),
}

const fn hook_ops(
    hook: unsafe extern "C" fn(
        *mut ffi::c_void,
        *mut bindings::sk_buff,
        *const bindings::nf_hook_state,
    ) -> ffi::c_uint,
    hooknum: u32,
    priority: i32,
) -> bindings::nf_hook_ops {
    // SAFETY: all-zero is a valid nf_hook_ops (null pointers, NF_HOOK_OP_UNDEFINED).
    let mut ops: bindings::nf_hook_ops = unsafe { core::mem::zeroed() };
    ops.hook = Some(hook);
    ops.pf = bindings::NFPROTO_BRIDGE as u8;
    ops.hooknum = hooknum;
    ops.priority = priority;
    ops
}

struct HookOps([bindings::nf_hook_ops; 2]);

// SAFETY: the ops are never written after initialisation; netfilter only
// reads them (it copies the hook function and priority into its own tables).
unsafe impl Sync for HookOps {}

// Frames from a port are seen first, before any bridge filtering may drop
// them. Frames to a port are seen after ebtables, but just before
// br_netfilter's post-routing hook (NF_BR_PRI_LAST), which steals IP frames
// into the IP hooks (bridge-nf-call-iptables) and transmits them itself.
static HOOK_OPS: HookOps = HookOps([
    hook_ops(from_port_hook, bindings::NF_BR_PRE_ROUTING, i32::MIN),
    hook_ops(to_port_hook, bindings::NF_BR_POST_ROUTING, i32::MAX - 1),
]);

fn verdict(v: Verdict<'_>) -> ffi::c_uint {
    match v {
        Verdict::Accept(_) => bindings::NF_ACCEPT,
        Verdict::Drop(_) => bindings::NF_DROP,
        Verdict::Stolen(_) => bindings::NF_STOLEN,
    }
}

/// What both hooks share: a frame and a port, inside netfilter's RCU
/// read-side section. `wrap` makes the frame what the hook point allows.
///
/// # Safety
///
/// Netfilter's contract for a hook: `skb` is valid and the hook's until
/// the verdict, `dev` is null or a valid device, and the call runs inside
/// an RCU read-side section. `wrap` may assume that much of the frame.
unsafe fn run_hook<'a, S>(
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
    wrap: unsafe fn(NonNull<bindings::sk_buff>) -> S,
    handler: fn(S, &NetDev<'_>, &RcuRead) -> Verdict<'a>,
) -> ffi::c_uint {
    let (Some(skb), Some(dev)) = (NonNull::new(skb), NonNull::new(dev)) else {
        return bindings::NF_ACCEPT;
    };
    // SAFETY: the caller's contract.
    let (skb, dev, rcu) = unsafe { (wrap(skb), NetDev::from_raw(dev), RcuRead::assume()) };
    verdict(handler(skb, &dev, rcu))
}

/// Pre-routing: `state->in` is the port the frame came in on.
///
/// # Safety
///
/// Called by netfilter with the skb it hands over and a valid state.
unsafe extern "C" fn from_port_hook(
    _priv: *mut ffi::c_void,
    skb: *mut bindings::sk_buff,
    state: *const bindings::nf_hook_state,
) -> ffi::c_uint {
    // SAFETY: netfilter's hook contract; `state` is valid.
    unsafe { run_hook(skb, (*state).in_, SkBuff::from_raw, crate::hooks::from_port) }
}

/// Post-routing: `state->out` is the port the frame leaves by.
///
/// # Safety
///
/// As for [`from_port_hook`].
unsafe extern "C" fn to_port_hook(
    _priv: *mut ffi::c_void,
    skb: *mut bindings::sk_buff,
    state: *const bindings::nf_hook_state,
) -> ffi::c_uint {
    // SAFETY: as in `from_port_hook`; at NF_BR_POST_ROUTING the okfn is
    // br_dev_queue_push_xmit, which `Egress::transmit` stands in for.
    unsafe { run_hook(skb, (*state).out, Egress::from_raw, crate::hooks::to_port) }
}

/// Registers the hooks in a new namespace.
///
/// # Safety
///
/// Called by the pernet machinery with the namespace being set up.
unsafe extern "C" fn pernet_init(net: *mut bindings::net) -> ffi::c_int {
    // SAFETY: `net` is being set up; HOOK_OPS is static and lives on until
    // `pernet_exit` unregisters it from this namespace.
    unsafe { bindings::nf_register_net_hooks(net, HOOK_OPS.0.as_ptr(), HOOK_OPS.0.len() as u32) }
}

/// Unregisters the hooks from a namespace going away.
///
/// # Safety
///
/// Called by the pernet machinery with a namespace `pernet_init` set up.
unsafe extern "C" fn pernet_exit(net: *mut bindings::net) {
    // SAFETY: registered on this namespace by `pernet_init`; this waits for
    // hooks in flight (synchronize_net).
    unsafe { bindings::nf_unregister_net_hooks(net, HOOK_OPS.0.as_ptr(), HOOK_OPS.0.len() as u32) }
}

struct PernetOps(Opaque<bindings::pernet_operations>);

// SAFETY: written only by (un)register_pernet_subsys, under pernet_ops_rwsem.
unsafe impl Sync for PernetOps {}

static PERNET: PernetOps = PernetOps(Opaque::new({
    // SAFETY: all-zero is a valid pernet_operations (no id, no storage).
    let mut ops: bindings::pernet_operations = unsafe { core::mem::zeroed() };
    ops.init = Some(pernet_init);
    ops.exit = Some(pernet_exit);
    ops
}));

/// The hooks, registered in every namespace; unregistered from all on drop.
pub(crate) struct BridgeHooks(());

impl BridgeHooks {
    pub(crate) fn register() -> Result<BridgeHooks> {
        // SAFETY: PERNET is static, registered once here, unregistered in drop.
        kernel::error::to_result(unsafe { bindings::register_pernet_subsys(PERNET.0.get()) })?;
        Ok(BridgeHooks(()))
    }
}

impl Drop for BridgeHooks {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; runs `pernet_exit` for every
        // namespace, which waits for hooks in flight.
        unsafe { bindings::unregister_pernet_subsys(PERNET.0.get()) };
    }
}
