// SPDX-License-Identifier: GPL-2.0

//! Network devices: borrowed views, held references, namespace identity and
//! the netdevice notifier that tells vassist when a port goes away.

use super::rcu::RcuRead;
use super::rtnl::Rtnl;
use crate::bindings;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// A network namespace, used to look devices up and to compare.
///
/// # Invariants
///
/// `ptr` is a live `struct net` for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct NetNs<'a> {
    ptr: NonNull<bindings::net>,
    _p: PhantomData<&'a bindings::net>,
}

impl<'a> NetNs<'a> {
    /// # Safety
    ///
    /// `ptr` is a live `struct net` for all of `'a`.
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::net>) -> Self {
        NetNs {
            ptr,
            _p: PhantomData,
        }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::net {
        self.ptr.as_ptr()
    }

    pub(crate) fn same(&self, other: &NetNs<'_>) -> bool {
        self.ptr == other.ptr
    }
}

/// A borrowed `struct net_device`.
///
/// # Invariants
///
/// `ptr` is a registered-or-unregistering `net_device` that is not freed
/// for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct NetDev<'a> {
    ptr: NonNull<bindings::net_device>,
    _p: PhantomData<&'a bindings::net_device>,
}

impl<'a> NetDev<'a> {
    /// # Safety
    ///
    /// `ptr` is a `net_device` that is not freed for all of `'a`.
    pub(super) unsafe fn from_raw(ptr: NonNull<bindings::net_device>) -> Self {
        NetDev {
            ptr,
            _p: PhantomData,
        }
    }

    pub(crate) fn ifindex(&self) -> u32 {
        // SAFETY: `ptr` is valid (type invariant). Interface indexes are > 0.
        unsafe { bindings::vassist_netdev_ifindex(self.ptr.as_ptr()) as u32 }
    }

    pub(crate) fn name(&self) -> &'a CStr {
        // SAFETY: `ptr` is valid (type invariant); `dev->name` is a
        // NUL-terminated array inside it. It changes only under RTNL, by
        // rewriting in place, and is always NUL-terminated.
        unsafe { CStr::from_char_ptr(bindings::vassist_netdev_name(self.ptr.as_ptr())) }
    }

    pub(crate) fn net(&self) -> NetNs<'a> {
        // SAFETY: `ptr` is valid (type invariant); a device holds its
        // namespace alive.
        unsafe {
            NetNs::from_raw(NonNull::new_unchecked(bindings::vassist_netdev_net(
                self.ptr.as_ptr(),
            )))
        }
    }

    pub(crate) fn is_bridge_port(&self, _rtnl: &Rtnl) -> bool {
        // SAFETY: `ptr` is valid (type invariant); the flag is stable under RTNL.
        unsafe { bindings::vassist_netdev_is_bridge_port(self.ptr.as_ptr()) }
    }

    /// Interface index of the device's master (its bridge), 0 if none.
    pub(crate) fn master_ifindex(&self, _rtnl: &Rtnl) -> u32 {
        // SAFETY: `ptr` is valid (type invariant); RTNL is held as
        // netdev_master_upper_dev_get() requires.
        unsafe { bindings::vassist_netdev_master_ifindex(self.ptr.as_ptr()) as u32 }
    }

    pub(crate) fn is(&self, other: &NetDev<'_>) -> bool {
        self.ptr == other.ptr
    }

    /// The device's identity as a number, to order and search by; stable
    /// while the device lives.
    pub(crate) fn key(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// The running port `ifindex` of this port's bridge, if the bridge
    /// does not filter VLANs (frames can then go out of it untagged).
    pub(crate) fn peer_port<'r>(&self, ifindex: u32, _rcu: &'r RcuRead) -> Option<NetDev<'r>> {
        // SAFETY: `ptr` is valid (type invariant); under RCU as the helper
        // requires.
        let p = unsafe { bindings::vassist_netdev_peer_port(self.ptr.as_ptr(), ifindex as i32) };
        // SAFETY: a device found under RCU is not freed before the read-side
        // section ends, which `'r` is bound to.
        NonNull::new(p).map(|p| unsafe { NetDev::from_raw(p) })
    }

    /// Sends an Ethernet frame out of the device; whether it took it.
    pub(crate) fn xmit_frame(&self, frame: &[u8], _rcu: &RcuRead) -> bool {
        // SAFETY: `ptr` is valid (type invariant); the helper copies `frame`.
        let rc = unsafe {
            bindings::vassist_xmit_frame(
                self.ptr.as_ptr(),
                frame.as_ptr().cast(),
                frame.len() as u32,
            )
        };
        rc == bindings::NET_XMIT_SUCCESS as i32
    }

    /// A tap with a reader attached, whose frames go to the reader's ring
    /// without a qdisc that drops or holds them by policy.
    pub(crate) fn is_tap_to_ring(&self, _rcu: &RcuRead) -> bool {
        // SAFETY: `ptr` is valid (type invariant); under RCU.
        unsafe { bindings::vassist_netdev_tap_fifo(self.ptr.as_ptr()) }
    }

    /// `tx_queue_len`: for a tap, the size of each queue's ring.
    pub(crate) fn tx_queue_len(&self) -> u32 {
        // SAFETY: `ptr` is valid (type invariant).
        unsafe { bindings::vassist_netdev_tx_queue_len(self.ptr.as_ptr()) }
    }

    /// tx_packets + tx_dropped: for a tap, frames its reader took out of
    /// the ring plus frames that found it full.
    pub(crate) fn ring_out(&self) -> u64 {
        // SAFETY: `ptr` is valid (type invariant); dev_get_stats may be
        // called from any context.
        unsafe { bindings::vassist_netdev_ring_out(self.ptr.as_ptr()) }
    }
}

