// SPDX-License-Identifier: GPL-2.0

//! guestexec: runs commands in a KVM guest over virtio-vsock.
//!
//! `guestexec serve [--port P]` (the guest's init starts it) accepts
//! connections on vsock port P; each carries one command line, run with
//! `/bin/sh -c`, whose output and exit status go back on the connection.
//! `guestexec run --cid CID [--port P] [--timeout S] -- CMD...` (on the
//! host) sends CMD, prints its output as it comes and exits with its status:
//! the caller sees the guest's command as if it had run locally.
//! `guestexec wait --cid CID` waits until the guest's server answers.
//!
//! On the connection the output comes as frames: a tag byte (1: output,
//! 2: exit status) and a big-endian u32 length, then that many bytes.

use clap::{Parser, Subcommand};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// In the guest: serve commands.
    Serve {
        #[arg(long, default_value_t = PORT)]
        port: u32,
    },
    /// On the host: run a command in guest CID.
    Run {
        #[arg(long)]
        cid: u32,
        #[arg(long, default_value_t = PORT)]
        port: u32,
        /// Fail if the command has not finished after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
    /// On the host: wait until guest CID serves commands.
    Wait {
        #[arg(long)]
        cid: u32,
        #[arg(long, default_value_t = PORT)]
        port: u32,
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
}

const PORT: u32 = 5000;
const OUTPUT: u8 = 1;
const STATUS: u8 = 2;

fn vsock() -> io::Result<OwnedFd> {
    // SAFETY: socket() takes no pointers; a non-negative result is a new
    // descriptor that nothing else owns.
    let fd = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket() and is owned by no one.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn addr(cid: u32, port: u32) -> libc::sockaddr_vm {
    // SAFETY: all-zero is a valid sockaddr_vm.
    let mut a: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    a.svm_family = libc::AF_VSOCK as libc::sa_family_t;
    a.svm_cid = cid;
    a.svm_port = port;
    a
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

const ADDR_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t;

fn connect(cid: u32, port: u32) -> io::Result<File> {
    let fd = vsock()?;
    let a = addr(cid, port);
    // SAFETY: `a` is a valid sockaddr_vm of ADDR_LEN bytes for the call.
    check(unsafe { libc::connect(fd.as_raw_fd(), (&raw const a).cast(), ADDR_LEN) })?;
    Ok(File::from(fd))
}

fn frame(out: &mut impl Write, tag: u8, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len()).map_err(|_| io::Error::other("frame too long"))?;
    out.write_all(&[tag])?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(data)
}

/// Runs one connection's command; its output (stdout and stderr, one pipe)
/// goes back as it comes, then the exit status.
fn serve_one(conn: File) -> io::Result<()> {
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    let (rd, wr) = io::pipe()?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(line.trim_end_matches('\n'))
        .stdin(Stdio::null())
        .stdout(wr.try_clone()?)
        .stderr(wr)
        .spawn()?;
    let mut out = &conn;
    let mut rd = rd;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = rd.read(&mut buf)?;
        if n == 0 {
            break;
        }
        frame(&mut out, OUTPUT, &buf[..n])?;
    }
    let status = child.wait()?;
    // A signal's death reads as 128 + signal, as in a shell.
    let code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    });
    frame(&mut out, STATUS, &code.to_be_bytes())
}

fn serve(port: u32) -> io::Result<()> {
    let fd = vsock()?;
    let a = addr(libc::VMADDR_CID_ANY, port);
    // SAFETY: `a` is a valid sockaddr_vm of ADDR_LEN bytes for the call.
    check(unsafe { libc::bind(fd.as_raw_fd(), (&raw const a).cast(), ADDR_LEN) })?;
    // SAFETY: plain call on a descriptor we own.
    check(unsafe { libc::listen(fd.as_raw_fd(), 16) })?;
    eprintln!("guestexec: serving on vsock port {port}");
    loop {
        // SAFETY: null address arguments are allowed; a non-negative result
        // is a new descriptor that nothing else owns.
        let c = unsafe {
            libc::accept4(
                fd.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_CLOEXEC,
            )
        };
        if c < 0 {
            eprintln!("guestexec: accept: {}", io::Error::last_os_error());
            continue;
        }
        // SAFETY: `c` was just returned by accept4 and is owned by no one.
        let conn = File::from(unsafe { OwnedFd::from_raw_fd(c) });
        // Commands run concurrently: a receiver may wait for a sender.
        std::thread::spawn(move || {
            if let Err(e) = serve_one(conn) {
                eprintln!("guestexec: {e}");
            }
        });
    }
}

fn set_timeout(f: &File, secs: u64) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: secs as libc::time_t,
        tv_usec: 0,
    };
    // SAFETY: `tv` is a valid timeval for the call.
    check(unsafe {
        libc::setsockopt(
            f.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })
}

/// Sends `command`, copies its output to stdout; returns its exit status.
fn run(cid: u32, port: u32, timeout: u64, command: &[String]) -> Result<u8, String> {
    let conn = connect(cid, port).map_err(|e| format!("connect to guest {cid}: {e}"))?;
    set_timeout(&conn, timeout).map_err(|e| e.to_string())?;
    let line = command.join(" ");
    if line.contains('\n') {
        return Err("the command must be one line".into());
    }
    (&conn)
        .write_all(format!("{line}\n").as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut rd = BufReader::new(&conn);
    let mut stdout = io::stdout().lock();
    loop {
        let mut head = [0u8; 5];
        rd.read_exact(&mut head)
            .map_err(|e| format!("guest {cid}: `{line}`: {e} (no exit status)"))?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut data = vec![0u8; len];
        rd.read_exact(&mut data).map_err(|e| format!("read: {e}"))?;
        match head[0] {
            OUTPUT => {
                stdout.write_all(&data).map_err(|e| e.to_string())?;
                stdout.flush().map_err(|e| e.to_string())?;
            }
            STATUS if len == 4 => {
                let code = i32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                return Ok(u8::try_from(code).unwrap_or(255));
            }
            t => return Err(format!("bad frame tag {t} (length {len})")),
        }
    }
}

fn wait(cid: u32, port: u32, timeout: u64) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match run(cid, port, 30, &["true".into()]) {
            Ok(0) => return Ok(()),
            r if start.elapsed() > Duration::from_secs(timeout) => {
                return Err(format!("guest {cid} not serving after {timeout} s: {r:?}"))
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn main() -> ExitCode {
    let r = match Cli::parse().cmd {
        Cmd::Serve { port } => serve(port).map(|_| 0).map_err(|e| e.to_string()),
        Cmd::Run {
            cid,
            port,
            timeout,
            command,
        } => run(cid, port, timeout, &command),
        Cmd::Wait { cid, port, timeout } => wait(cid, port, timeout).map(|_| 0),
    };
    match r {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("guestexec: {e}");
            ExitCode::from(255)
        }
    }
}
