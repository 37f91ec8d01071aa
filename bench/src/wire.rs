//! What the bench's payloads carry. A request body starts with the
//! harness's request id (8 bytes, little-endian), so leaves draw from the
//! same id whichever mode sent the call — the Scatter root gives requests
//! ids of its own — and a deadly request (`query-of-death`) then carries
//! [`DEADLY_MARKER`] in its next 8 bytes. A partial body starts with the
//! service time the model drew (microseconds, 8 bytes, little-endian), then
//! the time the leaf was busy on the call as it measured it (the same
//! way), which the harness sums over the partials an answer used (see
//! [`crate::work`]). Both are zero-padded to the size a scenario asks for.

use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};

/// The content type of bench requests.
pub const REQUEST_CONTENT_TYPE: &str = "application/x-scatter-bench-request";
/// The content type of bench partials.
pub const PARTIAL_CONTENT_TYPE: &str = "application/x-scatter-bench-partial";
/// Bytes 8..16 of a request that kills every bench leaf it reaches.
pub const DEADLY_MARKER: [u8; 8] = *b"DEADLY!!";

/// A request body for `request` of at least 8 bytes, padded to `size`.
pub fn request_body(request: u64, size: usize) -> Bytes {
    tagged(&[request], size)
}

/// A request body for `request` that makes every bench leaf receiving it
/// exit (at least 16 bytes, padded to `size`).
pub fn deadly_request_body(request: u64, size: usize) -> Bytes {
    let mut body = BytesMut::from(&request_body(request, size.max(16))[..]);
    body[8..16].copy_from_slice(&DEADLY_MARKER);
    body.freeze()
}

/// The harness's request id in a request body, if it carries one.
pub fn request_id(body: &[u8]) -> Option<u64> {
    read_u64(body, 0)
}

/// Whether a request body carries the deadly marker.
pub fn is_deadly(body: &[u8]) -> bool {
    body.get(8..16) == Some(&DEADLY_MARKER[..])
}

/// A partial body saying the model drew `service` and the leaf was busy
/// `busy`, padded to `size` (at least 16 bytes).
pub fn partial_body(service: Duration, busy: Duration, size: usize) -> Bytes {
    tagged(&[micros(service), micros(busy)], size)
}

/// The service time a partial body reports.
pub fn partial_service(body: &[u8]) -> Option<Duration> {
    read_u64(body, 0).map(Duration::from_micros)
}

/// The busy time a partial body reports.
pub fn partial_busy(body: &[u8]) -> Option<Duration> {
    read_u64(body, 8).map(Duration::from_micros)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn tagged(values: &[u64], size: usize) -> Bytes {
    let size = size.max(8 * values.len());
    let mut body = BytesMut::with_capacity(size);
    for value in values {
        body.put_u64_le(*value);
    }
    body.put_bytes(0, size - 8 * values.len());
    body.freeze()
}

fn read_u64(body: &[u8], at: usize) -> Option<u64> {
    let head: [u8; 8] = body.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_and_service_time_round_trip_at_any_size() {
        let body = request_body(0xDEAD_BEEF, 100);
        assert_eq!(body.len(), 100);
        assert_eq!(request_id(&body), Some(0xDEAD_BEEF));
        assert_eq!(request_body(1, 0).len(), 8, "never shorter than the id");
        let partial = partial_body(
            Duration::from_micros(5123),
            Duration::from_micros(5170),
            4096,
        );
        assert_eq!(partial_service(&partial), Some(Duration::from_micros(5123)));
        assert_eq!(partial_busy(&partial), Some(Duration::from_micros(5170)));
        assert_eq!(partial_body(Duration::ZERO, Duration::ZERO, 8).len(), 16);
        assert_eq!(request_id(b"short"), None);
    }

    #[test]
    fn only_a_deadly_body_carries_the_marker_and_it_keeps_its_id() {
        let deadly = deadly_request_body(42, 8);
        assert_eq!(deadly.len(), 16, "room for the marker");
        assert!(is_deadly(&deadly));
        assert_eq!(request_id(&deadly), Some(42));
        assert_eq!(deadly_request_body(42, 100).len(), 100);
        assert!(!is_deadly(&request_body(42, 100)));
        assert!(!is_deadly(&request_body(42, 8)), "too short for a marker");
        // A normal id whose bytes happen to follow is not the marker.
        assert!(!is_deadly(&request_body(
            u64::from_le_bytes(DEADLY_MARKER),
            16
        )));
    }
}
