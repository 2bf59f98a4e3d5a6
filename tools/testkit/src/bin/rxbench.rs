// SPDX-License-Identifier: GPL-2.0

//! rxbench: both ends of the zone-port receive benchmark.
//!
//! `rxbench send --dev D --dst-mac M --frames N --size S --burst B
//! --gap-us G [--stamp]`: sends N frames of S bytes to M out of D (an
//! `AF_PACKET` socket, bypassing the qdisc), B at a time with G µs of sleep
//! between bursts, then sleeps 200 ms for the receiver to finish. With
//! `--stamp` each frame carries the monotonic time it was sent. It runs as a
//! real-time task: a burst arrives whole while the receiver waits (as
//! frames from a NIC's poll do), whatever CPU they share. It prints the
//! CPU time all tasks ran meanwhile, and the time that passed: under an
//! instruction-counting VM, the instructions the whole path took.
//!
//! `rxbench recv --dev TAP --mode M` holds the port's tap open (as a VMM
//! does: the bridge forwards to it only then) and takes the frames the
//! bridge sends out of the port, one way per run:
//! - `tap`: `read()` from the tap, a frame per call (as `tapguest`, or a
//!   VMM without vhost, reads);
//! - `zone`: from the port's zones, in place (vassist `zone on`);
//! - `packet`: from an `AF_PACKET` `TPACKET_V3` ring bound to the tap (the
//!   frames also reach the tap, whose queue fills and drops them);
//! - `xdp`: from an `AF_XDP` socket in copy mode, fed by a generic XDP
//!   program, on DEV, then the peer of a veth port (frames the bridge sends
//!   out of a tap never pass XDP: a tap's XDP sees what its guest sends).
//!
//! Every frame is read whole (its bytes summed), as a consumer that hands
//! it on would. SIGTERM stops it; it then prints what it took. With
//! `--latency` it also prints the median and 90th percentile of the time
//! from each stamped frame's sending to its taking.

use clap::{Parser, ValueEnum};
use std::io;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use testkit::xsk::Xsk;
use testkit::{cvt, ifindex, open_tap, VNET_LEN};
use vassist_zone::ZonePort;

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Tap,
    Zone,
    Packet,
    Xdp,
}

#[derive(Parser)]
enum Cli {
    Recv {
        /// The port's tap.
        #[arg(long)]
        dev: String,
        #[arg(long, value_enum)]
        mode: Mode,
        #[arg(long)]
        latency: bool,
    },
    Send {
        #[arg(long)]
        dev: String,
        #[arg(long)]
        dst_mac: String,
        #[arg(long)]
        frames: u64,
        #[arg(long, value_parser = clap::value_parser!(u16).range(60..=1514))]
        size: u16,
        #[arg(long, default_value_t = 64)]
        burst: u64,
        #[arg(long, default_value_t = 3000)]
        gap_us: u64,
        #[arg(long)]
        stamp: bool,
    },
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Frames and bytes taken, and a sum of the bytes (so none is skipped);
/// with `latency`, how long each stamped frame took to come.
#[derive(Default)]
struct Taken {
    frames: u64,
    bytes: u64,
    sum: u64,
    latency: Option<Vec<u64>>,
}

/// Where a stamped frame carries its sending time: after the Ethernet
/// header.
const STAMP_AT: usize = 14;

/// The monotonic clock, in ns (the same in every namespace).
fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes the time into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Taken {
    fn frame<'a>(&mut self, parts: impl IntoIterator<Item = &'a [u8]>) {
        self.frames += 1;
        let mut first = true;
        for p in parts {
            if let (true, Some(l), Some(s)) =
                (first, self.latency.as_mut(), p.get(STAMP_AT..STAMP_AT + 8))
            {
                let sent = u64::from_le_bytes(s.try_into().expect("8 bytes"));
                l.push(now_ns().saturating_sub(sent));
            }
            first = false;
            self.bytes += p.len() as u64;
            self.sum = p
                .iter()
                .fold(self.sum, |s, b| s.wrapping_add(u64::from(*b)));
        }
    }
}

/// Waits up to 100 ms for `fd` to be readable.
fn wait(fd: libc::c_int) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, 100) };
}

fn by_read(tap: libc::c_int, t: &mut Taken) {
    let mut buf = vec![0u8; 65536];
    while !STOP.load(Ordering::Relaxed) {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::read(tap, buf.as_mut_ptr().cast(), buf.len()) };
        if n > VNET_LEN as isize {
            t.frame([&buf[VNET_LEN..n as usize]]);
        } else if n < 0 {
            wait(tap);
        }
    }
}

