// SPDX-License-Identifier: GPL-2.0

//! Bridge netfilter hooks on the bridge ports of one namespace: frames the
//! bridge receives on a port, and frames it sends out of one, handed to a
//! [`BridgeHook`]. Registered per namespace, so namespaces without a user
//! pay nothing.

use super::netdev::{Net, NetDevice};
use super::rcu::Guard;
use super::skb::{Egress, Sent, SkBuff};
use crate::bindings;
use core::ptr::NonNull;
use kernel::ffi;
use kernel::prelude::*;
use kernel::sync::Arc;

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

/// What a user of [`BridgeHooks`] implements: the state the hooks of one
/// namespace read. Both run in softirq context, inside netfilter's RCU
/// read-side section. What sits behind a port, away from the bridge, is
/// called the guest.
pub(crate) trait BridgeHook: Send + Sync + 'static {
    /// A frame the bridge received on `port`, from the guest (before any
    /// bridge filtering).
    fn ingress<'a>(&self, skb: SkBuff<'a>, port: &NetDevice, rcu: &Guard) -> Verdict<'a>;

    /// A frame the bridge sends out of `port`, to the guest: after ebtables,
    /// just before br_netfilter's post-routing hook (NF_BR_PRI_LAST), which
    /// would steal IP frames into the IP hooks.
    fn egress<'a>(&self, skb: Egress<'a>, port: &NetDevice, rcu: &Guard) -> Verdict<'a>;
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

/// The hooks of `T`, registered in one namespace with a shared `T` as their
/// private data (handed to every call: no lookup on the packet path);
/// unregistered on drop.
///
/// # Invariants
///
/// `ops` is registered in `net`, which outlives this value, from creation
/// to drop, with `priv` pointing at `_data`'s `T`.
pub(crate) struct BridgeHooks<T: BridgeHook> {
    net: NonNull<bindings::net>,
    ops: KBox<[bindings::nf_hook_ops; 2]>,
    /// Held for `priv`: read only through it.
    _data: Arc<T>,
}

// SAFETY: the registration is undone (nf_unregister_net_hooks) from
// whichever task drops it; `T` is `Send + Sync`, and the ops are only read.
unsafe impl<T: BridgeHook> Send for BridgeHooks<T> {}
// SAFETY: `&self` reaches only `data`, a `T: Sync`.
unsafe impl<T: BridgeHook> Sync for BridgeHooks<T> {}

impl<T: BridgeHook> BridgeHooks<T> {
    // Frames from a port are seen first, before any bridge filtering may
    // drop them; frames to a port last before br_netfilter.
    const OPS: [bindings::nf_hook_ops; 2] = [
        hook_ops(Self::ingress_hook, bindings::NF_BR_PRE_ROUTING, i32::MIN),
        hook_ops(
            Self::egress_hook,
            bindings::NF_BR_POST_ROUTING,
            i32::MAX - 1,
        ),
    ];

    /// Registers the hooks in `net`, calling them on `data`. The caller
    /// keeps the value no longer than the namespace lives (dropping it
    /// before the namespace's teardown finishes).
    pub(crate) fn register(net: &Net, data: Arc<T>) -> Result<Self> {
        let mut ops = KBox::new(Self::OPS, GFP_KERNEL)?;
        let private = core::ptr::from_ref::<T>(&data).cast_mut().cast();
        for o in ops.iter_mut() {
            o.priv_ = private;
        }
        // SAFETY: `net` is alive; the ops are complete and stay at their
        // heap address until `drop` has unregistered them.
        kernel::error::to_result(unsafe {
            bindings::nf_register_net_hooks(net.as_ptr(), ops.as_ptr(), ops.len() as u32)
        })?;
        // INVARIANT: registered just now in `net`, `priv` set to `data`.
        Ok(BridgeHooks {
            net: NonNull::from(net).cast(),
            ops,
            _data: data,
        })
    }

    /// What both hooks share.
    ///
    /// # Safety
    ///
    /// Netfilter's contract for a hook registered by `register`: `private`
    /// is the ops' `priv`, `skb` is valid and the hook's until the verdict,
    /// `state` is valid, and the call runs inside an RCU read-side section.
    /// `wrap` may assume that much of the frame.
    unsafe fn run<'a, S>(
        private: *mut ffi::c_void,
        skb: *mut bindings::sk_buff,
        port: *mut bindings::net_device,
        wrap: unsafe fn(NonNull<bindings::sk_buff>) -> S,
        hook: fn(&T, S, &NetDevice, &Guard) -> Verdict<'a>,
    ) -> ffi::c_uint {
        let Some(skb) = NonNull::new(skb) else {
            return bindings::NF_ACCEPT;
        };
        if port.is_null() {
            return bindings::NF_ACCEPT;
        }
        // SAFETY: `private` is the `T` of a registration (type invariant),
        // which `drop` frees only after unregistering the hooks and waiting
        // for the calls in flight; the frame is valid and the hook's, the
        // port device in `state` is alive for the call (netfilter holds it
        // under the same RCU section), and the call is inside that section.
        let (data, skb, port, rcu) = unsafe {
            (
                &*private.cast::<T>(),
                wrap(skb),
                NetDevice::from_raw(port),
                Guard::assume(),
            )
        };
        verdict(hook(data, skb, port, rcu))
    }

    /// Pre-routing: `state->in` is the port the frame came in on.
    ///
    /// # Safety
    ///
    /// Called by netfilter with the ops' `priv`, the skb it hands over and a
    /// valid state.
    unsafe extern "C" fn ingress_hook(
        private: *mut ffi::c_void,
        skb: *mut bindings::sk_buff,
        state: *const bindings::nf_hook_state,
    ) -> ffi::c_uint {
        // SAFETY: netfilter passes the registered `priv` and a frame it
        // hands over, inside its RCU section; `state` is valid to read, and
        // at pre-routing its `in` is the receiving port.
        unsafe { Self::run(private, skb, (*state).in_, SkBuff::from_raw, T::ingress) }
    }

    /// Post-routing: `state->out` is the port the frame leaves by.
    ///
    /// # Safety
    ///
    /// Called by netfilter with the ops' `priv`, the skb it hands over and a
    /// valid state.
    unsafe extern "C" fn egress_hook(
        private: *mut ffi::c_void,
        skb: *mut bindings::sk_buff,
        state: *const bindings::nf_hook_state,
    ) -> ffi::c_uint {
        // SAFETY: netfilter passes the registered `priv` and a frame it
        // hands over, inside its RCU section; `state` is valid to read, its
        // `out` is the port the frame leaves by, and at NF_BR_POST_ROUTING
        // the okfn is br_dev_queue_push_xmit, which `Egress::transmit`
        // stands in for (what `Egress::from_raw` requires).
        unsafe { Self::run(private, skb, (*state).out, Egress::from_raw, T::egress) }
    }
}

impl<T: BridgeHook> Drop for BridgeHooks<T> {
    fn drop(&mut self) {
        // SAFETY: `ops` is registered in `net`, which is alive (type
        // invariant).
        unsafe {
            bindings::nf_unregister_net_hooks(
                self.net.as_ptr(),
                self.ops.as_ptr(),
                self.ops.len() as u32,
            )
        };
        // Calls that began before the unregistration may still be running
        // with `priv`: the ops and `_data` go only after they have returned.
        // Their code is the module's, which the module's exit outlives.
        super::rcu::synchronize_net();
    }
}
