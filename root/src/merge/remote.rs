//! A merge process reached over gRPC: one client-streaming `Merge` call per
//! request on a kept-open channel (`progressive.rs` has the call that also
//! answers with snapshots). The begin message and each partial are queued on
//! an unbounded channel (at most one message per shard), so forwarding a
//! partial never waits on the hot path.
//!
//! A call the merge could not take — UNAVAILABLE: its connection was
//! refused or broke, as when a merge task is replaced in a rolling update
//! and the root's connection is re-made — is opened again at once, up to
//! [`RETRIES`] times within the deadline, replaying every message sent so
//! far: a merge is a fold of what it is sent, so the second call answers
//! as the first would have.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use scatter_management::trace::AttributeValue;
use scatter_proto::v1::merge_client::MergeClient;
use scatter_proto::v1::merge_message::Kind;
use scatter_proto::v1::{MergeBegin, MergeMessage, MergeResponse, Payload, ShardPartial};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Response, Status};

use super::reachability::Reachability;
use crate::call_status::{is_over_limit, local_cause, over_limit};
use crate::error::QueryError;
use crate::fanout::RequestId;
use crate::topology::{Connector, normalise};

/// How many times one request's merge call is opened again after
/// UNAVAILABLE.
pub const RETRIES: u8 = 2;

/// A connected merge process.
#[derive(Clone)]
pub struct RemoteMerge {
    addr: Arc<str>,
    client: MergeClient<Channel>,
    reachability: Arc<Reachability>,
    /// The client's decoding limit (`limits.max_result_bytes`).
    max_result_bytes: usize,
}

type Call = Pin<Box<dyn Future<Output = Result<Response<MergeResponse>, Status>> + Send>>;

/// One request's stream to the merge.
pub struct RemoteSession {
    opened: Instant,
    deadline: Instant,
    tx: Option<mpsc::UnboundedSender<MergeMessage>>,
    /// What it takes to open the call again (boxed: kept small in the
    /// sessions that hold it).
    replay: Box<Replay>,
    call: Call,
}

/// What a merge call needs to be opened again.
struct Replay {
    merge: RemoteMerge,
    request_id: RequestId,
    /// Every message sent, in order.
    sent: Vec<MergeMessage>,
    retries_left: u8,
}

impl RemoteMerge {
    /// Connects to the merge at `addr` (lazily if it is not up yet).
    pub async fn connect(
        addr: &str,
        connector: &Connector,
    ) -> Result<Self, crate::error::StartError> {
        let addr: Arc<str> = normalise(addr).into();
        let channel = connector.channel(&addr).await?;
        Ok(Self {
            client: connector.merge_client(channel),
            max_result_bytes: connector.limits().max_result_bytes,
            reachability: Arc::new(Reachability::new(Arc::clone(&addr))),
            addr,
        })
    }

    /// The merge's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub(super) fn open(
        &self,
        begin: MergeBegin,
        request_id: &RequestId,
        deadline: Instant,
    ) -> RemoteSession {
        self.open_with([begin_message(begin)], request_id, deadline, Instant::now())
    }

    /// A `Merge` call that starts with `messages` (the begin, then any
    /// partials already sent elsewhere), opened at `opened`.
    pub(super) fn open_with(
        &self,
        messages: impl IntoIterator<Item = MergeMessage>,
        request_id: &RequestId,
        deadline: Instant,
        opened: Instant,
    ) -> RemoteSession {
        let (tx, rx) = mpsc::unbounded_channel();
        let sent: Vec<MergeMessage> = messages.into_iter().collect();
        for message in &sent {
            let _ = tx.send(message.clone());
        }
        let mut request = tonic::Request::new(UnboundedReceiverStream::new(rx));
        request.set_timeout(deadline.saturating_duration_since(Instant::now()));
        let span = request_id.call("scatter.v1.Merge/Merge", request.metadata_mut());
        let attributes = merge_span_attributes(request_id, &self.addr);
        let spans = request_id.spans().clone();
        let mut client = self.client.clone();
        RemoteSession {
            opened,
            deadline,
            tx: Some(tx),
            replay: Box::new(Replay {
                merge: self.clone(),
                request_id: request_id.clone(),
                sent,
                retries_left: RETRIES,
            }),
            call: Box::pin(async move {
                let result = client.merge(request).await;
                span.finish_call(&spans, attributes, &result);
                result
            }),
        }
    }

    /// Whether requests reach the merge, as their calls found it.
    pub fn reachability(&self) -> &Reachability {
        &self.reachability
    }

    /// The decoding limit of its client, in bytes.
    pub(super) fn max_result_bytes(&self) -> usize {
        self.max_result_bytes
    }

    /// The client, for the progressive call.
    pub(super) fn client(&self) -> MergeClient<Channel> {
        self.client.clone()
    }
}

/// The first message of a merge stream.
/// What a merge call's span says of it (nothing when spans are off).
pub(super) fn merge_span_attributes(
    request_id: &RequestId,
    addr: &str,
) -> Vec<(&'static str, AttributeValue)> {
    if !request_id.spans().enabled() {
        return Vec::new();
    }
    vec![
        ("scatter.request_id", request_id.label().into()),
        ("scatter.merge", addr.into()),
    ]
}

