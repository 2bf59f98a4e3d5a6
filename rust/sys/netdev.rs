// SPDX-License-Identifier: GPL-2.0

//! Network namespaces and devices: borrowed views, tracked references, the
//! bridge and qdisc facts the packet path relies on, and the netdevice
//! notifier.

use super::notifier::Block;
use super::rcu::Guard;
use super::rtnl::Rtnl;
use crate::bindings;
use core::marker::PhantomData;
use core::ptr::NonNull;
use kernel::ffi;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

/// A `struct net`.
///
/// # Invariants
///
/// A `&Net` refers to a namespace that is alive (not freed) for the
/// reference's lifetime.
#[repr(transparent)]
pub(crate) struct Net(Opaque<bindings::net>);

impl Net {
    /// # Safety
    ///
    /// `ptr` is a namespace that is not freed for all of `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::net) -> &'a Net {
        // SAFETY: `Net` is a transparent wrapper of `struct net`; the caller
        // vouches for the lifetime (type invariant).
        unsafe { &*ptr.cast::<Net>() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::net {
        self.0.get()
    }
}

/// A counted reference on a network namespace (`get_net`).
///
/// # Invariants
///
/// `ptr` is a namespace on which this value holds one reference.
pub(crate) struct NetRef {
    ptr: NonNull<bindings::net>,
}

// SAFETY: namespace references are taken and dropped from any task.
unsafe impl Send for NetRef {}
// SAFETY: it only hands out `&Net`, whose methods are safe to share.
unsafe impl Sync for NetRef {}

impl NetRef {
    /// The current task's network namespace.
    pub(crate) fn current() -> NetRef {
        // SAFETY: a task in process context has a namespace proxy; the
        // helper takes a reference.
        let p = unsafe { bindings::vassist_current_net_get() };
        // INVARIANT: the reference taken above is ours; get_net never
        // returns NULL for a live task's namespace.
        NetRef {
            ptr: NonNull::new(p).expect("a task's network namespace"),
        }
    }
}

impl core::ops::Deref for NetRef {
    type Target = Net;

    fn deref(&self) -> &Net {
        // SAFETY: the held reference keeps the namespace alive.
        unsafe { Net::from_raw(self.ptr.as_ptr()) }
    }
}

impl Drop for NetRef {
    fn drop(&mut self) {
        // SAFETY: ours (type invariant).
        unsafe { bindings::vassist_put_net(self.ptr.as_ptr()) }
    }
}

/// A `struct net_device`.
///
/// # Invariants
///
/// A `&NetDevice` refers to a device that is not freed for the reference's
/// lifetime (registered, or unregistering with references still held).
#[repr(transparent)]
pub(crate) struct NetDevice(Opaque<bindings::net_device>);

// SAFETY: a device is shared by every CPU; the methods below follow the
// kernel's rules for each field they read (RTNL, RCU, READ_ONCE).
unsafe impl Sync for NetDevice {}

impl NetDevice {
    /// # Safety
    ///
    /// `ptr` is a device that is not freed for all of `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::net_device) -> &'a NetDevice {
        // SAFETY: transparent wrapper; the caller vouches for the lifetime.
        unsafe { &*ptr.cast::<NetDevice>() }
    }

    pub(super) fn as_ptr(&self) -> *mut bindings::net_device {
        self.0.get()
    }

    /// Interface index: fixed while the device is registered in its
    /// namespace, unique there.
    pub(crate) fn ifindex(&self) -> u32 {
        // SAFETY: the device is alive (type invariant); ifindex is read with
        // READ_ONCE (it changes only when the device moves namespace).
        unsafe { bindings::vassist_netdev_ifindex(self.as_ptr()) as u32 }
    }

    /// The device's name; RTNL keeps it from being rewritten meanwhile.
    pub(crate) fn name<'a>(&'a self, _rtnl: &'a Rtnl) -> &'a CStr {
        // SAFETY: the device is alive; `dev->name` is a NUL-terminated array
        // inside it, rewritten only under RTNL, which the proof holds for
        // `'a`.
        unsafe { CStr::from_char_ptr(bindings::vassist_netdev_name(self.as_ptr())) }
    }

