//! What a failed call to a leaf or the merge means, when the failure was
//! made on this side of the wire rather than sent by the peer.
//!
//! tonic reports a client-side timeout as CANCELLED ("Timeout expired") and
//! a connection that broke mid-call (the peer was killed, the network cut)
//! as UNKNOWN or CANCELLED with the transport error as its source. The root
//! needs their meaning: a timeout is DEADLINE_EXCEEDED, a broken
//! connection is UNAVAILABLE (worth a retry on another replica). A status
//! the peer sent has no source and is kept as it is.
//!
//! An answer above the root's decoding limit is refused by tonic with
//! OUT_OF_RANGE as its length prefix arrives; the root reports it as
//! RESOURCE_EXHAUSTED naming the limit to raise, marked so that it is not
//! retried (another replica of the shard would answer as much).

use std::error::Error as _;

use tonic::{Code, Status};

/// Marks a status the root made for an answer above one of its limits.
const OVER_LIMIT: &str = "scatter-over-limit";

/// `status`, or, when it is tonic refusing an answer above the decoding
/// limit, RESOURCE_EXHAUSTED saying that `what` (e.g. "the leaf's partial")
/// is over the limit `flag` sets.
pub fn over_limit(status: Status, what: &str, flag: &str) -> Status {
    let refused = status.code() == Code::OutOfRange
        && status.source().is_none()
        && status
            .message()
            .contains("decoded message length too large");
    if !refused {
        return status;
    }
    let mut exhausted = Status::resource_exhausted(format!(
        "{what} is larger than this root accepts (raise {flag}): {}",
        status.message()
    ));
    exhausted
        .metadata_mut()
        .insert(OVER_LIMIT, tonic::metadata::MetadataValue::from_static("1"));
    exhausted
}

/// Whether `status` was made by [`over_limit`].
pub fn is_over_limit(status: &Status) -> bool {
    status.metadata().contains_key(OVER_LIMIT)
}

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
        Code::Unknown | Code::Cancelled => Status::unavailable(format!(
            "the connection broke during the call ({}: {first})",
            status.message()
        )),
        _ => status,
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
    }

    #[test]
    fn an_answer_over_the_decoding_limit_is_resource_exhausted_naming_the_flag() {
        let refused = Status::out_of_range(
            "Error, decoded message length too large: found 2048 bytes, the limit is: 1024 bytes",
        );
        let status = over_limit(refused, "the leaf's partial", "--max-partial-bytes");
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(
            status.message().contains("--max-partial-bytes") && status.message().contains("1024"),
            "{status:?}"
        );
        assert!(is_over_limit(&status));
        let own = over_limit(Status::out_of_range("page 9 of 3"), "x", "--y");
        assert_eq!((own.code(), is_over_limit(&own)), (Code::OutOfRange, false));
    }

    #[test]
    fn a_broken_connection_is_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let mut status = Status::unknown("transport error");
        status.set_source(std::sync::Arc::new(io));
        let status = local_cause(status);
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("reset by peer"), "{status:?}");
    }
}
