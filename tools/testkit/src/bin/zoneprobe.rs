// SPDX-License-Identifier: GPL-2.0

//! zoneprobe: a zone port consumer for the selftests' unhappy paths.
//! - `bind --dev D [--as-nobody]`: binds to D's zone port and prints
//!   "bound" or the error; `--as-nobody` opens the device as user nobody
//!   without capabilities (bind must be refused).
//! - `hold --dev D`: binds (to send too) and holds until the port stops
//!   being a zone port (prints "detached") or SIGTERM.
//! - `evil --dev D --frames N`: binds, takes N frames, and writes garbage
//!   into the return ring between them: addresses of zones the port does
//!   not have, offsets inside buffers, buffers it does not hold, double
//!   returns, producer indices out of range. Prints what it wrote.
//! - `hoard --dev D --frames N`: takes N frames and never gives them back.
//! - `count --dev D --frames N --timeout-ms T [--until PATH]`: takes
//!   frames as they come until N, or until a wait of T ms ends with none
//!   (once PATH exists: the senders are done, however late they started);
//!   sleeps on the eventfd whenever the ring is empty. A wait that ends by
//!   its timeout with a frame in the ring is a lost wake-up. Prints
//!   "frames F lost-wakeups L wakeups W".
//! - `evil-tx --dev D --rounds N`: binds to send, and posts on the
//!   transmit ring, each round: frames naming a zone the port does not
//!   have, an offset inside a buffer, one buffer twice, lengths of 0 and
//!   of more than a buffer, more buffers than a frame may have, a frame
//!   shorter than an Ethernet header, a checksum offset past the frame, a
//!   GSO type the stack refuses, and a forged producer index; between
//!   them, honest frames (broadcasts of a local EtherType, 60 and 1514
//!   bytes). Prints what it posted.

use clap::{Parser, Subcommand};
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;
use testkit::ifindex;
use vassist_policy::zone::abi::{self, Desc};
use vassist_policy::zone::Addr;
use vassist_zone::ZonePort;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Bind {
        #[arg(long)]
        dev: String,
        #[arg(long)]
        as_nobody: bool,
    },
    Hold {
        #[arg(long)]
        dev: String,
    },
    Evil {
        #[arg(long)]
        dev: String,
        #[arg(long)]
        frames: u32,
    },
    Hoard {
        #[arg(long)]
        dev: String,
        #[arg(long)]
        frames: u32,
    },
    Count {
        #[arg(long)]
        dev: String,
        #[arg(long)]
        frames: u64,
        #[arg(long)]
        timeout_ms: i32,
        #[arg(long)]
        until: Option<std::path::PathBuf>,
    },
    EvilTx {
        #[arg(long)]
        dev: String,
        #[arg(long)]
        rounds: u32,
    },
}

