// SPDX-License-Identifier: GPL-2.0

//! The `vassist` generic netlink family. Its policies and ops table are
//! generated from the spec into `rust/vassist_nl_gen.c`; the handlers the
//! table names are defined here and pass safe views to [`crate::netlink`].

use super::netdev::NetNs;
use super::rtnl::{self, RtnlGuard};
use crate::bindings;
use crate::error::VaError;
use core::marker::PhantomData;
use core::ptr::{addr_of_mut, NonNull};
use kernel::ffi;
use kernel::prelude::*;
use kernel::str::CStr;

/// The registered family; unregistered on drop.
pub(crate) struct Family(());

impl Family {
    pub(crate) fn register() -> Result<Family> {
        // SAFETY: the generated family is a static, registered once here and
        // unregistered in `drop`.
        kernel::error::to_result(unsafe {
            bindings::genl_register_family(addr_of_mut!(bindings::vassist_nl_family))
        })?;
        Ok(Family(()))
    }
}

impl Drop for Family {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; this waits for running handlers.
        unsafe { bindings::genl_unregister_family(addr_of_mut!(bindings::vassist_nl_family)) };
    }
}

/// The message did not fit its buffer.
#[derive(Debug)]
pub(crate) struct MsgFull;

/// A generic netlink message being filled.
///
/// # Invariants
///
/// `skb` is a netlink message buffer owned by the caller of the fill
/// closure, with an open genetlink header.
pub(crate) struct Msg<'a> {
    skb: NonNull<bindings::sk_buff>,
    _p: PhantomData<&'a mut bindings::sk_buff>,
}

impl Msg<'_> {
    fn check(rc: ffi::c_int) -> Result<(), MsgFull> {
        if rc == 0 {
            Ok(())
        } else {
            Err(MsgFull)
        }
    }

    pub(crate) fn put_u32(&mut self, attr: u32, v: u32) -> Result<(), MsgFull> {
        // SAFETY: `skb` is a message being built (type invariant).
        Self::check(unsafe { bindings::vassist_nla_put_u32(self.skb.as_ptr(), attr as i32, v) })
    }

    pub(crate) fn put_uint(&mut self, attr: u32, v: u64) -> Result<(), MsgFull> {
        // SAFETY: as in `put_u32`.
        Self::check(unsafe { bindings::vassist_nla_put_uint(self.skb.as_ptr(), attr as i32, v) })
    }

    pub(crate) fn put_u16(&mut self, attr: u32, v: u16) -> Result<(), MsgFull> {
        // SAFETY: as in `put_u32`.
        Self::check(unsafe { bindings::vassist_nla_put_u16(self.skb.as_ptr(), attr as i32, v) })
    }

    pub(crate) fn put_flag(&mut self, attr: u32) -> Result<(), MsgFull> {
        // SAFETY: as in `put_u32`.
        Self::check(unsafe { bindings::vassist_nla_put_flag(self.skb.as_ptr(), attr as i32) })
    }

    pub(crate) fn put_bytes(&mut self, attr: u32, b: &[u8]) -> Result<(), MsgFull> {
        // SAFETY: as in `put_u32`; nla_put copies `b.len()` bytes from `b`.
        Self::check(unsafe {
            bindings::vassist_nla_put(
                self.skb.as_ptr(),
                attr as i32,
                b.len() as i32,
                b.as_ptr().cast(),
            )
        })
    }

    pub(crate) fn put_str(&mut self, attr: u32, s: &CStr) -> Result<(), MsgFull> {
        // SAFETY: as in `put_u32`; `s` is NUL-terminated.
        Self::check(unsafe {
            bindings::vassist_nla_put_string(self.skb.as_ptr(), attr as i32, s.as_char_ptr())
        })
    }

    /// Writes a nested attribute whose contents `fill` puts.
    pub(crate) fn nest(
        &mut self,
        attr: u32,
        fill: impl FnOnce(&mut Self) -> Result<(), MsgFull>,
    ) -> Result<(), MsgFull> {
        // SAFETY: as in `put_u32`.
        let nest = unsafe { bindings::vassist_nla_nest_start(self.skb.as_ptr(), attr as i32) };
        if nest.is_null() {
            return Err(MsgFull);
        }
        match fill(self) {
            // SAFETY: `nest` was opened on this skb above.
            Ok(()) => unsafe { bindings::vassist_nla_nest_end(self.skb.as_ptr(), nest) },
            Err(e) => {
                // SAFETY: as above.
                unsafe { bindings::vassist_nla_nest_cancel(self.skb.as_ptr(), nest) };
                return Err(e);
            }
        }
        Ok(())
    }
}

