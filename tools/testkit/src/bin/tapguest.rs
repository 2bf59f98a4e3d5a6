// SPDX-License-Identifier: GPL-2.0

//! tapguest: stands in for QEMU/vhost-net behind a guest's tap port. It
//! attaches to the host's tap (the port on the bridge) and to a tap inside
//! the guest's network namespace (the guest's NIC), and moves frames between
//! them. With `--vms N --slice-ms S --load L` it runs as the vCPU of a guest
//! whose own load is L% and that shares its core round-robin with N-1 busy
//! VMs at an S ms slice (Xen's credit scheduler in the vSnoop paper, section
//! II): a guest that needs more than its share (L >= 100/N) gets a slice
//! each round and waits for the others' N-1 between; one that needs less
//! runs whenever a frame wakes it. At each turn it takes the frames queued
//! for it when the turn began; what arrives during the turn waits for the
//! next (the driver domain shares the core: it delivers while the guest
//! does not run), so each round trip of a transfer costs a turn, as in the
//! paper's Figure 2. `--active-ms A --period-ms P` is the raw form: A ms of
//! every P ms, taking frames as they come.
//! SIGUSR1 pauses it, SIGUSR2 resumes it.
//! With `--lose-permille N` it loses that share of the frames it takes from
//! the host's tap, as a backend that purges its queue or a full guest
//! queue does: frames the host may have acked early.
//! With `--zone` it takes the frames for the guest from the host tap's zone
//! port (vassist `zone on`: placed in shared memory, read in place), and
//! writes them to the guest's NIC with their virtio-net header, as a VMM
//! hands them to a virtio-net guest; the guest's frames go the other way
//! through the zone port's transmit ring (written into the zones, which
//! the host references in place), not through the host tap.
//! SIGTERM/SIGINT stop it; it then prints the frames it moved.

use clap::Parser;
use std::ffi::CString;
use std::io;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use testkit::{cvt, ifindex, open_tap, VNET_LEN};
use vassist_zone::ZonePort;

#[derive(Parser)]
struct Cli {
    /// The port device on the bridge (an existing tap).
    #[arg(long)]
    host_tap: String,
    /// The guest's network namespace (under /run/netns).
    #[arg(long)]
    guest_netns: String,
    /// The guest's NIC (an existing tap in the guest namespace).
    #[arg(long)]
    guest_tap: String,
    /// Active time per period, ms (0 with period 0: always active).
    #[arg(long, default_value_t = 0, conflicts_with = "vms")]
    active_ms: u64,
    /// Period, ms.
    #[arg(long, default_value_t = 0, conflicts_with = "vms")]
    period_ms: u64,
    /// VMs sharing the guest's core, the guest included.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=64))]
    vms: Option<u64>,
    /// The scheduler's time slice, ms.
    #[arg(long, default_value_t = 30, requires = "vms",
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    slice_ms: u64,
    /// The guest's own CPU load, percent.
    #[arg(long, default_value_t = 60, requires = "vms",
          value_parser = clap::value_parser!(u64).range(0..=100))]
    load: u64,
    /// Append the wall-clock time (seconds) of every wake-up from an
    /// inactive part of the period to this file, for benchmarks' bounds.
    #[arg(long)]
    wake_log: Option<std::path::PathBuf>,
    /// Frames taken from the host's tap and not given to the guest, per
    /// thousand (at random).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1000))]
    lose_permille: u32,
    /// Take the guest's frames from the host tap's zone port.
    #[arg(long)]
    zone: bool,
}

/// A xorshift generator: which frames are lost.
struct Loss {
    permille: u32,
    state: u64,
    lost: u64,
}

impl Loss {
    fn hit(&mut self) -> bool {
        if self.permille == 0 {
            return false;
        }
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        let hit = (self.state % 1000) < u64::from(self.permille);
        self.lost += u64::from(hit);
        hit
    }
}

static STOP: AtomicBool = AtomicBool::new(false);
static PAUSED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    match sig {
        libc::SIGUSR1 => PAUSED.store(true, Ordering::SeqCst),
        libc::SIGUSR2 => PAUSED.store(false, Ordering::SeqCst),
        _ => STOP.store(true, Ordering::SeqCst),
    }
}

/// Enters network namespace /run/netns/`name`.
fn enter_netns(name: &str) -> io::Result<()> {
    let path = CString::new(format!("/run/netns/{name}")).unwrap();
    // SAFETY: `path` is NUL-terminated.
    let fd = cvt(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })?;
    // SAFETY: `fd` is a namespace file.
    let rc = cvt(unsafe { libc::setns(fd, libc::CLONE_NEWNET) });
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    rc.map(|_| ())
}

