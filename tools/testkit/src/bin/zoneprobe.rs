// SPDX-License-Identifier: GPL-2.0

//! zoneprobe: a zone port consumer for the selftests' unhappy paths.
//! - `bind --dev D [--as-nobody]`: binds to D's zone port and prints
//!   "bound" or the error; `--as-nobody` opens the device as user nobody
//!   without capabilities (bind must be refused).
//! - `hold --dev D`: binds and holds until the port stops being a zone
//!   port (prints "detached") or SIGTERM.
//! - `evil --dev D --frames N`: binds, takes N frames, and writes garbage
//!   into the return ring between them: addresses of zones the port does
//!   not have, offsets inside buffers, buffers it does not hold, double
//!   returns, producer indices out of range. Prints what it wrote.
//! - `hoard --dev D --frames N`: takes N frames and never gives them back.

use clap::{Parser, Subcommand};
use std::ffi::CString;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;
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
}

fn ifindex(dev: &str) -> io::Result<u32> {
    let name = CString::new(dev).unwrap();
    // SAFETY: `name` is NUL-terminated.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
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
            let mut port = ZonePort::bind(ifindex(&dev)?)?;
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
