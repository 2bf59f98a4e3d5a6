// SPDX-License-Identifier: GPL-2.0

//! A TCP connection's state, dumped from a socket frozen in repair mode
//! and restored into a new one (the way CRIU moves connections): sequence
//! numbers, windows, the options negotiated, the timestamp clock, and the
//! queued bytes (received and not read; sent and not acknowledged; not
//! sent). What repair mode cannot carry (congestion window, RTT estimates,
//! the SACK scoreboard) starts afresh in the new socket.

use crate::helper::{self, Cmd};
use serde::{Deserialize, Serialize};
use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub const TCP_REPAIR: libc::c_int = 19;
const TCP_REPAIR_QUEUE: libc::c_int = 20;
const TCP_QUEUE_SEQ: libc::c_int = 21;
const TCP_REPAIR_OPTIONS: libc::c_int = 22;
const TCP_TIMESTAMP: libc::c_int = 24;
const TCP_REPAIR_WINDOW: libc::c_int = 29;
pub const TCP_REPAIR_ON: libc::c_int = 1;
pub const TCP_REPAIR_OFF: libc::c_int = 0;
pub const TCP_REPAIR_OFF_NO_WP: libc::c_int = -1;
pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_CLOSE: u8 = 7;
const TCP_RECV_QUEUE: libc::c_int = 1;
const TCP_SEND_QUEUE: libc::c_int = 2;
const TCPOPT_MAXSEG: u32 = 2;
const TCPOPT_WINDOW: u32 = 3;
const TCPOPT_SACK_PERM: u32 = 4;
const TCPOPT_TIMESTAMP: u32 = 8;
const TCPI_OPT_TIMESTAMPS: u8 = 1;
const TCPI_OPT_SACK: u8 = 2;
const TCPI_OPT_WSCALE: u8 = 4;
const SIOCINQ: libc::c_ulong = 0x541b;
const SIOCOUTQ: libc::c_ulong = 0x5411;
const SIOCOUTQNSD: libc::c_ulong = 0x894b;
/// Bytes put into a queue per call while restoring.
const CHUNK: usize = 64 * 1024;
/// Dumps tried before giving up on a connection whose queues keep moving.
const DUMP_TRIES: usize = 8;
/// The most of a dumped buffer size a restore takes over (beyond what the
/// queues need): a state from elsewhere cannot make a socket hold more.
pub const BUF_MAX: u32 = 16 << 20;
/// TCP's limits on what a state may say (RFC 7323's largest shift; an MSS
/// of a 68-byte IPv4 MTU up to the field's width).
const WSCALE_MAX: u8 = 14;
const MSS_MIN: u32 = 28;
const MSS_MAX: u32 = 65535;

/// `struct tcp_repair_window`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub struct Window {
    pub snd_wl1: u32,
    pub snd_wnd: u32,
    pub max_window: u32,
    pub rcv_wnd: u32,
    pub rcv_wup: u32,
}

/// A socket queue's bytes. Serialized as its length only: a message that
/// carries states sends their queues' bytes after it, unencoded
/// ([`crate::protocol`]), as a dump of a busy socket holds megabytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Queue {
    bytes: Vec<u8>,
    /// The length a message gave, until its bytes are read.
    len: u64,
}

impl Queue {
    /// The length a message gave for it (its bytes' before they came).
    pub fn claimed(&self) -> u64 {
        self.len
    }

    /// Its bytes, read from a message.
    pub fn set(&mut self, bytes: Vec<u8>) {
        self.len = bytes.len() as u64;
        self.bytes = bytes;
    }
}

impl From<Vec<u8>> for Queue {
    fn from(bytes: Vec<u8>) -> Queue {
        Queue {
            len: bytes.len() as u64,
            bytes,
        }
    }
}

impl std::ops::Deref for Queue {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Serialize for Queue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.bytes.len() as u64)
    }
}

impl<'de> Deserialize<'de> for Queue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Queue, D::Error> {
        Ok(Queue {
            bytes: Vec::new(),
            len: u64::deserialize(d)?,
        })
    }
}

