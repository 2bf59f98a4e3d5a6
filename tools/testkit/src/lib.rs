// SPDX-License-Identifier: GPL-2.0

//! Shared pieces of the vassist test tools.

pub mod xsk;

use std::ffi::CString;
use std::io;

/// The test stream: byte `i` of a transfer with `seed`, so a receiver can
/// check every byte without the sender's help.
pub fn pattern_fill(seed: u64, offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let pos = offset + i as u64;
        *b = (splitmix64(seed ^ (pos / 8)) >> ((pos % 8) * 8)) as u8;
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TAP: libc::c_short = 0x0002;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_VNET_HDR: libc::c_short = 0x4000;
/// `struct virtio_net_hdr`, in front of each frame with IFF_VNET_HDR.
pub const VNET_LEN: usize = 10;

/// A syscall's result: negative is the thread's errno.
pub fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// The index of network device `dev` in the current namespace.
pub fn ifindex(dev: &str) -> io::Result<u32> {
    let name = CString::new(dev).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `name` is NUL-terminated.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(io::Error::last_os_error()),
        i => Ok(i),
    }
}

/// Opens /dev/net/tun attached to tap `name` in the current namespace,
/// frames with a virtio-net header in front if `vnet`.
pub fn open_tap(name: &str, vnet: bool) -> io::Result<libc::c_int> {
    let path = CString::new("/dev/net/tun").unwrap();
    // SAFETY: `path` is NUL-terminated.
    let fd = cvt(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // struct ifreq: name[16] then flags.
    let mut ifr = [0u8; 40];
    if name.len() >= 16 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    let flags = IFF_TAP | IFF_NO_PI | if vnet { IFF_VNET_HDR } else { 0 };
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: `ifr` is a properly sized struct ifreq for TUNSETIFF.
    cvt(unsafe { libc::ioctl(fd, TUNSETIFF, ifr.as_mut_ptr()) })
        .map_err(|e| io::Error::new(e.kind(), format!("attach to tap {name}: {e}")))?;
    Ok(fd)
}

/// Reads `n` bytes of the seed's pattern from byte `from` on, checking
/// each.
pub fn read_checked(
    s: &mut impl std::io::Read,
    seed: u64,
    from: u64,
    n: u64,
) -> Result<(), String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut want = vec![0u8; buf.len()];
    let mut at = from;
    while at < from + n {
        let len = buf.len().min((from + n - at) as usize);
        let got = s
            .read(&mut buf[..len])
            .map_err(|e| format!("read at byte {at}: {e}"))?;
        if got == 0 {
            return Err(format!("connection closed at byte {at} of {}", from + n));
        }
        pattern_fill(seed, at, &mut want[..got]);
        if let Some(i) = (0..got).find(|&i| buf[i] != want[i]) {
            return Err(format!("byte {} differs", at + i as u64));
        }
        at += got as u64;
    }
    Ok(())
}

/// Writes `n` bytes of the seed's pattern from byte `from` on.
pub fn write_pattern(
    s: &mut impl std::io::Write,
    seed: u64,
    from: u64,
    n: u64,
) -> Result<(), String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = from;
    while at < from + n {
        let len = buf.len().min((from + n - at) as usize);
        pattern_fill(seed, at, &mut buf[..len]);
        s.write_all(&buf[..len])
            .map_err(|e| format!("write at byte {at}: {e}"))?;
        at += len as u64;
    }
    Ok(())
}

/// Connects to `to`, retrying until it listens or `timeout` passed; reads
/// then time out after `timeout`.
pub fn connect_retrying(
    to: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> Result<std::net::TcpStream, String> {
    let start = std::time::Instant::now();
    let s = loop {
        match std::net::TcpStream::connect(to) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < timeout => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => return Err(format!("connect {to}: {e}")),
        }
    };
    s.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    Ok(s)
}

/// Reads the peer's close: nothing more may come.
pub fn expect_close(s: &mut impl std::io::Read) -> Result<(), String> {
    let mut rest = [0u8; 1];
    match s.read(&mut rest) {
        Ok(0) => Ok(()),
        Ok(_) => Err("bytes after the end".into()),
        Err(e) => Err(format!("waiting for the close: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_position_dependent_and_chunking_invariant() {
        let mut whole = [0u8; 100];
        pattern_fill(7, 0, &mut whole);
        let mut parts = [0u8; 100];
        pattern_fill(7, 0, &mut parts[..33]);
        pattern_fill(7, 33, &mut parts[33..]);
        assert_eq!(whole, parts);
        let mut other = [0u8; 100];
        pattern_fill(8, 0, &mut other);
        assert_ne!(whole, other);
    }
}
