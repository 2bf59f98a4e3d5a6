// SPDX-License-Identifier: GPL-2.0

//! The guest's call: `socket_to_socket(in, out, len)` moves `len` bytes
//! (or until `in` ends) from one TCP connection to another, by the host
//! when its agent takes them, else by itself. The host's CID and port come
//! from `VPIPE_HOST_CID` (default 2, the host of a VM) and `VPIPE_PORT`.

use crate::protocol::{self, Endpoints, Request, Response, DEFAULT_PORT};
use crate::repair::{self, Congestion, TcpState};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Instant;
use vsock::VsockStream;

/// The host's CID as a VM sees it (VMADDR_CID_HOST).
const HOST_CID: u32 = 2;
/// Bytes a local copy moves per splice.
const COPY_CHUNK: usize = 1 << 20;

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What went wrong with the host's way.
enum Failed {
    /// Before the host took the connections: they are as they were.
    Before(io::Error),
    /// After: the connections may be lost, or the bytes stopped on an
    /// error (the connections are back).
    After(io::Error),
}

/// Where the hand-off's time went, both ways, in microseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Handoff {
    /// The call's time, less the host's moving the bytes.
    pub total: u64,
    /// Asking the host to divert the connections.
    pub prepare: u64,
    /// Probing, freezing and dumping the guest's sockets.
    pub freeze: u64,
    /// The host's taking them (see `Response::Piped`).
    pub take: u64,
    /// The host's giving them back.
    pub give: u64,
    /// The rest of the pipe request's round trip: the states' encoding,
    /// their crossing, their decoding (both ways).
    pub transfer: u64,
    /// Restoring the sockets in the guest, ending the diverts, resuming.
    pub thaw: u64,
    /// The bytes of the request that carried the states, and of the
    /// answer that brought them back.
    pub state_bytes: [u64; 2],
    /// The destination connection's congestion state, which a restore
    /// starts afresh: the guest's at the hand-off, the host's at the
    /// hand-back.
    pub restarted: [Congestion; 2],
}

/// What [`socket_to_socket`] did.
#[derive(Debug)]
pub struct Moved {
    pub bytes: u64,
    /// When the host moved them: where the hand-off's time went.
    pub handoff: Option<Handoff>,
    /// Why the guest copied the bytes itself, if the host did not.
    pub copied_because: Option<io::Error>,
}

/// Moves `len` bytes (0: until `in_fd` ends) from `in_fd` to `out_fd`,
/// both connected TCP sockets. The connections stay usable under the same
/// descriptors whichever way the bytes went.
pub fn socket_to_socket(in_fd: RawFd, out_fd: RawFd, len: u64) -> io::Result<Moved> {
    match by_host(in_fd, out_fd, len) {
        Ok((bytes, handoff)) => Ok(Moved {
            bytes,
            handoff: Some(handoff),
            copied_because: None,
        }),
        Err(Failed::Before(why)) => Ok(Moved {
            bytes: copy(in_fd, out_fd, len)?,
            handoff: None,
            copied_because: Some(why),
        }),
        Err(Failed::After(e)) => Err(e),
    }
}

/// The agent's answer to one request.
fn ask(s: &mut VsockStream, mut req: Request) -> io::Result<Response> {
    protocol::send(s, &mut req)?;
    protocol::recv(s)
}

/// Microseconds since `t`, and `t` moved to now.
fn lap(t: &mut Instant) -> u64 {
    let now = Instant::now();
    let us = now.duration_since(*t).as_micros() as u64;
    *t = now;
    us
}

fn refused(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionRefused, reason)
}

