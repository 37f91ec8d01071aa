//! Loopback ports for processes given a fixed address by whoever starts
//! them (a runtime's children, which keep their port across restarts; a
//! published container port; a test's servers).
//!
//! Binding port 0 and releasing it hands out a port from the kernel's
//! ephemeral range, the same range every outgoing connection on the
//! machine draws its source port from: between the release and the child's
//! bind, a connection may take it, and the child fails with "address in
//! use". These ports come from below that range, which the kernel never
//! hands out by itself, so a port found free stays free for the child.

use std::collections::BTreeSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

/// The lowest port handed out: above the registered ports most services
/// listen on by default.
const FIRST: u16 = 20_000;
/// Fewer ports than this below the ephemeral range and the range is too
/// small to pick from: fall back to ports the kernel picks.
const MIN_SPAN: u16 = 1_000;
/// Where Linux's ephemeral range starts unless configured otherwise.
const DEFAULT_EPHEMERAL_START: u16 = 32_768;

/// Ports this process has handed out: never twice, so two children of
/// one process cannot be given the same port however quickly they start.
static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// `n` distinct loopback addresses whose ports were free just now and
/// that this process has not handed out before. They are bound all at once
/// while picked (so none is given twice), then released for their users.
///
/// # Errors
/// When `n` free ports cannot be found.
pub fn loopback_ports(n: usize) -> io::Result<Vec<SocketAddr>> {
    let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
    let held = match below_ephemeral() {
        Some(range) => pick_in(range, n, &given)?,
        None => pick_by_kernel(n, &given)?,
    };
    let addrs = held
        .iter()
        .map(TcpListener::local_addr)
        .collect::<io::Result<Vec<_>>>()?;
    given.extend(addrs.iter().map(SocketAddr::port));
    Ok(addrs)
}

/// The ports between [`FIRST`] and the start of the kernel's ephemeral
/// range, when there are enough of them.
fn below_ephemeral() -> Option<Range<u16>> {
    let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(DEFAULT_EPHEMERAL_START);
    (start >= FIRST + MIN_SPAN).then_some(FIRST..start)
}

/// `n` free ports of `range`, bound, starting at a place that differs
/// between processes so two harnesses running at once rarely try the same.
fn pick_in(range: Range<u16>, n: usize, given: &BTreeSet<u16>) -> io::Result<Vec<TcpListener>> {
    let span = u32::from(range.end - range.start);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let offset = std::process::id().wrapping_mul(7_919).wrapping_add(nanos) % span;
    let mut held = Vec::with_capacity(n);
    for step in 0..span {
        if held.len() == n {
            break;
        }
        let port = range.start + u16::try_from((offset + step) % span).unwrap_or(0);
        if given.contains(&port) {
            continue;
        }
        if let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            held.push(listener);
        }
    }
    if held.len() < n {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!(
                "only {} of {n} loopback ports free in {}..{}",
                held.len(),
                range.start,
                range.end
            ),
        ));
    }
    Ok(held)
}

/// `n` ports the kernel picks, bound: where no range is left below the
/// ephemeral one. A port this process gave before is skipped but held
/// until the end, as are the ports taken, so the kernel offers no port
/// twice and `n` tries plus one per port given before always suffice.
fn pick_by_kernel(n: usize, given: &BTreeSet<u16>) -> io::Result<Vec<TcpListener>> {
    let mut held = Vec::with_capacity(n);
    let mut skipped = Vec::new();
    for _ in 0..n + given.len() {
        if held.len() == n {
            break;
        }
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        if given.contains(&listener.local_addr()?.port()) {
            skipped.push(listener);
        } else {
            held.push(listener);
        }
    }
    if held.len() < n {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            format!(
                "the kernel offered only {} new loopback ports of {n}",
                held.len()
            ),
        ));
    }
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_distinct_never_repeated_and_below_the_ephemeral_range() {
        let first = loopback_ports(20).expect("free ports");
        let second = loopback_ports(20).expect("free ports");
        let mut ports: BTreeSet<u16> = first.iter().chain(&second).map(|a| a.port()).collect();
        assert_eq!(ports.len(), 40, "no port handed out twice");
        if let Some(range) = below_ephemeral() {
            assert!(ports.iter().all(|p| range.contains(p)), "{ports:?}");
        }
        let port = ports.pop_first().expect("a port");
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port));
        assert!(listener.is_ok(), "a port handed out is free: {listener:?}");
    }
}
