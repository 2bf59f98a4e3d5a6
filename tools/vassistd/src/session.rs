// SPDX-License-Identifier: GPL-2.0

//! One guest's request, over its vsock stream: prepare (divert), pipe,
//! release; the diverts it made go when the stream does.

use crate::watch::{is_pipe, Watch};
use crate::{Guest, Limits};
use serde_json::Value;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use vassistctl::nl::{binary_text, Ctl};
use vassistctl::pipe::PipeArgs;
use vassistctl::spec::{cmd, SET_PIPE};
use vpipe::guest::splice_all;
use vpipe::protocol::{self, Endpoints, Request, Response};
use vpipe::repair::{self, TcpState};
use vsock::VsockStream;

/// How long the guest's window probes may take to show the host its MACs.
const MACS_WAIT: Duration = Duration::from_secs(1);
/// How long the host waits for the destination's peer to acknowledge the
/// bytes moved before it hands the connection back, and for how long that
/// may make no progress.
const DRAIN_MAX: Duration = Duration::from_secs(2);
const DRAIN_STALL: Duration = Duration::from_millis(100);

/// Serves one guest's stream until it ends.
pub fn serve(mut stream: VsockStream, guests: &[Guest], limits: Limits, watch: &Watch) {
    let cid = stream.peer_addr().map_or(u32::MAX, |a| a.cid());
    let Some(guest) = guests.iter().find(|g| g.cid == cid) else {
        let reason = format!("CID {cid} is not a guest of this host");
        let _ = protocol::send(&mut stream, &mut Response::Refused { reason });
        return;
    };
    let Some(_open) = Open::new(guest, limits.max_sessions) else {
        let reason = format!(
            "this guest has {} requests open already",
            limits.max_sessions
        );
        let _ = protocol::send(&mut stream, &mut Response::Refused { reason });
        return;
    };
    if let Err(e) = stream.set_read_timeout(Some(limits.request_timeout)) {
        let _ = protocol::send(&mut stream, &mut refused(format!("vsock: {e}")));
        return;
    }
    let mut session = match Ctl::open() {
        Ok(ctl) => Session {
            guest,
            watch,
            stall: limits.stall,
            ctl,
            conns: None,
            piped: false,
        },
        Err(reason) => {
            let _ = protocol::send(&mut stream, &mut Response::Refused { reason });
            return;
        }
    };
    loop {
        let req: Request = match protocol::recv(&mut stream) {
            Ok(r) => r,
            Err(e) => {
                let reason = match e.kind() {
                    io::ErrorKind::InvalidData => format!("malformed request: {e}"),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
                        "no request within {} ms",
                        limits.request_timeout.as_millis()
                    ),
                    _ => return,
                };
                let _ = protocol::send(&mut stream, &mut Response::Refused { reason });
                return;
            }
        };
        let (mut resp, done) = session.handle(req);
        if protocol::send(&mut stream, &mut resp).is_err() || done {
            return;
        }
    }
}

/// One of a guest's open requests, counted while it lives.
struct Open<'g>(&'g Guest);

impl<'g> Open<'g> {
    fn new(guest: &'g Guest, max: usize) -> Option<Open<'g>> {
        guest
            .sessions
            .fetch_update(Relaxed, Relaxed, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Open(guest))
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.sessions.fetch_sub(1, Relaxed);
    }
}

struct Session<'g> {
    guest: &'g Guest,
    watch: &'g Watch,
    stall: Duration,
    /// Its netlink socket, which owns the pipes it adds: if the agent
    /// dies, they go, and the connections it had are reset.
    ctl: Ctl,
    /// The connections diverted, once prepared.
    conns: Option<[Endpoints; 2]>,
    piped: bool,
}

fn refused(reason: impl Into<String>) -> Response {
    Response::Refused {
        reason: reason.into(),
    }
}