/// What the receiver holds open: the port's tap (as a VMM does), or the
/// AF_XDP socket on a veth port's peer.
enum Host {
    Tap(libc::c_int),
    Xdp(Xsk),
}

fn by_xdp(mut xsk: Xsk, t: &mut Taken) {
    while !STOP.load(Ordering::Relaxed) {
        if xsk.drain(|f| t.frame([f])) == 0 {
            wait(xsk.fd());
        }
    }
}

fn by_zone(dev: &str, t: &mut Taken) -> io::Result<()> {
    let mut port = ZonePort::bind(ifindex(dev)?)?;
    while !STOP.load(Ordering::Relaxed) {
        while let Some(f) = port.recv()? {
            t.frame(f.parts());
            let f = f.into_frame();
            port.give_back(f);
        }
        if port.arm() {
            wait(port.notify_fd());
        }
        port.disarm();
    }
    Ok(())
}

// <linux/if_packet.h>
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_VERSION: libc::c_int = 10;
const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_USER: u32 = 1;
const BLOCK_SIZE: usize = 1 << 20;
const BLOCKS: usize = 8;
const FRAME_SIZE: usize = 2048;

fn by_packet(dev: &str, t: &mut Taken) -> io::Result<()> {
    let all = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: a new socket.
    let fd = cvt(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, all.into()) })?;
    let setopt = |opt: libc::c_int, v: &[u32]| {
        // SAFETY: `v` is the option's value, of its length.
        cvt(unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_PACKET,
                opt,
                v.as_ptr().cast(),
                std::mem::size_of_val(v) as libc::socklen_t,
            )
        })
    };
    setopt(PACKET_VERSION, &[TPACKET_V3 as u32])?;
    // struct tpacket_req3: block size and count, frame size and count,
    // block retire timeout (ms), private size, feature word.
    setopt(
        PACKET_RX_RING,
        &[
            BLOCK_SIZE as u32,
            BLOCKS as u32,
            FRAME_SIZE as u32,
            (BLOCK_SIZE / FRAME_SIZE * BLOCKS) as u32,
            10,
            0,
            0,
        ],
    )?;
    // SAFETY: maps the ring just set up.
    let ring = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            BLOCK_SIZE * BLOCKS,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if ring == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a zeroed sockaddr_ll is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = all;
    sll.sll_ifindex = ifindex(dev)? as i32;
    // SAFETY: `sll` is a sockaddr_ll of its size.
    cvt(unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    let base = ring.cast::<u8>();
    let mut block = 0;
    while !STOP.load(Ordering::Relaxed) {
        // struct tpacket_block_desc: version, offset_to_priv, then
        // tpacket_hdr_v1: block_status, num_pkts, offset_to_first_pkt.
        // SAFETY: block `block` of the mapped ring.
        let b = unsafe { base.add(block * BLOCK_SIZE) };
        let word = |off: usize| {
            // SAFETY: in the block's header, aligned; the kernel moves it.
            unsafe { AtomicU32::from_ptr(b.add(off).cast()) }
        };
        if word(8).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            wait(fd);
            continue;
        }
        let mut pkt = word(16).load(Ordering::Relaxed) as usize;
        for _ in 0..word(12).load(Ordering::Relaxed) {
            // struct tpacket3_hdr: tp_next_offset, .., tp_snaplen at 12,
            // tp_mac (u16) at 24.
            let field = |off: usize| word(pkt + off).load(Ordering::Relaxed);
            let snap = field(12) as usize;
            let mac = field(24) as u16 as usize;
            // SAFETY: the frame's bytes in the block, the user's until the
            // block is handed back.
            let bytes = unsafe { std::slice::from_raw_parts(b.add(pkt + mac), snap) };
            t.frame([bytes]);
            pkt += field(0) as usize;
        }
        fence(Ordering::Release);
        word(8).store(0, Ordering::Release);
        block = (block + 1) % BLOCKS;
    }
    Ok(())
}