/// What a restore cannot carry, as the dump saw it (TCP_INFO): the new
/// socket starts at the initial window and without an RTT estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Congestion {
    /// The congestion window, in segments.
    pub cwnd: u32,
    /// The smoothed RTT, in microseconds.
    pub srtt_us: u32,
}

/// A connection's state, as [`freeze`] dumps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpState {
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// The sequence number after the last byte queued to send (write_seq).
    pub snd_seq: u32,
    /// The next sequence number expected (rcv_nxt).
    pub rcv_seq: u32,
    /// Sent, not yet acknowledged: from snd_una on.
    pub sent: Queue,
    /// Queued, never sent: after `sent`.
    pub unsent: Queue,
    /// Received, not yet read by the application.
    pub received: Queue,
    pub window: Window,
    pub mss: u32,
    /// (send, receive) window scale, when negotiated.
    pub wscale: Option<(u8, u8)>,
    pub sack: bool,
    pub timestamps: bool,
    /// The timestamp clock's value at the dump (TCP_TIMESTAMP).
    pub tsval: u32,
    /// The socket's buffer sizes (SO_SNDBUF, SO_RCVBUF, as the kernel
    /// reports them: doubled).
    pub sndbuf: u32,
    pub rcvbuf: u32,
    /// SO_REUSEADDR, which repair mode overrides and clears on leaving.
    pub reuse: bool,
    /// Lost in the move: for the record.
    #[serde(default)]
    pub congestion: Congestion,
}

impl TcpState {
    /// Its queues, in the order a message carries their bytes.
    pub fn queues_mut(&mut self) -> [&mut Queue; 3] {
        [&mut self.received, &mut self.sent, &mut self.unsent]
    }

    /// Whether a state (from a peer that may be broken or hostile) says
    /// what a TCP connection can be; why not.
    pub fn check(&self) -> Result<(), String> {
        if self.local.is_ipv4() != self.peer.is_ipv4() {
            return Err("its ends are of different families".into());
        }
        if self.local.port() == 0 || self.peer.port() == 0 {
            return Err("a port is 0".into());
        }
        if !(MSS_MIN..=MSS_MAX).contains(&self.mss) {
            return Err(format!("MSS {} is not in {MSS_MIN}..={MSS_MAX}", self.mss));
        }
        if let Some((snd, rcv)) = self.wscale {
            if snd.max(rcv) > WSCALE_MAX {
                return Err(format!(
                    "window scale {} is over {WSCALE_MAX}",
                    snd.max(rcv)
                ));
            }
        }
        Ok(())
    }
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Sets socket option `name` at `level` of `fd` to the plain value `v`.
pub fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, v: &T) -> io::Result<()> {
    // SAFETY: `v` points at a T of the length given.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (v as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

pub fn getsockopt<T: Default>(fd: RawFd, level: libc::c_int, name: libc::c_int) -> io::Result<T> {
    let mut v = T::default();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `v` has room for `len` bytes; the kernel writes at most that.
    cvt(unsafe { libc::getsockopt(fd, level, name, (&mut v as *mut T).cast(), &mut len) })?;
    Ok(v)
}

fn ioctl_int(fd: RawFd, req: libc::c_ulong) -> io::Result<usize> {
    let mut v: libc::c_int = 0;
    // SAFETY: these ioctls write one int.
    cvt(unsafe { libc::ioctl(fd, req, &mut v) })?;
    Ok(v as usize)
}

/// `tcpi_state` of TCP_INFO (TCP_ESTABLISHED, TCP_CLOSE, ...).
pub fn tcp_state(fd: RawFd) -> io::Result<u8> {
    let info: [u8; 1] = getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO)?;
    Ok(info[0])
}

pub fn tcp_opt(fd: RawFd, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    setsockopt(fd, libc::IPPROTO_TCP, name, &v)
}

fn denied(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EPERM)
}

/// Repair mode on for an established connection: by the helper when the
/// caller lacks the capability.
fn repair_on(fd: RawFd) -> io::Result<()> {
    match tcp_opt(fd, TCP_REPAIR, TCP_REPAIR_ON) {
        Err(e) if denied(&e) => helper::call(Cmd::Freeze, fd, &[], e),
        r => r,
    }
}

