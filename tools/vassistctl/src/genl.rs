// SPDX-License-Identifier: GPL-2.0

//! A small generic netlink client: one socket, family resolution through
//! nlctrl, requests with acks and extended-ack messages, dumps, and
//! multicast subscription. Just what vassistctl needs, on libc alone.

use std::io;
use std::mem::size_of;

const NLMSG_HDRLEN: usize = 16;
const GENL_HDRLEN: usize = 4;
const NLA_HDRLEN: usize = 4;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLM_F_CAPPED: u16 = 0x100;
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLA_TYPE_MASK: u16 = 0x3fff;
const NETLINK_EXT_ACK: libc::c_int = 11;
const NETLINK_ADD_MEMBERSHIP: libc::c_int = 1;
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const CTRL_ATTR_MCAST_GROUPS: u16 = 7;
const CTRL_ATTR_MCAST_GRP_NAME: u16 = 1;
const CTRL_ATTR_MCAST_GRP_ID: u16 = 2;

const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A netlink error: the errno and the kernel's extended-ack text, if any.
#[derive(Debug)]
pub struct NlError {
    pub errno: i32,
    pub msg: Option<String>,
}

impl std::fmt::Display for NlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let os = io::Error::from_raw_os_error(self.errno);
        match &self.msg {
            Some(m) => write!(f, "{m} ({os})"),
            None => write!(f, "{os}"),
        }
    }
}

impl From<io::Error> for NlError {
    fn from(e: io::Error) -> Self {
        NlError {
            errno: e.raw_os_error().unwrap_or(libc::EIO),
            msg: None,
        }
    }
}

/// Attributes to send, built in order.
#[derive(Default)]
pub struct AttrBuf(Vec<u8>);

const NLA_F_NESTED: u16 = 1 << 15;

impl AttrBuf {
    pub fn put(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = NLA_HDRLEN + data.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(align4(self.0.len()), 0);
        self
    }

    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.put(ty, &v.to_ne_bytes())
    }

    /// A nested attribute holding `inner` (flagged NLA_F_NESTED, which the
    /// kernel's strict validation requires).
    pub fn nest(&mut self, ty: u16, inner: &AttrBuf) -> &mut Self {
        self.put(ty | NLA_F_NESTED, &inner.0)
    }

    pub fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.put(ty, &b)
    }
}

/// One received attribute.
#[derive(Clone, Copy, Debug)]
pub struct Attr<'a> {
    pub ty: u16,
    pub data: &'a [u8],
}

impl<'a> Attr<'a> {
    pub fn u16(&self) -> Option<u16> {
        Some(u16::from_ne_bytes(self.data.get(..2)?.try_into().ok()?))
    }

    pub fn u32(&self) -> Option<u32> {
        Some(u32::from_ne_bytes(self.data.get(..4)?.try_into().ok()?))
    }

    /// A netlink `uint`: 4 or 8 bytes.
    pub fn uint(&self) -> Option<u64> {
        match self.data.len() {
            4 => self.u32().map(u64::from),
            8 => Some(u64::from_ne_bytes(self.data.try_into().ok()?)),
            _ => None,
        }
    }

    pub fn str(&self) -> Option<&'a str> {
        let end = self
            .data
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(self.data.len());
        std::str::from_utf8(&self.data[..end]).ok()
    }

    pub fn nested(&self) -> Attrs<'a> {
        Attrs(self.data)
    }
}

/// Iterator over a run of attributes; stops at the first malformed one.
#[derive(Clone, Copy)]
pub struct Attrs<'a>(pub &'a [u8]);

impl<'a> Iterator for Attrs<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        let b = self.0;
        if b.len() < NLA_HDRLEN {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([b[0], b[1]]));
        let ty = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > b.len() {
            self.0 = &[];
            return None;
        }
        self.0 = &b[align4(len).min(b.len())..];
        Some(Attr {
            ty,
            data: &b[NLA_HDRLEN..len],
        })
    }
}

/// A received generic netlink message: command and attributes.
pub struct GenlMsg {
    pub cmd: u8,
    payload: Vec<u8>,
}

impl GenlMsg {
    pub fn attrs(&self) -> Attrs<'_> {
        Attrs(&self.payload)
    }
}