/// CPU time all tasks have run so far, in ns (each thread's
/// `/proc/PID/task/TID/schedstat`, exact where `/proc/stat`'s ticks are
/// not; interrupts taken while a task runs count as its own).
fn cpu_busy_ns() -> io::Result<u64> {
    let mut ns = 0;
    for p in std::fs::read_dir("/proc")?.flatten() {
        let Ok(tasks) = std::fs::read_dir(p.path().join("task")) else {
            continue;
        };
        for t in tasks.flatten() {
            if let Ok(st) = std::fs::read_to_string(t.path().join("schedstat")) {
                ns += st
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Ok(ns)
}

/// CPU time this thread has run, in ns (system calls included).
fn own_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

const PACKET_QDISC_BYPASS: libc::c_int = 20;

/// How `rxbench send` sends.
struct Sending {
    frames: u64,
    size: u16,
    burst: u64,
    gap: Duration,
    stamp: bool,
}

fn send(dev: &str, dst: &str, how: Sending) -> io::Result<()> {
    let Sending {
        frames,
        size,
        burst,
        gap,
        stamp,
    } = how;
    let mac: Vec<u8> = dst
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    if mac.len() != 6 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad MAC"));
    }
    let mut frame = vec![0x5au8; size as usize];
    frame[..6].copy_from_slice(&mac);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    // SAFETY: a new socket.
    let fd = cvt(unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) })?;
    let one = 1i32;
    // SAFETY: an int option.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            PACKET_QDISC_BYPASS,
            (&one as *const i32).cast(),
            4,
        )
    })?;
    // SAFETY: a zeroed sockaddr_ll is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex(dev)? as i32;
    sll.sll_halen = 6;
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: sets this thread's policy from a valid parameter.
    cvt(unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) })?;
    let busy0 = cpu_busy_ns()?;
    let start = std::time::Instant::now();
    let mut sent = 0;
    while sent < frames {
        for _ in 0..burst.min(frames - sent) {
            if stamp {
                frame[STAMP_AT..STAMP_AT + 8].copy_from_slice(&now_ns().to_le_bytes());
            }
            // SAFETY: `frame` and `sll` are valid for their sizes.
            let n = unsafe {
                libc::sendto(
                    fd,
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            sent += 1;
        }
        std::thread::sleep(gap);
    }
    std::thread::sleep(Duration::from_millis(200));
    let total = start.elapsed().as_nanos();
    println!(
        "rxbench: sent {sent} busy_ns {} total_ns {total}",
        cpu_busy_ns()? - busy0
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let (dev, mode, latency) = match cli {
        Cli::Recv { dev, mode, latency } => (dev, mode, latency),
        Cli::Send {
            dev,
            dst_mac,
            frames,
            size,
            burst,
            gap_us,
            stamp,
        } => {
            let how = Sending {
                frames,
                size,
                burst,
                gap: Duration::from_micros(gap_us),
                stamp,
            };
            return match send(&dev, &dst_mac, how) {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("rxbench: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
    };
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores an atomic.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
    let opened = match mode {
        Mode::Xdp => ifindex(&dev).and_then(Xsk::bind).map(Host::Xdp),
        _ => open_tap(&dev, true).map(Host::Tap),
    };
    let host = match opened {
        Ok(h) => h,
        Err(e) => {
            eprintln!("rxbench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut t = Taken {
        latency: latency.then(Vec::new),
        ..Taken::default()
    };
    let cpu0 = own_cpu_ns();
    println!("rxbench: ready");
    // The tap is held open in every mode but xdp, read in tap mode only.
    let r = match (host, mode) {
        (Host::Xdp(xsk), _) => {
            by_xdp(xsk, &mut t);
            Ok(())
        }
        (Host::Tap(_), Mode::Zone) => by_zone(&dev, &mut t),
        (Host::Tap(_), Mode::Packet) => by_packet(&dev, &mut t),
        (Host::Tap(tap), _) => {
            by_read(tap, &mut t);
            Ok(())
        }
    };
    if let Err(e) = r {
        eprintln!("rxbench: {e}");
        return std::process::ExitCode::FAILURE;
    }
    println!(
        "rxbench: frames {} bytes {} sum {} cpu_ns {}",
        t.frames,
        t.bytes,
        t.sum,
        own_cpu_ns() - cpu0
    );
    if let Some(mut l) = t.latency {
        l.sort_unstable();
        let pct = |p: usize| l.get(l.len() * p / 100).copied().unwrap_or(0);
        println!("rxbench: latency_p50_ns {} p90_ns {}", pct(50), pct(90));
    }
    std::process::ExitCode::SUCCESS
}
