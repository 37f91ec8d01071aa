//! What a failed call to a leaf or the merge means, when the failure was
//! made on this side of the wire rather than sent by the peer.
//!
//! tonic reports a client-side timeout as CANCELLED ("Timeout expired") and
//! a connection that broke mid-call (the peer was killed, the network cut)
//! or was closing as the call started (the peer drains: HTTP/2 GOAWAY,
//! REFUSED_STREAM) as UNKNOWN, CANCELLED or INTERNAL ("h2 protocol error")
//! with the transport error as its source. The root
//! needs their meaning: a timeout is DEADLINE_EXCEEDED, a broken
//! connection is UNAVAILABLE (worth a retry on another replica). A status
//! the peer sent has no source and is kept as it is.
//!
//! A broken connection is marked as such ([`is_broken_connection`]): to a
//! canary it means the payload may have killed the leaf.
//!
//! An answer above the root's decoding limit is refused by tonic with
//! OUT_OF_RANGE as its length prefix arrives; the root reports it as
//! RESOURCE_EXHAUSTED naming the limit to raise, marked so that it is not
//! retried (another replica of the shard would answer as much).

use std::error::Error as _;

use tonic::{Code, Status};

pub use scatter_management::message_limit::{is_over_limit, over_limit};

/// The metadata key marking a status [`local_cause`] made of a broken connection.
const BROKEN_CONNECTION_KEY: &str = "scatter-broken-connection";

/// The status to act on for a call that failed with `status`.
pub fn local_cause(status: Status) -> Status {
    let Some(first) = status.source() else {
        return status;
    };
    let mut source = Some(first);
    while let Some(error) = source {
        if error.is::<tonic::TimeoutExpired>() {
            return Status::deadline_exceeded("no answer before the request deadline");
        }
        source = error.source();
    }
    match status.code() {
        Code::Unknown | Code::Cancelled | Code::Internal => {
            let cause = scatter_management::error_chain(first);
            let mut broken = Status::unavailable(format!(
                "the connection broke during the call ({}: {cause}){}",
                status.message(),
                refused_identity_hint(&cause)
            ));
            broken.metadata_mut().insert(
                BROKEN_CONNECTION_KEY,
                tonic::metadata::MetadataValue::from_static("1"),
            );
            broken
        }
        _ => status,
    }
}

/// Whether `status` is a connection that broke during the call (the peer
/// died, or its connection was cut), as made by [`local_cause`]; a peer's
/// own UNAVAILABLE, or a connection refused before the call, is not.
pub fn is_broken_connection(status: &Status) -> bool {
    status.metadata().contains_key(BROKEN_CONNECTION_KEY)
}

/// What a call to a leaf that died mid-call gives (a connection reset
/// under tonic's transport error), for in-memory leaves in tests.
#[cfg(test)]
pub fn broken_connection() -> Status {
    let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
    let mut status = Status::unknown("transport error");
    status.set_source(std::sync::Arc::new(reset));
    local_cause(status)
}

/// When the peer closed the connection or sent a TLS alert, what that
/// most likely means over mTLS (see [`scatter_management::refused_after_handshake`]).
fn refused_identity_hint(cause: &str) -> &'static str {
    if scatter_management::refused_after_handshake(cause) {
        "; if the peer requires client certificates (mTLS), it may have refused \
         this root's (connect.tls.cert / --upstream-tls-cert)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_from_the_peer_are_kept() {
        let status = local_cause(Status::unknown("the leaf's own unknown error"));
        assert_eq!(status.code(), Code::Unknown);
        let status = local_cause(Status::cancelled("the leaf gave up"));
        assert_eq!(status.code(), Code::Cancelled);
        let status = local_cause(Status::internal("the merge's own bug"));
        assert_eq!(status.code(), Code::Internal);
    }

    #[test]
    fn a_stream_refused_by_a_closing_connection_is_unavailable() {
        // What tonic gives for a call started as the peer's GOAWAY arrives.
        let h2 = std::io::Error::other("http2 error: stream refused");
        let mut status = Status::internal("h2 protocol error: http2 error");
        status.set_source(std::sync::Arc::new(h2));
        let status = local_cause(status);
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("stream refused"), "{status:?}");
    }

    #[test]
    fn a_broken_connection_is_unavailable() {
        let status = broken_connection();
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("connection reset"), "{status:?}");
        assert!(is_broken_connection(&status));
        assert!(!is_broken_connection(&Status::unavailable(
            "the leaf's own"
        )));
    }

    #[test]
    fn a_connection_closed_before_the_call_hints_at_a_refused_certificate() {
        let closed = std::io::Error::other("operation was canceled: connection closed");
        let mut status = Status::cancelled("operation was canceled");
        status.set_source(std::sync::Arc::new(closed));
        let status = local_cause(status);
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            status.message().contains("--upstream-tls-cert"),
            "{status:?}"
        );
    }
}