/// Allocates a message, opens a header with `put`, fills and closes it.
/// Returns the buffer, or frees it and fails.
fn build(
    put: impl FnOnce(*mut bindings::sk_buff) -> *mut ffi::c_void,
    fill: impl FnOnce(&mut Msg<'_>) -> Result<(), MsgFull>,
) -> Result<NonNull<bindings::sk_buff>, VaError> {
    // SAFETY: allocation from process context.
    let skb =
        NonNull::new(unsafe { bindings::vassist_genlmsg_new() }).ok_or(VaError::from(ENOMEM))?;
    let hdr = put(skb.as_ptr());
    // INVARIANT: `skb` is ours, with the header just opened.
    let filled = !hdr.is_null()
        && fill(&mut Msg {
            skb,
            _p: PhantomData,
        })
        .is_ok();
    if !filled {
        // SAFETY: the buffer is ours and was not handed on.
        unsafe { bindings::vassist_nlmsg_free(skb.as_ptr()) };
        return Err(VaError::new(
            Error::from_errno(-(bindings::EMSGSIZE as i32)),
            kernel::c_str!("reply does not fit a netlink message"),
        ));
    }
    // SAFETY: `hdr` is the header opened on `skb`.
    unsafe { bindings::vassist_genlmsg_end(skb.as_ptr(), hdr) };
    Ok(skb)
}

/// A `doit` request.
///
/// # Invariants
///
/// `info` is the valid `genl_info` of the request being handled, its
/// attributes validated against the op's generated policy.
pub(crate) struct Request<'a> {
    info: NonNull<bindings::genl_info>,
    _p: PhantomData<&'a bindings::genl_info>,
}

impl<'a> Request<'a> {
    pub(crate) fn net(&self) -> NetNs<'a> {
        // SAFETY: `info` is valid; the requester's namespace outlives it.
        unsafe {
            NetNs::from_raw(NonNull::new_unchecked(bindings::vassist_genl_info_net(
                self.info.as_ptr(),
            )))
        }
    }

    fn attr(&self, attr: u32) -> Option<NonNull<bindings::nlattr>> {
        // SAFETY: `info` is valid; the helper returns NULL for attributes
        // outside this op's policy.
        NonNull::new(
            unsafe { bindings::vassist_genl_info_attr(self.info.as_ptr(), attr as i32) }.cast_mut(),
        )
    }

    /// A u32 attribute, if present (and in this op's policy).
    pub(crate) fn u32_attr(&self, attr: u32) -> Option<u32> {
        // SAFETY: the policy validated it as a u32.
        self.attr(attr)
            .map(|a| unsafe { bindings::vassist_nla_get_u32(a.as_ptr()) })
    }

    /// A u32 inside the nested attribute `nest`, if both are present.
    pub(crate) fn nested_u32_attr(&self, nest: u32, attr: u32) -> Option<u32> {
        let n = self.attr(nest)?;
        // SAFETY: the policy validated the nest and its contents (strictly,
        // as a u32 for each attribute used here).
        let a = unsafe { bindings::vassist_nla_find_nested(n.as_ptr(), attr as i32) };
        // SAFETY: as above.
        NonNull::new(a.cast_mut()).map(|a| unsafe { bindings::vassist_nla_get_u32(a.as_ptr()) })
    }

    /// A string attribute, if present (and in this op's policy).
    pub(crate) fn str_attr(&self, attr: u32) -> Option<&'a CStr> {
        // SAFETY: the policy validated it as NLA_NUL_STRING: NUL-terminated
        // within the attribute, which lives as long as the request.
        self.attr(attr)
            .map(|a| unsafe { CStr::from_char_ptr(bindings::vassist_nla_data_str(a.as_ptr())) })
    }

    /// Sends a reply with command `cmd`, filled by `fill`.
    pub(crate) fn reply(
        &self,
        cmd: u32,
        fill: impl FnOnce(&mut Msg<'_>) -> Result<(), MsgFull>,
    ) -> Result<(), VaError> {
        let info = self.info.as_ptr();
        // SAFETY: `skb` is a fresh message, `info` the request.
        let skb = build(
            |skb| unsafe { bindings::vassist_genlmsg_put_reply(skb, info, cmd as u8) },
            fill,
        )?;
        // SAFETY: genlmsg_reply consumes `skb`.
        kernel::error::to_result(unsafe { bindings::vassist_genlmsg_reply(skb.as_ptr(), info) })?;
        Ok(())
    }
}