/// Repair mode off, with a window probe or without.
fn repair_off(fd: RawFd, probe: bool) -> io::Result<()> {
    let (off, cmd) = if probe {
        (TCP_REPAIR_OFF, Cmd::Thaw)
    } else {
        (TCP_REPAIR_OFF_NO_WP, Cmd::ThawQuiet)
    };
    match tcp_opt(fd, TCP_REPAIR, off) {
        Err(e) if denied(&e) => helper::call(cmd, fd, &[], e),
        r => r,
    }
}

/// A fresh socket into repair mode, bound to `local`.
fn repair_bind(fd: RawFd, local: &SocketAddr) -> io::Result<()> {
    match tcp_opt(fd, TCP_REPAIR, TCP_REPAIR_ON) {
        Err(e) if denied(&e) => helper::call(Cmd::Bind, fd, &helper::bind_arg(local), e),
        Err(e) => Err(e),
        Ok(()) => bind(fd, local),
    }
}

pub fn bind(fd: RawFd, a: &SocketAddr) -> io::Result<()> {
    let (ss, len) = to_storage(a);
    // SAFETY: `ss` holds an address of `len` bytes.
    cvt(unsafe { libc::bind(fd, (&ss as *const libc::sockaddr_storage).cast(), len) }).map(drop)
}

/// Buffer sizes beyond `wmem_max`/`rmem_max`, for a socket in repair
/// mode.
fn force_bufs(fd: RawFd, snd: u32, rcv: u32) -> io::Result<()> {
    let set = |name, v: u32| setsockopt(fd, libc::SOL_SOCKET, name, &(v as libc::c_int));
    match set(libc::SO_SNDBUFFORCE, snd).and_then(|_| set(libc::SO_RCVBUFFORCE, rcv)) {
        Err(e) if denied(&e) => helper::call(Cmd::Bufs, fd, &helper::bufs_arg(snd, rcv), e),
        r => r,
    }
}

fn select_queue(fd: RawFd, q: libc::c_int) -> io::Result<()> {
    tcp_opt(fd, TCP_REPAIR_QUEUE, q)
}

/// Peeks `len` bytes of the selected repair queue.
fn peek_queue(fd: RawFd, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    if len == 0 {
        return Ok(buf);
    }
    // SAFETY: `buf` has `len` bytes of room.
    let n = unsafe {
        libc::recv(
            fd,
            buf.as_mut_ptr().cast(),
            len,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate(n as usize);
    Ok(buf)
}

fn sockaddr(fd: RawFd, peer: bool) -> io::Result<SocketAddr> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let p = (&mut ss as *mut libc::sockaddr_storage).cast();
    // SAFETY: `ss` has room for any address.
    cvt(unsafe {
        if peer {
            libc::getpeername(fd, p, &mut len)
        } else {
            libc::getsockname(fd, p, &mut len)
        }
    })?;
    from_storage(&ss)
}

fn from_storage(ss: &libc::sockaddr_storage) -> io::Result<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says it is a sockaddr_in.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Ok(SocketAddr::new(IpAddr::V4(ip), u16::from_be(a.sin_port)))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says it is a sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Ok(SocketAddr::new(IpAddr::V6(ip), u16::from_be(a.sin6_port)))
        }
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an IPv4 or IPv6 socket",
        )),
    }
}

