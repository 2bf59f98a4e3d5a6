// SPDX-License-Identifier: GPL-2.0

//! The repair helper, for servers without CAP_NET_ADMIN in the guest: as
//! passt-repair does for passt, a root process (`vpipe-repair`) does the
//! few calls that need the capability (TCP_REPAIR on and off, forced
//! buffer sizes) on sockets the caller passes it, and no more than the
//! caller owns (see the binary). One UNIX SOCK_SEQPACKET connection per
//! process, opened on first need from `VPIPE_REPAIR_SOCKET`: a request is
//! a command byte and its arguments with one descriptor (SCM_RIGHTS), the
//! answer a little-endian `i32` errno (0: done).

use nix::sys::socket::{
    connect, recv, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
    UnixAddr,
};
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// The helper's socket path, in the environment.
pub const SOCKET_ENV: &str = "VPIPE_REPAIR_SOCKET";

/// What the caller asks of the helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Cmd {
    /// Repair mode on, for an established connection.
    Freeze = 1,
    /// Repair mode off, for a socket in it, with a window probe.
    Thaw = 2,
    /// Repair mode off, without a window probe.
    ThawQuiet = 3,
    /// A fresh socket in repair mode, bound to the address (the argument,
    /// text) of a connection frozen on the same helper connection.
    Bind = 4,
    /// SO_SNDBUFFORCE and SO_RCVBUFFORCE (two little-endian `u32`s) for a
    /// socket in repair mode.
    Bufs = 5,
}

impl Cmd {
    pub fn from_byte(b: u8) -> Option<Cmd> {
        [Cmd::Freeze, Cmd::Thaw, Cmd::ThawQuiet, Cmd::Bind, Cmd::Bufs]
            .into_iter()
            .find(|c| *c as u8 == b)
    }
}

static HELPER: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// Asks the helper for `cmd` on `fd`; `denied` (the EPERM that made the
/// caller ask) when no helper is configured.
pub fn call(cmd: Cmd, fd: RawFd, arg: &[u8], denied: io::Error) -> io::Result<()> {
    let Some(path) = std::env::var_os(SOCKET_ENV) else {
        return Err(denied);
    };
    let mut helper = HELPER.lock().unwrap_or_else(|e| e.into_inner());
    if helper.is_none() {
        let s = socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        connect(s.as_raw_fd(), &UnixAddr::new(path.as_os_str())?)?;
        *helper = Some(s);
    }
    let s = helper.as_ref().map_or(-1, |s| s.as_raw_fd());
    let mut msg = vec![cmd as u8];
    msg.extend_from_slice(arg);
    let fds = [fd];
    let sent = sendmsg::<()>(
        s,
        &[IoSlice::new(&msg)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    );
    let mut answer = [0u8; 4];
    let got = sent.and_then(|_| recv(s, &mut answer, MsgFlags::empty()));
    match got {
        Ok(4) => match i32::from_le_bytes(answer) {
            0 => Ok(()),
            e => Err(io::Error::from_raw_os_error(e)),
        },
        Ok(_) | Err(_) => {
            // A helper gone or confused: the next call connects anew.
            *helper = None;
            Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the repair helper did not answer",
            ))
        }
    }
}

/// The [`Cmd::Bind`] argument for `addr`.
pub fn bind_arg(addr: &SocketAddr) -> Vec<u8> {
    addr.to_string().into_bytes()
}

/// The [`Cmd::Bufs`] argument.
pub fn bufs_arg(snd: u32, rcv: u32) -> Vec<u8> {
    let mut b = snd.to_le_bytes().to_vec();
    b.extend_from_slice(&rcv.to_le_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_one_byte_each() {
        for c in [Cmd::Freeze, Cmd::Thaw, Cmd::ThawQuiet, Cmd::Bind, Cmd::Bufs] {
            assert_eq!(Cmd::from_byte(c as u8), Some(c));
        }
        assert_eq!(Cmd::from_byte(0), None);
        assert_eq!(Cmd::from_byte(6), None);
        assert_eq!(bufs_arg(1, 2), [1, 0, 0, 0, 2, 0, 0, 0]);
    }

    #[test]
    fn without_a_helper_the_refusal_stands() {
        std::env::remove_var(SOCKET_ENV);
        let e = call(
            Cmd::Freeze,
            0,
            &[],
            io::Error::from_raw_os_error(libc::EPERM),
        )
        .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM));
    }
}
