// SPDX-License-Identifier: GPL-2.0

//! Generic netlink families: a family's policies and ops table come from its
//! YNL spec (generated C, as `net/core/netdev-genl-gen.c` is); the handlers
//! the table names are generated here by [`genl_family!`] and call an
//! [`Operations`] implementation with safe views of the request, its
//! attributes, the reply and the dump.

use super::netdev::Net;
use crate::bindings;
use core::marker::PhantomData;
use core::mem::{align_of, size_of};
use core::ptr::NonNull;
use kernel::ffi;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;

use super::errno::eopnotsupp;
use super::notifier::Block;

fn emsgsize() -> Error {
    Error::from_errno(-(bindings::EMSGSIZE as i32))
}

/// A rejected request: errno, the extack message, and the attribute at
/// fault (0 for none).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reject {
    pub(crate) errno: Error,
    pub(crate) msg: Option<&'static CStr>,
    pub(crate) attr: u32,
}

/// A message (a reply, a notification, a dump's next entry) did not fit.
#[derive(Debug)]
pub(crate) struct MsgFull;

/// Why a round of a dump stopped short.
pub(crate) enum DumpStop {
    /// The buffer is full: netlink calls again for the rest.
    Full,
    /// The dump cannot go on.
    Reject(Reject),
}

impl From<MsgFull> for DumpStop {
    fn from(_: MsgFull) -> Self {
        DumpStop::Full
    }
}

/// Bytes of `netlink_callback::ctx` a dump's context may use: the whole
/// scratch area but the word that says it was set.
const DUMP_CTX_BYTES: usize = 48 - 8;

/// The handlers of a family, dispatched by command.
#[vtable]
pub(crate) trait Operations: Sized + 'static {
    /// Where a dump resumes (the state of `netlink_callback::ctx`, at most
    /// 40 bytes): `Default` at a dump's first round.
    type DumpCtx: Copy + Default;

    /// A `do` request for command `cmd`.
    fn doit(cmd: u8, req: &Request<'_>) -> Result<(), Reject>;

    /// One round of a `dump` of command `cmd`.
    fn dumpit(_cmd: u8, _dump: &mut Dump<'_, Self>) -> Result<(), DumpStop> {
        kernel::build_error(kernel::error::VTABLE_DEFAULT_ERROR)
    }
}

/// A generated family (its `struct genl_family`), handled by `T`.
///
/// # Invariants
///
/// `ptr` is the family generated from the spec whose ops table calls the
/// handlers [`genl_family!`] defined for `T`; it is used only through this
/// value and genetlink.
pub(crate) struct Family<T: Operations> {
    ptr: *mut bindings::genl_family,
    _p: PhantomData<T>,
}

// SAFETY: the family is registered and unregistered through `&'static self`
// (genetlink serialises those), and otherwise only passed to genetlink
// functions that read it.
unsafe impl<T: Operations> Sync for Family<T> {}

impl<T: Operations> Family<T> {
    /// # Safety
    ///
    /// `ptr` is a generated family whose ops table calls handlers defined for
    /// `T` by [`genl_family!`], used by nothing else.
    pub(crate) const unsafe fn from_raw(ptr: *mut bindings::genl_family) -> Self {
        // INVARIANT: vouched for by the caller.
        Family {
            ptr,
            _p: PhantomData,
        }
    }

    /// Registers the family; unregistered when the registration drops.
    pub(crate) fn register(&'static self) -> Result<Registration<T>> {
        // SAFETY: the family is the generated static (type invariant); it is
        // registered once, here, and unregistered by `Registration`.
        kernel::error::to_result(unsafe { bindings::genl_register_family(self.ptr) })?;
        Ok(Registration { family: self })
    }

    /// The family, to send notifications with while it is registered.
    pub(crate) fn sender(&'static self) -> Sender<'static> {
        // INVARIANT: the module sends with it only while the family is
        // registered (its registration is dropped after the events that
        // notify stop).
        Sender {
            family: self.ptr,
            _p: PhantomData,
        }
    }
}

/// A registered family, to multicast its notifications.
///
/// # Invariants
///
/// `family` is registered while the value is used.
#[derive(Clone, Copy)]
pub(crate) struct Sender<'a> {
    family: *const bindings::genl_family,
    _p: PhantomData<&'a bindings::genl_family>,
}