    pub(crate) fn net(&self) -> &Net {
        // SAFETY: the device is alive, and a device holds its namespace
        // alive; the namespace changes only under RTNL with the device
        // unregistered from the old one first, which ends the borrows that
        // reached it through a port (ports are detached on unregister).
        unsafe { Net::from_raw(bindings::vassist_netdev_net(self.as_ptr())) }
    }

    pub(crate) fn is(&self, other: &NetDevice) -> bool {
        core::ptr::eq(self, other)
    }

    /// The device's identity as a number, to order and search by; stable
    /// while the device lives.
    pub(crate) fn key(&self) -> usize {
        self.as_ptr() as usize
    }

    pub(crate) fn is_bridge_port(&self, _rtnl: &Rtnl) -> bool {
        // SAFETY: the device is alive; the flag is stable under RTNL.
        unsafe { bindings::vassist_netdev_is_bridge_port(self.as_ptr()) }
    }

    /// The device's master (its bridge), if any.
    pub(crate) fn master<'a>(&'a self, _rtnl: &'a Rtnl) -> Option<&'a NetDevice> {
        // SAFETY: the device is alive; RTNL is held, as
        // netdev_master_upper_dev_get requires.
        let m = unsafe { bindings::netdev_master_upper_dev_get(self.as_ptr()) };
        // SAFETY: the master is linked under RTNL and cannot be unlinked or
        // freed while the proof is borrowed.
        (!m.is_null()).then(|| unsafe { NetDevice::from_raw(m) })
    }

