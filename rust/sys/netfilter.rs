// SPDX-License-Identifier: GPL-2.0

//! Netfilter hooks for vassist's ports: one per namespace at the bridge's
//! post-routing, for frames the bridge sends out of a port ([`BridgeHook`]);
//! one per port at its device's ingress, for frames the port receives
//! ([`DeviceIngress`]). Frames between ports that are not attached pass
//! one hook, and what the guests send only their own port's.

use super::netdev::{Net, NetDevice, NetDeviceRef};
use super::rcu::Guard;
use super::rtnl::Rtnl;
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
    /// Let it continue.
    Accept(#[allow(dead_code)] SkBuff<'a>),
    /// Drop it.
    Drop(#[allow(dead_code)] SkBuff<'a>),
    /// It was transmitted by the hook.
    Stolen(#[allow(dead_code)] Sent),
}

/// What a user of [`BridgeHooks`] implements: the state the hook of one
/// namespace reads. It runs in softirq context, inside netfilter's RCU
/// read-side section. What sits behind a port, away from the bridge, is
/// called the guest.
pub(crate) trait BridgeHook: Send + Sync + 'static {
    /// A frame the bridge sends out of `port`, to the guest: after ebtables,
    /// just before br_netfilter's post-routing hook (NF_BR_PRI_LAST), which
    /// would steal IP frames into the IP hooks.
    fn egress<'a>(&self, skb: Egress<'a>, port: &NetDevice, rcu: &Guard) -> Verdict<'a>;
}

/// What a user of [`IngressHook`] implements: the state of one device's
/// hook. It runs in softirq context, inside netfilter's RCU read-side
/// section.
pub(crate) trait DeviceIngress: Send + Sync + 'static {
    /// A frame `dev` received, before anything else of the stack (a
    /// bridge it is a port of included) sees it.
    fn ingress<'a>(&self, skb: SkBuff<'a>, dev: &NetDevice, rcu: &Guard) -> Verdict<'a>;
}

const fn hook_ops(
    hook: unsafe extern "C" fn(
        *mut ffi::c_void,
        *mut bindings::sk_buff,
        *const bindings::nf_hook_state,
    ) -> ffi::c_uint,
    pf: u32,
    hooknum: u32,
    priority: i32,
) -> bindings::nf_hook_ops {
    // SAFETY: all-zero is a valid nf_hook_ops (null pointers,
    // NF_HOOK_OP_UNDEFINED).
    let mut ops: bindings::nf_hook_ops = unsafe { core::mem::zeroed() };
    ops.hook = Some(hook);
    ops.pf = pf as u8;
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

/// What every hook shares: the call on `T`, with the frame wrapped.
///
/// # Safety
///
/// Netfilter's contract for a hook whose ops' `priv` points at a live `T`
/// (kept so until the hook is unregistered and the calls in flight are
/// done): `private` is that `priv`, `skb` is valid and the hook's until the
/// verdict, `dev` is null or a device netfilter keeps alive for the call,
/// and the call runs inside an RCU read-side section. `wrap` may assume
/// that much of the frame.
unsafe fn run<'a, T, S>(
    private: *mut ffi::c_void,
    skb: *mut bindings::sk_buff,
    dev: *mut bindings::net_device,
    wrap: unsafe fn(NonNull<bindings::sk_buff>) -> S,
    hook: fn(&T, S, &NetDevice, &Guard) -> Verdict<'a>,
) -> ffi::c_uint {
    let Some(skb) = NonNull::new(skb) else {
        return bindings::NF_ACCEPT;
    };
    if dev.is_null() {
        return bindings::NF_ACCEPT;
    }
    // SAFETY: the caller's contract: `private` is a live `T`, the frame is
    // valid and the hook's, the device alive for the call, and the call
    // inside an RCU section.
    let (data, skb, dev, rcu) = unsafe {
        (
            &*private.cast::<T>(),
            wrap(skb),
            NetDevice::from_raw(dev),
            Guard::assume(),
        )
    };
    verdict(hook(data, skb, dev, rcu))
}

/// The hook of `T`, registered at the bridge's post-routing in one
/// namespace with a shared `T` as its private data (handed to every call);
/// unregistered on drop.
///
/// # Invariants
///
/// `ops` is registered in `net`, which outlives this value, from creation
/// to drop, with `priv` pointing at `_data`'s `T`.
pub(crate) struct BridgeHooks<T: BridgeHook> {
    net: NonNull<bindings::net>,
    ops: KBox<bindings::nf_hook_ops>,
    /// Held for `priv`: read only through it.
    _data: Arc<T>,
}

// SAFETY: the registration is undone (nf_unregister_net_hooks) from
// whichever task drops it; `T` is `Send + Sync`, and the ops are only read.
unsafe impl<T: BridgeHook> Send for BridgeHooks<T> {}
// SAFETY: `&self` reaches only `data`, a `T: Sync`.
unsafe impl<T: BridgeHook> Sync for BridgeHooks<T> {}