impl Sender<'_> {
    /// Multicasts a `cmd` notification filled by `fill` to the group
    /// `group` in `net`, if anyone listens. Best effort: a failure to build
    /// it loses the notification only. Process context.
    pub(crate) fn notify(
        &self,
        net: &Net,
        group: u32,
        cmd: u8,
        fill: impl FnOnce(&mut Msg) -> Result<(), MsgFull>,
    ) {
        let family = self.family;
        // SAFETY: `family` is registered (type invariant); `net` is alive.
        if !unsafe { bindings::vassist_genl_has_listeners(family, net.as_ptr(), group) } {
            return;
        }
        // SAFETY: a fresh message; portid and seq 0 for notifications.
        let built = build(
            |skb| unsafe { bindings::genlmsg_put(skb, 0, 0, family, 0, cmd) },
            fill,
        );
        if let Ok(skb) = built {
            // SAFETY: genlmsg_multicast_netns consumes `skb`; -ESRCH only
            // says no one listened.
            unsafe {
                bindings::vassist_genlmsg_multicast_netns(family, net.as_ptr(), skb.as_ptr(), group)
            };
        }
    }
}

/// A registered family; unregistered on drop.
pub(crate) struct Registration<T: Operations> {
    family: &'static Family<T>,
}

impl<T: Operations> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered by `Family::register`; this waits for handlers
        // in flight.
        unsafe { bindings::genl_unregister_family(self.family.ptr) };
    }
}

/// A netlink attribute.
///
/// # Invariants
///
/// A `&Attr` refers to a `struct nlattr` whose `nla_len` bytes are readable
/// for the reference's lifetime.
#[repr(transparent)]
pub(crate) struct Attr(Opaque<bindings::nlattr>);

impl Attr {
    /// # Safety
    ///
    /// `ptr` is an attribute of a message that lives for all of `'a`, with
    /// its `nla_len` bytes inside the message.
    unsafe fn from_raw<'a>(ptr: *const bindings::nlattr) -> &'a Attr {
        // SAFETY: transparent wrapper; the caller vouches for the memory.
        unsafe { &*ptr.cast::<Attr>() }
    }

    fn payload(&self) -> &[u8] {
        // SAFETY: the header is readable (type invariant).
        let len = unsafe { bindings::vassist_nla_len(self.0.get()) };
        // A length shorter than the header reads as no payload.
        let len = usize::try_from(len).unwrap_or(0);
        // SAFETY: the attribute's `nla_len` bytes are readable (type
        // invariant), and its payload is the `len` bytes after the aligned
        // header.
        unsafe {
            core::slice::from_raw_parts(bindings::vassist_nla_data(self.0.get()).cast::<u8>(), len)
        }
    }

    /// A u32 payload (an attribute shorter than that reads as absent).
    pub(crate) fn u32(&self) -> Option<u32> {
        let p = self.payload().get(..4)?;
        Some(u32::from_ne_bytes([p[0], p[1], p[2], p[3]]))
    }

    /// A u16 payload (an attribute shorter than that reads as absent).
    pub(crate) fn u16(&self) -> Option<u16> {
        let p = self.payload().get(..2)?;
        Some(u16::from_ne_bytes([p[0], p[1]]))
    }

    /// The payload as bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.payload()
    }

    /// A NUL-terminated string payload.
    pub(crate) fn str(&self) -> Option<&CStr> {
        let p = self.payload();
        let end = p.iter().position(|&b| b == 0)?;
        CStr::from_bytes_with_nul(&p[..=end]).ok()
    }

    /// The attribute `id` inside this nested one.
    pub(crate) fn nested(&self, id: u32) -> Option<&Attr> {
        // SAFETY: nla_find_nested walks the nest within its length; what it
        // finds lies inside this attribute's payload (type invariant).
        let a = unsafe { bindings::vassist_nla_find_nested(self.0.get(), id as i32) };
        // SAFETY: inside this attribute, which lives as long as `self`.
        (!a.is_null()).then(|| unsafe { Attr::from_raw(a) })
    }
}

