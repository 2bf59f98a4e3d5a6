// SPDX-License-Identifier: GPL-2.0

//! The messages between the guest library and the host's agent, over one
//! AF_VSOCK stream per pipe: each a 4-byte big-endian length, then that
//! many bytes of JSON. The guest sends `Prepare`, then `Pipe` (or
//! `Release` to give up), then `Release`; the agent answers each.

use crate::repair::TcpState;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::net::SocketAddr;

/// The agent's vsock port, unless configured otherwise.
pub const DEFAULT_PORT: u32 = 5253;
/// The largest message: two connections' queued bytes, JSON-encoded.
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

/// Writes one message.
pub fn send<T: Serialize>(w: &mut impl Write, msg: &T) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    if body.len() > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "message too long",
        ));
    }
    w.write_all(&(body.len() as u32).to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()
}

/// Reads one message; a message too long or not of the protocol is an
/// `InvalidData` error.
pub fn recv<T: DeserializeOwned>(r: &mut impl Read) -> io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "message too long",
        ));
    }
    // Grown as the bytes come, not allocated up front from what the peer
    // claims.
    let mut body = Vec::new();
    r.take(len as u64).read_to_end(&mut body)?;
    if body.len() < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let conns = [Endpoints {
            local: "10.0.0.2:80".parse().unwrap(),
            peer: "10.0.0.1:4000".parse().unwrap(),
        }; 2];
        let mut buf = Vec::new();
        send(&mut buf, &Request::Prepare { conns }).unwrap();
        match recv::<Request>(&mut &buf[..]).unwrap() {
            Request::Prepare { conns: c } => assert_eq!(c, conns),
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
        let mut unknown = Vec::new();
        send(&mut unknown, &serde_json::json!({"op": "explode"})).unwrap();
        let e = recv::<Request>(&mut &unknown[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        let short = 10u32.to_be_bytes();
        let e = recv::<Request>(&mut &short[..]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