/// Moves every frame waiting on `from` to `to`, but those `loss` hits,
/// without the first `strip` bytes of each; returns how many it took.
fn drain(
    from: libc::c_int,
    to: libc::c_int,
    buf: &mut [u8],
    strip: usize,
    loss: &mut Loss,
) -> io::Result<u64> {
    read_frames(from, buf, |frame| {
        if !loss.hit() && frame.len() >= strip {
            // A frame the other side cannot take (its queue is full) is
            // dropped, as a NIC drops it.
            // SAFETY: `frame[strip..]` is initialised.
            unsafe { libc::write(to, frame[strip..].as_ptr().cast(), frame.len() - strip) };
        }
        Ok(())
    })
}

/// Reads every frame waiting on `from` into `buf`, handing each to `f`;
/// returns how many it read.
fn read_frames(
    from: libc::c_int,
    buf: &mut [u8],
    mut f: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<u64> {
    let mut moved = 0;
    loop {
        // SAFETY: `buf` is writable for its length.
        let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(moved),
                _ => Err(e),
            };
        }
        moved += 1;
        f(&buf[..n as usize])?;
    }
}

/// Moves every frame placed in the zone port to the guest's NIC (with its
/// virtio-net header, the frame's bytes straight from the zones), but
/// those `loss` hits; gives the buffers back. Returns how many it took.
fn drain_zone(port: &mut ZonePort, to: libc::c_int, loss: &mut Loss) -> io::Result<u64> {
    let mut moved = 0;
    while let Some(frame) = port.recv()? {
        moved += 1;
        if !loss.hit() {
            let vnet = frame.vnet();
            let mut iov = vec![libc::iovec {
                iov_base: vnet.as_ptr() as *mut _,
                iov_len: VNET_LEN,
            }];
            iov.extend(frame.parts().map(|p| libc::iovec {
                iov_base: p.as_ptr() as *mut _,
                iov_len: p.len(),
            }));
            // SAFETY: every iovec points at live, readable bytes.
            unsafe { libc::writev(to, iov.as_ptr(), iov.len() as libc::c_int) };
        }
        let frame = frame.into_frame();
        port.give_back(frame);
    }
    Ok(moved)
}

/// Moves every frame the guest's NIC has (virtio-net header first) into
/// the zone port's transmit ring; a frame it has no buffer or room for is
/// dropped, as a full queue drops it. Returns how many it took.
fn drain_to_zone(from: libc::c_int, port: &mut ZonePort, buf: &mut [u8]) -> io::Result<u64> {
    read_frames(from, buf, |frame| {
        if frame.len() > VNET_LEN {
            let mut vnet = [0u8; VNET_LEN];
            vnet.copy_from_slice(&frame[..VNET_LEN]);
            port.send(vnet, &frame[VNET_LEN..])?;
        }
        Ok(())
    })
}

/// Where the guest's frames come from.
enum Host {
    Tap(libc::c_int),
    Zone(Box<ZonePort>),
}

impl Host {
    fn drain(&mut self, guest: libc::c_int, buf: &mut [u8], loss: &mut Loss) -> io::Result<u64> {
        match self {
            Host::Tap(fd) => drain(*fd, guest, buf, 0, loss),
            Host::Zone(port) => drain_zone(port, guest, loss),
        }
    }

    /// The descriptor to poll for frames, or `None` if frames are there.
    fn poll_fd(&mut self) -> Option<libc::c_int> {
        match self {
            Host::Tap(fd) => Some(*fd),
            Host::Zone(port) => port.arm().then(|| port.notify_fd()),
        }
    }

    fn woken(&mut self) {
        if let Host::Zone(port) = self {
            port.disarm();
        }
    }
}

/// When the guest's vCPU runs: `active_ms` of every `period_ms` (always
/// when the period is 0).
#[derive(Debug, PartialEq, Eq)]
struct Duty {
    active_ms: u64,
    period_ms: u64,
    /// Only the frames queued when a turn begins are taken in that turn.
    per_turn: bool,
}

/// The vCPU's duty under round-robin with `vms - 1` busy VMs at `slice_ms`,
/// its own load `load` percent: over its share (load >= 100 / vms), it
/// runs a slice per round of `vms` slices; under it, a waking vCPU runs at
/// once (Xen's BOOST), so frames never wait.
fn round_robin(vms: u64, slice_ms: u64, load: u64) -> Duty {
    if vms > 1 && load * vms >= 100 {
        Duty {
            active_ms: slice_ms,
            period_ms: vms * slice_ms,
            per_turn: true,
        }
    } else {
        Duty {
            active_ms: 0,
            period_ms: 0,
            per_turn: false,
        }
    }
}