/// A counted reference on a `net_device` (`dev_hold`).
///
/// # Invariants
///
/// `ptr` is a `net_device` on which this value holds one reference.
pub(crate) struct NetDevRef {
    ptr: NonNull<bindings::net_device>,
}

// SAFETY: a device reference may be used and dropped from any task.
unsafe impl Send for NetDevRef {}
// SAFETY: `NetDevRef` hands out only `NetDev` views, whose methods are safe
// to call concurrently.
unsafe impl Sync for NetDevRef {}

impl NetDevRef {
    /// The device with interface index `ifindex` in `net`.
    pub(crate) fn by_index(net: &NetNs<'_>, ifindex: u32) -> Option<NetDevRef> {
        // SAFETY: `net` is live (NetNs invariant); dev_get_by_index returns
        // a held reference or NULL.
        let p = unsafe { bindings::dev_get_by_index(net.as_ptr(), ifindex as i32) };
        // INVARIANT: the reference taken above is now ours.
        NonNull::new(p).map(|ptr| NetDevRef { ptr })
    }

    /// The device called `name` in `net`.
    pub(crate) fn by_name(net: &NetNs<'_>, name: &CStr) -> Option<NetDevRef> {
        // SAFETY: `net` is live; `name` is NUL-terminated; the result is a
        // held reference or NULL.
        let p = unsafe { bindings::dev_get_by_name(net.as_ptr(), name.as_char_ptr()) };
        // INVARIANT: the reference taken above is now ours.
        NonNull::new(p).map(|ptr| NetDevRef { ptr })
    }

    pub(crate) fn dev(&self) -> NetDev<'_> {
        // SAFETY: the held reference keeps the device from being freed
        // while `self` is borrowed.
        unsafe { NetDev::from_raw(self.ptr) }
    }
}

impl Drop for NetDevRef {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we hold one reference.
        unsafe { bindings::vassist_netdev_put(self.ptr.as_ptr()) };
    }
}

/// What the netdevice notifier reports to vassist.
pub(crate) enum NetdevEvent {
    /// The device is being unregistered: references must be dropped.
    Unregister,
    /// The device was released from its master (left its bridge).
    LeftMaster,
}

struct NotifierBlock(Opaque<bindings::notifier_block>);

// SAFETY: the block is written only by (un)register_netdevice_notifier,
// which serialise on RTNL.
unsafe impl Sync for NotifierBlock {}

static NOTIFIER: NotifierBlock = NotifierBlock(Opaque::new(bindings::notifier_block {
    notifier_call: Some(notifier_call),
    next: core::ptr::null_mut(),
    priority: 0,
}));

/// The netdevice notifier.
///
/// # Safety
///
/// Called by the notifier chain with a netdevice notifier `info` for
/// `event`, under RTNL.
unsafe extern "C" fn notifier_call(
    _nb: *mut bindings::notifier_block,
    event: ffi::c_ulong,
    info: *mut ffi::c_void,
) -> ffi::c_int {
    // SAFETY: every netdevice notifier info starts with the device, which
    // lives for the duration of the call.
    let raw = unsafe { NonNull::new_unchecked(bindings::vassist_netdev_notifier_dev(info)) };
    // SAFETY: as above.
    let dev = unsafe { NetDev::from_raw(raw) };
    // SAFETY: `raw` is valid for the call.
    let unregistering = unsafe { bindings::vassist_netdev_unregistering(raw.as_ptr()) };
    let event = match event as u32 {
        bindings::netdev_cmd_NETDEV_UNREGISTER => NetdevEvent::Unregister,
        // A port being unregistered is unlinked from its bridge first: that
        // is still "unregistered" to the user.
        bindings::netdev_cmd_NETDEV_CHANGEUPPER if unregistering => NetdevEvent::Unregister,
        bindings::netdev_cmd_NETDEV_CHANGEUPPER
            // SAFETY: for NETDEV_CHANGEUPPER `info` is a changeupper_info.
            if unsafe { bindings::vassist_netdev_notifier_unlinked_master(info) } =>
        {
            NetdevEvent::LeftMaster
        }
        _ => return bindings::NOTIFY_DONE as ffi::c_int,
    };
    // SAFETY: netdevice notifiers are called with RTNL held.
    let rtnl = unsafe { Rtnl::assume_held() };
    crate::port::netdev_event(event, &dev, rtnl);
    bindings::NOTIFY_DONE as ffi::c_int
}

use kernel::ffi;

/// The registered netdevice notifier; unregistered on drop.
pub(crate) struct Notifier(());

impl Notifier {
    pub(crate) fn register() -> Result<Notifier> {
        // SAFETY: NOTIFIER is a static block, registered once and
        // unregistered in `drop`.
        kernel::error::to_result(unsafe {
            bindings::register_netdevice_notifier(NOTIFIER.0.get())
        })?;
        Ok(Notifier(()))
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // SAFETY: registered in `register`.
        unsafe { bindings::unregister_netdevice_notifier(NOTIFIER.0.get()) };
    }
}