    fn master_rcu<'r>(&self, _rcu: &'r Guard) -> Option<&'r NetDevice> {
        // SAFETY: the device is alive; under RCU, as the _rcu variant needs.
        let m = unsafe { bindings::netdev_master_upper_dev_get_rcu(self.as_ptr()) };
        // SAFETY: an upper device found under RCU is not freed before the
        // read-side section ends, which `'r` is bound to.
        (!m.is_null()).then(|| unsafe { NetDevice::from_raw(m) })
    }

    /// The running port `ifindex` of the bridge this device is a port of,
    /// if that bridge does not filter VLANs (frames can then leave by it
    /// untagged).
    pub(crate) fn peer_port<'r>(&self, ifindex: u32, rcu: &'r Guard) -> Option<&'r NetDevice> {
        let br = self.master_rcu(rcu)?;
        // SAFETY: `br` is alive under RCU; br_vlan_enabled reads a flag of
        // a bridge device.
        if unsafe { bindings::vassist_br_vlan_enabled(br.as_ptr()) } {
            return None;
        }
        self.sibling(ifindex, rcu)
            .filter(|peer| peer.master_rcu(rcu).is_some_and(|m| m.is(br)))
    }

    /// The running device `ifindex` of this device's namespace.
    pub(crate) fn sibling<'r>(&self, ifindex: u32, _rcu: &'r Guard) -> Option<&'r NetDevice> {
        if ifindex == 0 {
            return None;
        }
        // SAFETY: the namespace is alive (the device holds it); under RCU.
        let p = unsafe { bindings::dev_get_by_index_rcu(self.net().as_ptr(), ifindex as i32) };
        // SAFETY: a device found under RCU is not freed before the section
        // ends.
        let dev = (!p.is_null()).then(|| unsafe { NetDevice::from_raw(p) })?;
        // SAFETY: `dev` is alive.
        unsafe { bindings::vassist_netif_running(dev.as_ptr()) }.then_some(dev)
    }

    /// `tx_queue_len`: for a tap, the size of each queue's ring.
    pub(crate) fn tx_queue_len(&self) -> u32 {
        // SAFETY: the device is alive; read with READ_ONCE.
        unsafe { bindings::vassist_netdev_tx_queue_len(self.as_ptr()) }
    }

    /// tx_packets + tx_dropped: for a tap, frames its reader took out of
    /// the ring plus frames that found it full.
    pub(crate) fn ring_out(&self) -> u64 {
        // SAFETY: the device is alive; dev_get_stats may be called from any
        // context.
        unsafe { bindings::vassist_netdev_ring_out(self.as_ptr()) }
    }

    /// The kind of its rtnl_link_ops ("tun", "veth", ...); fixed for the
    /// device's life.
    pub(crate) fn link_kind<'a>(&'a self, _rtnl: &'a Rtnl) -> Option<&'a CStr> {
        // SAFETY: the device is alive; its link ops are static data of the
        // driver, which cannot be unloaded while the device exists.
        let k = unsafe { bindings::vassist_netdev_link_kind(self.as_ptr()) };
        // SAFETY: `kind` is a NUL-terminated static string of the driver.
        (!k.is_null()).then(|| unsafe { CStr::from_char_ptr(k) })
    }

    /// Carrier on: for a tap, a reader is attached.
    pub(crate) fn carrier_ok(&self) -> bool {
        // SAFETY: the device is alive; a bit test.
        unsafe { bindings::vassist_netif_carrier_ok(self.as_ptr()) }
    }

    /// The qdiscs a frame sent to the device passes, as their ops: the
    /// root's, or, under a multiqueue root (mq, mqprio), each transmit
    /// queue's. `f` returning false stops the walk, and so does a missing
    /// qdisc; the result says whether every qdisc was visited and passed.
    pub(crate) fn all_qdisc_ops(&self, _rcu: &Guard, mut f: impl FnMut(&QdiscOps) -> bool) -> bool {
        // SAFETY: the device is alive; the root is read with rcu_dereference
        // inside the section the guard proves.
        let root = unsafe { bindings::vassist_netdev_qdisc(self.as_ptr()) };
        if root.is_null() {
            return false;
        }
        // SAFETY: a qdisc found under RCU is not freed before the section
        // ends; its ops are static data of a module it holds.
        if !unsafe { bindings::vassist_qdisc_is_mq_root(root) } {
            // SAFETY: as above.
            return f(unsafe { QdiscOps::from_raw(bindings::vassist_qdisc_ops(root)) });
        }
        // SAFETY: the device is alive.
        let n = unsafe { bindings::vassist_netdev_real_num_tx_queues(self.as_ptr()) };
        (0..n).all(|i| {
            // SAFETY: `i` is below real_num_tx_queues; under RCU.
            let q = unsafe { bindings::vassist_netdev_txq_qdisc(self.as_ptr(), i) };
            // SAFETY: as for the root.
            !q.is_null() && f(unsafe { QdiscOps::from_raw(bindings::vassist_qdisc_ops(q)) })
        })
    }
}

/// A qdisc kind: its `struct Qdisc_ops`.
///
/// # Invariants
///
/// A `&QdiscOps` refers to ops that stay in memory for the reference's
/// lifetime (static data of the kernel or of a module that cannot unload
/// meanwhile).
#[repr(transparent)]
pub(crate) struct QdiscOps(Opaque<bindings::Qdisc_ops>);

impl QdiscOps {
    /// # Safety
    ///
    /// `ptr` is ops that stay in memory for all of `'a`.
    unsafe fn from_raw<'a>(ptr: *const bindings::Qdisc_ops) -> &'a QdiscOps {
        // SAFETY: transparent wrapper; the caller vouches for the lifetime.
        unsafe { &*ptr.cast::<QdiscOps>() }
    }

    /// The kind's name ("pfifo_fast", "fq_codel", ...).
    pub(crate) fn id(&self) -> &CStr {
        // SAFETY: the ops are alive (type invariant); `id` is a
        // NUL-terminated array inside them.
        unsafe { CStr::from_char_ptr(bindings::vassist_qdisc_ops_id(self.0.get())) }
    }

    /// A reference that keeps these ops in memory (pins their module), to
    /// recognise the kind later by address.
    pub(crate) fn get_ref(&self) -> Option<QdiscOpsRef> {
        // SAFETY: the ops are alive; try_module_get fails if their module
        // is going away (built-in ops have no module and always succeed).
        unsafe { bindings::vassist_qdisc_ops_get(self.0.get()) }.then(|| QdiscOpsRef {
            ptr: NonNull::from(self),
        })
    }
}