/// A generic netlink socket.
pub struct Socket {
    fd: libc::c_int,
    seq: u32,
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: `fd` is our open socket.
        unsafe { libc::close(self.fd) };
    }
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl Socket {
    pub fn open() -> io::Result<Socket> {
        // SAFETY: plain socket(2) call.
        let fd = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_GENERIC,
            )
        })?;
        let sock = Socket { fd, seq: 1 };
        sock.setsockopt(NETLINK_EXT_ACK, 1)?;
        Ok(sock)
    }

    fn setsockopt(&self, opt: libc::c_int, val: libc::c_int) -> io::Result<()> {
        // SAFETY: `val` outlives the call; the size matches.
        cvt(unsafe {
            libc::setsockopt(
                self.fd,
                libc::SOL_NETLINK,
                opt,
                (&val as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        })?;
        Ok(())
    }

    /// Joins multicast group `group`.
    pub fn subscribe(&self, group: u32) -> io::Result<()> {
        self.setsockopt(NETLINK_ADD_MEMBERSHIP, group as libc::c_int)
    }

    fn send(
        &mut self,
        family: u16,
        flags: u16,
        cmd: u8,
        version: u8,
        attrs: &AttrBuf,
    ) -> io::Result<u32> {
        self.seq += 1;
        let len = NLMSG_HDRLEN + GENL_HDRLEN + attrs.0.len();
        let mut m = Vec::with_capacity(len);
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&family.to_ne_bytes());
        m.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        m.extend_from_slice(&self.seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&[cmd, version, 0, 0]);
        m.extend_from_slice(&attrs.0);
        // SAFETY: `m` is a valid buffer of `m.len()` bytes; the kernel is
        // the default destination of a netlink socket.
        let n = unsafe { libc::send(self.fd, m.as_ptr().cast(), m.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(self.seq)
    }

    /// Receives one datagram (it may hold several messages).
    fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        buf.resize(1 << 16, 0);
        // SAFETY: `buf` has `buf.len()` writable bytes.
        let n = unsafe { libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(n as usize);
        Ok(())
    }

    /// Sends a request and collects its replies until the ack (do) or
    /// NLMSG_DONE (dump). A negative ack becomes `NlError` with the
    /// extack text.
    pub fn request(
        &mut self,
        family: u16,
        cmd: u8,
        version: u8,
        dump: bool,
        attrs: &AttrBuf,
    ) -> Result<Vec<GenlMsg>, NlError> {
        let flags = if dump { NLM_F_DUMP } else { NLM_F_ACK };
        let seq = self.send(family, flags, cmd, version, attrs)?;
        let mut out = Vec::new();
        let mut buf = Vec::new();
        loop {
            self.recv(&mut buf)?;
            for (ty, msg_flags, msg_seq, body) in messages(&buf) {
                if msg_seq != seq {
                    continue;
                }
                match ty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno =
                            i32::from_ne_bytes(body.get(..4).ok_or_else(bad)?.try_into().unwrap());
                        if errno == 0 {
                            return Ok(out);
                        }
                        return Err(NlError {
                            errno: -errno,
                            msg: extack_msg(msg_flags, body),
                        });
                    }
                    _ if body.len() >= GENL_HDRLEN => out.push(GenlMsg {
                        cmd: body[0],
                        payload: body[GENL_HDRLEN..].to_vec(),
                    }),
                    _ => return Err(bad()),
                }
            }
        }
    }

    /// Waits for the next notification.
    pub fn next_notification(&self) -> Result<Vec<GenlMsg>, NlError> {
        let mut buf = Vec::new();
        self.recv(&mut buf)?;
        Ok(messages(&buf)
            .filter(|(ty, ..)| *ty >= 0x10)
            .filter(|(.., body)| body.len() >= GENL_HDRLEN)
            .map(|(.., body)| GenlMsg {
                cmd: body[0],
                payload: body[GENL_HDRLEN..].to_vec(),
            })
            .collect())
    }

    /// Resolves a family's id and its multicast groups (name, id).
    pub fn resolve(&mut self, name: &str) -> Result<(u16, Vec<(String, u32)>), NlError> {
        let mut a = AttrBuf::default();
        a.str(CTRL_ATTR_FAMILY_NAME, name);
        let replies = self.request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 2, false, &a)?;
        let mut id = None;
        let mut groups = Vec::new();
        for attr in replies.iter().flat_map(|m| m.attrs()) {
            match attr.ty {
                CTRL_ATTR_FAMILY_ID => id = attr.u16(),
                CTRL_ATTR_MCAST_GROUPS => {
                    for g in attr.nested() {
                        let mut gname = None;
                        let mut gid = None;
                        for ga in g.nested() {
                            match ga.ty {
                                CTRL_ATTR_MCAST_GRP_NAME => gname = ga.str().map(str::to_owned),
                                CTRL_ATTR_MCAST_GRP_ID => gid = ga.u32(),
                                _ => {}
                            }
                        }
                        if let (Some(n), Some(i)) = (gname, gid) {
                            groups.push((n, i));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok((id.ok_or_else(bad)?, groups))
    }
}

fn bad() -> NlError {
    NlError {
        errno: libc::EPROTO,
        msg: Some("malformed netlink reply".into()),
    }
}

/// The messages of a datagram: (type, flags, seq, body after nlmsghdr).
fn messages(buf: &[u8]) -> impl Iterator<Item = (u16, u16, u32, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap()) as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            rest = &[];
            return None;
        }
        let ty = u16::from_ne_bytes([rest[4], rest[5]]);
        let flags = u16::from_ne_bytes([rest[6], rest[7]]);
        let seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap());
        let body = &rest[NLMSG_HDRLEN..len];
        rest = &rest[align4(len).min(rest.len())..];
        Some((ty, flags, seq, body))
    })
}

/// The NLMSGERR_ATTR_MSG text of an error message, if the kernel sent one.
fn extack_msg(flags: u16, body: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    // errno, then the offending request: its header only when capped.
    let req_len = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        u32::from_ne_bytes(body.get(4..8)?.try_into().ok()?) as usize
    };
    let tlvs = body.get(4 + align4(req_len)..)?;
    Attrs(tlvs)
        .find(|a| a.ty == NLMSGERR_ATTR_MSG)
        .and_then(|a| a.str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_round_trip_and_stop_on_garbage() {
        let mut b = AttrBuf::default();
        b.u32(1, 7).str(2, "tap0");
        let got: Vec<_> = Attrs(&b.0).collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].u32(), Some(7));
        assert_eq!(got[1].str(), Some("tap0"));
        let mut junk = b.0.clone();
        junk.extend_from_slice(&[200, 0, 1, 0]);
        assert_eq!(Attrs(&junk).count(), 2);
    }

    #[test]
    fn uint_accepts_both_widths() {
        let four = 5u32.to_ne_bytes();
        let eight = (1u64 << 40).to_ne_bytes();
        assert_eq!(Attr { ty: 1, data: &four }.uint(), Some(5));
        assert_eq!(
            Attr {
                ty: 1,
                data: &eight
            }
            .uint(),
            Some(1 << 40)
        );
        assert_eq!(
            Attr {
                ty: 1,
                data: &[1, 2]
            }
            .uint(),
            None
        );
    }
}
