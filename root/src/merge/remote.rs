//! A merge process reached over gRPC: one client-streaming call per request
//! on a kept-open channel. The begin message and each partial are queued on
//! an unbounded channel (at most one message per shard), so forwarding a
//! partial never waits on the hot path.

use std::future::Future;
use std::pin::Pin;

use scatter_proto::v1::merge_client::MergeClient;
use scatter_proto::v1::merge_message::Kind;
use scatter_proto::v1::{MergeBegin, MergeMessage, MergeResponse, Payload, ShardPartial};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Response, Status};

use crate::call_status::local_cause;
use crate::error::QueryError;
use crate::topology::{Connector, normalise};

/// A connected merge process.
#[derive(Clone)]
pub struct RemoteMerge {
    addr: String,
    client: MergeClient<Channel>,
}

type Call = Pin<Box<dyn Future<Output = Result<Response<MergeResponse>, Status>> + Send>>;

/// One request's stream to the merge.
pub struct RemoteSession {
    addr: String,
    opened: Instant,
    deadline: Instant,
    tx: Option<mpsc::UnboundedSender<MergeMessage>>,
    call: Call,
}

impl RemoteMerge {
    /// Connects to the merge at `addr` (lazily if it is not up yet).
    pub async fn connect(
        addr: &str,
        connector: &Connector,
    ) -> Result<Self, crate::error::StartError> {
        let addr = normalise(addr);
        let channel = connector.channel(&addr).await?;
        Ok(Self {
            client: Connector::merge_client(channel),
            addr,
        })
    }

    /// The merge's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub(super) fn open(&self, begin: MergeBegin, deadline: Instant) -> RemoteSession {
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(MergeMessage {
            kind: Some(Kind::Begin(begin)),
        });
        let now = Instant::now();
        let mut request = tonic::Request::new(UnboundedReceiverStream::new(rx));
        request.set_timeout(deadline.saturating_duration_since(now));
        let mut client = self.client.clone();
        RemoteSession {
            addr: self.addr.clone(),
            opened: now,
            deadline,
            tx: Some(tx),
            call: Box::pin(async move { client.merge(request).await }),
        }
    }
}

impl RemoteSession {
    pub(super) fn send(&mut self, shard: u32, partial: Payload) {
        if let Some(tx) = &self.tx {
            // A closed channel means the call ended; `ended_early` reports why.
            let _ = tx.send(MergeMessage {
                kind: Some(Kind::Partial(ShardPartial {
                    shard,
                    partial: Some(partial),
                })),
            });
        }
    }

    /// Resolves only if the merge call ends before `finish` (it failed, or
    /// is down): a remote merge gives no snapshots.
    pub(super) async fn ended_early(&mut self) -> QueryError {
        let result = (&mut self.call).await;
        match self.outcome(result) {
            Ok(_) => QueryError::MergeFailed {
                code: Code::Internal,
                message: "the merge answered before the root finished sending partials".into(),
            },
            Err(error) => error,
        }
    }

    pub(super) async fn finish(mut self) -> Result<Payload, QueryError> {
        drop(self.tx.take()); // half-close: no more partials
        match tokio::time::timeout_at(self.deadline, &mut self.call).await {
            Ok(result) => self.outcome(result),
            Err(_) => Err(QueryError::MergeDeadline {
                waited_ms: self.opened.elapsed().as_millis(),
            }),
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
            Err(status) => {
                let status = local_cause(status);
                Err(match status.code() {
                    Code::Unavailable => QueryError::MergeUnavailable {
                        addr: self.addr.clone(),
                        message: status.message().to_owned(),
                    },
                    Code::DeadlineExceeded | Code::Cancelled if Instant::now() >= self.deadline => {
                        QueryError::MergeDeadline {
                            waited_ms: self.opened.elapsed().as_millis(),
                        }
                    }
                    code => QueryError::MergeFailed {
                        code,
                        message: status.message().to_owned(),
                    },
                })
            }
        }
    }
}