/// The bytes the host moved, and where the hand-off's time went.
fn by_host(in_fd: RawFd, out_fd: RawFd, len: u64) -> Result<(u64, Handoff), Failed> {
    let fds = [in_fd, out_fd];
    let start = Instant::now();
    let mut t = start;
    let mut h = Handoff::default();
    let c0 = endpoints(in_fd).map_err(Failed::Before)?;
    let c1 = endpoints(out_fd).map_err(Failed::Before)?;
    let cid = env_u32("VPIPE_HOST_CID", HOST_CID);
    let port = env_u32("VPIPE_PORT", DEFAULT_PORT);
    let mut s = VsockStream::connect_with_cid_port(cid, port).map_err(Failed::Before)?;
    match ask(&mut s, Request::Prepare { conns: [c0, c1] }).map_err(Failed::Before)? {
        Response::Ok => {}
        Response::Refused { reason } => return Err(Failed::Before(refused(reason))),
        _ => return Err(Failed::Before(io::ErrorKind::InvalidData.into())),
    }
    h.prepare = lap(&mut t);
    // From here the host drops the guest's frames of both: each socket's
    // window probe shows it their MACs, then both are frozen and dumped.
    let states = match freeze_both(fds) {
        Ok(states) => states,
        Err(e) => {
            let _ = ask(&mut s, Request::Release);
            return Err(Failed::Before(e));
        }
    };
    let reuse = states.each_ref().map(|s| s.reuse);
    h.restarted[0] = states[1].congestion;
    h.freeze = lap(&mut t);
    let mut req = Request::Pipe {
        states: Box::new(states),
        len,
    };
    let answer = protocol::send(&mut s, &mut req).and_then(|n| {
        h.state_bytes[0] = n;
        let (answer, back) = protocol::recv_counted(&mut s)?;
        h.state_bytes[1] = back;
        Ok(answer)
    });
    let pipe_us = lap(&mut t);
    let (moved, eof, spliced_us, states, errno) = match answer {
        Ok(Response::Piped {
            moved,
            eof,
            spliced_us,
            take_us,
            give_us,
            states,
            errno,
        }) => {
            h.take = take_us;
            h.give = give_us;
            if let Some(s) = &states[1] {
                h.restarted[1] = s.congestion;
            }
            h.transfer = pipe_us.saturating_sub(take_us + spliced_us + give_us);
            (moved, eof, spliced_us, states, errno)
        }
        Ok(Response::Lost { reason }) => {
            return Err(Failed::After(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                reason,
            )))
        }
        Ok(Response::Refused { reason }) => {
            // The host did not take them: the frozen sockets are current.
            for (fd, r) in fds.iter().zip(reuse) {
                let _ = repair::thaw(*fd, true, r);
            }
            let _ = ask(&mut s, Request::Release);
            return Err(Failed::Before(refused(reason)));
        }
        other => {
            // No answer (the agent went away) or not one of the protocol's:
            // the host may have moved bytes, so the frozen sockets may be
            // behind their peers. Thawed, they would stall both streams;
            // they stay frozen, and the call fails.
            let e = other.map_or_else(
                |e| {
                    io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!("the host's agent went away: {e}"),
                    )
                },
                |_| io::ErrorKind::InvalidData.into(),
            );
            return Err(Failed::After(e));
        }
    };
    for (fd, state) in fds.iter().zip(states.iter()) {
        if let Some(state) = state {
            repair::replace(*fd, state).map_err(Failed::After)?;
        }
    }
    match ask(&mut s, Request::Release).map_err(Failed::After)? {
        Response::Ok => {}
        _ => return Err(Failed::After(io::ErrorKind::InvalidData.into())),
    }
    for ((fd, state), reuse) in fds.iter().zip(states.iter()).zip(reuse) {
        match state {
            Some(state) => repair::resume(*fd, state, true),
            // Closed by its peer while the host had it: the guest's old
            // socket's probe draws the peer's reset, which the caller
            // sees on its next use.
            None => repair::thaw(*fd, true, reuse),
        }
        .map_err(Failed::After)?;
    }
    if eof {
        // SAFETY: a plain syscall on the caller's socket.
        unsafe { libc::shutdown(in_fd, libc::SHUT_RD) };
    }
    // As a copy in the guest would end: the connections are back, the
    // error is the call's.
    if let Some(errno) = errno {
        return Err(Failed::After(io::Error::from_raw_os_error(errno)));
    }
    h.thaw = lap(&mut t);
    h.total = (start.elapsed().as_micros() as u64).saturating_sub(spliced_us);
    Ok((moved, h))
}

