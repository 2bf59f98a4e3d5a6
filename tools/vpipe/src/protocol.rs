// SPDX-License-Identifier: GPL-2.0

//! The messages between the guest library and the host's agent, over one
//! AF_VSOCK stream per pipe: each a 4-byte big-endian length, then that
//! many bytes of JSON, then the bytes of the socket queues its states
//! give the lengths of, in order (each state's received, sent, unsent),
//! unencoded. The guest sends `Prepare`, then `Pipe` (or `Release` to give
//! up), then `Release`; the agent answers each.

use crate::repair::{Queue, TcpState};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::net::SocketAddr;

/// The agent's vsock port, unless configured otherwise.
pub const DEFAULT_PORT: u32 = 5253;
/// The largest message: its JSON, and apart from it, two connections'
/// queued bytes.
pub const MAX_MESSAGE: usize = 64 << 20;

/// A connection as the guest sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    pub local: SocketAddr,
    pub peer: SocketAddr,
}

/// What the guest asks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Take these connections, the source then the destination: from
    /// now on the host holds their frames toward the guest and drops the
    /// guest's; the guest freezes them next.
    Prepare { conns: [Endpoints; 2] },
    /// Their frozen states: move `len` bytes (0: until the source ends)
    /// from the first to the second.
    Pipe {
        states: Box<[TcpState; 2]>,
        len: u64,
    },
    /// The guest holds the connections again (the states it got back, or
    /// its own): their frames pass as before.
    Release,
}

/// What the agent answers.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum Response {
    Ok,
    /// The bytes moved, whether the source ended, and the connections'
    /// states to restore; `None` for one its peer closed (reset) while the
    /// host had it.
    Piped {
        moved: u64,
        eof: bool,
        /// Microseconds the bytes took to move, of the host's whole turn.
        spliced_us: u64,
        /// Microseconds from the request to the host's owning the
        /// connections (their MACs known, restored, diverted to the host).
        take_us: u64,
        /// Microseconds from the bytes' end to the answer (held, frozen,
        /// dumped).
        give_us: u64,
        states: Box<[Option<TcpState>; 2]>,
        /// The error (errno) that stopped the bytes before `len`, if any:
        /// the destination's peer reset it, say.
        errno: Option<i32>,
    },
    /// Not done, and nothing of the connections changed: the guest's own
    /// states stand.
    Refused {
        reason: String,
    },
    /// The host took the connections and cannot give them back.
    Lost {
        reason: String,
    },
}

/// A message of the protocol: the socket queues of its states travel
/// after its JSON.
pub trait Message: Serialize + DeserializeOwned {
    fn queues_mut(&mut self) -> Vec<&mut Queue>;
}

/// A state alone (in a file, say).
impl Message for TcpState {
    fn queues_mut(&mut self) -> Vec<&mut Queue> {
        TcpState::queues_mut(self).into()
    }
}

impl Message for Request {
    fn queues_mut(&mut self) -> Vec<&mut Queue> {
        match self {
            Request::Pipe { states, .. } => {
                states.iter_mut().flat_map(|s| s.queues_mut()).collect()
            }
            _ => Vec::new(),
        }
    }
}

