// SPDX-License-Identifier: GPL-2.0

//! vproxy: the vPipe selftests' proxy case, every byte verified.
//!
//! - `vproxy backend --listen ADDR:PORT ...` sends the response (BYTES of
//!   seed 3), reads the client's upload (UPLOAD of seed 4), sends the
//!   trailer (TRAILER more of seed 3), and closes.
//! - `vproxy proxy --listen ADDR:PORT --backend ADDR:PORT ...`, in the
//!   guest: accepts the client, connects to the backend, moves the
//!   response with `vpipe_socket_to_socket` (the host pipes it, or the
//!   library copies it; `--local` copies in the guest), then relays the
//!   upload (moved the same way with `--pipe-upload`) and the trailer
//!   itself over the same connections, and closes: they keep working after
//!   the hand-back.
//! - `vproxy client --connect ADDR:PORT ...` reads the response, sends the
//!   upload, reads the trailer and the close.
//!
//! The proxy prints how the response went: `moved N by host` or `moved N
//! by guest (reason)`, and how long it took to relay the trailer. With `--after-backend-closes` it waits for the
//! backend's FIN first (the backend must then fit its response and
//! trailer in the proxy's receive window, with no upload to wait for).
//!
//! With `client --reset-after N --go FILE`, the client reads N bytes of the
//! response, waits for FILE, and resets its connection. `proxy --fails
//! peer-reset` expects the move to fail with that reset, `--fails lost`
//! with the connections lost (the host's agent went away while it had
//! them); either closes both connections. With `client --until-reset`,
//! the client reads the response until its stream breaks, which must be a
//! reset (the host's pipe ended under it), never a clean close or a wrong
//! byte.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use testkit::{connect_retrying, expect_close, read_checked, write_pattern};

const TIMEOUT: Duration = Duration::from_secs(60);
const DOWN: u64 = 3;
const UP: u64 = 4;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone, Copy)]
struct Sizes {
    /// The response, piped.
    #[arg(long)]
    bytes: u64,
    /// The client's upload after it, relayed by the proxy.
    #[arg(long, default_value_t = 65536)]
    upload: u64,
    /// The backend's last bytes, relayed by the proxy.
    #[arg(long, default_value_t = 65536)]
    trailer: u64,
}