impl<T: BridgeHook> BridgeHooks<T> {
    /// Registers the hook in `net`, calling it on `data`. The caller keeps
    /// the value no longer than the namespace lives (dropping it before
    /// the namespace's teardown finishes).
    pub(crate) fn register(net: &Net, data: Arc<T>) -> Result<Self> {
        // Frames to a port are seen last before br_netfilter.
        let mut ops = KBox::new(
            hook_ops(
                Self::egress_hook,
                bindings::NFPROTO_BRIDGE,
                bindings::NF_BR_POST_ROUTING,
                i32::MAX - 1,
            ),
            GFP_KERNEL,
        )?;
        ops.priv_ = core::ptr::from_ref::<T>(&data).cast_mut().cast();
        // SAFETY: `net` is alive; the ops are complete and stay at their
        // heap address until `drop` has unregistered them.
        kernel::error::to_result(unsafe {
            bindings::nf_register_net_hooks(net.as_ptr(), &*ops, 1)
        })?;
        // INVARIANT: registered just now in `net`, `priv` set to `data`.
        Ok(BridgeHooks {
            net: NonNull::from(net).cast(),
            ops,
            _data: data,
        })
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
        // SAFETY: netfilter passes the registered `priv` (a live `T`: type
        // invariant; `drop` frees it only after unregistering and waiting
        // for the calls in flight) and a frame it hands over, inside its
        // RCU section; `state` is valid to read, its `out` is the port the
        // frame leaves by, and at NF_BR_POST_ROUTING the okfn is
        // br_dev_queue_push_xmit, which `Egress::transmit` stands in for
        // (what `Egress::from_raw` requires).
        unsafe { run(private, skb, (*state).out, Egress::from_raw, T::egress) }
    }
}

impl<T: BridgeHook> Drop for BridgeHooks<T> {
    fn drop(&mut self) {
        // SAFETY: `ops` is registered in `net`, which is alive (type
        // invariant).
        unsafe { bindings::nf_unregister_net_hooks(self.net.as_ptr(), &*self.ops, 1) };
        // Calls that began before the unregistration may still be running
        // with `priv`: the ops and `_data` go only after they have returned.
        // Their code is the module's, which the module's exit outlives.
        super::rcu::synchronize_net();
    }
}

/// The ingress hook of `T` on one device, with a shared `T` as its private
/// data; unregistered on drop.
///
/// # Invariants
///
/// `ops` is registered on `dev`, in the namespace `dev` is in, from
/// creation to drop, with `priv` pointing at `data`'s `T`.
pub(crate) struct IngressHook<T: DeviceIngress> {
    dev: NetDeviceRef,
    ops: KBox<bindings::nf_hook_ops>,
    data: Arc<T>,
}

// SAFETY: as for `BridgeHooks`; the device reference may go on any task.
unsafe impl<T: DeviceIngress> Send for IngressHook<T> {}
// SAFETY: `&self` reaches only `data`, a `T: Sync`.
unsafe impl<T: DeviceIngress> Sync for IngressHook<T> {}

impl<T: DeviceIngress> IngressHook<T> {
    /// Registers the hook on `dev`, calling it on `data`. A device leaves
    /// its namespace only through NETDEV_UNREGISTER, under RTNL: the
    /// caller drops the value on that event at the latest.
    pub(crate) fn register(dev: &NetDevice, data: Arc<T>, _rtnl: &Rtnl) -> Result<Self> {
        let dev = dev.hold();
        let mut ops = KBox::new(
            hook_ops(
                Self::ingress_hook,
                bindings::NFPROTO_NETDEV,
                bindings::nf_dev_hooks_NF_NETDEV_INGRESS,
                i32::MIN,
            ),
            GFP_KERNEL,
        )?;
        ops.priv_ = core::ptr::from_ref::<T>(&data).cast_mut().cast();
        ops.dev = dev.as_ptr();
        // SAFETY: the device is alive (held) and in its namespace (RTNL
        // keeps it there); the ops are complete and stay at their heap
        // address until `drop` has unregistered them.
        kernel::error::to_result(unsafe {
            bindings::nf_register_net_hooks(dev.net().as_ptr(), &*ops, 1)
        })?;
        // INVARIANT: registered just now on `dev`, `priv` set to `data`.
        Ok(IngressHook { dev, ops, data })
    }

    pub(crate) fn data(&self) -> &Arc<T> {
        &self.data
    }

    /// The device the hook is on.
    pub(crate) fn dev(&self) -> &NetDevice {
        &self.dev
    }

    /// Ingress: `state->in` is the device.
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
        // SAFETY: netfilter passes the registered `priv` (a live `T`: type
        // invariant, as for `BridgeHooks`) and a frame it hands over, inside
        // its RCU section; `state` is valid to read, and its `in` is the
        // receiving device.
        unsafe { run(private, skb, (*state).in_, SkBuff::from_raw, T::ingress) }
    }
}

impl<T: DeviceIngress> Drop for IngressHook<T> {
    fn drop(&mut self) {
        // SAFETY: `ops` is registered on `dev` in its namespace (type
        // invariant), which the device, held, keeps alive.
        unsafe { bindings::nf_unregister_net_hooks(self.dev.net().as_ptr(), &*self.ops, 1) };
        // As for `BridgeHooks`: the ops and `data` go after the calls in
        // flight have returned.
        super::rcu::synchronize_net();
    }
}