/// Multicasts a `cmd` notification to the `mgmt` group in `net`, if anyone
/// listens. Best effort: a failure to allocate loses the notification only.
pub(crate) fn notify(
    net: &NetNs<'_>,
    cmd: u32,
    fill: impl FnOnce(&mut Msg<'_>) -> Result<(), MsgFull>,
) {
    let group = bindings::VASSIST_NLGRP_MGMT;
    // SAFETY: `net` is live; the family is registered while requests and
    // device events, which call this, can arrive.
    if !unsafe { bindings::vassist_genl_has_listeners(net.as_ptr(), group) } {
        return;
    }
    if let Ok(skb) = build(
        // SAFETY: a fresh message; portid/seq 0 for notifications.
        |skb| unsafe { bindings::vassist_genlmsg_put(skb, 0, 0, 0, cmd as u8) },
        fill,
    ) {
        // SAFETY: genlmsg_multicast_netns consumes `skb`. -ESRCH only says
        // no one listened.
        unsafe { bindings::vassist_genlmsg_multicast(skb.as_ptr(), net.as_ptr(), group) };
    }
}

/// One round of a `dumpit`: fill `skb` with as many entries as fit, and
/// remember where to resume in the callback's context.
///
/// # Invariants
///
/// `skb` and `cb` are the dump's buffer and callback for this round.
pub(crate) struct Dump<'a> {
    skb: NonNull<bindings::sk_buff>,
    cb: NonNull<bindings::netlink_callback>,
    _p: PhantomData<&'a mut bindings::netlink_callback>,
}

impl<'a> Dump<'a> {
    pub(crate) fn net(&self) -> NetNs<'a> {
        // SAFETY: the dump's socket holds its namespace.
        unsafe {
            NetNs::from_raw(NonNull::new_unchecked(bindings::vassist_dump_net(
                self.cb.as_ptr(),
            )))
        }
    }

    /// A u32 attribute of the dump's request, if present.
    pub(crate) fn u32_attr(&self, attr: u32) -> Option<u32> {
        // SAFETY: `cb` is valid; its request was validated against the op's
        // policy, as a u32 for each attribute used here.
        let a = unsafe { bindings::vassist_dump_attr(self.cb.as_ptr(), attr as i32) };
        // SAFETY: as above.
        NonNull::new(a.cast_mut()).map(|a| unsafe { bindings::vassist_nla_get_u32(a.as_ptr()) })
    }

    /// Where the previous round stopped (0 at first).
    pub(crate) fn cursor(&mut self) -> &mut u64 {
        // SAFETY: `cb->ctx` is scratch space of the dump, zeroed at its
        // start, at least 8 bytes and aligned (BUILD_BUG_ON in helpers.c).
        unsafe { &mut *bindings::vassist_dump_ctx(self.cb.as_ptr()) }
    }

    /// Adds one `cmd` message filled by `fill`; `Err` when the buffer is
    /// full (the message is then taken back). `generation` identifies the
    /// state dumped: a change between rounds marks the message
    /// NLM_F_DUMP_INTR.
    pub(crate) fn add(
        &mut self,
        cmd: u32,
        generation: u32,
        fill: impl FnOnce(&mut Msg<'_>) -> Result<(), MsgFull>,
    ) -> Result<(), MsgFull> {
        let (skb, cb) = (self.skb.as_ptr(), self.cb.as_ptr());
        // SAFETY: `skb`/`cb` are this round's (type invariant).
        let hdr = unsafe {
            bindings::vassist_genlmsg_put(
                skb,
                bindings::vassist_dump_portid(cb),
                bindings::vassist_dump_seq(cb),
                bindings::NLM_F_MULTI as i32,
                cmd as u8,
            )
        };
        if hdr.is_null() {
            return Err(MsgFull);
        }
        // SAFETY: `cb` is this round's; `hdr` was just opened on its skb.
        unsafe { bindings::vassist_dump_check_consistent(cb, hdr, generation) };
        // INVARIANT: `skb` has the header just opened.
        let mut msg = Msg {
            skb: self.skb,
            _p: PhantomData,
        };
        match fill(&mut msg) {
            // SAFETY: `hdr` was opened on `skb` above.
            Ok(()) => unsafe { bindings::vassist_genlmsg_end(skb, hdr) },
            Err(e) => {
                // SAFETY: as above.
                unsafe { bindings::vassist_genlmsg_cancel(skb, hdr) };
                return Err(e);
            }
        }
        Ok(())
    }
}