/// The attributes of a request parsed by genetlink against its op's policy.
///
/// # Invariants
///
/// `attrs` has `maxattr + 1` entries, each null or a validated attribute of
/// the request's message, which outlives `'a`.
#[derive(Clone, Copy)]
struct Attrs<'a> {
    attrs: *mut *mut bindings::nlattr,
    maxattr: u32,
    _p: PhantomData<&'a bindings::nlattr>,
}

impl<'a> Attrs<'a> {
    fn get(&self, id: u32) -> Option<&'a Attr> {
        if self.attrs.is_null() || id > self.maxattr {
            return None;
        }
        // SAFETY: `id <= maxattr`, within the table (type invariant).
        let a = unsafe { *self.attrs.add(id as usize) };
        // SAFETY: a non-null entry is an attribute of the message, alive for
        // `'a`.
        (!a.is_null()).then(|| unsafe { Attr::from_raw(a) })
    }
}

/// A `do` request.
///
/// # Invariants
///
/// `info` is the `genl_info` of the request being handled, valid for `'a`;
/// `attrs` are its parsed attributes.
pub(crate) struct Request<'a> {
    info: NonNull<bindings::genl_info>,
    attrs: Attrs<'a>,
    _p: PhantomData<&'a bindings::genl_info>,
}

impl<'a> Request<'a> {
    pub(crate) fn net(&self) -> &'a Net {
        // SAFETY: `info` is valid (type invariant); the requester's socket
        // holds its namespace for the request's duration.
        unsafe { Net::from_raw(bindings::vassist_genl_info_net(self.info.as_ptr())) }
    }

    /// Attribute `id`, if the request has it (and the op's policy does).
    pub(crate) fn attr(&self, id: u32) -> Option<&'a Attr> {
        self.attrs.get(id)
    }

    /// The netlink port id of the socket that sent the request.
    pub(crate) fn portid(&self) -> u32 {
        // SAFETY: `info` is valid (type invariant).
        unsafe { bindings::vassist_genl_info_portid(self.info.as_ptr()) }
    }

    /// Records in the extack that attribute `id` is missing (as
    /// GENL_REQ_ATTR_CHECK does), for a request about to fail for it.
    pub(crate) fn set_missing(&self, id: u32) {
        // SAFETY: `info` is valid (type invariant); the helper records the
        // missing type in its extack, if any.
        unsafe { bindings::vassist_genl_set_attr_missing(self.info.as_ptr(), id) };
    }

    /// Sends the reply of command `cmd`, filled by `fill`.
    pub(crate) fn reply(
        &self,
        cmd: u8,
        fill: impl FnOnce(&mut Msg) -> Result<(), MsgFull>,
    ) -> Result<(), Reject> {
        let info = self.info.as_ptr();
        // SAFETY: `skb` is a fresh message, `info` the request.
        let skb = build(
            |skb| unsafe { bindings::vassist_genlmsg_put_reply(skb, info, cmd) },
            fill,
        )
        .map_err(|_| Reject {
            errno: emsgsize(),
            msg: Some(kernel::c_str!("reply does not fit a netlink message")),
            attr: 0,
        })?;
        // SAFETY: genlmsg_reply consumes `skb`.
        kernel::error::to_result(unsafe { bindings::vassist_genlmsg_reply(skb.as_ptr(), info) })
            .map_err(|errno| Reject {
                errno,
                msg: None,
                attr: 0,
            })
    }

    /// The request's family, to send notifications with.
    pub(crate) fn sender(&self) -> Sender<'a> {
        // SAFETY: `info` is valid (type invariant).
        let family = unsafe { bindings::vassist_genl_info_family(self.info.as_ptr()) };
        // INVARIANT: a family is registered while its handlers run, which
        // `'a` (the request's) does not outlast.
        Sender {
            family,
            _p: PhantomData,
        }
    }

    /// Sets the extack of a failed request.
    fn set_error(&self, r: &Reject) {
        let bad = self
            .attrs
            .get(r.attr)
            .map_or(core::ptr::null(), |a| a.0.get().cast_const());
        let msg = r.msg.map_or(core::ptr::null(), |m| m.as_char_ptr());
        // SAFETY: `info` is valid; `msg` is null or 'static (extack keeps the
        // pointer); `bad` is null or an attribute of the request.
        unsafe { bindings::vassist_genl_set_err(self.info.as_ptr(), msg, bad) };
    }
}