fn duty(cli: &Cli) -> Duty {
    match cli.vms {
        Some(n) => round_robin(n, cli.slice_ms, cli.load),
        None => Duty {
            active_ms: cli.active_ms,
            period_ms: cli.period_ms,
            per_turn: false,
        },
    }
}

fn run(cli: &Cli) -> io::Result<(u64, u64, u64)> {
    let duty = duty(cli);
    let host_tap = open_tap(&cli.host_tap, false)?;
    let mut host = if cli.zone {
        let ifindex = ifindex(&cli.host_tap)?;
        Host::Zone(Box::new(ZonePort::bind_tx(ifindex).map_err(|e| {
            io::Error::new(e.kind(), format!("bind zone port {}: {e}", cli.host_tap))
        })?))
    } else {
        Host::Tap(host_tap)
    };
    enter_netns(&cli.guest_netns)?;
    let guest = open_tap(&cli.guest_tap, cli.zone)?;
    // The guest's frames carry a header only when its NIC has one.
    let strip = if cli.zone { VNET_LEN } else { 0 };
    for sig in [libc::SIGUSR1, libc::SIGUSR2, libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores atomics.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
    let mut wake_log = match &cli.wake_log {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    if duty.period_ms > 0 {
        println!(
            "tapguest: runs {} ms of every {} ms",
            duty.active_ms, duty.period_ms
        );
    }
    println!("tapguest: ready");
    let start = Instant::now();
    let (mut to_guest, mut from_guest) = (0u64, 0u64);
    let mut buf = vec![0u8; 65536];
    let mut loss = Loss {
        permille: cli.lose_permille,
        state: 0x9e37_79b9_7f4a_7c15,
        lost: 0,
    };
    let mut keep = Loss {
        permille: 0,
        state: 0,
        lost: 0,
    };
    // This turn took what was queued for it (per-turn duty).
    let mut taken = false;
    while !STOP.load(Ordering::SeqCst) {
        if PAUSED.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        // Time left in this active slot; sleep through the inactive part.
        let mut wait_ms = 100;
        if duty.period_ms > 0 {
            let phase = start.elapsed().as_millis() as u64 % duty.period_ms;
            if phase >= duty.active_ms {
                std::thread::sleep(Duration::from_millis(duty.period_ms - phase));
                taken = false;
                if let Some(log) = wake_log.as_mut() {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default();
                    writeln!(log, "{:.6}", now.as_secs_f64())?;
                }
                continue;
            }
            wait_ms = (duty.active_ms - phase).max(1);
        }
        if duty.per_turn && !taken {
            to_guest += host.drain(guest, &mut buf, &mut loss)?;
            taken = true;
        }
        // Per turn, the host's tap is not read again until the next turn.
        let watch = if duty.per_turn {
            Some(-1)
        } else {
            host.poll_fd()
        };
        let Some(host_fd) = watch else {
            host.woken();
            to_guest += host.drain(guest, &mut buf, &mut loss)?;
            continue;
        };
        let mut fds = [
            libc::pollfd {
                fd: host_fd,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: guest,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of 2 pollfds.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, wait_ms as libc::c_int) };
        if !duty.per_turn {
            host.woken();
        }
        if n <= 0 {
            continue;
        }
        if fds[0].revents != 0 {
            to_guest += host.drain(guest, &mut buf, &mut loss)?;
        }
        if fds[1].revents != 0 {
            from_guest += match &mut host {
                Host::Zone(port) => drain_to_zone(guest, port, &mut buf)?,
                Host::Tap(_) => drain(guest, host_tap, &mut buf, strip, &mut keep)?,
            };
        }
    }
    if let Some(mut log) = wake_log {
        log.flush()?;
    }
    Ok((to_guest, from_guest, loss.lost))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok((to, from, lost)) => {
            println!(
                "tapguest: moved {to} frames to the guest ({lost} of them lost), {from} from it"
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tapguest: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_over_its_share_waits_for_the_others_slices() {
        let d = |active_ms, period_ms| Duty {
            active_ms,
            period_ms,
            per_turn: period_ms > 0,
        };
        // The paper's 60%-busy guest: alone it always runs; with 2, 3, 5
        // VMs per core it gets one 30 ms slice per round, and takes per
        // turn what was queued for it.
        assert_eq!(round_robin(1, 30, 60), d(0, 0));
        assert_eq!(round_robin(2, 30, 60), d(30, 60));
        assert_eq!(round_robin(3, 30, 60), d(30, 90));
        assert_eq!(round_robin(5, 30, 60), d(30, 150));
        // Under its share (10% of a core with 3 VMs): woken at once.
        assert_eq!(round_robin(3, 30, 10), d(0, 0));
        assert_eq!(round_robin(3, 30, 34), d(30, 90));
    }
}
