// SPDX-License-Identifier: GPL-2.0

//! An `AF_XDP` socket in copy mode on queue 0 of a device, fed by a
//! generic (skb-mode) XDP program that redirects every frame to it: the
//! zone-port benchmark's AF_XDP consumer. The program is five BPF
//! instructions, loaded with the `bpf()` system call; libbpf would need
//! the C library and a compiler for BPF, neither of which the benchmark
//! otherwise needs.

use crate::cvt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

// <linux/bpf.h>
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const BPF_FUNC_REDIRECT_MAP: i32 = 51;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const XDP_PASS: i32 = 2;
// <linux/if_link.h>
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
/// `struct xdp_md`'s `rx_queue_index`.
const XDP_MD_RX_QUEUE: i16 = 16;

/// Frames in the UMEM and entries of each ring.
const FRAMES: u32 = 4096;
const FRAME_SIZE: u32 = 2048;

/// One BPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Insn {
    code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// `bpf(cmd, attr)`: the attribute union's prefix the command reads.
fn bpf<T>(cmd: libc::c_long, attr: &T) -> io::Result<RawFd> {
    // SAFETY: `attr` is a valid object of its size; the kernel reads that
    // many bytes and takes the rest of the union as zero.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as RawFd)
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: a descriptor the kernel just returned to us.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A memory mapping, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// `len` bytes of `fd` at `off` (shared), or anonymous memory (`fd`
    /// -1), populated.
    fn new(fd: RawFd, len: usize, off: u64) -> io::Result<Mapping> {
        let flags = if fd < 0 {
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS
        } else {
            libc::MAP_SHARED
        };
        // SAFETY: a new mapping, over nothing of ours.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags | libc::MAP_POPULATE,
                fd,
                off as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast()).ok_or_else(io::Error::last_os_error)?;
        Ok(Mapping { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes while `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A ring's producer and consumer indices and its entries, mapped.
struct Ring {
    prod: *const AtomicU32,
    cons: *const AtomicU32,
    desc: *mut u8,
    _map: Mapping,
}

impl Ring {
    fn map(fd: RawFd, off: &libc::xdp_ring_offset, entry: usize, pgoff: u64) -> io::Result<Ring> {
        let map = Mapping::new(fd, off.desc as usize + FRAMES as usize * entry, pgoff)?;
        let base = map.ptr.as_ptr();
        // SAFETY: the offsets are inside the mapping, as the kernel said.
        unsafe {
            Ok(Ring {
                prod: base.add(off.producer as usize).cast(),
                cons: base.add(off.consumer as usize).cast(),
                desc: base.add(off.desc as usize),
                _map: map,
            })
        }
    }

    fn prod(&self) -> &AtomicU32 {
        // SAFETY: inside the mapping, which lives as long as `self`.
        unsafe { &*self.prod }
    }

    fn cons(&self) -> &AtomicU32 {
        // SAFETY: as for `prod`.
        unsafe { &*self.cons }
    }

    /// Entry `i` (any index; it wraps), of type `T`.
    fn entry<T>(&self, i: u32) -> *mut T {
        let slot = (i % FRAMES) as usize * std::mem::size_of::<T>();
        // SAFETY: `slot` is inside the ring's entries.
        unsafe { self.desc.add(slot).cast() }
    }
}

/// The socket, its UMEM and rings, and the XDP program feeding it (detached
/// when the link's descriptor closes).
pub struct Xsk {
    rx: Ring,
    fill: Ring,
    _comp: Ring,
    sock: OwnedFd,
    _link: OwnedFd,
    _prog: OwnedFd,
    _map: OwnedFd,
    /// Dropped after the socket, which holds its pages.
    umem: Mapping,
}

impl Xsk {
    /// Binds to queue 0 of device `ifindex` in copy mode and attaches the
    /// program in generic mode.
    pub fn bind(ifindex: u32) -> io::Result<Xsk> {
        #[repr(C)]
        struct MapCreate {
            map_type: u32,
            key_size: u32,
            value_size: u32,
            max_entries: u32,
        }
        let map = owned(bpf(
            BPF_MAP_CREATE,
            &MapCreate {
                map_type: BPF_MAP_TYPE_XSKMAP,
                key_size: 4,
                value_size: 4,
                max_entries: 1,
            },
        )?);
        // r2 = ctx->rx_queue_index; r1 = &map; r3 = XDP_PASS (if no socket
        // is at that key); return bpf_redirect_map(r1, r2, r3).
        let prog = [
            insn(0x61, 2, 1, XDP_MD_RX_QUEUE, 0),
            insn(0x18, 1, BPF_PSEUDO_MAP_FD, 0, map.as_raw_fd()),
            insn(0, 0, 0, 0, 0),
            insn(0xb7, 3, 0, 0, XDP_PASS),
            insn(0x85, 0, 0, 0, BPF_FUNC_REDIRECT_MAP),
            insn(0x95, 0, 0, 0, 0),
        ];
        let license = c"GPL";
        #[repr(C)]
        struct ProgLoad {
            prog_type: u32,
            insn_cnt: u32,
            insns: u64,
            license: u64,
            log_level: u32,
            log_size: u32,
            log_buf: u64,
            kern_version: u32,
            prog_flags: u32,
            prog_name: [u8; 16],
            prog_ifindex: u32,
            expected_attach_type: u32,
        }
        let prog = owned(bpf(
            BPF_PROG_LOAD,
            &ProgLoad {
                prog_type: BPF_PROG_TYPE_XDP,
                insn_cnt: prog.len() as u32,
                insns: prog.as_ptr() as u64,
                license: license.as_ptr() as u64,
                log_level: 0,
                log_size: 0,
                log_buf: 0,
                kern_version: 0,
                prog_flags: 0,
                prog_name: [0; 16],
                prog_ifindex: 0,
                expected_attach_type: BPF_XDP,
            },
        )?);

        // SAFETY: a new socket.
        let sock = owned(cvt(unsafe {
            libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0)
        })?);
        let fd = sock.as_raw_fd();
        // Page-aligned, as the kernel requires.
        let umem = Mapping::new(-1, (FRAMES * FRAME_SIZE) as usize, 0)?;
        let reg = libc::xdp_umem_reg {
            addr: umem.ptr.as_ptr() as u64,
            len: umem.len as u64,
            chunk_size: FRAME_SIZE,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        setsockopt(fd, libc::XDP_UMEM_REG, &reg)?;
        setsockopt(fd, libc::XDP_UMEM_FILL_RING, &FRAMES)?;
        setsockopt(fd, libc::XDP_UMEM_COMPLETION_RING, &FRAMES)?;
        setsockopt(fd, libc::XDP_RX_RING, &FRAMES)?;
        // SAFETY: a zeroed xdp_mmap_offsets is valid; the kernel fills it.
        let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of_val(&off) as libc::socklen_t;
        // SAFETY: `off` is writable for `len` bytes.
        cvt(unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_XDP,
                libc::XDP_MMAP_OFFSETS,
                (&mut off as *mut libc::xdp_mmap_offsets).cast(),
                &mut len,
            )
        })?;
        let desc = std::mem::size_of::<libc::xdp_desc>();
        let rx = Ring::map(fd, &off.rx, desc, libc::XDP_PGOFF_RX_RING as u64)?;
        let fill = Ring::map(fd, &off.fr, 8, libc::XDP_UMEM_PGOFF_FILL_RING)?;
        let comp = Ring::map(fd, &off.cr, 8, libc::XDP_UMEM_PGOFF_COMPLETION_RING)?;
        // Every frame of the UMEM to the kernel, to receive into.
        for i in 0..FRAMES {
            // SAFETY: entry `i` of the fill ring, ours to write until
            // published.
            unsafe { fill.entry::<u64>(i).write(u64::from(i * FRAME_SIZE)) };
        }
        fill.prod().store(FRAMES, Ordering::Release);
        let sxdp = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_COPY,
            sxdp_ifindex: ifindex,
            sxdp_queue_id: 0,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: `sxdp` is a sockaddr_xdp of its size.
        cvt(unsafe {
            libc::bind(
                fd,
                (&sxdp as *const libc::sockaddr_xdp).cast(),
                std::mem::size_of_val(&sxdp) as libc::socklen_t,
            )
        })?;
        #[repr(C)]
        struct MapUpdate {
            map_fd: u32,
            pad: u32,
            key: u64,
            value: u64,
            flags: u64,
        }
        let key = 0u32;
        bpf(
            BPF_MAP_UPDATE_ELEM,
            &MapUpdate {
                map_fd: map.as_raw_fd() as u32,
                pad: 0,
                key: &key as *const u32 as u64,
                value: &fd as *const RawFd as u64,
                flags: 0,
            },
        )?;
        #[repr(C)]
        struct LinkCreate {
            prog_fd: u32,
            target_ifindex: u32,
            attach_type: u32,
            flags: u32,
        }
        let link = owned(bpf(
            BPF_LINK_CREATE,
            &LinkCreate {
                prog_fd: prog.as_raw_fd() as u32,
                target_ifindex: ifindex,
                attach_type: BPF_XDP,
                flags: XDP_FLAGS_SKB_MODE,
            },
        )?);
        Ok(Xsk {
            rx,
            fill,
            _comp: comp,
            sock,
            _link: link,
            _prog: prog,
            _map: map,
            umem,
        })
    }

    /// The socket, to poll for frames.
    pub fn fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }

    /// Hands each received frame's bytes to `f`, then its buffer back to
    /// the kernel; how many there were.
    pub fn drain(&mut self, mut f: impl FnMut(&[u8])) -> u32 {
        let cons = self.rx.cons().load(Ordering::Relaxed);
        let n = self.rx.prod().load(Ordering::Acquire).wrapping_sub(cons);
        let fill = self.fill.prod().load(Ordering::Relaxed);
        for k in 0..n {
            // SAFETY: entry `cons + k` is published (below the producer).
            let d = unsafe { self.rx.entry::<libc::xdp_desc>(cons.wrapping_add(k)).read() };
            let start = d.addr as usize;
            if let Some(bytes) = self.umem.bytes().get(start..start + d.len as usize) {
                f(bytes);
            }
            // The frame's buffer (its chunk's start) back to the kernel.
            let chunk = d.addr - d.addr % u64::from(FRAME_SIZE);
            // SAFETY: the fill ring has room: every buffer is either there
            // or in the receive ring, and this one just left the latter.
            unsafe { self.fill.entry::<u64>(fill.wrapping_add(k)).write(chunk) };
        }
        self.rx
            .cons()
            .store(cons.wrapping_add(n), Ordering::Release);
        self.fill
            .prod()
            .store(fill.wrapping_add(n), Ordering::Release);
        n
    }
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` is a valid object of its size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}