/// Qdisc ops whose module this value holds.
///
/// # Invariants
///
/// `ptr` is live ops whose module (if any) this value holds one reference on.
pub(crate) struct QdiscOpsRef {
    ptr: NonNull<QdiscOps>,
}

// SAFETY: a module reference may be dropped from any task; the ops are
// read-only static data.
unsafe impl Send for QdiscOpsRef {}
// SAFETY: as above.
unsafe impl Sync for QdiscOpsRef {}

impl QdiscOpsRef {
    /// Whether `ops` are these ops (the same kind of qdisc).
    pub(crate) fn is(&self, ops: &QdiscOps) -> bool {
        core::ptr::eq(self.ptr.as_ptr(), ops)
    }
}

impl Drop for QdiscOpsRef {
    fn drop(&mut self) {
        // SAFETY: this value holds the module reference (type invariant);
        // module_put may be called from any context.
        unsafe { bindings::vassist_qdisc_ops_put(self.ptr.as_ptr().cast()) };
    }
}

/// A tracked, counted reference on a device (`netdev_hold` with its own
/// tracker): a leak or a double put is reported with the stack that took it.
///
/// # Invariants
///
/// `ptr` is a device on which this value holds one reference, recorded in
/// `tracker`.
pub(crate) struct NetDeviceRef {
    ptr: NonNull<bindings::net_device>,
    tracker: bindings::netdevice_tracker,
}

// SAFETY: a device reference may be used and dropped from any task
// (netdev_put is callable from any context).
unsafe impl Send for NetDeviceRef {}
// SAFETY: `NetDeviceRef` only hands out `&NetDevice`, which is `Sync`.
unsafe impl Sync for NetDeviceRef {}

impl NetDeviceRef {
    /// The device with interface index `ifindex` in `net`.
    pub(crate) fn by_index(net: &Net, ifindex: u32) -> Option<NetDeviceRef> {
        let mut tracker = bindings::netdevice_tracker::default();
        // SAFETY: `net` is alive; netdev_get_by_index returns NULL or the
        // device with a reference recorded in `tracker`.
        let p = unsafe {
            bindings::netdev_get_by_index(
                net.as_ptr(),
                ifindex as i32,
                &mut tracker,
                kernel::bindings::GFP_KERNEL,
            )
        };
        // INVARIANT: the reference taken above is now ours, with its tracker.
        NonNull::new(p).map(|ptr| NetDeviceRef { ptr, tracker })
    }

    /// The device called `name` in `net`.
    pub(crate) fn by_name(net: &Net, name: &CStr) -> Option<NetDeviceRef> {
        let mut tracker = bindings::netdevice_tracker::default();
        // SAFETY: `net` is alive; `name` is NUL-terminated; the result is
        // NULL or the device with a reference recorded in `tracker`.
        let p = unsafe {
            bindings::netdev_get_by_name(
                net.as_ptr(),
                name.as_char_ptr(),
                &mut tracker,
                kernel::bindings::GFP_KERNEL,
            )
        };
        // INVARIANT: as in `by_index`.
        NonNull::new(p).map(|ptr| NetDeviceRef { ptr, tracker })
    }
}

impl NetDevice {
    /// Another counted reference on the device (may sleep: its tracker
    /// is allocated).
    pub(crate) fn hold(&self) -> NetDeviceRef {
        let mut tracker = bindings::netdevice_tracker::default();
        // SAFETY: the device is alive (type invariant); netdev_hold takes a
        // reference recorded in `tracker`.
        unsafe { bindings::vassist_netdev_hold(self.as_ptr(), &mut tracker) };
        // INVARIANT: the reference taken above is ours, with its tracker.
        NetDeviceRef {
            ptr: NonNull::from(self).cast(),
            tracker,
        }
    }
}

impl core::ops::Deref for NetDeviceRef {
    type Target = NetDevice;

    fn deref(&self) -> &NetDevice {
        // SAFETY: the held reference keeps the device from being freed while
        // `self` is borrowed.
        unsafe { NetDevice::from_raw(self.ptr.as_ptr()) }
    }
}