fn to_storage(a: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let p = (&mut ss as *mut libc::sockaddr_storage).cast::<u8>();
    let len = match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*v4.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: a sockaddr_in fits in the storage.
            unsafe { p.cast::<libc::sockaddr_in>().write_unaligned(sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: a sockaddr_in6 fits in the storage.
            unsafe { p.cast::<libc::sockaddr_in6>().write_unaligned(sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// The connection's (local, peer) addresses.
/// The socket's local address.
pub fn local_addr(fd: RawFd) -> io::Result<SocketAddr> {
    sockaddr(fd, false)
}

pub fn endpoints(fd: RawFd) -> io::Result<(SocketAddr, SocketAddr)> {
    Ok((sockaddr(fd, false)?, sockaddr(fd, true)?))
}

/// `struct tcp_info`'s first bytes: options and window scales.
fn tcp_info_options(fd: RawFd) -> io::Result<(u8, u8)> {
    let info: [u8; 8] = getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO)?;
    Ok((info[5], info[6]))
}

/// Makes closing `fd` (out of repair mode) reset the connection: a zero
/// linger.
pub fn reset_on_close(fd: RawFd) -> io::Result<()> {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, &lg)
}

/// Bytes the socket holds to send: not yet acknowledged, or not sent.
pub fn outq(fd: RawFd) -> io::Result<usize> {
    ioctl_int(fd, SIOCOUTQ)
}

/// Whether the connection at `fd` is closed (its peer reset it, or it
/// timed out): there is nothing left to dump.
pub fn closed(fd: RawFd) -> io::Result<bool> {
    Ok(tcp_state(fd)? == TCP_CLOSE)
}

/// Puts `fd` into repair mode and dumps its connection's state; the
/// socket stays frozen (it sends nothing) until [`thaw`]ed or closed (a
/// socket closed in repair mode goes silently, no FIN or RST). The queues
/// are read until two reads of the sequence numbers agree, as segments
/// may still arrive.
pub fn freeze(fd: RawFd) -> io::Result<TcpState> {
    let reuse = getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR)? != 0;
    repair_on(fd)?;
    let mut state = dump(fd).inspect_err(|_| {
        let _ = thaw(fd, false, reuse);
    })?;
    state.reuse = reuse;
    Ok(state)
}

fn queue_seq(fd: RawFd, q: libc::c_int) -> io::Result<u32> {
    select_queue(fd, q)?;
    getsockopt::<u32>(fd, libc::IPPROTO_TCP, TCP_QUEUE_SEQ)
}

fn dump(fd: RawFd) -> io::Result<TcpState> {
    let (local, peer) = endpoints(fd)?;
    for _ in 0..DUMP_TRIES {
        let rcv_seq = queue_seq(fd, TCP_RECV_QUEUE)?;
        let inq = ioctl_int(fd, SIOCINQ)?;
        let received = peek_queue(fd, inq)?;
        let snd_seq = queue_seq(fd, TCP_SEND_QUEUE)?;
        let outq = ioctl_int(fd, SIOCOUTQ)?;
        let notsent = ioctl_int(fd, SIOCOUTQNSD)?;
        let mut sent = peek_queue(fd, outq)?;
        let window: Window = getsockopt(fd, libc::IPPROTO_TCP, TCP_REPAIR_WINDOW)?;
        let settled = queue_seq(fd, TCP_RECV_QUEUE)? == rcv_seq
            && queue_seq(fd, TCP_SEND_QUEUE)? == snd_seq
            && ioctl_int(fd, SIOCOUTQ)? == outq
            && received.len() == inq
            && sent.len() == outq
            && notsent <= outq;
        if !settled {
            continue;
        }
        select_queue(fd, 0)?;
        let unsent = sent.split_off(outq - notsent);
        let mss = getsockopt::<u32>(fd, libc::IPPROTO_TCP, libc::TCP_MAXSEG)?;
        let (opts, scales) = tcp_info_options(fd)?;
        let tsval = getsockopt::<u32>(fd, libc::IPPROTO_TCP, TCP_TIMESTAMP)?;
        let sndbuf = getsockopt::<u32>(fd, libc::SOL_SOCKET, libc::SO_SNDBUF)?;
        let rcvbuf = getsockopt::<u32>(fd, libc::SOL_SOCKET, libc::SO_RCVBUF)?;
        // struct tcp_info as words: tcpi_rtt is the 18th, tcpi_snd_cwnd
        // the 21st.
        let info: [u32; 21] = getsockopt(fd, libc::IPPROTO_TCP, libc::TCP_INFO)?;
        return Ok(TcpState {
            local,
            peer,
            snd_seq,
            rcv_seq,
            sent: sent.into(),
            unsent: unsent.into(),
            received: received.into(),
            window,
            mss,
            wscale: (opts & TCPI_OPT_WSCALE != 0).then_some((scales & 0xf, scales >> 4)),
            sack: opts & TCPI_OPT_SACK != 0,
            timestamps: opts & TCPI_OPT_TIMESTAMPS != 0,
            tsval,
            sndbuf,
            rcvbuf,
            reuse: false,
            congestion: Congestion {
                cwnd: info[20],
                srtt_us: info[17],
            },
        });
    }
    Err(io::Error::new(
        io::ErrorKind::WouldBlock,
        "the connection's queues kept changing while dumped",
    ))
}

/// Makes the socket send a window probe (an ACK for what it has), by
/// entering and leaving repair mode: the frame shows the host which MACs
/// the connection's frames carry. Only an established connection sends
/// one.
pub fn probe(fd: RawFd) -> io::Result<()> {
    let reuse = getsockopt::<libc::c_int>(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR)? != 0;
    repair_on(fd)?;
    thaw(fd, true, reuse)
}

/// Takes `fd` out of repair mode as it was, with SO_REUSEADDR `reuse`;
/// with `probe`, it sends a window probe (an ACK) so the peer learns its
/// window at once.
pub fn thaw(fd: RawFd, probe: bool, reuse: bool) -> io::Result<()> {
    repair_off(fd, probe)?;
    setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_REUSEADDR,
        &libc::c_int::from(reuse),
    )
}

/// Writes all of `data` to the selected queue of a socket in repair mode
/// (never waiting: nothing would make room), or to the socket out of it
/// (`wait`).
fn fill(fd: RawFd, data: &[u8], wait: bool) -> io::Result<()> {
    let flags = libc::MSG_NOSIGNAL | if wait { 0 } else { libc::MSG_DONTWAIT };
    let mut at = 0;
    while at < data.len() {
        let chunk = &data[at..data.len().min(at + CHUNK)];
        // SAFETY: `chunk` is readable for its length.
        let n = unsafe { libc::send(fd, chunk.as_ptr().cast(), chunk.len(), flags) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        at += n as usize;
    }
    Ok(())
}

/// A new socket holding the connection `s`, in repair mode (frozen): it
/// sends nothing until [`resume`]d. The 4-tuple must be free in this
/// namespace (the old socket closed, or in another namespace) and the
/// local address one of its own.
pub fn restore(s: &TcpState) -> io::Result<OwnedFd> {
    let family = match s.local {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: a plain socket call.
    let raw = cvt(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: a fresh descriptor, ours alone.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let fd = sock.as_raw_fd();
    // Repair mode also lets it bind beside the listener it was accepted
    // from (SK_FORCE_REUSE, which SO_REUSEADDR would undo); bound while
    // closed, before its sequence numbers are set.
    repair_bind(fd, &s.local)?;
    // Room for the queues first: a send queue over the buffer would block
    // the restore (repair mode sends nothing to make room). The sizes are
    // the old socket's, or what the queues need, whichever is more; like
    // any set size they stop the kernel's autotuning of this socket.
    let room = |queued: usize, had: u32| {
        (had / 2)
            .min(BUF_MAX)
            .max(queued.saturating_mul(2) as u32 + 65536)
    };
    force_bufs(
        fd,
        room(s.sent.len(), s.sndbuf),
        room(s.received.len(), s.rcvbuf),
    )?;
    let outq = (s.sent.len() + s.unsent.len()) as u32;
    select_queue(fd, TCP_SEND_QUEUE)?;
    tcp_opt(
        fd,
        TCP_QUEUE_SEQ,
        s.snd_seq.wrapping_sub(outq) as libc::c_int,
    )?;
    select_queue(fd, TCP_RECV_QUEUE)?;
    let inq = s.received.len() as u32;
    tcp_opt(
        fd,
        TCP_QUEUE_SEQ,
        s.rcv_seq.wrapping_sub(inq) as libc::c_int,
    )?;
    if s.timestamps {
        tcp_opt(fd, TCP_TIMESTAMP, s.tsval as libc::c_int)?;
    }
    let (peer, plen) = to_storage(&s.peer);
    // SAFETY: `peer` holds an address of `plen` bytes; in repair mode
    // connect sends no SYN.
    cvt(unsafe { libc::connect(fd, (&peer as *const libc::sockaddr_storage).cast(), plen) })?;
    let mut opts: Vec<[u32; 2]> = vec![[TCPOPT_MAXSEG, s.mss]];
    if let Some((snd, rcv)) = s.wscale {
        opts.push([TCPOPT_WINDOW, u32::from(snd) | u32::from(rcv) << 16]);
    }
    if s.sack {
        opts.push([TCPOPT_SACK_PERM, 0]);
    }
    if s.timestamps {
        opts.push([TCPOPT_TIMESTAMP, 0]);
    }
    // SAFETY: `opts` is an array of `struct tcp_repair_opt` of that length.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            TCP_REPAIR_OPTIONS,
            opts.as_ptr().cast(),
            (opts.len() * 8) as libc::socklen_t,
        )
    })?;
    // The received bytes go back into the receive queue; the sent ones
    // into the send queue as sent (repair mode only advances snd_nxt for
    // them): they are sent again if the peer does not acknowledge them.
    select_queue(fd, TCP_RECV_QUEUE)?;
    fill(fd, &s.received, false)?;
    select_queue(fd, TCP_SEND_QUEUE)?;
    fill(fd, &s.sent, false)?;
    select_queue(fd, 0)?;
    // After the queues: the window's edges are checked against rcv_nxt.
    setsockopt(fd, libc::IPPROTO_TCP, TCP_REPAIR_WINDOW, &s.window)?;
    Ok(sock)
}

/// Unfreezes a socket [`restore`] made: out of repair mode (with a window
/// probe if `probe`), then the bytes never sent are queued as new data.
pub fn resume(fd: RawFd, s: &TcpState, probe: bool) -> io::Result<()> {
    thaw(fd, probe, s.reuse)?;
    fill(fd, &s.unsent, true)
}

/// Puts the connection `s` in place of the frozen socket at `fd`, under
/// the same descriptor number: the old socket closes (silently, in repair
/// mode) before the new one takes the 4-tuple, with the number kept taken
/// meanwhile. The new socket is left frozen.
pub fn replace(fd: RawFd, s: &TcpState) -> io::Result<()> {
    // A placeholder keeps `fd` taken while the connection has no socket.
    // SAFETY: a plain socket call.
    let hold =
        cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: `hold` is ours.
    let hold = unsafe { OwnedFd::from_raw_fd(hold) };
    // SAFETY: dup2 onto `fd` closes the frozen socket (the caller's).
    cvt(unsafe { libc::dup2(hold.as_raw_fd(), fd) })?;
    let new = restore(s)?;
    // SAFETY: as above; `fd` now names the restored socket.
    cvt(unsafe { libc::dup2(new.as_raw_fd(), fd) })?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A state TCP can have, with empty queues.
    pub(crate) fn state() -> TcpState {
        TcpState {
            local: "10.0.0.2:80".parse().unwrap(),
            peer: "10.0.0.1:4000".parse().unwrap(),
            snd_seq: 1,
            rcv_seq: 2,
            sent: Queue::default(),
            unsent: Queue::default(),
            received: Queue::default(),
            window: Window::default(),
            mss: 1448,
            wscale: Some((7, 7)),
            sack: true,
            timestamps: true,
            tsval: 0,
            sndbuf: 0,
            rcvbuf: 0,
            reuse: false,
            congestion: Congestion::default(),
        }
    }

    #[test]
    fn states_tcp_cannot_have_are_refused() {
        assert_eq!(state().check(), Ok(()));
        type Spoil = fn(&mut TcpState);
        let bad: [(Spoil, &str); 5] = [
            (|s| s.peer = "[fd00::1]:4000".parse().unwrap(), "families"),
            (|s| s.local.set_port(0), "port is 0"),
            (|s| s.mss = 0, "MSS 0"),
            (|s| s.mss = 70000, "MSS 70000"),
            (|s| s.wscale = Some((7, 15)), "scale 15"),
        ];
        for (spoil, why) in bad {
            let mut s = state();
            spoil(&mut s);
            let e = s.check().unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