/// Opens the device as user nobody (65534) with no capabilities.
fn open_as_nobody() -> io::Result<OwnedFd> {
    // SAFETY: plain syscalls; the process keeps running as nobody.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) < 0
            || libc::setgid(65534) < 0
            || libc::setuid(65534) < 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    let path = CString::new(vassist_zone::DEVICE).unwrap();
    // SAFETY: `path` is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor we just opened.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Waits for the next frame, up to 10 s.
fn next(port: &mut ZonePort) -> io::Result<vassist_zone::Frame> {
    match port.wait(Duration::from_secs(10))? {
        Some(f) => Ok(f.into_frame()),
        None => Err(io::Error::new(io::ErrorKind::TimedOut, "no frame")),
    }
}

/// Takes a frame if the ring has one, and gives it back.
fn take(port: &mut ZonePort) -> io::Result<bool> {
    let Some(f) = port.recv()? else {
        return Ok(false);
    };
    let f = f.into_frame();
    port.give_back(f);
    Ok(true)
}

fn count(
    port: &mut ZonePort,
    frames: u64,
    timeout_ms: i32,
    until: Option<&std::path::Path>,
) -> io::Result<()> {
    let (mut got, mut lost, mut wakeups) = (0u64, 0u64, 0u64);
    while got < frames {
        if take(port)? {
            got += 1;
            continue;
        }
        if port.arm() {
            let mut pfd = libc::pollfd {
                fd: port.notify_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            port.disarm();
            if n == 0 {
                if !take(port)? {
                    if until.is_none_or(|p| p.exists()) {
                        break;
                    }
                    continue;
                }
                got += 1;
                lost += 1;
                continue;
            }
            wakeups += 1;
        } else {
            port.disarm();
        }
    }
    println!("zoneprobe: frames {got} lost-wakeups {lost} wakeups {wakeups}");
    Ok(())
}

fn evil(port: &mut ZonePort, frames: u32) -> io::Result<()> {
    let zone_size = port.info().geometry.zone_size();
    let mut returned: Vec<Addr> = Vec::new();
    let mut bad = 0u32;
    for i in 0..frames {
        let f = next(port)?;
        let first = f.addrs().next().expect("a frame has a buffer");
        // Each bad write is followed by an honest frame's return, which
        // the host must still take.
        match i % 5 {
            0 => port.give_back_raw(Addr {
                zone: 63,
                offset: 0,
            }),
            1 => port.give_back_raw(Addr {
                zone: first.zone,
                offset: first.offset + 1,
            }),
            2 => port.give_back_raw(Addr {
                zone: first.zone,
                offset: zone_size,
            }),
            3 => {
                // A buffer given back already and not posted to it again
                // (a double return), or one it never had.
                let held: Vec<Addr> = f.addrs().collect();
                let gone = returned.iter().find(|a| !held.contains(a));
                port.give_back_raw(gone.copied().unwrap_or(Addr {
                    zone: 0,
                    offset: if first.offset == 0 { 4096 } else { 0 },
                }));
            }
            _ => {
                // A producer index far past the consumer's: the whole
                // batch is refused; the next honest index is taken.
                port.write_raw_producer(port.return_producer().wrapping_add(1 << 20));
            }
        }
        bad += 1;
        returned.extend(f.addrs());
        port.give_back(f);
    }
    println!(
        "zoneprobe: {bad} bad writes, {} buffers given back",
        returned.len()
    );
    Ok(())
}

/// A broadcast frame of `len` bytes of the local experimental EtherType.
fn honest_frame(len: usize) -> Vec<u8> {
    let mut f = vec![0x5a; len];
    f[..6].fill(0xff);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x77]);
    f[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
    f
}

fn desc(addr: Addr, len: u32, more: bool) -> Desc {
    Desc {
        addr,
        flags: if more { abi::DESC_MORE } else { 0 },
        len,
        vnet: [0; abi::VNET_LEN],
    }
}

/// Buffers to send from, `n` of them, filled with a frame's bytes.
fn spares(port: &mut ZonePort, n: usize) -> io::Result<Vec<Addr>> {
    while port.spare() < n {
        if port.alloc(64)? == 0 {
            return Err(io::Error::other("no buffers lent"));
        }
    }
    let frame = honest_frame(64);
    let bufs: Vec<Addr> = (0..n).filter_map(|_| port.take_spare()).collect();
    for a in &bufs {
        port.write_buf(*a, &frame);
    }
    Ok(bufs)
}

fn evil_tx(port: &mut ZonePort, rounds: u32) -> io::Result<()> {
    let (mut bad, mut dropped, mut honest) = (0, 0, 0);
    for _ in 0..rounds {
        let b = spares(port, 8)?;
        let mut posts: Vec<Vec<Desc>> = vec![
            vec![desc(
                Addr {
                    zone: 63,
                    offset: 0,
                },
                60,
                false,
            )],
            vec![desc(
                Addr {
                    zone: b[0].zone,
                    offset: b[0].offset + 64,
                },
                60,
                false,
            )],
            vec![desc(b[1], 60, true), desc(b[1], 60, false)],
            vec![desc(b[2], 0, false)],
            vec![desc(b[3], 4097, false)],
            vec![desc(b[4], 10, false)],
        ];
        let mut csum = desc(b[5], 60, false);
        csum.vnet[0] = 1; // NEEDS_CSUM
        csum.vnet[6..8].copy_from_slice(&50u16.to_le_bytes());
        csum.vnet[8..10].copy_from_slice(&16u16.to_le_bytes());
        posts.push(vec![csum]);
        let long = spares(port, vassist_policy::zone::TX_BUFS_MAX + 1)?;
        posts.push(long.iter().map(|a| desc(*a, BUF, true)).collect::<Vec<_>>());
        bad += posts.len();
        for p in &posts {
            port.send_raw(p);
        }
        // Well formed for vassist, refused by the stack: a GSO type that
        // does not exist.
        let mut gso = desc(b[6], 60, false);
        gso.vnet[1] = 9;
        gso.vnet[4..6].copy_from_slice(&1400u16.to_le_bytes());
        port.send_raw(&[gso]);
        dropped += 1;
        // A producer index far ahead: refused until the next honest one.
        port.write_raw_tx_producer(port.tx_producer().wrapping_add(1 << 20));
        bad += 1;
        std::thread::sleep(Duration::from_millis(20));
        for len in [60, 1514] {
            while !port.send([0; abi::VNET_LEN], &honest_frame(len))? {
                std::thread::sleep(Duration::from_millis(1));
            }
            honest += 1;
        }
        port.give_back_raw(b[7]);
    }
    println!("zoneprobe: {bad} bad frames, {dropped} refused by the stack, {honest} honest");
    // Until the host is done with what was sent.
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}

const BUF: u32 = vassist_policy::zone::BUF_SIZE;

fn run(cli: Cli) -> io::Result<()> {
    match cli.cmd {
        Cmd::Bind { dev, as_nobody } => {
            let i = ifindex(&dev)?;
            let port = if as_nobody {
                ZonePort::bind_file(open_as_nobody()?, i)
            } else {
                ZonePort::bind(i)
            };
            match port {
                Ok(_) => println!("bound"),
                Err(e) => println!("{}", e.raw_os_error().map_or(e.to_string(), errno_name)),
            }
        }
        Cmd::Hold { dev } => {
            let mut port = ZonePort::bind_tx(ifindex(&dev)?)?;
            println!("zoneprobe: bound");
            loop {
                if let Some(f) = port.wait(Duration::from_millis(200))? {
                    let f = f.into_frame();
                    port.give_back(f);
                }
                if port.detached() {
                    println!("detached");
                    return Ok(());
                }
            }
        }
        Cmd::Evil { dev, frames } => {
            let mut port = ZonePort::bind(ifindex(&dev)?)?;
            println!("zoneprobe: bound");
            evil(&mut port, frames)?;
        }
        Cmd::EvilTx { dev, rounds } => {
            let mut port = ZonePort::bind_tx(ifindex(&dev)?)?;
            println!("zoneprobe: bound");
            evil_tx(&mut port, rounds)?;
        }
        Cmd::Count {
            dev,
            frames,
            timeout_ms,
            until,
        } => {
            let mut port = ZonePort::bind(ifindex(&dev)?)?;
            println!("zoneprobe: bound");
            count(&mut port, frames, timeout_ms, until.as_deref())?;
        }
        Cmd::Hoard { dev, frames } => {
            let mut port = ZonePort::bind(ifindex(&dev)?)?;
            println!("zoneprobe: bound");
            let mut held = Vec::new();
            for _ in 0..frames {
                held.push(next(&mut port)?);
            }
            println!("zoneprobe: holding {} frames", held.len());
            // Until killed.
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    Ok(())
}

fn errno_name(e: i32) -> String {
    match e {
        libc::EPERM => "EPERM".into(),
        libc::EACCES => "EACCES".into(),
        libc::ENODEV => "ENODEV".into(),
        libc::ENXIO => "ENXIO".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        libc::EINVAL => "EINVAL".into(),
        e => format!("errno {e}"),
    }
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zoneprobe: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