/// One round of a `dump`: fills the buffer with as many entries as fit, and
/// keeps where to resume in the callback's context.
///
/// # Invariants
///
/// `skb` and `cb` are this round's buffer and callback, valid for `'a`, and
/// `attrs` the dump request's parsed attributes.
pub(crate) struct Dump<'a, T: Operations> {
    skb: NonNull<bindings::sk_buff>,
    cb: NonNull<bindings::netlink_callback>,
    attrs: Attrs<'a>,
    _p: PhantomData<(&'a mut bindings::netlink_callback, T)>,
}

/// The dump context as it sits in `cb->ctx`: a word that says it was set,
/// then the value.
#[repr(C)]
struct DumpSlot<C> {
    set: u64,
    ctx: C,
}

impl<'a, T: Operations> Dump<'a, T> {
    const CTX_FITS: () = assert!(
        size_of::<T::DumpCtx>() <= DUMP_CTX_BYTES && align_of::<T::DumpCtx>() <= 8,
        "dump context larger than netlink_callback::ctx"
    );

    pub(crate) fn net(&self) -> &'a Net {
        // SAFETY: the dump's socket holds its namespace while it runs.
        unsafe { Net::from_raw(bindings::vassist_dump_net(self.cb.as_ptr())) }
    }

    /// Attribute `id` of the dump's request.
    pub(crate) fn attr(&self, id: u32) -> Option<&'a Attr> {
        self.attrs.get(id)
    }

    /// Where the previous round stopped (`Default` at the first).
    pub(crate) fn ctx(&mut self) -> &mut T::DumpCtx {
        let () = Self::CTX_FITS;
        // SAFETY: `cb->ctx` is 48 bytes of scratch space of this dump,
        // 8-aligned, zeroed when the dump starts and used by nothing else;
        // `DumpSlot<T::DumpCtx>` fits it (CTX_FITS).
        let slot = unsafe {
            &mut *bindings::vassist_dump_ctx(self.cb.as_ptr()).cast::<DumpSlot<T::DumpCtx>>()
        };
        if slot.set == 0 {
            // SAFETY: `ctx` is not initialised yet (`set` was 0); written
            // without reading or dropping the bytes there (`C: Copy`).
            unsafe { core::ptr::addr_of_mut!(slot.ctx).write(T::DumpCtx::default()) };
            slot.set = 1;
        }
        &mut slot.ctx
    }

    /// Adds one `cmd` message filled by `fill`; `Err` when the buffer is
    /// full (the message is then taken back). `generation` identifies the
    /// state dumped: a change between rounds marks the message
    /// NLM_F_DUMP_INTR.
    pub(crate) fn add(
        &mut self,
        cmd: u8,
        generation: u32,
        fill: impl FnOnce(&mut Msg) -> Result<(), MsgFull>,
    ) -> Result<(), MsgFull> {
        let (skb, cb) = (self.skb.as_ptr(), self.cb.as_ptr());
        // SAFETY: `skb`/`cb` are this round's (type invariant); the family is
        // the one running the dump.
        let hdr = unsafe {
            bindings::genlmsg_put(
                skb,
                bindings::vassist_dump_portid(cb),
                bindings::vassist_dump_seq(cb),
                bindings::vassist_dump_family(cb),
                bindings::NLM_F_MULTI as i32,
                cmd,
            )
        };
        if hdr.is_null() {
            return Err(MsgFull);
        }
        // SAFETY: `cb` is this round's; `hdr` was just opened on its skb.
        unsafe { bindings::vassist_dump_check_consistent(cb, hdr, generation) };
        // SAFETY: `skb` is this round's buffer, with the header just opened;
        // the borrow of `self` keeps it ours while `fill` runs.
        let msg = unsafe { Msg::from_raw(skb) };
        match fill(msg) {
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

/// A generic netlink message being filled.
///
/// # Invariants
///
/// A `&mut Msg` is a netlink message buffer with an open genetlink header,
/// owned by whoever lent it for the borrow.
#[repr(transparent)]
pub(crate) struct Msg(Opaque<bindings::sk_buff>);

impl Msg {
    /// # Safety
    ///
    /// `skb` is a message buffer with an open header, used by nothing else
    /// for `'a`.
    unsafe fn from_raw<'a>(skb: *mut bindings::sk_buff) -> &'a mut Msg {
        // SAFETY: transparent wrapper; the caller vouches for exclusivity.
        unsafe { &mut *skb.cast::<Msg>() }
    }

    fn put(&mut self, attr: u32, data: &[u8]) -> Result<(), MsgFull> {
        // SAFETY: the buffer is a message being built (type invariant);
        // nla_put copies `data.len()` bytes from `data`, or fails when the
        // buffer has no room.
        let rc = unsafe {
            bindings::nla_put(
                self.0.get(),
                attr as i32,
                data.len() as i32,
                data.as_ptr().cast(),
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(MsgFull)
        }
    }

    pub(crate) fn put_u32(&mut self, attr: u32, v: u32) -> Result<(), MsgFull> {
        self.put(attr, &v.to_ne_bytes())
    }

    pub(crate) fn put_u16(&mut self, attr: u32, v: u16) -> Result<(), MsgFull> {
        self.put(attr, &v.to_ne_bytes())
    }

    /// An `uint` attribute: 4 bytes when the value fits, else 8 (as
    /// nla_put_uint).
    pub(crate) fn put_uint(&mut self, attr: u32, v: u64) -> Result<(), MsgFull> {
        match u32::try_from(v) {
            Ok(v) => self.put_u32(attr, v),
            Err(_) => self.put(attr, &v.to_ne_bytes()),
        }
    }

    pub(crate) fn put_flag(&mut self, attr: u32) -> Result<(), MsgFull> {
        self.put(attr, &[])
    }

    pub(crate) fn put_bytes(&mut self, attr: u32, b: &[u8]) -> Result<(), MsgFull> {
        self.put(attr, b)
    }

    pub(crate) fn put_str(&mut self, attr: u32, s: &CStr) -> Result<(), MsgFull> {
        self.put(attr, s.as_bytes_with_nul())
    }

    /// Writes a nested attribute whose contents `fill` puts.
    pub(crate) fn nest(
        &mut self,
        attr: u32,
        fill: impl FnOnce(&mut Self) -> Result<(), MsgFull>,
    ) -> Result<(), MsgFull> {
        let skb = self.0.get();
        // SAFETY: the buffer is a message being built (type invariant).
        let nest = unsafe { bindings::vassist_nla_nest_start(skb, attr as i32) };
        if nest.is_null() {
            return Err(MsgFull);
        }
        match fill(self) {
            // SAFETY: `nest` was opened on this buffer above.
            Ok(()) => unsafe { bindings::vassist_nla_nest_end(skb, nest) },
            Err(e) => {
                // SAFETY: as above.
                unsafe { bindings::vassist_nla_nest_cancel(skb, nest) };
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
    fill: impl FnOnce(&mut Msg) -> Result<(), MsgFull>,
) -> Result<NonNull<bindings::sk_buff>, MsgFull> {
    // SAFETY: allocation from process context (handlers, device events).
    let skb = NonNull::new(unsafe { bindings::vassist_genlmsg_new() }).ok_or(MsgFull)?;
    let hdr = put(skb.as_ptr());
    // SAFETY: `skb` is ours, with the header just opened (when non-null).
    let filled = !hdr.is_null() && fill(unsafe { Msg::from_raw(skb.as_ptr()) }).is_ok();
    if !filled {
        // SAFETY: the buffer is ours and was not handed on.
        unsafe { bindings::vassist_nlmsg_free(skb.as_ptr()) };
        return Err(MsgFull);
    }
    // SAFETY: `hdr` is the header opened on `skb`.
    unsafe { bindings::vassist_genlmsg_end(skb.as_ptr(), hdr) };
    Ok(skb)
}

/// The `doit` of every command of `T`'s family: dispatches on the command.
///
/// # Safety
///
/// Called by genetlink, through an ops table of `T`'s family, with the
/// request's valid `info`.
pub(crate) unsafe fn doit<T: Operations>(info: *mut bindings::genl_info) -> ffi::c_int {
    // SAFETY: genetlink passes a valid, non-null info.
    let info = unsafe { NonNull::new_unchecked(info) };
    let raw = info.as_ptr();
    // SAFETY: `info` is valid; its family is registered and its ops table
    // has the op running now, whose maxattr sized `attrs`.
    let (cmd, attrs, maxattr) = unsafe {
        let cmd = bindings::vassist_genl_info_cmd(raw);
        let family = bindings::vassist_genl_info_family(raw);
        (cmd, (*raw).attrs, op_maxattr(family, cmd))
    };
    // INVARIANT: the request being handled, its attributes parsed by
    // genetlink into a table of the op's maxattr + 1 entries.
    let req = Request {
        info,
        attrs: Attrs {
            attrs,
            maxattr,
            _p: PhantomData,
        },
        _p: PhantomData,
    };
    match T::doit(cmd, &req) {
        Ok(()) => 0,
        Err(r) => {
            req.set_error(&r);
            r.errno.to_errno()
        }
    }
}

/// The attributes table size of the `do` op of `cmd` in `family`.
///
/// # Safety
///
/// `family` is a registered family that has a `do` op for `cmd`.
unsafe fn op_maxattr(family: *const bindings::genl_family, cmd: u8) -> u32 {
    // SAFETY: a registered family's split ops are `n_split_ops` entries.
    let ops = unsafe {
        core::slice::from_raw_parts((*family).split_ops, usize::from((*family).n_split_ops))
    };
    ops.iter()
        .find(|o| o.cmd == cmd && u32::from(o.flags) & bindings::GENL_CMD_CAP_DO != 0)
        .map_or(0, |o| o.maxattr)
}

/// The `dumpit` of every command of `T`'s family.
///
/// # Safety
///
/// Called by genetlink, through an ops table of `T`'s family, with this
/// round's valid buffer and callback.
pub(crate) unsafe fn dumpit<T: Operations>(
    skb: *mut bindings::sk_buff,
    cb: *mut bindings::netlink_callback,
) -> ffi::c_int {
    if !T::HAS_DUMPIT {
        return eopnotsupp().to_errno();
    }
    // SAFETY: `cb` is valid; genetlink keeps the dump's op and parsed
    // request in its dumpit info, for the dump's duration.
    let (cmd, attrs, maxattr) = unsafe {
        let di = bindings::vassist_genl_dumpit_info(cb);
        ((*di).op.cmd, (*di).info.attrs, (*di).op.maxattr)
    };
    // INVARIANT: this round's buffer and callback; the attributes as above.
    let mut dump = Dump::<T> {
        // SAFETY: genetlink passes non-null pointers.
        skb: unsafe { NonNull::new_unchecked(skb) },
        // SAFETY: as above.
        cb: unsafe { NonNull::new_unchecked(cb) },
        attrs: Attrs {
            attrs,
            maxattr,
            _p: PhantomData,
        },
        _p: PhantomData,
    };
    match T::dumpit(cmd, &mut dump) {
        // Everything written: 0 ends the dump.
        Ok(()) => 0,
        // Full: af_netlink sends what this round holds and calls again, or,
        // if not even the first entry fit, reports EMSGSIZE.
        Err(DumpStop::Full) => emsgsize().to_errno(),
        Err(DumpStop::Reject(r)) => r.errno.to_errno(),
    }
}

/// Defines the static [`Family`] of a generated family and the handlers its
/// generated ops table names (`<family>_nl_<op>_doit` / `_dumpit`), each
/// calling `$ops`'s [`Operations`].
macro_rules! genl_family {
    (
        $vis:vis static $name:ident: Family<$ops:ty> = $family:path;
        doit: [$($doit:ident),* $(,)?];
        dumpit: [$($dumpit:ident),* $(,)?] $(;)?
    ) => {
        #[allow(unsafe_code)]
        $vis static $name: $crate::sys::genl::Family<$ops> =
            // SAFETY: `$family` is the family generated from the spec; its
            // ops table calls the handlers below, which go to `$ops`.
            unsafe { $crate::sys::genl::Family::from_raw(::core::ptr::addr_of_mut!($family)) };

        $(
            /// Called by genetlink through the generated ops table.
            ///
            /// # Safety
            ///
            /// `info` is the `genl_info` of the request being handled.
            #[allow(unsafe_code)]
            #[no_mangle]
            unsafe extern "C" fn $doit(
                _skb: *mut $crate::bindings::sk_buff,
                info: *mut $crate::bindings::genl_info,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: genetlink calls a family's doit with the request's
                // valid info; the family is `$ops`'s.
                unsafe { $crate::sys::genl::doit::<$ops>(info) }
            }
        )*

        $(
            /// Called by genetlink through the generated ops table, once per
            /// round of a dump.
            ///
            /// # Safety
            ///
            /// `skb` and `cb` are this round's valid buffer and callback.
            #[allow(unsafe_code)]
            #[no_mangle]
            unsafe extern "C" fn $dumpit(
                skb: *mut $crate::bindings::sk_buff,
                cb: *mut $crate::bindings::netlink_callback,
            ) -> ::kernel::ffi::c_int {
                // SAFETY: genetlink calls a family's dumpit with this round's
                // valid buffer and callback; the family is `$ops`'s.
                unsafe { $crate::sys::genl::dumpit::<$ops>(skb, cb) }
            }
        )*
    };
}
pub(crate) use genl_family;

/// What a user of [`ReleaseNotifier`] implements.
pub(crate) trait SocketRelease {
    /// The generic netlink socket `portid` of `net` closed (process
    /// context, no lock held).
    fn released(net: &Net, portid: u32);
}

/// A registered netlink notifier telling `T` of generic netlink sockets
/// that close; unregistered on drop.
///
/// # Invariants
///
/// `block` is registered with the netlink chain, calling
/// `notifier_call::<T>`, from creation to drop.
pub(crate) struct ReleaseNotifier<T: SocketRelease> {
    block: Block,
    _p: PhantomData<fn() -> T>,
}

impl<T: SocketRelease> ReleaseNotifier<T> {
    pub(crate) fn register() -> Result<Self> {
        let block = Block::new(Self::notifier_call)?;
        // SAFETY: the block stays put and lives until `drop` unregisters
        // it.
        kernel::error::to_result(unsafe { bindings::netlink_register_notifier(block.get()) })?;
        // INVARIANT: registered just now.
        Ok(ReleaseNotifier {
            block,
            _p: PhantomData,
        })
    }

    /// # Safety
    ///
    /// Called by the netlink notifier chain (a blocking chain: process
    /// context) with a `netlink_notify` for NETLINK_URELEASE.
    unsafe extern "C" fn notifier_call(
        _nb: *mut bindings::notifier_block,
        event: ffi::c_ulong,
        info: *mut ffi::c_void,
    ) -> ffi::c_int {
        if event != bindings::NETLINK_URELEASE as ffi::c_ulong {
            return bindings::NOTIFY_DONE as ffi::c_int;
        }
        // SAFETY: for NETLINK_URELEASE `info` is a `netlink_notify` that
        // lives for the call.
        let n = unsafe { &*info.cast::<bindings::netlink_notify>() };
        if n.protocol != bindings::NETLINK_GENERIC as ffi::c_int {
            return bindings::NOTIFY_DONE as ffi::c_int;
        }
        // SAFETY: the closing socket holds its namespace for the call.
        let net = unsafe { Net::from_raw(n.net) };
        T::released(net, n.portid);
        bindings::NOTIFY_DONE as ffi::c_int
    }
}

impl<T: SocketRelease> Drop for ReleaseNotifier<T> {
    fn drop(&mut self) {
        // SAFETY: registered since `register` (type invariant); the chain's
        // lock waits for calls in flight.
        unsafe { bindings::netlink_unregister_notifier(self.block.get()) };
    }
}