impl Session<'_> {
    fn handle(&mut self, req: Request) -> (Response, bool) {
        match req {
            Request::Prepare { conns } if self.conns.is_none() => (self.prepare(conns), false),
            Request::Pipe { states, len } if self.conns.is_some() && !self.piped => {
                self.piped = true;
                (self.pipe(*states, len), false)
            }
            Request::Release => {
                self.release();
                (Response::Ok, true)
            }
            _ => (refused("request out of order"), true),
        }
    }

    fn args(&self, c: &Endpoints) -> PipeArgs {
        PipeArgs {
            dev: Some(self.guest.port.clone()),
            guest: Some(c.local),
            peer: Some(c.peer),
            ..PipeArgs::default()
        }
    }

    fn call(&self, cmd: u8, args: &PipeArgs, what: &str) -> Result<(), String> {
        self.ctl.call(cmd, false, args.request(what)?).map(drop)
    }

    fn prepare(&mut self, conns: [Endpoints; 2]) -> Response {
        for c in &conns {
            if !self.guest.addrs.contains(&c.local.ip()) {
                return refused(format!("{} is not this guest's address", c.local.ip()));
            }
            if c.local.is_ipv4() != c.peer.is_ipv4() {
                return refused("a connection's ends are of different families");
            }
        }
        if conns[0] == conns[1] {
            return refused("the source and the destination are one connection");
        }
        for (i, c) in conns.iter().enumerate() {
            let mut a = self.args(c);
            a.shadow = Some(self.guest.shadow.clone());
            a.socket_owner = true;
            if let Err(e) = self.call(cmd::PIPE_ADD, &a, "add") {
                if i == 1 {
                    let _ = self.call(cmd::PIPE_DEL, &self.args(&conns[0]), "del");
                }
                return refused(format!("divert {}: {e}", c.peer));
            }
        }
        self.conns = Some(conns);
        Response::Ok
    }

    fn release(&mut self) {
        if let Some(conns) = self.conns.take() {
            for c in &conns {
                let _ = self.call(cmd::PIPE_DEL, &self.args(c), "del");
            }
        }
    }

    fn set_state(&self, conns: &[Endpoints; 2], state: &str) -> Result<(), String> {
        for c in conns {
            let mut a = self.args(c);
            a.state = Some(state.into());
            self.call(cmd::PIPE_SET, &a, "set")?;
        }
        Ok(())
    }

    /// The pipes' MACs, once the guest's window probes showed them.
    fn macs_known(&self, conns: &[Endpoints; 2]) -> Result<bool, String> {
        let pipes = pipes_of(&self.ctl, &self.guest.port)?;
        for c in conns {
            let p = pipes.iter().find(|p| is_pipe(p, c));
            let Some(mac) = p.and_then(|p| p["guest-mac"].as_str()) else {
                return Ok(false);
            };
            if let Some(want) = &self.guest.mac {
                if !want.eq_ignore_ascii_case(mac) {
                    return Err(format!(
                        "the connection's frames come from {mac}, not the guest's {want}"
                    ));
                }
            }
        }
        Ok(true)
    }

    fn pipe(&mut self, states: [TcpState; 2], len: u64) -> Response {
        let Some(conns) = self.conns else {
            return refused("not prepared");
        };
        for (s, c) in states.iter().zip(&conns) {
            if s.local != c.local || s.peer != c.peer {
                return refused("a state is not of the connection prepared");
            }
            if let Err(e) = s.check() {
                return refused(format!("the state of {}: {e}", s.peer));
            }
        }
        let taking = Instant::now();
        loop {
            match self.macs_known(&conns) {
                Ok(true) => break,
                Ok(false) if taking.elapsed() < MACS_WAIT => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Ok(false) => return refused("no frame of the connections came from the guest"),
                Err(e) => return refused(e),
            }
        }
        let socks = match in_netns(&self.guest.netns, || {
            Ok([repair::restore(&states[0])?, repair::restore(&states[1])?])
        }) {
            Ok(s) => s,
            Err(e) => return refused(format!("shadow sockets: {e}")),
        };
        let port = match ifindex(&self.guest.port) {
            Ok(i) => i,
            Err(e) => return refused(e),
        };
        let raw = [socks[0].as_raw_fd(), socks[1].as_raw_fd()];
        // Closed out of repair mode (the agent died), they reset their
        // peers: a FIN would end a stream short as if it were whole.
        for fd in raw {
            let _ = repair::reset_on_close(fd);
        }
        // Dropped before the sockets close.
        let watched = self.watch.add(port, conns, raw);
        if let Err(e) = self.set_state(&conns, "host") {
            let _ = self.set_state(&conns, "hold");
            return refused(format!("taking the connections: {e}"));
        }
        // The host owns them now: whatever happens, they are handed back.
        let mut spliced = None;
        let resumed = socks
            .iter()
            .zip(&states)
            .try_for_each(|(sock, s)| repair::resume(sock.as_raw_fd(), s, true));
        let take_us = taking.elapsed().as_micros() as u64;
        let start = Instant::now();
        if resumed.is_ok() {
            // A source that sends nothing, or a destination that takes
            // nothing, for this long ends the pipe early (a peer gone
            // silent, or vassist unloaded under it).
            set_timeout(&socks[0], libc::SO_RCVTIMEO, self.stall);
            set_timeout(&socks[1], libc::SO_SNDTIMEO, self.stall);
            spliced = Some(splice_all(socks[0].as_raw_fd(), socks[1].as_raw_fd(), len));
            drain(&socks[1]);
        }
        let spliced_us = start.elapsed().as_micros() as u64;
        if let Some(why) = watched.cut() {
            return Response::Lost {
                reason: format!("{why}: vassist reset the connections at both ends"),
            };
        }
        if let Err(e) = self.set_state(&conns, "hold") {
            return Response::Lost {
                reason: format!("holding the connections: {e}"),
            };
        }
        let frozen = (freeze_open(&socks[0]), freeze_open(&socks[1]));
        let give_us = (start.elapsed().as_micros() as u64).saturating_sub(spliced_us);
        match frozen {
            (Ok(a), Ok(b)) => Response::Piped {
                moved: spliced.as_ref().map_or(0, |s| s.moved),
                eof: spliced.as_ref().is_some_and(|s| s.eof),
                spliced_us,
                take_us,
                give_us,
                states: Box::new([a, b]),
                // A source that stalled (the receive timeout) just ends
                // the pipe early.
                errno: spliced
                    .and_then(|s| s.error)
                    .filter(|e| e.kind() != io::ErrorKind::WouldBlock)
                    .map(|e| e.raw_os_error().unwrap_or(libc::EIO)),
            },
            (Err(e), _) | (_, Err(e)) => Response::Lost {
                reason: format!("dumping the shadow sockets: {e}"),
            },
        }
        // The shadow sockets close here, in repair mode: nothing is sent.
    }
}

