//! The most bytes one message to a leaf or merge may have
//! (`--max-message-bytes`), and the status a caller gets above it.
//!
//! tonic refuses a message above its decoding limit as soon as the length
//! prefix arrives (nothing of it is held), with OUT_OF_RANGE — a code that
//! reads as the caller's bad argument. A Scatter process answers
//! RESOURCE_EXHAUSTED instead, naming the flag to raise, and marks the
//! status with [`OVER_LIMIT_KEY`] so that the root does not retry it on
//! another replica, which would refuse it the same way.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::codegen::http;
use tonic::{Code, Status};

/// The default: 64 MiB (the root's default partial and result limits) and
/// room for the few bytes of framing a message adds around a payload.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = (64 << 20) + (64 << 10);

/// The metadata key marking a status made because a message was over a
/// size limit; its value is always `1`.
pub const OVER_LIMIT_KEY: &str = "scatter-over-limit";

/// What tonic's refusal says.
const DECODE_REFUSAL: &str = "decoded message length too large";

/// Whether `status` is tonic's refusal of a message above `limit` bytes,
/// this side's decoding limit. The limit it quotes tells it from the same
/// refusal a peer made of a message this side sent, relayed as its status.
pub fn is_decode_refusal(status: &Status, limit: usize) -> bool {
    status.code() == Code::OutOfRange
        && status.message().contains(DECODE_REFUSAL)
        && status
            .message()
            .contains(&format!("the limit is: {limit} bytes"))
}

/// `status`, or, when it is tonic refusing a message above this side's
/// decoding limit of `limit` bytes, RESOURCE_EXHAUSTED saying `what` (e.g.
/// "the leaf's partial") is larger than `whose` limit (e.g. "the root's
/// --max-partial-bytes") allows.
pub fn over_limit(status: Status, limit: usize, what: &str, whose: &str) -> Status {
    if is_decode_refusal(&status, limit) {
        exhausted(&status, what, whose)
    } else {
        status
    }
}

/// The RESOURCE_EXHAUSTED, marked with [`OVER_LIMIT_KEY`], for tonic's `refusal`.
fn exhausted(refusal: &Status, what: &str, limit: &str) -> Status {
    let mut status = Status::resource_exhausted(format!(
        "{what} is larger than {limit} allows: {}",
        refusal.message()
    ));
    status.metadata_mut().insert(
        OVER_LIMIT_KEY,
        tonic::metadata::MetadataValue::from_static("1"),
    );
    status
}

/// Whether `status` was made by [`over_limit`], here or by a peer.
pub fn is_over_limit(status: &Status) -> bool {
    status.metadata().contains_key(OVER_LIMIT_KEY)
}

/// Wraps a unary gRPC service so that a request tonic refuses as too large
/// is answered as [`over_limit`] says. Requests the handler reads pass as
/// they are: tonic answers for the handler only when it could not decode.
#[derive(Clone, Debug)]
pub struct MessageLimitLayer {
    /// What the message is, for the status ("the request").
    pub what: &'static str,
    /// Whose limit it is ("this leaf's --max-message-bytes").
    pub whose: &'static str,
    /// The decoding limit in bytes.
    pub limit: usize,
}

impl<S> tower::Layer<S> for MessageLimitLayer {
    type Service = MessageLimit<S>;
    fn layer(&self, inner: S) -> MessageLimit<S> {
        MessageLimit {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`MessageLimitLayer`] makes.
#[derive(Clone, Debug)]
pub struct MessageLimit<S> {
    inner: S,
    layer: MessageLimitLayer,
}

impl<S, B, R> tower::Service<http::Request<B>> for MessageLimit<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<http::Response<R>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let layer = self.layer.clone();
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            // The handler's own statuses reach here too; tonic's refusal
            // is told apart by its message, which quotes the limit.
            if let Some(status) = Status::from_header_map(response.headers())
                && is_decode_refusal(&status, layer.limit)
            {
                let status = exhausted(&status, layer.what, layer.whose);
                let _ = status.add_header(response.headers_mut());
            }
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decode_refusal_becomes_resource_exhausted_naming_the_flag() {
        let refused = Status::out_of_range(
            "Error, decoded message length too large: found 2048 bytes, the limit is: 1024 bytes",
        );
        let status = over_limit(
            refused,
            1024,
            "the request",
            "this leaf's --max-message-bytes",
        );
        assert_eq!(status.code(), Code::ResourceExhausted);
        let message = status.message();
        assert!(
            message.contains("--max-message-bytes") && message.contains("1024"),
            "{status:?}"
        );
        assert!(is_over_limit(&status));
    }

    #[test]
    fn a_peers_refusal_of_what_this_side_sent_and_other_statuses_are_kept() {
        let peers = Status::out_of_range(
            "Error, decoded message length too large: found 9000 bytes, the limit is: 4096 bytes",
        );
        let status = over_limit(peers, 1024, "x", "--y");
        assert_eq!(
            (status.code(), is_over_limit(&status)),
            (Code::OutOfRange, false)
        );
        let other = over_limit(Status::out_of_range("page 9 of 3"), 1024, "x", "--y");
        assert_eq!(other.code(), Code::OutOfRange);
    }
}