type DoHandler = fn(&Request<'_>, &mut RtnlGuard) -> Result<(), VaError>;

/// Runs a `doit` handler under RTNL and turns its error into errno + extack.
///
/// # Safety
///
/// `info` is the `genl_info` of the request being handled.
unsafe fn run_do(info: *mut bindings::genl_info, handler: DoHandler) -> ffi::c_int {
    let req = Request {
        // SAFETY: genetlink passes a valid, non-null info (caller's contract).
        info: unsafe { NonNull::new_unchecked(info) },
        _p: PhantomData,
    };
    let mut rtnl = rtnl::lock();
    match handler(&req, &mut rtnl) {
        Ok(()) => 0,
        Err(e) => {
            // SAFETY: `info` is valid; `e.msg` is 'static (extack keeps the
            // pointer); the helper ignores attributes outside the policy.
            unsafe { bindings::vassist_genl_set_err(info, e.msg.as_char_ptr(), e.attr as i32) };
            e.errno.to_errno()
        }
    }
}

macro_rules! doit {
    ($name:ident => $handler:path) => {
        /// Called by genetlink through the generated ops table.
        ///
        /// # Safety
        ///
        /// `info` is the `genl_info` of the request being handled.
        #[no_mangle]
        unsafe extern "C" fn $name(
            _skb: *mut bindings::sk_buff,
            info: *mut bindings::genl_info,
        ) -> ffi::c_int {
            // SAFETY: genetlink calls doit with the request's valid info.
            unsafe { run_do(info, $handler) }
        }
    };
}

doit!(vassist_nl_port_add_doit => crate::netlink::port_add);
doit!(vassist_nl_port_del_doit => crate::netlink::port_del);
doit!(vassist_nl_port_get_doit => crate::netlink::port_get);
doit!(vassist_nl_port_set_doit => crate::netlink::port_set);

type DumpHandler = fn(&mut Dump<'_>, &mut RtnlGuard) -> Result<(), MsgFull>;

/// Runs one round of a dump under RTNL.
///
/// # Safety
///
/// `skb` and `cb` are this round's buffer and callback.
unsafe fn run_dump(
    skb: *mut bindings::sk_buff,
    cb: *mut bindings::netlink_callback,
    handler: DumpHandler,
) -> ffi::c_int {
    // SAFETY: the caller's contract; genetlink passes non-null pointers.
    let mut dump = unsafe {
        Dump {
            skb: NonNull::new_unchecked(skb),
            cb: NonNull::new_unchecked(cb),
            _p: PhantomData,
        }
    };
    let mut rtnl = rtnl::lock();
    match handler(&mut dump, &mut rtnl) {
        // Everything written: 0 ends the dump.
        Ok(()) => 0,
        // Full: return what this round holds; netlink calls again.
        // SAFETY: `skb` is valid.
        Err(MsgFull) => unsafe { bindings::vassist_skb_msg_len(skb) as ffi::c_int },
    }
}

macro_rules! dumpit {
    ($name:ident => $handler:path) => {
        /// Called by genetlink through the generated ops table, once per
        /// round of a dump.
        ///
        /// # Safety
        ///
        /// `skb` and `cb` are the valid buffer and callback of this round.
        #[no_mangle]
        unsafe extern "C" fn $name(
            skb: *mut bindings::sk_buff,
            cb: *mut bindings::netlink_callback,
        ) -> ffi::c_int {
            // SAFETY: genetlink passes this round's valid skb and callback.
            unsafe { run_dump(skb, cb, $handler) }
        }
    };
}

dumpit!(vassist_nl_port_get_dumpit => crate::netlink::port_dump);
dumpit!(vassist_nl_flow_get_dumpit => crate::netlink::flow_dump);
