// SPDX-License-Identifier: GPL-2.0

//! Bridge netfilter hooks on the bridge ports of one namespace: frames the
//! bridge receives on a port, and frames it sends out of one, handed to a
//! [`BridgeHook`]. Registered per namespace, so namespaces without a user
//! pay nothing.

use super::netdev::{Net, NetDevice};
use super::rcu::Guard;
use super::skb::{Egress, Sent, SkBuff};
use crate::bindings;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::ffi;
use kernel::prelude::*;

/// What a hook decides for a frame. The frame goes back to netfilter with
/// the verdict unless the hook transmitted it: the payloads are ownership
/// proofs (a hook cannot accept a frame it gave away), never read.
pub(crate) enum Verdict<'a> {
    /// Let it continue through the bridge.
    Accept(#[allow(dead_code)] SkBuff<'a>),
    /// Drop it.
    Drop(#[allow(dead_code)] SkBuff<'a>),
    /// It was transmitted by the hook.
    Stolen(#[allow(dead_code)] Sent),
}

/// What a user of [`BridgeHooks`] implements. Both run in softirq context,
/// inside netfilter's RCU read-side section. What sits behind a port, away
/// from the bridge, is called the guest.
pub(crate) trait BridgeHook: 'static {
    /// A frame the bridge received on `port`, from the guest (before any
    /// bridge filtering).
    fn from_guest<'a>(skb: SkBuff<'a>, port: &NetDevice, net: &Net, rcu: &Guard) -> Verdict<'a>;

    /// A frame the bridge sends out of `port`, to the guest: after ebtables,
    /// just before br_netfilter's post-routing hook (NF_BR_PRI_LAST), which
    /// would steal IP frames into the IP hooks.
    fn to_guest<'a>(skb: Egress<'a>, port: &NetDevice, net: &Net, rcu: &Guard) -> Verdict<'a>;
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
    // SAFETY: all-zero is a valid nf_hook_ops (null pointers,
    // NF_HOOK_OP_UNDEFINED).
    let mut ops: bindings::nf_hook_ops = unsafe { core::mem::zeroed() };
    ops.hook = Some(hook);
    ops.pf = bindings::NFPROTO_BRIDGE as u8;
    ops.hooknum = hooknum;
    ops.priority = priority;
    ops
}

fn verdict(v: Verdict<'_>) -> ffi::c_uint {
    match v {
        Verdict::Accept(_) => bindings::NF_ACCEPT,
        Verdict::Drop(_) => bindings::NF_DROP,
        Verdict::Stolen(_) => bindings::NF_STOLEN,
    }
}

/// The hooks of `T`, registered in one namespace; unregistered on drop.
///
/// # Invariants
///
/// `Self::OPS` is registered in `net`, which outlives this value, from
/// creation to drop.
pub(crate) struct BridgeHooks<T: BridgeHook> {
    net: NonNull<bindings::net>,
    _p: PhantomData<T>,
}

// SAFETY: the registration is undone (nf_unregister_net_hooks) from
// whichever task drops it; nothing else is reached through it.
unsafe impl<T: BridgeHook> Send for BridgeHooks<T> {}
// SAFETY: no method uses the value through `&self`.
unsafe impl<T: BridgeHook> Sync for BridgeHooks<T> {}

impl<T: BridgeHook> BridgeHooks<T> {
    // Frames from a port are seen first, before any bridge filtering may
    // drop them; frames to a port last before br_netfilter.
    const OPS: [bindings::nf_hook_ops; 2] = [
        hook_ops(Self::from_guest_hook, bindings::NF_BR_PRE_ROUTING, i32::MIN),
        hook_ops(
            Self::to_guest_hook,
            bindings::NF_BR_POST_ROUTING,
            i32::MAX - 1,
        ),
    ];

    /// Registers the hooks in `net`. The caller keeps the value no longer
    /// than the namespace lives (dropping it before the namespace's
    /// teardown finishes).
    pub(crate) fn register(net: &Net) -> Result<Self> {
        let ops: &'static [bindings::nf_hook_ops; 2] = &Self::OPS;
        // SAFETY: `net` is alive; the ops are a constant in static memory,
        // which netfilter only reads.
        kernel::error::to_result(unsafe {
            bindings::nf_register_net_hooks(net.as_ptr(), ops.as_ptr(), ops.len() as u32)
        })?;
        // INVARIANT: registered just now in `net`.
        Ok(BridgeHooks {
            net: NonNull::from(net).cast(),
            _p: PhantomData,
        })
    }

    /// What both hooks share.
    ///
    /// # Safety
    ///
    /// Netfilter's contract for a hook: `skb` is valid and the hook's until
    /// the verdict, `state` is valid, and the call runs inside an RCU
    /// read-side section. `wrap` may assume that much of the frame.
    unsafe fn run<'a, S>(
        skb: *mut bindings::sk_buff,
        state: *const bindings::nf_hook_state,
        port: *mut bindings::net_device,
        wrap: unsafe fn(NonNull<bindings::sk_buff>) -> S,
        hook: fn(S, &NetDevice, &Net, &Guard) -> Verdict<'a>,
    ) -> ffi::c_uint {
        let Some(skb) = NonNull::new(skb) else {
            return bindings::NF_ACCEPT;
        };
        if port.is_null() {
            return bindings::NF_ACCEPT;
        }
        // SAFETY: the caller's contract: the frame is valid and the hook's,
        // the port device and namespace in `state` are alive for the call,
        // and the call is inside an RCU read-side section.
        let (skb, port, net, rcu) = unsafe {
            (
                wrap(skb),
                NetDevice::from_raw(port),
                Net::from_raw((*state).net),
                Guard::assume(),
            )
        };
        verdict(hook(skb, port, net, rcu))
    }

    /// Pre-routing: `state->in` is the port the frame came in on.
    ///
    /// # Safety
    ///
    /// Called by netfilter with the skb it hands over and a valid state.
    unsafe extern "C" fn from_guest_hook(
        _priv: *mut ffi::c_void,
        skb: *mut bindings::sk_buff,
        state: *const bindings::nf_hook_state,
    ) -> ffi::c_uint {
        // SAFETY: netfilter's hook contract; `state` is valid to read.
        unsafe { Self::run(skb, state, (*state).in_, SkBuff::from_raw, T::from_guest) }
    }

    /// Post-routing: `state->out` is the port the frame leaves by.
    ///
    /// # Safety
    ///
    /// As for `from_guest_hook`.
    unsafe extern "C" fn to_guest_hook(
        _priv: *mut ffi::c_void,
        skb: *mut bindings::sk_buff,
        state: *const bindings::nf_hook_state,
    ) -> ffi::c_uint {
        // SAFETY: as in `from_guest_hook`; at NF_BR_POST_ROUTING the okfn is
        // br_dev_queue_push_xmit, which `Egress::transmit` stands in for.
        unsafe { Self::run(skb, state, (*state).out, Egress::from_raw, T::to_guest) }
    }
}

impl<T: BridgeHook> Drop for BridgeHooks<T> {
    fn drop(&mut self) {
        let ops: &'static [bindings::nf_hook_ops; 2] = &Self::OPS;
        // SAFETY: registered in `net`, which is alive (type invariant).
        // Hooks in flight may still run after this returns; their code is
        // the module's, which the module's exit outlives (it waits for RCU).
        unsafe {
            bindings::nf_unregister_net_hooks(self.net.as_ptr(), ops.as_ptr(), ops.len() as u32)
        }
    }
}
