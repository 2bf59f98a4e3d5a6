// SPDX-License-Identifier: GPL-2.0

//! vpipe-repair: the guest's repair helper, run as root, for servers that
//! use vPipe without CAP_NET_ADMIN (as passt-repair does for passt). It
//! listens on a UNIX SOCK_SEQPACKET socket whose file mode and group say
//! who may use it, takes sockets by SCM_RIGHTS, and does the calls that
//! need the capability ([`vpipe::helper::Cmd`]), never more than the
//! caller owns: repair mode on only for an established TCP connection (the
//! descriptor is the proof), off only for a socket in repair mode; a fresh
//! socket goes into repair mode only bound, by the helper, to the local
//! address of a connection the same caller froze through it (a repair-mode
//! bind beside a listener, on any port, would hand an unprivileged process
//! a privileged port); forced buffer sizes only for a socket in repair
//! mode, capped.
//!
//! ```text
//! vpipe-repair --socket PATH [--mode 660] [--group NAME]
//! ```

use clap::Parser;
use nix::cmsg_space;
use nix::sys::socket::{
    accept, bind, listen, recvmsg, send, socket, AddressFamily, Backlog, ControlMessageOwned,
    MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::unistd::{chown, Group};
use std::collections::HashSet;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::ExitCode;
use vpipe::helper::Cmd;
use vpipe::repair::{self, TCP_CLOSE, TCP_ESTABLISHED, TCP_REPAIR};

#[derive(Parser)]
#[command(
    version,
    about = "vPipe's repair helper for unprivileged guest servers"
)]
struct Cli {
    /// The socket to listen on.
    #[arg(long)]
    socket: PathBuf,
    /// Its file mode, octal: who may ask.
    #[arg(long, default_value = "660", value_parser = |s: &str| u32::from_str_radix(s, 8))]
    mode: u32,
    /// Its group.
    #[arg(long)]
    group: Option<String>,
}

/// The largest buffer a caller may force: the agent's cap on a restored
/// socket's (beyond its queues' need), doubled as the kernel doubles it.
const BUF_CAP: u32 = 2 * repair::BUF_MAX;

fn errno(e: io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn refuse() -> io::Error {
    io::Error::from_raw_os_error(libc::EPERM)
}

/// A TCP socket of IPv4 or IPv6, or the error that says it is not one.
fn tcp_socket(fd: RawFd) -> io::Result<()> {
    let proto: libc::c_int = repair::getsockopt(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)?;
    let domain: libc::c_int = repair::getsockopt(fd, libc::SOL_SOCKET, libc::SO_DOMAIN)?;
    if proto != libc::IPPROTO_TCP || (domain != libc::AF_INET && domain != libc::AF_INET6) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(())
}

fn in_repair(fd: RawFd) -> io::Result<bool> {
    Ok(repair::getsockopt::<libc::c_int>(fd, libc::IPPROTO_TCP, TCP_REPAIR)? == 1)
}

/// One caller's request on `fd`; `frozen`: the local addresses of the
/// connections it froze through this helper connection.
fn handle(cmd: Cmd, fd: RawFd, arg: &[u8], frozen: &mut HashSet<SocketAddr>) -> io::Result<()> {
    tcp_socket(fd)?;
    match cmd {
        Cmd::Freeze => {
            if repair::tcp_state(fd)? != TCP_ESTABLISHED {
                return Err(refuse());
            }
            let (local, _) = repair::endpoints(fd)?;
            repair::tcp_opt(fd, TCP_REPAIR, repair::TCP_REPAIR_ON)?;
            frozen.insert(local);
            Ok(())
        }
        Cmd::Thaw | Cmd::ThawQuiet => {
            if !in_repair(fd)? {
                return Err(refuse());
            }
            let off = if cmd == Cmd::Thaw {
                repair::TCP_REPAIR_OFF
            } else {
                repair::TCP_REPAIR_OFF_NO_WP
            };
            repair::tcp_opt(fd, TCP_REPAIR, off)
        }
        Cmd::Bind => {
            let local: SocketAddr = std::str::from_utf8(arg)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
            let fresh = repair::tcp_state(fd)? == TCP_CLOSE
                && repair::local_addr(fd).is_ok_and(|a| a.port() == 0);
            if !fresh || !frozen.contains(&local) {
                return Err(refuse());
            }
            repair::tcp_opt(fd, TCP_REPAIR, repair::TCP_REPAIR_ON)?;
            repair::bind(fd, &local).inspect_err(|_| {
                let _ = repair::tcp_opt(fd, TCP_REPAIR, repair::TCP_REPAIR_OFF_NO_WP);
            })
        }
        Cmd::Bufs => {
            let (Ok(snd), Ok(rcv)) = (
                arg.get(..4)
                    .unwrap_or(&[])
                    .try_into()
                    .map(u32::from_le_bytes),
                arg.get(4..8)
                    .unwrap_or(&[])
                    .try_into()
                    .map(u32::from_le_bytes),
            ) else {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            };
            if !in_repair(fd)? {
                return Err(refuse());
            }
            for (name, v) in [(libc::SO_SNDBUFFORCE, snd), (libc::SO_RCVBUFFORCE, rcv)] {
                let v = v.min(BUF_CAP) as libc::c_int;
                repair::setsockopt(fd, libc::SOL_SOCKET, name, &v)?;
            }
            Ok(())
        }
    }
}

/// Serves one caller until it closes its end.
fn serve(conn: OwnedFd) {
    let mut frozen = HashSet::new();
    loop {
        let mut buf = [0u8; 128];
        let mut space = cmsg_space!([RawFd; 4]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(m) if m.bytes > 0 => m,
            _ => return,
        };
        let len = msg.bytes;
        let mut fds = Vec::new();
        for c in msg.cmsgs().into_iter().flatten() {
            if let ControlMessageOwned::ScmRights(got) = c {
                // SAFETY: descriptors just received, ours alone: owned so
                // that each is closed, however many came.
                fds.extend(
                    got.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        let answer = match (&fds[..], Cmd::from_byte(buf[0])) {
            ([fd], Some(cmd)) => {
                handle(cmd, fd.as_raw_fd(), &buf[1..len], &mut frozen).map_or_else(errno, |()| 0)
            }
            _ => libc::EINVAL,
        };
        if send(conn.as_raw_fd(), &answer.to_le_bytes(), MsgFlags::empty()).is_err() {
            return;
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let path = &cli.socket;
    let _ = std::fs::remove_file(path);
    let addr = UnixAddr::new(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let s = socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("socket: {e}"))?;
    bind(s.as_raw_fd(), &addr).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(cli.mode))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(name) = &cli.group {
        let g = Group::from_name(name)
            .ok()
            .flatten()
            .ok_or_else(|| format!("no group '{name}'"))?;
        chown(path, None, Some(g.gid)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    listen(&s, Backlog::new(16).map_err(|e| e.to_string())?).map_err(|e| format!("listen: {e}"))?;
    println!("vpipe-repair: listening on {}", path.display());
    loop {
        match accept(s.as_raw_fd()) {
            Ok(c) => {
                // SAFETY: a fresh descriptor, ours alone.
                let conn = unsafe { OwnedFd::from_raw_fd(c) };
                std::thread::spawn(move || serve(conn));
            }
            Err(e) => eprintln!("vpipe-repair: accept: {e}"),
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vpipe-repair: {e}");
            ExitCode::FAILURE
        }
    }
}
