//! A merge process asked for snapshots: one `MergeProgressive` call per
//! request, which answers each partial with the result so far. A merge that
//! does not implement it (UNIMPLEMENTED, e.g. one written against the first
//! version of the contract) is called with `Merge` instead, the messages
//! already sent replayed to it; every partial then reports no snapshot.

use std::future::Future;
use std::pin::Pin;

use scatter_management::trace::OpenSpan;
use scatter_proto::v1::merge_update::Kind;
use scatter_proto::v1::{MergeBegin, MergeMessage, MergeUpdate, Payload};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Code, Response, Status, Streaming};

use super::remote::{
    RemoteMerge, RemoteSession, answered_early, begin_message, failure, merge_span_attributes,
    partial_message,
};
use crate::error::QueryError;
use crate::fanout::RequestId;

type Opening =
    Pin<Box<dyn Future<Output = Result<Response<Streaming<MergeUpdate>>, Status>> + Send>>;

/// One request's progressive call to a merge process.
pub struct ProgressiveSession {
    merge: RemoteMerge,
    request_id: RequestId,
    /// The call's span, ended with the merged result.
    span: Option<OpenSpan>,
    opened: Instant,
    deadline: Instant,
    tx: Option<mpsc::UnboundedSender<MergeMessage>>,
    /// What was sent, kept until the merge accepts the call, for a replay.
    sent: Vec<MergeMessage>,
    partials: usize,
    snapshots: usize,
    call: Call,
}

/// Where the call stands.
enum Call {
    /// Sent; the merge has not answered its headers yet.
    Opening(Opening),
    /// The merge answers with updates.
    Updates(Streaming<MergeUpdate>),
    /// The merge has no `MergeProgressive`: a plain `Merge` call.
    Plain(RemoteSession),
}

impl ProgressiveSession {
    pub(super) fn open(
        merge: &RemoteMerge,
        begin: MergeBegin,
        request_id: &RequestId,
        deadline: Instant,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let begin = begin_message(begin);
        let _ = tx.send(begin.clone());
        let opened = Instant::now();
        let mut request = tonic::Request::new(UnboundedReceiverStream::new(rx));
        request.set_timeout(deadline.saturating_duration_since(opened));
        let span = request_id.call("scatter.v1.Merge/MergeProgressive", request.metadata_mut());
        let mut client = merge.client();
        Self {
            merge: merge.clone(),
            request_id: request_id.clone(),
            span: Some(span),
            opened,
            deadline,
            tx: Some(tx),
            sent: vec![begin],
            partials: 0,
            snapshots: 0,
            call: Call::Opening(Box::pin(
                async move { client.merge_progressive(request).await },
            )),
        }
    }

    pub(super) fn send(&mut self, shard: u32, partial: Payload) {
        self.partials += 1;
        let message = partial_message(shard, partial);
        match &mut self.call {
            Call::Plain(session) => session.send_message(message),
            Call::Opening(_) => {
                self.sent.push(message.clone());
                self.push(message);
            }
            Call::Updates(_) => self.push(message),
        }
    }

    fn push(&self, message: MergeMessage) {
        if let Some(tx) = &self.tx {
            // A closed channel means the call ended; `next_snapshot` says why.
            let _ = tx.send(message);
        }
    }

    /// The snapshot that follows the next partial, or the merge's error.
    /// Cancel-safe: every await is on a future or stream kept in `self`.
    pub(super) async fn next_snapshot(&mut self) -> Result<Option<Payload>, QueryError> {
        loop {
            match &mut self.call {
                Call::Opening(opening) => {
                    let opened = opening.await;
                    self.accepted(opened)?;
                }
                Call::Updates(updates) => {
                    let update = updates.message().await;
                    return match update {
                        Ok(Some(MergeUpdate {
                            kind: Some(Kind::Snapshot(snapshot)),
                        })) => {
                            self.snapshots += 1;
                            Ok(Some(snapshot))
                        }
                        Ok(Some(MergeUpdate { kind: None })) => {
                            self.snapshots += 1;
                            Ok(None)
                        }
                        Ok(
                            Some(MergeUpdate {
                                kind: Some(Kind::Result(_)),
                            })
                            | None,
                        ) => Err(answered_early()),
                        Err(status) => Err(self.failure(status)),
                    };
                }
                Call::Plain(session) => {
                    if self.snapshots < self.partials {
                        self.snapshots += 1;
                        return Ok(None);
                    }
                    return Err(session.ended_early().await);
                }
            }
        }
    }

    /// No more partials: reads on to the merged result.
    pub(super) async fn finish(mut self) -> Result<Payload, QueryError> {
        drop(self.tx.take()); // half-close: no more partials
        let span = self.span.take();
        let request_id = self.request_id.clone();
        let attributes = merge_span_attributes(&request_id, self.merge.addr());
        let result = self.read_result().await;
        if let Some(span) = span {
            let error = result.as_ref().err().map(ToString::to_string);
            span.finish(request_id.spans(), attributes, error);
        }
        result
    }

    /// Reads on to the merged result, within the deadline.
    async fn read_result(mut self) -> Result<Payload, QueryError> {
        let waited = self.opened;
        let result = tokio::time::timeout_at(self.deadline, async move {
            while let Call::Opening(opening) = &mut self.call {
                let opened = opening.await;
                self.accepted(opened)?;
            }
            let mut updates = match self.call {
                Call::Plain(session) => return session.finish().await,
                Call::Updates(updates) => updates,
                Call::Opening(_) => unreachable!("the loop above ends every opening"),
            };
            loop {
                match updates.message().await {
                    Ok(Some(MergeUpdate {
                        kind: Some(Kind::Result(result)),
                    })) => return Ok(result),
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        return Err(QueryError::MergeFailed {
                            code: Code::Internal,
                            message: "the merge ended its updates without a result".into(),
                        });
                    }
                    Err(status) => {
                        return Err(failure(
                            self.merge.addr(),
                            self.opened,
                            self.deadline,
                            status,
                            self.merge.max_result_bytes(),
                        ));
                    }
                }
            }
        })
        .await;
        result.unwrap_or_else(|_| {
            Err(QueryError::MergeDeadline {
                waited_ms: waited.elapsed().as_millis(),
            })
        })
    }

    /// Takes the merge's answer to the call: its updates, or — when it does
    /// not know `MergeProgressive` — a plain `Merge` call replaying what was
    /// sent so far.
    fn accepted(
        &mut self,
        opened: Result<Response<Streaming<MergeUpdate>>, Status>,
    ) -> Result<(), QueryError> {
        match opened {
            Ok(response) => {
                self.sent = Vec::new();
                self.call = Call::Updates(response.into_inner());
                Ok(())
            }
            Err(status) if status.code() == Code::Unimplemented => {
                let replay = std::mem::take(&mut self.sent);
                let plain =
                    self.merge
                        .open_with(replay, &self.request_id, self.deadline, self.opened);
                // The plain call has its own stream; half-close it too if the
                // root already has.
                let plain = if self.tx.is_none() {
                    plain.half_closed()
                } else {
                    plain
                };
                self.call = Call::Plain(plain);
                Ok(())
            }
            Err(status) => Err(self.failure(status)),
        }
    }

    fn failure(&self, status: Status) -> QueryError {
        let limit = self.merge.max_result_bytes();
        failure(self.merge.addr(), self.opened, self.deadline, status, limit)
    }
}