pub(super) fn begin_message(begin: MergeBegin) -> MergeMessage {
    MergeMessage {
        kind: Some(Kind::Begin(begin)),
    }
}

/// One partial on a merge stream.
pub(super) fn partial_message(shard: u32, partial: Payload) -> MergeMessage {
    MergeMessage {
        kind: Some(Kind::Partial(ShardPartial {
            shard,
            partial: Some(partial),
        })),
    }
}

/// A merge that answered while the root was still sending partials.
pub(super) fn answered_early() -> QueryError {
    QueryError::MergeFailed {
        code: Code::Internal,
        message: "the merge answered before the root finished sending partials".into(),
    }
}

/// What a failed merge call means for the request: the merge is down, out
/// of time, failed with its own status, or its answer was above the
/// root's limit of `max_result_bytes` (or the root's message above the
/// merge's).
pub(super) fn failure(
    addr: &str,
    opened: Instant,
    deadline: Instant,
    status: Status,
    max_result_bytes: usize,
) -> QueryError {
    let status = local_cause(over_limit(
        status,
        max_result_bytes,
        "the merge's result",
        "the root's --max-result-bytes",
    ));
    if is_over_limit(&status) {
        return QueryError::OverLimit(status.message().to_owned());
    }
    match status.code() {
        Code::Unavailable => QueryError::MergeUnavailable {
            addr: addr.to_owned(),
            message: status.message().to_owned(),
        },
        Code::ResourceExhausted => QueryError::MergeOverloaded {
            addr: addr.to_owned(),
            message: status.message().to_owned(),
        },
        Code::DeadlineExceeded | Code::Cancelled if Instant::now() >= deadline => {
            QueryError::MergeDeadline {
                waited_ms: opened.elapsed().as_millis(),
            }
        }
        code => QueryError::MergeFailed {
            code,
            message: status.message().to_owned(),
        },
    }
}

impl RemoteSession {
    pub(super) fn send(&mut self, shard: u32, partial: Payload) {
        self.send_message(partial_message(shard, partial));
    }

    pub(super) fn send_message(&mut self, message: MergeMessage) {
        if let Some(tx) = &self.tx {
            // A closed channel means the call ended; `ended_early` reports why.
            let _ = tx.send(message.clone());
            self.replay.sent.push(message);
        }
    }

    /// Opens the call again, replaying what was sent, after the merge could
    /// not take it; `false` when no retry is left or the deadline passed.
    fn reopen(&mut self, error: &QueryError) -> bool {
        let replay = &mut self.replay;
        if !matches!(error, QueryError::MergeUnavailable { .. })
            || replay.retries_left == 0
            || Instant::now() >= self.deadline
        {
            return false;
        }
        let half_closed = self.tx.is_none();
        let sent = std::mem::take(&mut replay.sent);
        let fresh = (replay.merge).open_with(sent, &replay.request_id, self.deadline, self.opened);
        tracing::debug!(merge = %replay.merge.addr(), "merge call opened again after UNAVAILABLE");
        let retries_left = replay.retries_left - 1;
        self.replay = fresh.replay;
        self.replay.retries_left = retries_left;
        self.call = fresh.call;
        self.tx = if half_closed { None } else { fresh.tx };
        true
    }

    /// The same call with its stream already half-closed.
    pub(super) fn half_closed(mut self) -> Self {
        drop(self.tx.take());
        self
    }

    /// Resolves only if the merge call ends before `finish` (it failed, or
    /// is down): a remote merge gives no snapshots.
    pub(super) async fn ended_early(&mut self) -> QueryError {
        loop {
            let result = (&mut self.call).await;
            match self.outcome(result) {
                Ok(_) => return answered_early(),
                Err(error) if self.reopen(&error) => {}
                Err(error) => return error,
            }
        }
    }

    pub(super) async fn finish(mut self) -> Result<Payload, QueryError> {
        drop(self.tx.take()); // half-close: no more partials
        loop {
            match tokio::time::timeout_at(self.deadline, &mut self.call).await {
                Ok(result) => match self.outcome(result) {
                    Err(error) if self.reopen(&error) => {}
                    outcome => return outcome,
                },
                Err(_) => {
                    return Err(QueryError::MergeDeadline {
                        waited_ms: self.opened.elapsed().as_millis(),
                    });
                }
            }
        }
    }

    fn outcome(
        &self,
        result: Result<Response<MergeResponse>, Status>,
    ) -> Result<Payload, QueryError> {
        match result {
            Ok(response) => response
                .into_inner()
                .result
                .ok_or_else(|| QueryError::MergeFailed {
                    code: Code::Internal,
                    message: "the merge answered without a result".into(),
                }),
            Err(status) => Err(failure(
                self.replay.merge.addr(),
                self.opened,
                self.deadline,
                status,
                self.replay.merge.max_result_bytes(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_merge_at_its_cap_is_overload_not_an_internal_error() {
        let now = Instant::now();
        let refused = Status::resource_exhausted("merge at its in-flight cap: 4 calls running");
        let error = failure(
            "http://m:1",
            now,
            now + Duration::from_secs(1),
            refused,
            1024,
        );
        assert_eq!(error.code(), Code::ResourceExhausted);
        assert!(error.to_string().contains("in-flight cap"), "{error}");
        assert!(error.to_string().contains("http://m:1"), "{error}");
    }
}