impl Message for Response {
    fn queues_mut(&mut self) -> Vec<&mut Queue> {
        match self {
            Response::Piped { states, .. } => states
                .iter_mut()
                .flatten()
                .flat_map(|s| s.queues_mut())
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn too_long(kind: io::ErrorKind) -> io::Error {
    io::Error::new(kind, "message too long")
}

/// Writes one message; returns its length.
pub fn send<T: Message>(w: &mut impl Write, msg: &mut T) -> io::Result<u64> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let queues = msg.queues_mut();
    let queued: usize = queues.iter().map(|q| q.len()).sum();
    if body.len() > MAX_MESSAGE || queued > MAX_MESSAGE {
        return Err(too_long(io::ErrorKind::InvalidInput));
    }
    w.write_all(&(body.len() as u32).to_be_bytes())?;
    w.write_all(&body)?;
    for q in queues {
        w.write_all(q)?;
    }
    w.flush()?;
    Ok((4 + body.len() + queued) as u64)
}

/// Reads one message; a message too long or not of the protocol is an
/// `InvalidData` error.
pub fn recv<T: Message>(r: &mut impl Read) -> io::Result<T> {
    recv_counted(r).map(|(m, _)| m)
}

/// As [`recv`], with the message's length.
pub fn recv_counted<T: Message>(r: &mut impl Read) -> io::Result<(T, u64)> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as u64;
    if len > MAX_MESSAGE as u64 {
        return Err(too_long(io::ErrorKind::InvalidData));
    }
    let body = read_exactly(r, len)?;
    let mut msg: T =
        serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let queues = msg.queues_mut();
    let claimed = queues
        .iter()
        .try_fold(0u64, |sum, q| sum.checked_add(q.claimed()));
    if claimed.is_none_or(|n| n > MAX_MESSAGE as u64) {
        return Err(too_long(io::ErrorKind::InvalidData));
    }
    for q in queues {
        let n = q.claimed();
        q.set(read_exactly(r, n)?);
    }
    Ok((msg, 4 + len + claimed.unwrap_or(0)))
}

/// `n` bytes, grown as they come, not allocated up front from what the
/// peer claims.
fn read_exactly(r: &mut impl Read, n: u64) -> io::Result<Vec<u8>> {
    let mut b = Vec::new();
    r.take(n).read_to_end(&mut b)?;
    if (b.len() as u64) < n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(json: &[u8]) -> Vec<u8> {
        let mut b = (json.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(json);
        b
    }

    fn state(received: &[u8], sent: &[u8], unsent: &[u8]) -> TcpState {
        let mut s = crate::repair::tests::state();
        s.received = received.to_vec().into();
        s.sent = sent.to_vec().into();
        s.unsent = unsent.to_vec().into();
        s
    }

    #[test]
    fn messages_round_trip() {
        let conns = [Endpoints {
            local: "10.0.0.2:80".parse().unwrap(),
            peer: "10.0.0.1:4000".parse().unwrap(),
        }; 2];
        let mut buf = Vec::new();
        send(&mut buf, &mut Request::Prepare { conns }).unwrap();
        match recv::<Request>(&mut &buf[..]).unwrap() {
            Request::Prepare { conns: c } => assert_eq!(c, conns),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn queues_travel_after_the_json_unencoded() {
        let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        let states = [state(b"in", &big, b"not yet"), state(b"", b"", b"x")];
        let mut buf = Vec::new();
        let mut req = Request::Pipe {
            states: Box::new(states.clone()),
            len: 5,
        };
        let n = send(&mut buf, &mut req).unwrap();
        assert_eq!(n as usize, buf.len());
        // The bytes are not in the JSON: it is small, they follow it.
        let json = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
        assert!(json < 2000, "{json}");
        assert_eq!(buf.len(), 4 + json + 2 + big.len() + 7 + 1);
        match recv::<Request>(&mut &buf[..]).unwrap() {
            Request::Pipe { states: s, len: 5 } => assert_eq!(*s, states),
            r => panic!("{r:?}"),
        }
        let mut resp = Response::Piped {
            moved: 1,
            eof: false,
            spliced_us: 0,
            take_us: 0,
            give_us: 0,
            states: Box::new([None, Some(states[0].clone())]),
            errno: None,
        };
        buf.clear();
        send(&mut buf, &mut resp).unwrap();
        match recv::<Response>(&mut &buf[..]).unwrap() {
            Response::Piped { states: s, .. } => assert_eq!(s[1].as_ref(), Some(&states[0])),
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn bad_messages_are_invalid_data() {
        let mut long = (MAX_MESSAGE as u32 + 1).to_be_bytes().to_vec();
        long.extend_from_slice(b"{}");
        let e = recv::<Request>(&mut &long[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let mut junk = 5u32.to_be_bytes().to_vec();
        junk.extend_from_slice(b"{\"op\"");
        let e = recv::<Request>(&mut &junk[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let unknown = frame(br#"{"op": "explode"}"#);
        let e = recv::<Request>(&mut &unknown[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let short = 10u32.to_be_bytes();
        let e = recv::<Request>(&mut &short[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }

    fn valid_frames() -> Vec<Vec<u8>> {
        let conns = [Endpoints {
            local: "10.0.0.2:80".parse().unwrap(),
            peer: "[fd00::1]:4000".parse().unwrap(),
        }; 2];
        let mut frames = Vec::new();
        for mut req in [
            Request::Prepare { conns },
            Request::Pipe {
                states: Box::new([state(b"abc", b"de", b""), state(b"", b"", b"f")]),
                len: 7,
            },
            Request::Release,
        ] {
            let mut b = Vec::new();
            send(&mut b, &mut req).unwrap();
            frames.push(b);
        }
        frames
    }

    proptest::proptest! {
        /// Whatever a guest sends, reading it ends in a message or an
        /// error, never a panic.
        #[test]
        fn any_bytes_are_a_message_or_an_error(
            pick in 0usize..3,
            flips in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 0..8),
            cut in proptest::option::of(proptest::num::usize::ANY),
            junk in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
        ) {
            let mut b = valid_frames().swap_remove(pick);
            for (at, x) in flips {
                let i = at % b.len();
                b[i] ^= x;
            }
            if let Some(c) = cut {
                b.truncate(c % (b.len() + 1));
            }
            b.extend_from_slice(&junk);
            let mut r = &b[..];
            let _ = recv::<Request>(&mut r);
        }
    }

    #[test]
    fn queue_lengths_are_bounded_and_must_be_there() {
        let mut st = serde_json::to_value(state(b"", b"", b"")).unwrap();
        let pipe = |st: &serde_json::Value| {
            let req = serde_json::json!({"op": "pipe", "states": [st, st], "len": 0});
            frame(&serde_json::to_vec(&req).unwrap())
        };
        // Claims more than a message may carry: refused before any read.
        st["sent"] = serde_json::json!(MAX_MESSAGE / 2 + 1);
        let e = recv::<Request>(&mut &pipe(&st)[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // Claims bytes that do not come.
        st["sent"] = serde_json::json!(10);
        let mut m = pipe(&st);
        m.extend_from_slice(&[0; 15]);
        let e = recv::<Request>(&mut &m[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        // Not a length.
        st["sent"] = serde_json::json!([1, 2]);
        let e = recv::<Request>(&mut &pipe(&st)[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }
}
