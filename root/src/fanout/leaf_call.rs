//! The leaf call as a `tower::Service`: one attempt, one replica, the time
//! left as `grpc-timeout`. [`leaf_stack`] assembles the stack every attempt
//! goes through, layer by layer; tests put an in-memory service at its
//! bottom instead of gRPC.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use scatter_proto::v1::{LeafRequest, Payload};
use tonic::Status;
use tower::Service;

use super::observe::{Observe, ObserveLayer};
use super::request_id::RequestId;
use crate::call_status::{local_cause, over_limit};
use crate::config::Limits;
use crate::topology::Replica;
use scatter_management::trace::AttributeValue;

/// Why an attempt was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptKind {
    /// The shard's first call.
    First,
    /// A second call because the first was slow.
    Hedge,
    /// A call after a fast failure.
    Retry,
}

/// One attempt of one shard: the request for one replica.
pub struct LeafCall {
    /// The replica called; its channel and statistics.
    pub replica: Arc<Replica>,
    /// What the leaf receives (the payload is a shared `Bytes`, not a copy).
    pub request: LeafRequest,
    /// Time left before the gather deadline, sent as `grpc-timeout`.
    pub timeout: Duration,
    /// Why it is sent.
    pub kind: AttemptKind,
    /// The request's id, sent as `x-request-id` metadata, and its trace:
    /// the attempt is a span of its own, sent as `traceparent`.
    pub request_id: RequestId,
}

impl LeafCall {
    /// What the attempt's span says of it (nothing when spans are off).
    fn span_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        if !self.request_id.spans().enabled() {
            return Vec::new();
        }
        let kind = match self.kind {
            AttemptKind::First => "first",
            AttemptKind::Hedge => "hedge",
            AttemptKind::Retry => "retry",
        };
        vec![
            ("scatter.request_id", self.request_id.label().into()),
            ("scatter.shard", self.request.shard.into()),
            ("scatter.attempt", self.request.attempt.into()),
            ("scatter.attempt_kind", kind.into()),
            ("scatter.replica", self.replica.addr.as_str().into()),
        ]
    }
}

/// What the engine needs of a leaf-call stack: a `tower::Service` from
/// [`LeafCall`] to the leaf's partial, cheap to clone, shareable across
/// requests. Every such service is one; [`LeafStack`] is the root's.
pub trait LeafService:
    Service<LeafCall, Response = Payload, Error = Status, Future: Send> + Clone + Send + Sync + 'static
{
}

impl<S> LeafService for S where
    S: Service<LeafCall, Response = Payload, Error = Status, Future: Send>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// The bottom of the stack: a gRPC `Leaf.Answer` on the replica's kept-open
/// channel. Dropping the future resets the HTTP/2 stream, so the leaf sees
/// its work cancelled. A failure made on this side of the wire (a timeout,
/// a broken connection) is given the code that says what it means.
#[derive(Clone, Copy, Debug)]
pub struct GrpcLeaf {
    /// The replicas' decoding limit (`limits.max_partial_bytes`), to tell
    /// the root's refusal of a partial from a leaf's of the request.
    max_partial_bytes: usize,
}

impl GrpcLeaf {
    /// Leaf calls whose clients decode at most `limits.max_partial_bytes`
    /// (the limit [`Connector::leaf_client`](crate::topology::Connector::leaf_client) sets).
    pub fn new(limits: &Limits) -> Self {
        Self {
            max_partial_bytes: limits.max_partial_bytes,
        }
    }
}

impl Default for GrpcLeaf {
    fn default() -> Self {
        Self::new(&Limits::default())
    }
}

impl Service<LeafCall> for GrpcLeaf {
    type Response = Payload;
    type Error = Status;
    type Future = BoxFuture<'static, Result<Payload, Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: LeafCall) -> Self::Future {
        let mut client = call.replica.client.clone();
        let attributes = call.span_attributes();
        let limit = self.max_partial_bytes;
        let mut request = tonic::Request::new(call.request);
        request.set_timeout(call.timeout);
        let span = call
            .request_id
            .call("scatter.v1.Leaf/Answer", request.metadata_mut());
        Box::pin(async move {
            let result = match client.answer(request).await {
                Ok(response) => response
                    .into_inner()
                    .partial
                    .ok_or_else(|| Status::internal("the leaf answered without a partial")),
                Err(status) => Err(local_cause(over_limit(
                    status,
                    limit,
                    "the leaf's partial",
                    "the root's --max-partial-bytes",
                ))),
            };
            span.finish_call(call.request_id.spans(), attributes, &result);
            result
        })
    }
}

/// The stack every leaf call of the root goes through.
pub type LeafStack = Observe<GrpcLeaf>;

/// Assembles the leaf-call stack, outermost layer first: replica
/// statistics and counters, then the gRPC call.
pub fn leaf_stack(limits: &Limits) -> LeafStack {
    tower::ServiceBuilder::new()
        .layer(ObserveLayer)
        .service(GrpcLeaf::new(limits))
}
