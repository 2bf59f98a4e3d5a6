// SPDX-License-Identifier: GPL-2.0

//! The kernel may end a pipe while the host moves its bytes: its port
//! detached or gone, its shadow device gone. vassist then resets both
//! ends, and the shadow sockets, cut off, would wait for their peers for
//! minutes. The watch follows vassist's notifications and wakes the
//! sessions whose pipes went (their sockets shut down), so they answer
//! their guests at once; it follows vassist again once it is loaded
//! after an unload.

use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};
use vassistctl::nl::{binary_text, Ctl, Notice};
use vassistctl::spec::{cmd, MCGRPS, SET_PIPE, SET_PORT};
use vpipe::protocol::Endpoints;

/// A session's piped connections on a port, while the host moves them.
struct Watched {
    port: u32,
    conns: [Endpoints; 2],
    socks: [RawFd; 2],
    why: Arc<Mutex<Option<String>>>,
}

/// The sessions' pipes the kernel may end.
#[derive(Default)]
pub struct Watch {
    list: Mutex<Vec<Watched>>,
}

/// A session's entry: removed when dropped, before its sockets close.
pub struct Entry<'w> {
    watch: &'w Watch,
    why: Arc<Mutex<Option<String>>>,
}

impl Entry<'_> {
    /// Why the kernel ended the pipes, if it did.
    pub fn cut(&self) -> Option<String> {
        self.why.lock().unwrap().clone()
    }
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        let mut list = self.watch.list.lock().unwrap();
        list.retain(|w| !Arc::ptr_eq(&w.why, &self.why));
    }
}

impl Watch {
    /// Follows the notifications on a thread of its own; a watch that
    /// cannot start leaves sessions to their sockets' timeouts.
    pub fn start(self: &Arc<Self>) {
        let me = self.clone();
        let Some(group) = MCGRPS.first() else {
            return;
        };
        let notices = match Ctl::follow(group) {
            Ok(n) => n,
            Err(e) => return eprintln!("vassistd: no watch of the pipes: {e}"),
        };
        std::thread::spawn(move || {
            for n in notices {
                match n {
                    Ok(Notice::Msg(m)) => me.notified(m.cmd(), &m),
                    // Not cut here: the family goes before the module resets
                    // the pipes' ends, and a shutdown's FIN could reach a
                    // peer first, ending its stream short as if whole. The
                    // pipes end on their stall time.
                    Ok(Notice::Gone) => eprintln!("vassistd: vassist unloaded"),
                    Ok(Notice::Back) => eprintln!("vassistd: vassist loaded, watching its pipes"),
                    Err(e) => {
                        eprintln!("vassistd: watch of the pipes ended: {e}");
                        break;
                    }
                }
            }
        });
    }

    /// Watches `conns` on port `port`, moved between `socks`.
    pub fn add(&self, port: u32, conns: [Endpoints; 2], socks: [RawFd; 2]) -> Entry<'_> {
        let why = Arc::new(Mutex::new(None));
        self.list.lock().unwrap().push(Watched {
            port,
            conns,
            socks,
            why: why.clone(),
        });
        Entry { watch: self, why }
    }

    fn notified(&self, command: u8, m: &vassistctl::nl::Msg) {
        let (v, why) = match command {
            cmd::PORT_DEL_NTF => {
                let v = m.json(&SET_PORT, binary_text);
                let reason = v["detach-reason"].as_str().unwrap_or("?").to_string();
                (v, format!("the port was detached ({reason})"))
            }
            cmd::PIPE_DEL_NTF => {
                let v = m.json(&SET_PIPE, binary_text);
                match v["del-reason"].as_str() {
                    // The agent's own, or an administrator's: a pipe-del
                    // gives the connection back as it is.
                    Some("user") | None => return,
                    Some(r) => {
                        let r = r.to_string();
                        (v, format!("the pipe went ({r})"))
                    }
                }
            }
            _ => return,
        };
        let Some(port) = v["ifindex"].as_u64() else {
            return;
        };
        let list = self.list.lock().unwrap();
        for w in list.iter().filter(|w| u64::from(w.port) == port) {
            if command == cmd::PIPE_DEL_NTF && !w.conns.iter().any(|c| is_pipe(&v, c)) {
                continue;
            }
            *w.why.lock().unwrap() = Some(why.clone());
            // Wakes the splice; the entry is in the list, so the sockets
            // are open.
            for fd in w.socks {
                // SAFETY: a plain syscall on a socket the session keeps
                // open while its entry is listed.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
            }
        }
    }
}

/// Whether the pipe `v` (a dump's or a notification's) is of the
/// connection `c`.
pub fn is_pipe(v: &serde_json::Value, c: &Endpoints) -> bool {
    v["guest-addr"] == c.local.ip().to_string()
        && v["guest-port"] == c.local.port()
        && v["peer-addr"] == c.peer.ip().to_string()
        && v["peer-port"] == c.peer.port()
}