/// The pipes on port `port`, as JSON.
fn pipes_of(ctl: &Ctl, port: &str) -> Result<Vec<Value>, String> {
    let mut a = vassistctl::nl::Attrs::new(&SET_PIPE);
    a.u32("ifindex", ifindex(port)?);
    Ok(ctl
        .call(cmd::PIPE_GET, true, a)?
        .iter()
        .map(|m| m.json(&SET_PIPE, binary_text))
        .collect())
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// Waits (bounded) until the peer has acknowledged what `sock` sent:
/// bytes handed back unacknowledged would be sent again by the guest, at
/// its pace, after the hand-off.
fn drain(sock: &OwnedFd) {
    let start = Instant::now();
    let mut last = (usize::MAX, start);
    while let Ok(n) = repair::outq(sock.as_raw_fd()) {
        let now = Instant::now();
        if n == 0 || now - start > DRAIN_MAX || now - last.1 > DRAIN_STALL {
            return;
        }
        if n < last.0 {
            last = (n, now);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A shadow socket's state, or `None` when its peer closed the connection.
fn freeze_open(sock: &OwnedFd) -> io::Result<Option<TcpState>> {
    if repair::closed(sock.as_raw_fd())? {
        return Ok(None);
    }
    repair::freeze(sock.as_raw_fd()).map(Some)
}

fn ifindex(name: &str) -> Result<u32, String> {
    let c = std::ffi::CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: `c` is NUL-terminated.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(format!("no device '{name}'")),
        i => Ok(i),
    }
}

fn set_timeout(sock: &OwnedFd, opt: libc::c_int, d: Duration) {
    let tv = libc::timeval {
        tv_sec: d.as_secs() as libc::time_t,
        tv_usec: d.subsec_micros() as libc::suseconds_t,
    };
    let _ = repair::setsockopt(sock.as_raw_fd(), libc::SOL_SOCKET, opt, &tv);
}

/// Runs `f` on a thread in the network namespace at `path`: the sockets
/// it makes belong there.
fn in_netns<T: Send>(path: &Path, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = File::open(path)?;
            // SAFETY: this thread alone enters the namespace.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } < 0 {
                return Err(io::Error::last_os_error());
            }
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}
