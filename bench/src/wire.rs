//! What the bench's payloads carry. A request body starts with the
//! harness's request id (8 bytes, little-endian), so leaves draw from the
//! same id whichever mode sent the call — the Scatter root gives requests
//! ids of its own. A partial body starts with the service time the leaf
//! applied (microseconds, 8 bytes, little-endian). Both are zero-padded to
//! the size a scenario asks for.

use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};

/// The content type of bench requests.
pub const REQUEST_CONTENT_TYPE: &str = "application/x-scatter-bench-request";
/// The content type of bench partials.
pub const PARTIAL_CONTENT_TYPE: &str = "application/x-scatter-bench-partial";

/// A request body for `request` of at least 8 bytes, padded to `size`.
pub fn request_body(request: u64, size: usize) -> Bytes {
    tagged(request, size)
}

/// The harness's request id in a request body, if it carries one.
pub fn request_id(body: &[u8]) -> Option<u64> {
    read_u64(body)
}

/// A partial body saying the leaf applied `service`, padded to `size`.
pub fn partial_body(service: Duration, size: usize) -> Bytes {
    tagged(u64::try_from(service.as_micros()).unwrap_or(u64::MAX), size)
}

/// The service time a partial body reports.
pub fn partial_service(body: &[u8]) -> Option<Duration> {
    read_u64(body).map(Duration::from_micros)
}

fn tagged(value: u64, size: usize) -> Bytes {
    let size = size.max(8);
    let mut body = BytesMut::with_capacity(size);
    body.put_u64_le(value);
    body.put_bytes(0, size - 8);
    body.freeze()
}

fn read_u64(body: &[u8]) -> Option<u64> {
    let head: [u8; 8] = body.get(..8)?.try_into().ok()?;
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
        let partial = partial_body(Duration::from_micros(5123), 4096);
        assert_eq!(partial_service(&partial), Some(Duration::from_micros(5123)));
        assert_eq!(request_id(b"short"), None);
    }
}
