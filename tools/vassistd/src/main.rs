// SPDX-License-Identifier: GPL-2.0

//! vassistd: the vPipe host agent. It listens on AF_VSOCK; a guest's
//! library asks it to move bytes between two of the guest's TCP
//! connections. For each request it checks that the connections are that
//! guest's (its CID, its port's addresses), diverts them at the port
//! (vassist's pipe-add, in hold), recreates them from the guest's frozen
//! state as shadow sockets in the port's shadow namespace, gives them the
//! connections (state host), moves the bytes in the host kernel with
//! splice, freezes and dumps them, and gives the guest their state back;
//! when the guest has restored them, the diverts go. Whatever happens to
//! the guest's stream, the diverts it made go with it; each stream's
//! netlink socket owns its diverts, so they go with the agent too (killed
//! mid-pipe: vassist resets the connections it had).
//!
//! ```text
//! vassistd --config FILE
//! ```
//! The configuration (JSON):
//! ```text
//! { "port": 5253, "max-sessions": 16, "request-timeout-ms": 30000, "stall-ms": 30000,
//!   "guests": [ { "cid": 3, "port": "tap0", "shadow": "vph0",
//!                 "netns": "/run/netns/shadow-tap0",
//!                 "addrs": ["10.0.0.2", "fd00::2"], "mac": "52:54:00:00:00:02" } ] }
//! ```
//! `shadow` is the host-side end of a veth pair whose other end is in
//! `netns` with the guest's MAC and addresses and ARP off; `mac` is
//! optional (checked against the MAC the guest's frames carry).
//! `max-sessions`: requests a guest may have open at once (each its own
//! stream); more are refused. `request-timeout-ms`: how long a request may
//! be in coming; a stream that is slower ends, and its diverts go.
//! `stall-ms`: how long a pipe's source may send nothing, or its
//! destination take nothing, before the pipe ends early.

mod session;
mod watch;

use clap::Parser;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;
use vsock::{VsockListener, VMADDR_CID_ANY};
use watch::Watch;

#[derive(Parser)]
#[command(version, about = "The vPipe host agent")]
struct Cli {
    /// The configuration file (JSON).
    #[arg(long)]
    config: PathBuf,
}

/// A guest the agent serves.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guest {
    pub cid: u32,
    /// Its bridge port device, attached to vassist.
    pub port: String,
    /// The port's shadow device.
    pub shadow: String,
    /// The namespace of the shadow device's peer.
    pub netns: PathBuf,
    /// The guest's addresses: connections from others are refused.
    pub addrs: Vec<IpAddr>,
    /// The guest's MAC, checked when given.
    #[serde(default)]
    pub mac: Option<String>,
    /// Its requests open now.
    #[serde(skip)]
    pub sessions: AtomicUsize,
}

/// What one guest may take of the agent.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_sessions: usize,
    pub request_timeout: Duration,
    pub stall: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Config {
    #[serde(default = "default_port")]
    port: u32,
    #[serde(default = "default_max_sessions")]
    max_sessions: usize,
    #[serde(default = "default_request_timeout_ms")]
    request_timeout_ms: u64,
    #[serde(default = "default_request_timeout_ms")]
    stall_ms: u64,
    guests: Vec<Guest>,
}

fn default_port() -> u32 {
    vpipe::protocol::DEFAULT_PORT
}

fn default_max_sessions() -> usize {
    16
}

fn default_request_timeout_ms() -> u64 {
    30_000
}

fn run(cli: Cli) -> Result<(), String> {
    let text = std::fs::read(&cli.config).map_err(|e| format!("{}: {e}", cli.config.display()))?;
    let config: Config =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", cli.config.display()))?;
    if config.max_sessions == 0 || config.request_timeout_ms == 0 || config.stall_ms == 0 {
        return Err(format!(
            "{}: max-sessions, request-timeout-ms and stall-ms must be positive",
            cli.config.display()
        ));
    }
    let limits = Limits {
        max_sessions: config.max_sessions,
        request_timeout: Duration::from_millis(config.request_timeout_ms),
        stall: Duration::from_millis(config.stall_ms),
    };
    let watch = Arc::new(Watch::default());
    watch.start();
    let guests = Arc::new(config.guests);
    let listener = VsockListener::bind_with_cid_port(VMADDR_CID_ANY, config.port)
        .map_err(|e| format!("vsock port {}: {e}", config.port))?;
    println!("vassistd: listening on vsock port {}", config.port);
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                eprintln!("vassistd: accept: {e}");
                continue;
            }
        };
        let (guests, watch) = (guests.clone(), watch.clone());
        std::thread::spawn(move || session::serve(stream, &guests, limits, &watch));
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vassistd: {e}");
            ExitCode::FAILURE
        }
    }
}
