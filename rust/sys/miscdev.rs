// SPDX-License-Identifier: GPL-2.0

//! A misc character device (`misc_register`) whose open files are served by
//! a [`MiscFile`]: one value per open file, made on open and dropped on the
//! last close. The file operations hold the module (`owner`), so the module
//! stays while a file is open.

use super::netdev::Net;
use super::usermem::VmArea;
use crate::bindings;
use core::marker::PhantomData;
use core::pin::Pin;
use kernel::error::to_result;
use kernel::ffi;
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::types::Opaque;
use kernel::uaccess::UserSlice;

/// An open file of the device.
///
/// # Invariants
///
/// A `&File` refers to an open `struct file` for the reference's lifetime.
#[repr(transparent)]
pub(crate) struct File(Opaque<bindings::file>);

impl File {
    /// # Safety
    ///
    /// `ptr` is an open file for all of `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::file) -> &'a File {
        // SAFETY: transparent wrapper; the caller vouches for the lifetime.
        unsafe { &*ptr.cast::<File>() }
    }

    /// Whether whoever opened the file had CAP_NET_ADMIN over `net`: the
    /// right to configure its devices, which the file keeps when handed to
    /// another process.
    pub(crate) fn opener_net_admin(&self, net: &Net) -> bool {
        // SAFETY: the file is open (type invariant), `net` alive.
        unsafe { bindings::vassist_file_net_admin(self.0.get(), net.as_ptr()) }
    }
}

/// What a user of [`Registration`] implements: the state of one open file.
pub(crate) trait MiscFile: Sized + Send + Sync + 'static {
    /// A file was opened, by the current task.
    fn open(file: &File) -> Result<Pin<KBox<Self>>>;

    /// An ioctl; `arg` is the user's argument. Returns the call's value.
    fn ioctl(&self, file: &File, cmd: u32, arg: UserArg) -> Result<i32>;

    /// A mapping of the file, at the offset and length `area` says.
    fn mmap(&self, file: &File, area: &VmArea) -> Result;
}

/// An ioctl's argument: a pointer to the user's structure, or a value.
pub(crate) struct UserArg(usize);

impl UserArg {
    /// The argument as a value (an `_IO` ioctl's).
    pub(crate) fn value(&self) -> usize {
        self.0
    }

    /// The `len` bytes at the argument, to read or write.
    pub(crate) fn slice(&self, len: usize) -> UserSlice {
        UserSlice::new(self.0 as _, len)
    }
}

/// The file operations of `T`.
struct Adapter<T>(PhantomData<T>);

impl<T: MiscFile> Adapter<T> {
    /// # Safety
    ///
    /// Called by the VFS on open of the device: `file` is being opened.
    unsafe extern "C" fn open(
        _inode: *mut bindings::inode,
        file: *mut bindings::file,
    ) -> ffi::c_int {
        // SAFETY: the file is being opened (the VFS's contract).
        let f = unsafe { File::from_raw(file) };
        match T::open(f) {
            Ok(data) => {
                // SAFETY: the pointer is only turned back into the box, on
                // release, without moving what it points at.
                let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(data) });
                // SAFETY: the file is being opened; its private data is
                // ours from here (misc_open set it to the miscdevice).
                unsafe { bindings::vassist_file_set_private(file, raw.cast()) };
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// `file` is an open file of the device whose private data `open` set.
    unsafe fn data<'a>(file: *mut bindings::file) -> &'a T {
        // SAFETY: the caller's contract; the value lives until release.
        unsafe { &*bindings::vassist_file_private(file).cast::<T>() }
    }

    /// # Safety
    ///
    /// Called by the VFS on the last close of a file `open` succeeded on.
    unsafe extern "C" fn release(
        _inode: *mut bindings::inode,
        file: *mut bindings::file,
    ) -> ffi::c_int {
        // SAFETY: `open` put the box's pointer there; nothing else uses it
        // after the last close.
        let data = unsafe { KBox::from_raw(bindings::vassist_file_private(file).cast::<T>()) };
        drop(data);
        0
    }

    /// # Safety
    ///
    /// Called by the VFS on an open file of the device.
    unsafe extern "C" fn ioctl(
        file: *mut bindings::file,
        cmd: ffi::c_uint,
        arg: ffi::c_ulong,
    ) -> ffi::c_long {
        // SAFETY: the file is open (the VFS's contract) and `open` set its
        // private data.
        let (f, data) = unsafe { (File::from_raw(file), Self::data(file)) };
        match data.ioctl(f, cmd, UserArg(arg as _)) {
            Ok(v) => v as ffi::c_long,
            Err(e) => e.to_errno() as ffi::c_long,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS with the mapping lock held, to set up `vma`.
    unsafe extern "C" fn mmap(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> ffi::c_int {
        // SAFETY: as in `ioctl`; `vma` is being set up for the call.
        let (f, data, area) = unsafe {
            (
                File::from_raw(file),
                Self::data(file),
                VmArea::from_raw(vma),
            )
        };
        match data.mmap(f, area) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}

/// A misc device named `name`, its files served by `T`; deregistered on
/// drop.
///
/// # Invariants
///
/// `misc` is registered, with `fops` as its operations, from creation to
/// drop; neither moves meanwhile (boxed).
pub(crate) struct Registration<T: MiscFile> {
    misc: KBox<Opaque<bindings::miscdevice>>,
    _fops: KBox<bindings::file_operations>,
    _t: PhantomData<T>,
}

// SAFETY: the registration is only deregistered (from any task); the
// structures it points at are read by the VFS, not through `&self`.
unsafe impl<T: MiscFile> Send for Registration<T> {}
// SAFETY: `&self` gives access to nothing.
unsafe impl<T: MiscFile> Sync for Registration<T> {}

impl<T: MiscFile> Registration<T> {
    /// Registers `/dev/<name>` (a dynamic minor, mode 0600) for `module`.
    pub(crate) fn register(name: &'static CStr, module: &'static ThisModule) -> Result<Self> {
        // SAFETY: all-zero is a valid file_operations (no operations).
        let mut fops: bindings::file_operations = unsafe { core::mem::zeroed() };
        fops.owner = module.as_ptr().cast();
        fops.open = Some(Adapter::<T>::open);
        fops.release = Some(Adapter::<T>::release);
        fops.unlocked_ioctl = Some(Adapter::<T>::ioctl);
        fops.mmap = Some(Adapter::<T>::mmap);
        let fops = KBox::new(fops, GFP_KERNEL)?;
        // SAFETY: all-zero is a valid miscdevice, filled in below.
        let misc = KBox::new(
            Opaque::new(unsafe { core::mem::zeroed::<bindings::miscdevice>() }),
            GFP_KERNEL,
        )?;
        let m = misc.get();
        // SAFETY: `m` is ours, not registered yet; the name and operations
        // outlive the registration (static, boxed in the value).
        unsafe {
            (*m).minor = bindings::MISC_DYNAMIC_MINOR as _;
            (*m).name = name.as_char_ptr();
            (*m).fops = &*fops;
            to_result(bindings::misc_register(m))?;
        }
        // INVARIANT: registered above, with `fops`.
        Ok(Registration {
            misc,
            _fops: fops,
            _t: PhantomData,
        })
    }
}

impl<T: MiscFile> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant); open files keep the module,
        // so none is open once the module goes.
        unsafe { bindings::misc_deregister(self.misc.get()) };
    }
}
