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

use crate::RootError;
use crate::config::ConnectConfig;
use crate::discovery::{connect_channel, normalise};

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

/// Results up to 64 MiB are accepted from the merge.
const MAX_RESULT_BYTES: usize = 64 << 20;

impl RemoteMerge {
    /// Connects to the merge at `addr` (lazily if it is not up yet).
    pub async fn connect(addr: &str, connect: &ConnectConfig) -> Result<Self, RootError> {
        let addr = normalise(addr);
        let channel = connect_channel(&addr, connect).await?;
        Ok(Self {
            client: MergeClient::new(channel)
                .max_decoding_message_size(MAX_RESULT_BYTES)
                .max_encoding_message_size(usize::MAX),
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

    pub(super) async fn ended_early(&mut self) -> Result<Payload, RootError> {
        let result = (&mut self.call).await;
        self.outcome(result)
    }

    pub(super) async fn finish(mut self) -> Result<Payload, RootError> {
        drop(self.tx.take()); // half-close: no more partials
        match tokio::time::timeout_at(self.deadline, &mut self.call).await {
            Ok(result) => self.outcome(result),
            Err(_) => Err(RootError::MergeDeadline {
                waited_ms: self.opened.elapsed().as_millis(),
            }),
        }
    }

    fn outcome(
        &self,
        result: Result<Response<MergeResponse>, Status>,
    ) -> Result<Payload, RootError> {
        match result {
            Ok(response) => response
                .into_inner()
                .result
                .ok_or_else(|| RootError::MergeFailed {
                    code: Code::Internal,
                    message: "the merge answered without a result".into(),
                }),
            Err(status) => {
                let status = crate::call_status::local_cause(status);
                Err(match status.code() {
                    Code::Unavailable => RootError::MergeUnavailable {
                        addr: self.addr.clone(),
                        message: status.message().to_owned(),
                    },
                    Code::DeadlineExceeded | Code::Cancelled if Instant::now() >= self.deadline => {
                        RootError::MergeDeadline {
                            waited_ms: self.opened.elapsed().as_millis(),
                        }
                    }
                    code => RootError::MergeFailed {
                        code,
                        message: status.message().to_owned(),
                    },
                })
            }
        }
    }
}
