// SPDX-License-Identifier: GPL-2.0

//! handoff: one TCP connection moved from the guest to a shadow socket in
//! the host and back, every byte verified, for the vPipe selftests.
//!
//! - `handoff client --connect ADDR:PORT --bytes N` writes 3N bytes of the
//!   pattern (seed 1) ahead while it reads and checks 3N of seed 2, then
//!   waits for the server's close.
//! - `handoff guest --listen ADDR:PORT --bytes N --dir D` accepts it (the
//!   4-tuple goes to D/tuple), serves the first N each way, then
//!   (D/a-done) waits for D/hold, freezes the socket and dumps it to
//!   D/guest.json; takes D/back.json into the same descriptor (frozen,
//!   D/guest-restored), waits for D/guest-go, and serves the last N before
//!   closing.
//! - `handoff shadow --bytes N --dir D`, in the shadow namespace: restores
//!   D/guest.json (frozen, D/restored), waits for D/host, serves the middle
//!   N (D/b-done), waits for D/held, and dumps to D/back.json.
//!
//! The test script moves the pipe between the steps. Any mismatch, error
//! or time-out exits non-zero with the reason.

use clap::{Parser, Subcommand};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use testkit::{connect_retrying, expect_close, read_checked, write_pattern};
use vpipe::protocol;
use vpipe::repair::{self, TcpState};

const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Client {
        #[arg(long)]
        connect: SocketAddr,
        #[arg(long)]
        bytes: u64,
    },
    Guest {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        bytes: u64,
        #[arg(long)]
        dir: PathBuf,
        /// Bytes of the shadow's part the guest writes once frozen in hold,
        /// so that they are unacknowledged in its dump.
        #[arg(long, default_value_t = 0)]
        unacked: u64,
    },
    Shadow {
        #[arg(long)]
        bytes: u64,
        #[arg(long)]
        dir: PathBuf,
        /// As the guest's: the shadow writes the rest of its part.
        #[arg(long, default_value_t = 0)]
        unacked: u64,
    },
}

/// Seeds of the two directions' patterns.
const UP: u64 = 1;
const DOWN: u64 = 2;

/// One side's part: N bytes read and checked, N written, from `phase * N`.
fn serve(s: &mut TcpStream, phase: u64, n: u64) -> Result<(), String> {
    read_checked(s, UP, phase * n, n)?;
    write_pattern(s, DOWN, phase * n, n)
}

fn touch(dir: &Path, name: &str) -> Result<(), String> {
    std::fs::write(dir.join(name), b"").map_err(|e| format!("{name}: {e}"))
}

fn wait_for(dir: &Path, name: &str) -> Result<(), String> {
    let start = Instant::now();
    while !dir.join(name).exists() {
        if start.elapsed() > TIMEOUT {
            return Err(format!("timed out waiting for {name}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// A state in a file, as the protocol carries it.
fn save(dir: &Path, name: &str, s: &TcpState) -> Result<(), String> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(|e| format!("{name}: {e}"))?;
    protocol::send(&mut f, &mut s.clone()).map_err(|e| format!("{name}: {e}"))?;
    std::fs::rename(&tmp, dir.join(name)).map_err(|e| format!("{name}: {e}"))
}

fn load(dir: &Path, name: &str) -> Result<TcpState, String> {
    wait_for(dir, name)?;
    let mut f = std::fs::File::open(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
    protocol::recv(&mut f).map_err(|e| format!("{name}: {e}"))
}

fn describe(s: &TcpState) -> String {
    format!(
        "sent {} unsent {} received {} mss {} wscale {:?} sack {} ts {}",
        s.sent.len(),
        s.unsent.len(),
        s.received.len(),
        s.mss,
        s.wscale,
        s.sack,
        s.timestamps
    )
}

fn client(connect: SocketAddr, n: u64) -> Result<(), String> {
    let mut s = connect_retrying(connect, TIMEOUT)?;
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let writer = std::thread::spawn(move || write_pattern(&mut w, UP, 0, 3 * n));
    read_checked(&mut s, DOWN, 0, 3 * n)?;
    writer.join().map_err(|_| "writer panicked")??;
    expect_close(&mut s)
}

fn guest(listen: SocketAddr, n: u64, dir: &Path, unacked: u64) -> Result<(), String> {
    let l = TcpListener::bind(listen).map_err(|e| format!("listen: {e}"))?;
    touch(dir, "listening")?;
    let (mut s, peer) = l.accept().map_err(|e| format!("accept: {e}"))?;
    s.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    let local = s.local_addr().map_err(|e| e.to_string())?;
    std::fs::write(dir.join("tuple"), format!("{local} {peer}\n")).map_err(|e| e.to_string())?;
    serve(&mut s, 0, n)?;
    touch(dir, "a-done")?;
    wait_for(dir, "hold")?;
    // The peer's ACKs are held now: these stay unacknowledged.
    write_pattern(&mut s, DOWN, n, unacked)?;
    let fd = s.as_raw_fd();
    let state = repair::freeze(fd).map_err(|e| format!("freeze: {e}"))?;
    eprintln!("guest: dumped: {}", describe(&state));
    save(dir, "guest.json", &state)?;
    let back = load(dir, "back.json")?;
    repair::replace(fd, &back).map_err(|e| format!("restore: {e}"))?;
    touch(dir, "guest-restored")?;
    wait_for(dir, "guest-go")?;
    repair::resume(fd, &back, true).map_err(|e| format!("resume: {e}"))?;
    serve(&mut s, 2, n)?;
    s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
    expect_close(&mut s)
}

fn shadow(n: u64, dir: &Path, unacked: u64) -> Result<(), String> {
    let state = load(dir, "guest.json")?;
    let sock = repair::restore(&state).map_err(|e| format!("restore: {e}"))?;
    let fd = sock.as_raw_fd();
    touch(dir, "restored")?;
    wait_for(dir, "host")?;
    repair::resume(fd, &state, true).map_err(|e| format!("resume: {e}"))?;
    // SAFETY: the stream takes over the descriptor, which `sock` gives up.
    let mut s = unsafe { TcpStream::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(sock)) };
    s.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    read_checked(&mut s, UP, n, n)?;
    write_pattern(&mut s, DOWN, n + unacked, n - unacked)?;
    touch(dir, "b-done")?;
    wait_for(dir, "held")?;
    let back = repair::freeze(s.as_raw_fd()).map_err(|e| format!("freeze: {e}"))?;
    eprintln!("shadow: dumped: {}", describe(&back));
    save(dir, "back.json", &back)
    // Closed in repair mode: nothing is sent.
}

fn main() -> ExitCode {
    let r = match Cli::parse().cmd {
        Cmd::Client { connect, bytes } => client(connect, bytes),
        Cmd::Guest {
            listen,
            bytes,
            dir,
            unacked,
        } => guest(listen, bytes, &dir, unacked.min(bytes)),
        Cmd::Shadow {
            bytes,
            dir,
            unacked,
        } => shadow(bytes, &dir, unacked.min(bytes)),
    };
    match r {
        Ok(()) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("handoff: {e}");
            ExitCode::FAILURE
        }
    }
}
