// SPDX-License-Identifier: GPL-2.0

//! State kept in every network namespace (`net_generic` storage of a pernet
//! subsystem): made when a namespace is (or, at registration, was) created,
//! emptied under RTNL when it is dismantled, dropped after that.

use super::netdev::Net;
use super::rtnl::{self, RtnlGuard};
use crate::bindings;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::ffi;
use kernel::prelude::*;
use kernel::types::Opaque;

/// What a user of [`Pernet`] keeps per namespace.
pub(crate) trait PernetData: Sized + Send + Sync + 'static {
    /// The one static [`Pernet`] that keeps this state.
    fn pernet() -> &'static Pernet<Self>;

    /// The state of a new namespace.
    fn new(net: &Net) -> Result<Self>;

    /// The namespace is being dismantled (or the subsystem unregistered):
    /// let go of what refers into it. Readers may still be running; the
    /// state is dropped after a grace period, and after the namespace's
    /// devices are unregistered (their events still find it).
    /// It may let RTNL go for a while ([`RtnlGuard::unlocked`]).
    fn dismantle(&self, net: &Net, rtnl: &mut RtnlGuard);
}

/// A pernet subsystem keeping a `T` in every namespace: declared as a
/// static, registered by [`Pernet::register`].
///
/// # Invariants
///
/// While `id` is non-zero, `ops` is registered and every namespace's
/// `net_generic(net, id)` holds an initialised `T` from `init` until `exit`.
pub(crate) struct Pernet<T: PernetData> {
    ops: Opaque<bindings::pernet_operations>,
    id: AtomicU32,
    _p: PhantomData<T>,
}

// SAFETY: the ops are written once before registration and then only by
// the pernet core (under pernet_ops_rwsem); the `T`s it reaches are `Sync`.
unsafe impl<T: PernetData> Sync for Pernet<T> {}

impl<T: PernetData> Pernet<T> {
    pub(crate) const fn new() -> Self {
        // The core's storage is kzalloc'ed: aligned to 8 bytes.
        assert!(core::mem::align_of::<T>() <= 8);
        // SAFETY: all-zero is a valid pernet_operations (no callbacks, no
        // storage); the fields set below complete it but for `id`, which
        // `register` points at `self.id`.
        let mut ops: bindings::pernet_operations = unsafe { core::mem::zeroed() };
        ops.init = Some(Self::init);
        ops.pre_exit = Some(Self::pre_exit);
        ops.exit = Some(Self::exit);
        ops.size = core::mem::size_of::<T>();
        Pernet {
            ops: Opaque::new(ops),
            id: AtomicU32::new(0),
            _p: PhantomData,
        }
    }

    /// Registers the subsystem: every existing namespace gets its `T` now,
    /// every new one when made.
    pub(crate) fn register(&'static self) -> Result<PernetRegistration<T>> {
        // The callbacks find the storage through `T::pernet()`: it must be
        // this static.
        if !core::ptr::eq(self, T::pernet()) {
            return Err(EINVAL);
        }
        // SAFETY: not registered yet (the registration below is the only
        // one: `PernetRegistration` is the sole owner), so nothing else
        // reads the ops; `id` lives as long as `self`, which is 'static.
        unsafe { (*self.ops.get()).id = self.id.as_ptr() };
        // SAFETY: the ops are complete and static.
        kernel::error::to_result(unsafe { bindings::register_pernet_subsys(self.ops.get()) })?;
        Ok(PernetRegistration { pernet: self })
    }

    /// The state of `net`, if the subsystem is registered.
    pub(crate) fn get<'a>(&self, net: &'a Net) -> Option<&'a T> {
        let id = self.id.load(Ordering::Acquire);
        if id == 0 {
            return None;
        }
        // SAFETY: the subsystem is registered (`id` non-zero, type
        // invariant), so every namespace's array has an entry `id`
        // (net_assign_generic grows them before `init` runs); it points at
        // this namespace's initialised `T` until `exit`, and vassist only
        // sees namespaces between the two (requests, devices and hooks of a
        // live or dismantling namespace). Only the array is RCU-managed
        // (net_generic reads it in its own section): the `T` lives on, as
        // long as `net` is borrowed.
        Some(unsafe { &*bindings::vassist_net_generic(net.as_ptr(), id).cast::<T>() })
    }

    /// The storage of `net`, for the callbacks: `T::pernet()` is the
    /// registered static (checked by `register`), whose id the core sets
    /// before it calls any of them.
    fn storage(net: *mut bindings::net) -> *mut T {
        let id = T::pernet().id.load(Ordering::Relaxed);
        // SAFETY: `net` is a namespace the core is calling back for, which
        // has storage for this id.
        unsafe { bindings::vassist_net_generic(net, id).cast::<T>() }
    }

    /// # Safety
    ///
    /// Called by the pernet core with a namespace being set up, whose
    /// storage is allocated and zeroed.
    unsafe extern "C" fn init(net: *mut bindings::net) -> ffi::c_int {
        // SAFETY: `net` is being set up, alive for the call.
        let value = match T::new(unsafe { Net::from_raw(net) }) {
            Ok(v) => v,
            Err(e) => return e.to_errno(),
        };
        // SAFETY: the storage has room and alignment for `T` (`size`; kzalloc
        // aligns to at least 8) and holds nothing yet.
        unsafe { Self::storage(net).write(value) };
        0
    }

    /// # Safety
    ///
    /// Called by the pernet core with a namespace being dismantled.
    unsafe extern "C" fn pre_exit(net: *mut bindings::net) {
        let storage = Self::storage(net);
        let mut rtnl = rtnl::lock();
        // SAFETY: `init` made the `T`; `exit` has not dropped it yet; the
        // namespace is alive for the call.
        unsafe { (*storage).dismantle(Net::from_raw(net), &mut rtnl) };
    }

    /// # Safety
    ///
    /// Called by the pernet core after `pre_exit` and a grace period.
    unsafe extern "C" fn exit(net: *mut bindings::net) {
        // SAFETY: `init` made the `T`; after this nothing uses it: hooks and
        // device events of the namespace are over (its devices were
        // unregistered before the core runs `exit`), and requests need a
        // socket in it.
        unsafe { core::ptr::drop_in_place(Self::storage(net)) };
    }
}

/// A registered [`Pernet`]; unregistered on drop (every namespace's state is
/// dismantled and dropped).
pub(crate) struct PernetRegistration<T: PernetData> {
    pernet: &'static Pernet<T>,
}

impl<T: PernetData> Drop for PernetRegistration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; this runs `pre_exit` and `exit`
        // for every namespace, with a grace period between them.
        unsafe { bindings::unregister_pernet_subsys(self.pernet.ops.get()) };
        self.pernet.id.store(0, Ordering::Release);
    }
}
