//! The leaf call as a `tower::Service`: one attempt, one replica, the time
//! left as `grpc-timeout`; through `Leaf/AnswerStream` when the shard
//! listens for what the leaf says before answering (hints, tied starts),
//! else `Leaf/Answer`. [`leaf_stack`] assembles the stack every attempt
//! goes through, layer by layer; tests put an in-memory service at its
//! bottom instead of gRPC.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use scatter_proto::v1::leaf_client::LeafClient;
use scatter_proto::v1::{LeafRequest, LeafResponse, LeafUpdate, Payload, leaf_update};
use tokio::time::Instant;
use tonic::Code;
use tonic::Status;
use tonic::transport::Channel;
use tower::Service;

use super::listen::{Listener, News};
use super::observe::{Observe, ObserveLayer};
use super::request_id::RequestId;
use crate::call_status::{local_cause, over_limit};
use crate::config::Limits;
use crate::topology::Replica;
use scatter_management::trace::{AttributeValue, OpenSpan};

/// The metadata that carries a call's time left (set by tonic).
const GRPC_TIMEOUT: &str = "grpc-timeout";

/// Why an attempt was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptKind {
    /// The shard's first call.
    First,
    /// A second call because the first was slow.
    Hedge,
    /// A call after a fast failure.
    Retry,
    /// A copy of a call that had not started work at its leaf after the
    /// tie delay; the first of the two to start cancels the other.
    Tied,
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
    /// Where to pass on what the leaf says before it answers; `None` when
    /// the request does not listen (the call is a plain `Answer`).
    pub listener: Option<Listener>,
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
            AttemptKind::Tied => "tied",
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

    fn call(&mut self, mut call: LeafCall) -> Self::Future {
        let client = call.replica.client.clone();
        let attributes = call.span_attributes();
        let limit = self.max_partial_bytes;
        let listener = call
            .listener
            .take()
            .filter(|_| call.replica.stats.reports.streams());
        Box::pin(async move {
            match listener {
                Some(listener) => streamed(client, call, &listener, attributes, limit).await,
                None => unary(client, call, attributes, limit).await,
            }
        })
    }
}

/// A failed call's status, with the code that says what it means when it
/// was made on this side of the wire (a timeout, a broken connection, a
/// partial over the root's limit).
fn cause(status: Status, max_partial_bytes: usize) -> Status {
    local_cause(over_limit(
        status,
        max_partial_bytes,
        "the leaf's partial",
        "the root's --max-partial-bytes",
    ))
}

impl LeafCall {
    /// The gRPC request of this call to `method`, with its timeout, id and
    /// trace; the call's span, to finish when it ends. The request's body
    /// is the call's (the payload is a shared `Bytes`).
    fn grpc(&mut self, method: &'static str) -> (tonic::Request<LeafRequest>, OpenSpan) {
        let mut request = tonic::Request::new(std::mem::take(&mut self.request));
        request.set_timeout(self.timeout);
        // The time left differs on every call: not worth an HPACK entry.
        if let Some(timeout) = request.metadata_mut().get_mut(GRPC_TIMEOUT) {
            timeout.set_sensitive(true);
        }
        let span = self.request_id.call(method, request.metadata_mut());
        (request, span)
    }
}

/// `Leaf/Answer`: the partial, and the leaf's load report kept.
async fn unary(
    mut client: LeafClient<Channel>,
    mut call: LeafCall,
    attributes: Vec<(&'static str, AttributeValue)>,
    limit: usize,
) -> Result<Payload, Status> {
    let (request, span) = call.grpc("scatter.v1.Leaf/Answer");
    let result = match client.answer(request).await {
        Ok(response) => answered(response.into_inner(), &call.replica),
        Err(status) => Err(status),
    }
    .map_err(|status| cause(status, limit));
    span.finish_call(call.request_id.spans(), attributes, &result);
    result
}

/// `Leaf/AnswerStream`: what the leaf says before its answer goes to the
/// listener. A leaf that does not implement it is called with `Answer`, now
/// and from then on.
async fn streamed(
    mut client: LeafClient<Channel>,
    mut call: LeafCall,
    listener: &Listener,
    attributes: Vec<(&'static str, AttributeValue)>,
    limit: usize,
) -> Result<Payload, Status> {
    call.request.report_start = listener.report_start();
    let spare = call.request.clone();
    let (request, span) = call.grpc("scatter.v1.Leaf/AnswerStream");
    let result = match client.answer_stream(request).await {
        Ok(updates) => read_updates(updates.into_inner(), &call.replica, listener).await,
        Err(status) => Err(status),
    };
    let refused = matches!(&result, Err(status) if status.code() == Code::Unimplemented);
    let result = result.map_err(|status| cause(status, limit));
    span.finish_call(call.request_id.spans(), attributes.clone(), &result);
    if !refused {
        return result;
    }
    call.replica.stats.reports.stream_refused();
    call.request = LeafRequest {
        report_start: false,
        ..spare
    };
    unary(client, call, attributes, limit).await
}

/// Reads an `AnswerStream` to its answer, passing on what comes before.
async fn read_updates(
    mut updates: tonic::Streaming<LeafUpdate>,
    replica: &Replica,
    listener: &Listener,
) -> Result<Payload, Status> {
    loop {
        let Some(update) = updates.message().await? else {
            return Err(Status::internal(
                "the leaf ended Leaf/AnswerStream without an answer",
            ));
        };
        match update.kind {
            Some(leaf_update::Kind::Answer(response)) => return answered(response, replica),
            Some(leaf_update::Kind::Started(started)) => {
                if let Some(load) = &started.load {
                    replica.stats.reports.record(load, Instant::now());
                }
                listener.hear(News::Started);
            }
            Some(leaf_update::Kind::Slow(hint)) => listener.hear(News::Slow {
                expected: (hint.expected_ms > 0)
                    .then(|| Duration::from_millis(u64::from(hint.expected_ms))),
            }),
            // An update of a later version of the contract: not for us.
            None => {}
        }
    }
}

/// The partial of an answer, keeping the load the leaf reported with it.
fn answered(response: LeafResponse, replica: &Replica) -> Result<Payload, Status> {
    if let Some(load) = &response.load {
        replica.stats.reports.record(load, Instant::now());
    }
    response
        .partial
        .ok_or_else(|| Status::internal("the leaf answered without a partial"))
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

#[cfg(test)]
mod tests {
    use scatter_management::metrics::Registry;
    use scatter_management::trace::{Spans, TraceContext};

    use super::*;
    use crate::topology::{Connector, ReplicaStats};

    #[tokio::test]
    async fn the_time_left_goes_as_grpc_timeout_never_indexed_by_hpack() {
        let addr = "http://127.0.0.1:1".to_owned();
        let channel = Connector::default().endpoint(&addr).unwrap().connect_lazy();
        let mut call = LeafCall {
            replica: Arc::new(Replica {
                client: Connector::default().leaf_client(channel),
                stats: ReplicaStats::new(&Registry::default(), 0, &addr),
                addr,
            }),
            request: LeafRequest::default(),
            timeout: Duration::from_millis(250),
            kind: AttemptKind::First,
            request_id: RequestId::new(1, None, TraceContext::start(), Spans::default()),
            listener: None,
        };
        let (request, _span) = call.grpc("scatter.v1.Leaf/Answer");
        let timeout = request.metadata().get(GRPC_TIMEOUT).unwrap();
        assert_eq!(timeout, "250000u");
        assert!(
            timeout.is_sensitive(),
            "a new value per call would fill the table"
        );
    }
}