/// The connection's endpoints, if the host can take it: only an
/// established one (TCP_REPAIR freezes no other, and a state cannot carry
/// a FIN or a close under way).
fn endpoints(fd: RawFd) -> io::Result<Endpoints> {
    let state = repair::tcp_state(fd)?;
    if state != TCP_ESTABLISHED {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the connection is {}, not established: the host takes established ones only",
                state_name(state)
            ),
        ));
    }
    let (local, peer) = repair::endpoints(fd)?;
    Ok(Endpoints { local, peer })
}

/// `tcpi_state` of an established connection.
const TCP_ESTABLISHED: u8 = 1;

/// A TCP state's name (include/net/tcp_states.h).
fn state_name(state: u8) -> &'static str {
    const NAMES: [&str; 12] = [
        "?",
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
    ];
    NAMES.get(usize::from(state)).copied().unwrap_or("?")
}

/// Both sockets probed, then frozen and dumped; on an error neither stays
/// frozen.
fn freeze_both(fds: [RawFd; 2]) -> io::Result<[TcpState; 2]> {
    for fd in fds {
        repair::probe(fd)?;
    }
    let first = repair::freeze(fds[0])?;
    match repair::freeze(fds[1]) {
        Ok(second) => Ok([first, second]),
        Err(e) => {
            let _ = repair::thaw(fds[0], true, first.reuse);
            Err(e)
        }
    }
}

/// How a [`splice_all`] ended.
#[derive(Debug)]
pub struct Spliced {
    pub moved: u64,
    /// The source's stream ended.
    pub eof: bool,
    /// What stopped it early, if anything did.
    pub error: Option<io::Error>,
}

/// Moves `len` bytes (0: until the source ends) from `in_fd` to `out_fd`
/// through a pipe with splice, so the bytes stay in the kernel.
pub fn splice_all(in_fd: RawFd, out_fd: RawFd, len: u64) -> Spliced {
    let mut done = Spliced {
        moved: 0,
        eof: false,
        error: None,
    };
    let mut p = [0 as libc::c_int; 2];
    // SAFETY: `p` has room for the two descriptors.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        done.error = Some(io::Error::last_os_error());
        return done;
    }
    // SAFETY: fresh descriptors, ours alone.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
    while len == 0 || done.moved < len {
        let want = if len == 0 {
            COPY_CHUNK
        } else {
            COPY_CHUNK.min((len - done.moved) as usize)
        };
        let n = match splice(in_fd, w.as_raw_fd(), want) {
            Ok(0) => {
                done.eof = true;
                break;
            }
            Ok(n) => n,
            Err(e) => {
                done.error = Some(e);
                break;
            }
        };
        let mut left = n;
        while left > 0 {
            match splice(r.as_raw_fd(), out_fd, left) {
                Ok(k) => left -= k,
                Err(e) => {
                    // What the pipe still holds is lost to the stream.
                    done.moved += (n - left) as u64;
                    done.error = Some(e);
                    return done;
                }
            }
        }
        done.moved += n as u64;
    }
    done
}

/// The copy in the guest, when the host does not pipe.
pub fn copy(in_fd: RawFd, out_fd: RawFd, len: u64) -> io::Result<u64> {
    let s = splice_all(in_fd, out_fd, len);
    match s.error {
        Some(e) => Err(e),
        None => Ok(s.moved),
    }
}

fn splice(from: RawFd, to: RawFd, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: plain syscall; no offsets (sockets and pipes).
        let n = unsafe {
            libc::splice(
                from,
                std::ptr::null_mut(),
                to,
                std::ptr::null_mut(),
                len,
                libc::SPLICE_F_MOVE,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The C ABI: `int64_t vpipe_socket_to_socket(int in_fd, int out_fd,
/// uint64_t len)`, the bytes moved or a negative errno (include/vpipe.h).
#[no_mangle]
pub extern "C" fn vpipe_socket_to_socket(in_fd: libc::c_int, out_fd: libc::c_int, len: u64) -> i64 {
    match socket_to_socket(in_fd, out_fd, len) {
        Ok(m) => i64::try_from(m.bytes).unwrap_or(i64::MAX),
        Err(e) => -i64::from(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}