#[derive(Subcommand)]
enum Cmd {
    Backend {
        #[arg(long)]
        listen: SocketAddr,
        #[command(flatten)]
        sizes: Sizes,
    },
    Proxy {
        #[arg(long)]
        listen: SocketAddr,
        #[arg(long)]
        backend: SocketAddr,
        /// Copy the response in the guest instead of asking the host.
        #[arg(long)]
        local: bool,
        /// How the move is expected to fail.
        #[arg(long)]
        fails: Option<Fails>,
        /// Move the client's upload the same way (else relayed).
        #[arg(long)]
        pipe_upload: bool,
        /// Move the response only once the backend has closed its side
        /// (its connection in CLOSE_WAIT here).
        #[arg(long)]
        after_backend_closes: bool,
        #[command(flatten)]
        sizes: Sizes,
    },
    Client {
        #[arg(long)]
        connect: SocketAddr,
        #[command(flatten)]
        sizes: Sizes,
        /// Reset the connection after this many bytes of the response...
        #[arg(long, requires = "go")]
        reset_after: Option<u64>,
        /// ...once this file exists.
        #[arg(long)]
        go: Option<std::path::PathBuf>,
        /// Read until the connection is reset.
        #[arg(long, conflicts_with = "reset_after")]
        until_reset: bool,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Fails {
    /// The client resets its connection mid-response.
    PeerReset,
    /// The host's agent goes away mid-response.
    Lost,
}

fn accept_one(listen: SocketAddr) -> Result<TcpStream, String> {
    let l = TcpListener::bind(listen).map_err(|e| format!("listen: {e}"))?;
    println!("listening");
    let (s, _) = l.accept().map_err(|e| format!("accept: {e}"))?;
    s.set_read_timeout(Some(TIMEOUT))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// Relays exactly `n` bytes from `from` to `to`.
fn relay(from: &mut TcpStream, to: &mut TcpStream, n: u64) -> Result<(), String> {
    let copied = std::io::copy(&mut from.take(n), to).map_err(|e| format!("relay: {e}"))?;
    if copied != n {
        return Err(format!("relay: {copied} of {n} bytes"));
    }
    Ok(())
}

fn backend(listen: SocketAddr, z: Sizes) -> Result<(), String> {
    let mut s = accept_one(listen)?;
    write_pattern(&mut s, DOWN, 0, z.bytes)?;
    read_checked(&mut s, UP, 0, z.upload)?;
    write_pattern(&mut s, DOWN, z.bytes, z.trailer)?;
    s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
    expect_close(&mut s)
}

/// The move (until the backend ends) must fail as expected, and no other
/// way.
fn failing(client: TcpStream, back: TcpStream, how: Fails) -> Result<(), String> {
    let r = vpipe::guest::socket_to_socket(back.as_raw_fd(), client.as_raw_fd(), 0);
    let kinds: &[io::ErrorKind] = match how {
        Fails::PeerReset => &[io::ErrorKind::ConnectionReset, io::ErrorKind::BrokenPipe],
        Fails::Lost => &[io::ErrorKind::ConnectionAborted],
    };
    match r {
        Err(e) if kinds.contains(&e.kind()) => {
            println!("move stopped: {e}");
            Ok(())
        }
        r => Err(format!("expected {how:?}, got {r:?}")),
    }
}

/// Moves `n` bytes from `from` to `to` (by the host, or copied in the
/// guest with `local`) and prints how, as `what`.
fn move_bytes(
    what: &str,
    from: &TcpStream,
    to: &TcpStream,
    n: u64,
    local: bool,
) -> Result<(), String> {
    let start = Instant::now();
    let (bytes, how) = if local {
        let n = vpipe::guest::copy(from.as_raw_fd(), to.as_raw_fd(), n)
            .map_err(|e| format!("copy: {e}"))?;
        (n, "by guest (--local)".to_string())
    } else {
        let m = vpipe::guest::socket_to_socket(from.as_raw_fd(), to.as_raw_fd(), n)
            .map_err(|e| format!("vpipe: {e}"))?;
        let how = match (m.copied_because, m.handoff) {
            (Some(why), _) => format!("by guest ({why})"),
            (None, Some(h)) => format!(
                "by host (handoff {} us = prepare {} + freeze {} + take {} + transfer {} \
                 + give {} + thaw {} us, states {} + {} bytes, \
                 cwnd {} then {} segments, srtt {} us)",
                h.total,
                h.prepare,
                h.freeze,
                h.take,
                h.transfer,
                h.give,
                h.thaw,
                h.state_bytes[0],
                h.state_bytes[1],
                h.restarted[0].cwnd,
                h.restarted[1].cwnd,
                h.restarted[1].srtt_us
            ),
            (None, None) => "by host".to_string(),
        };
        (m.bytes, how)
    };
    println!("{what} {bytes} {how} in {} us", start.elapsed().as_micros());
    if bytes != n {
        return Err(format!("{what} {bytes} of {n}"));
    }
    Ok(())
}

/// Waits until the peer of `s` has closed its side (its FIN is in).
fn wait_peer_closed(s: &TcpStream) -> Result<(), String> {
    let mut pfd = libc::pollfd {
        fd: s.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, TIMEOUT.as_millis() as libc::c_int) };
    if n == 1 && pfd.revents & libc::POLLRDHUP != 0 {
        Ok(())
    } else {
        Err(format!(
            "the backend did not close: poll {n}, events {:#x}",
            pfd.revents
        ))
    }
}

fn proxy(
    listen: SocketAddr,
    to: SocketAddr,
    local: bool,
    fails: Option<Fails>,
    pipe_upload: bool,
    after_backend_closes: bool,
    z: Sizes,
) -> Result<(), String> {
    let mut client = accept_one(listen)?;
    let mut back = connect_retrying(to, TIMEOUT)?;
    if let Some(how) = fails {
        return failing(client, back, how);
    }
    if after_backend_closes {
        wait_peer_closed(&back)?;
    }
    move_bytes("moved", &back, &client, z.bytes, local)?;
    if pipe_upload && z.upload > 0 {
        move_bytes("uploaded", &client, &back, z.upload, local)?;
    } else {
        relay(&mut client, &mut back, z.upload)?;
    }
    // Timed: after a hand-back, the guest's connections start again from
    // the initial window and no RTT estimate (what TCP_REPAIR cannot carry).
    let start = Instant::now();
    relay(&mut back, &mut client, z.trailer)?;
    println!(
        "trailer {} in {} us",
        z.trailer,
        start.elapsed().as_micros()
    );
    expect_close(&mut back)?;
    client
        .shutdown(Shutdown::Write)
        .map_err(|e| e.to_string())?;
    expect_close(&mut client)
}

/// Reads `n` bytes of the response, waits for `go`, and resets.
fn client_reset(to: SocketAddr, n: u64, go: &std::path::Path) -> Result<(), String> {
    let mut s = connect_retrying(to, TIMEOUT)?;
    read_checked(&mut s, DOWN, 0, n)?;
    let start = Instant::now();
    while !go.exists() {
        if start.elapsed() > TIMEOUT {
            return Err(format!("{} did not appear", go.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    vpipe::repair::reset_on_close(s.as_raw_fd()).map_err(|e| format!("SO_LINGER: {e}"))?;
    println!("reset after {n} bytes");
    Ok(())
}

/// Reads the response until its stream is reset.
fn client_until_reset(to: SocketAddr, n: u64) -> Result<(), String> {
    let mut s = connect_retrying(to, TIMEOUT)?;
    match read_checked(&mut s, DOWN, 0, n) {
        Ok(()) => Err(format!("all {n} bytes came, then no reset")),
        // ECONNRESET, as read_checked words it.
        Err(e) if e.contains("os error 104") => {
            println!("reset: {e}");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn client(to: SocketAddr, z: Sizes) -> Result<(), String> {
    let mut s = connect_retrying(to, TIMEOUT)?;
    let start = Instant::now();
    read_checked(&mut s, DOWN, 0, z.bytes)?;
    let took = start.elapsed();
    write_pattern(&mut s, UP, 0, z.upload)?;
    read_checked(&mut s, DOWN, z.bytes, z.trailer)?;
    s.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
    expect_close(&mut s)?;
    println!("response {} bytes in {} us", z.bytes, took.as_micros());
    Ok(())
}

fn main() -> ExitCode {
    let r = match Cli::parse().cmd {
        Cmd::Backend { listen, sizes } => backend(listen, sizes),
        Cmd::Proxy {
            listen,
            backend: to,
            local,
            fails,
            pipe_upload,
            after_backend_closes,
            sizes,
        } => proxy(
            listen,
            to,
            local,
            fails,
            pipe_upload,
            after_backend_closes,
            sizes,
        ),
        Cmd::Client {
            connect,
            reset_after: Some(n),
            go: Some(go),
            ..
        } => client_reset(connect, n, &go),
        Cmd::Client {
            connect,
            until_reset: true,
            sizes,
            ..
        } => client_until_reset(connect, sizes.bytes),
        Cmd::Client { connect, sizes, .. } => client(connect, sizes),
    };
    match r {
        Ok(()) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("vproxy: {e}");
            ExitCode::FAILURE
        }
    }
}
