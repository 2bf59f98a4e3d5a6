// SPDX-License-Identifier: GPL-2.0

//! xfer: a TCP transfer whose every byte the receiver verifies.
//!
//! `xfer recv --listen ADDR:PORT --bytes N` accepts one connection, reads
//! exactly N bytes of the seed's pattern, and prints the time it took;
//! `xfer send --connect ADDR:PORT --bytes N` (retrying the connect until the
//! receiver listens) writes them. Any mismatch, short read or time-out exits
//! non-zero with the reason.

use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use testkit::pattern_fill;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Recv {
        #[arg(long)]
        listen: SocketAddr,
        #[command(flatten)]
        stream: Stream,
    },
    Send {
        #[arg(long)]
        connect: SocketAddr,
        #[command(flatten)]
        stream: Stream,
    },
}

/// What both ends agree on.
#[derive(clap::Args)]
struct Stream {
    #[arg(long)]
    bytes: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Give up after this many seconds without progress.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

const CHUNK: usize = 64 * 1024;

fn recv(listen: SocketAddr, st: &Stream) -> Result<String, String> {
    let (bytes, seed, timeout) = (st.bytes, st.seed, Duration::from_secs(st.timeout));
    let l = TcpListener::bind(listen).map_err(|e| format!("bind {listen}: {e}"))?;
    let (mut s, peer) = l.accept().map_err(|e| format!("accept: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let (mut got, mut buf, mut want) = (0u64, vec![0u8; CHUNK], vec![0u8; CHUNK]);
    loop {
        // A read with a timeout is not restarted after a signal, even a
        // stop and continue: try again.
        let n = match s.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => r.map_err(|e| format!("read after {got} bytes: {e}"))?,
        };
        if n == 0 {
            break;
        }
        if got + n as u64 > bytes {
            return Err(format!("more than {bytes} bytes from {peer}"));
        }
        pattern_fill(seed, got, &mut want[..n]);
        if let Some(i) = (0..n).find(|&i| buf[i] != want[i]) {
            return Err(format!("data mismatch at offset {}", got + i as u64));
        }
        got += n as u64;
    }
    if got != bytes {
        return Err(format!("short transfer: {got} of {bytes} bytes"));
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(format!(
        "xfer: received {got} bytes from {peer} in {secs:.3} s ({:.2} MB/s), verified",
        got as f64 / secs.max(1e-9) / 1e6
    ))
}

fn send(to: SocketAddr, st: &Stream) -> Result<String, String> {
    let (bytes, seed, timeout) = (st.bytes, st.seed, Duration::from_secs(st.timeout));
    let deadline = Instant::now() + timeout;
    let mut s = loop {
        match TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
            Ok(s) => break s,
            Err(e) if Instant::now() >= deadline => return Err(format!("connect {to}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    s.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let (mut sent, mut buf) = (0u64, vec![0u8; CHUNK]);
    while sent < bytes {
        let n = CHUNK.min((bytes - sent) as usize);
        pattern_fill(seed, sent, &mut buf[..n]);
        s.write_all(&buf[..n])
            .map_err(|e| format!("write after {sent} bytes: {e}"))?;
        sent += n as u64;
    }
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    // Wait for the receiver to close: the bytes are then all delivered.
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.read(&mut buf);
    Ok(format!(
        "xfer: sent {sent} bytes to {to} in {:.3} s",
        start.elapsed().as_secs_f64()
    ))
}

fn main() -> ExitCode {
    let r = match Cli::parse().cmd {
        Cmd::Recv { listen, stream } => recv(listen, &stream),
        Cmd::Send { connect, stream } => send(connect, &stream),
    };
    match r {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xfer: {e}");
            ExitCode::FAILURE
        }
    }
}
