//! What a failed call to a leaf or the merge means, when the failure was
//! made on this side of the wire rather than sent by the peer.
//!
//! tonic reports a client-side timeout as CANCELLED ("Timeout expired") and
//! a connection that broke mid-call (the peer was killed, the network cut)
//! or was closing as the call started (the peer drains: HTTP/2 GOAWAY) as
//! UNKNOWN, CANCELLED or INTERNAL ("h2 protocol error") with the transport
//! error as its source (a REFUSED_STREAM comes as UNAVAILABLE). The root
//! needs their meaning: a timeout is DEADLINE_EXCEEDED; a call the peer
//! refused unread and a broken connection are UNAVAILABLE (worth a retry
//! on another replica). A status the peer sent has no source and is kept
//! as it is.
//!
//! The two UNAVAILABLEs differ in what they say of the payload. HTTP/2
//! tells when the peer did no work for a call: it reset the stream with
//! REFUSED_STREAM, or its GOAWAY named a last stream below this one (RFC
//! 9113 §8.7) — a peer closing for a restart, whatever the payload. A
//! connection that broke any other way during the call may have been
//! broken by the payload itself: it is marked as such
//! ([`is_broken_connection`]), so a canary counts it as a death and the
//! fan-out retries it once per request, not once per shard.
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
            if refused_unread(first) {
                return Status::unavailable(format!(
                    "the peer refused the call before doing any work for it, most likely \
                     as it closes ({}: {cause})",
                    status.message()
                ));
            }
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

/// Whether the error chain from `first` holds the peer's GOAWAY, which
/// reaches only the streams above the last one it took: it did no work
/// for this call. (Its REFUSED_STREAM says the same, but tonic already
/// gives that as UNAVAILABLE, which never comes here.)
fn refused_unread(first: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(first);
    while let Some(error) = source {
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            return h2.is_remote() && h2.is_go_away();
        }
        source = error.source();
    }
    false
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
mod tests;