impl Drop for NetDeviceRef {
    fn drop(&mut self) {
        // SAFETY: this value holds one reference recorded in `tracker` (type
        // invariant).
        unsafe { bindings::vassist_netdev_put(self.ptr.as_ptr(), &mut self.tracker) };
    }
}

/// What a netdevice notifier is told.
pub(crate) enum NetdevEvent {
    /// The device is being unregistered: references to it must go.
    Unregister,
    /// The device was released from its master.
    LeftMaster,
    /// Its state changed in a way that may change how frames reach it:
    /// up, down, carrier, or a change of its features.
    Changed,
}

/// What a user of [`Notifier`] implements.
pub(crate) trait NetdevNotifier {
    /// A device event, under RTNL.
    fn event(event: NetdevEvent, dev: &NetDevice, rtnl: &mut Rtnl);
}

/// A registered netdevice notifier calling `T`; unregistered on drop.
///
/// # Invariants
///
/// `block` is registered with the netdevice chain, calling
/// `notifier_call::<T>`, from creation to drop.
pub(crate) struct Notifier<T: NetdevNotifier> {
    block: Block,
    _p: PhantomData<fn() -> T>,
}

impl<T: NetdevNotifier> Notifier<T> {
    pub(crate) fn register() -> Result<Self> {
        let block = Block::new(Self::notifier_call)?;
        // SAFETY: the block stays put and lives until `drop` unregisters
        // it.
        kernel::error::to_result(unsafe { bindings::register_netdevice_notifier(block.get()) })?;
        // INVARIANT: registered just now.
        Ok(Notifier {
            block,
            _p: PhantomData,
        })
    }

    /// # Safety
    ///
    /// Called by the netdevice notifier chain, under RTNL, with the notifier
    /// info of `event`.
    unsafe extern "C" fn notifier_call(
        _nb: *mut bindings::notifier_block,
        event: ffi::c_ulong,
        info: *mut ffi::c_void,
    ) -> ffi::c_int {
        // SAFETY: every netdevice notifier info starts with the device,
        // which lives for the duration of the call.
        let raw = unsafe { bindings::vassist_netdev_notifier_dev(info) };
        // SAFETY: as above.
        let dev = unsafe { NetDevice::from_raw(raw) };
        // SAFETY: `raw` is alive for the call.
        let unregistering = unsafe { bindings::vassist_netdev_unregistering(raw) };
        let event = match event as u32 {
            bindings::netdev_cmd_NETDEV_UNREGISTER => NetdevEvent::Unregister,
            // A port being unregistered is unlinked from its bridge first:
            // that is still "unregistered" to the user.
            bindings::netdev_cmd_NETDEV_CHANGEUPPER if unregistering => NetdevEvent::Unregister,
            bindings::netdev_cmd_NETDEV_CHANGEUPPER
                // SAFETY: for NETDEV_CHANGEUPPER `info` is a changeupper_info.
                if unsafe { bindings::vassist_netdev_notifier_unlinked_master(info) } =>
            {
                NetdevEvent::LeftMaster
            }
            bindings::netdev_cmd_NETDEV_UP
            | bindings::netdev_cmd_NETDEV_DOWN
            | bindings::netdev_cmd_NETDEV_CHANGE
            | bindings::netdev_cmd_NETDEV_FEAT_CHANGE => NetdevEvent::Changed,
            _ => return bindings::NOTIFY_DONE as ffi::c_int,
        };
        // SAFETY: netdevice notifiers are called with RTNL held, and the
        // chain does not nest inside vassist's own RTNL sections (vassist
        // never raises netdevice events itself).
        let rtnl = unsafe { Rtnl::assume_held() };
        T::event(event, dev, rtnl);
        bindings::NOTIFY_DONE as ffi::c_int
    }
}

impl<T: NetdevNotifier> Drop for Notifier<T> {
    fn drop(&mut self) {
        // SAFETY: registered since `register` (type invariant); this waits
        // for calls in flight (the chain is walked under RTNL).
        unsafe { bindings::unregister_netdevice_notifier(self.block.get()) };
    }
}
