//! The `scatter.v1.Merge` gRPC service around a user's [`Merge`], and `serve`.

use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use scatter_management::message_limit::over_limit;
use scatter_management::metrics::{Counter, Gauge, Latency};
use scatter_management::trace::{AttributeValue, OpenSpan, SpanKind, Spans, TraceContext};
use scatter_management::{Error, InFlightCap, InFlightPermit, Process, sent_request_id};
use scatter_proto::v1::merge_message::Kind;
use scatter_proto::v1::merge_server::{self, MergeServer};
use scatter_proto::v1::merge_update as update;
use scatter_proto::v1::{MergeMessage, MergeResponse, MergeUpdate, Payload};
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument as _;

use crate::{Fold, Merge, MergeOptions};

const SERVICE: &str = "scatter.v1.Merge";

/// Serves `merge` as configured by `options` until SIGTERM or ctrl-c, then
/// drains and returns `Ok(())`.
pub async fn serve<M: Merge>(merge: M, options: MergeOptions) -> Result<(), Error> {
    let listener = scatter_management::bind(options.listen).await?;
    serve_on(merge, options, listener, Process::new("merge", &[SERVICE])).await
}

/// Like [`serve`], on a listener already bound and with a [`Process`] the
/// caller keeps.
pub async fn serve_on<M: Merge>(
    merge: M,
    options: MergeOptions,
    listener: TcpListener,
    process: Process,
) -> Result<(), Error> {
    let service = MergeService::new(merge, &process).max_in_flight(options.serve.max_in_flight);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "merge serving");
    }
    let max_message = options.serve.max_message_bytes;
    let service = service.max_message_bytes(max_message);
    let server = MergeServer::new(service).max_decoding_message_size(max_message);
    let routes = Routes::new(server);
    scatter_management::serve(process, routes, listener, options.serve).await
}

/// The gRPC service for one merge. Public so it can be mounted into a server
/// the user builds; most users call [`serve`].
pub struct MergeService<M> {
    merge: Arc<M>,
    cap: InFlightCap,
    merged: Counter,
    failed: Counter,
    refused: Counter,
    cancelled: Counter,
    partials: Counter,
    in_flight: Gauge,
    latency: Latency,
    spans: Spans,
    max_message_bytes: usize,
}

impl<M: Merge> MergeService<M> {
    /// Wraps `merge`, counting its work in `process`'s metrics; no cap on
    /// merges in flight until [`max_in_flight`](Self::max_in_flight).
    pub fn new(merge: M, process: &Process) -> Self {
        let m = &process.metrics;
        let merges = "scatter_merge_requests_total";
        let help = "Merged requests by how they ended.";
        Self {
            merge: Arc::new(merge),
            cap: InFlightCap::new("merge", None),
            merged: m.counter(merges, help, &[("outcome", "ok")]),
            failed: m.counter(merges, help, &[("outcome", "error")]),
            refused: m.counter(merges, help, &[("outcome", "refused")]),
            cancelled: m.counter(merges, help, &[("outcome", "cancelled")]),
            partials: m.counter("scatter_merge_partials_total", "Partials folded.", &[]),
            in_flight: m.gauge("scatter_merge_in_flight", "Merges running now.", &[]),
            latency: m.latency(
                "scatter_merge_stream_seconds",
                "Time from begin to result.",
                &[],
            ),
            spans: process.spans.clone(),
            max_message_bytes: scatter_management::message_limit::DEFAULT_MAX_MESSAGE_BYTES,
        }
    }

    /// Stream messages above `limit` bytes are refused as they arrive, with
    /// RESOURCE_EXHAUSTED; this must match the server's decoding limit, as
    /// [`serve`] sets both from `--max-message-bytes`.
    #[must_use]
    pub fn max_message_bytes(mut self, limit: usize) -> Self {
        self.max_message_bytes = limit;
        self
    }

    /// Refuses merges past `limit` running at once with `RESOURCE_EXHAUSTED`,
    /// before reading any message of theirs; `None` admits every merge.
    #[must_use]
    pub fn max_in_flight(mut self, limit: Option<NonZeroUsize>) -> Self {
        self.cap = InFlightCap::new("merge", limit);
        self
    }

    /// Folds one stream; with `progress`, sends the result so far after
    /// each partial (for `MergeProgressive`).
    async fn fold(
        &self,
        mut stream: Streaming<MergeMessage>,
        progress: Option<&mpsc::UnboundedSender<Result<MergeUpdate, Status>>>,
    ) -> Result<Payload, Status> {
        let begin = match next(&mut stream, self.max_message_bytes)
            .await?
            .and_then(|m| m.kind)
        {
            Some(Kind::Begin(begin)) => begin,
            Some(Kind::Partial(_)) => {
                return Err(Status::invalid_argument(
                    "the first message of a merge stream must be `begin`, got a partial",
                ));
            }
            None => {
                return Err(Status::invalid_argument(
                    "the merge stream ended before its `begin` message",
                ));
            }
        };
        let mut fold = self.merge.begin(&begin)?;
        while let Some(message) = next(&mut stream, self.max_message_bytes).await? {
            match message.kind {
                Some(Kind::Partial(partial)) => {
                    self.partials.inc();
                    fold.accept(partial.shard, partial.partial.unwrap_or_default())?;
                    if let Some(progress) = progress {
                        let kind = fold.snapshot().map(update::Kind::Snapshot);
                        // A closed channel: the root went away; the stream ends next.
                        let _ = progress.send(Ok(MergeUpdate { kind }));
                    }
                }
                Some(Kind::Begin(_)) => {
                    return Err(Status::invalid_argument(
                        "a merge stream carries one `begin` message, and it came again",
                    ));
                }
                None => return Err(Status::invalid_argument("a merge message with no content")),
            }
        }
        fold.finish()
    }

    /// Folds one stream, timed and counted.
    async fn counted(
        &self,
        stream: Streaming<MergeMessage>,
        progress: Option<&mpsc::UnboundedSender<Result<MergeUpdate, Status>>>,
        trace_id: &str,
    ) -> Result<Payload, Status> {
        let started = Instant::now();
        let mut guard = MergeGuard::enter(self);
        let result = self.fold(stream, progress).await;
        guard.finished = true;
        let latency = started.elapsed();
        self.latency.record_traced(latency, Some(trace_id));
        let latency_ms = latency.as_secs_f64() * 1e3;
        match &result {
            Ok(_) => {
                self.merged.inc();
                tracing::debug!(latency_ms, "merge answered");
            }
            Err(status) => {
                self.failed.inc();
                tracing::debug!(latency_ms, code = ?status.code(), error = status.message(), "merge failed");
            }
        }
        result
    }

    /// A slot under the cap for one merge, held until it ends; a refusal is
    /// counted and never reaches the fold.
    fn admit(&self) -> Result<InFlightPermit, Status> {
        self.cap.try_enter().inspect_err(|_| self.refused.inc())
    }
}

impl<M> Clone for MergeService<M> {
    fn clone(&self) -> Self {
        Self {
            merge: Arc::clone(&self.merge),
            cap: self.cap.clone(),
            merged: self.merged.clone(),
            failed: self.failed.clone(),
            refused: self.refused.clone(),
            cancelled: self.cancelled.clone(),
            partials: self.partials.clone(),
            in_flight: self.in_flight.clone(),
            latency: self.latency.clone(),
            spans: self.spans.clone(),
            max_message_bytes: self.max_message_bytes,
        }
    }
}

/// The next message of a merge stream; one above `limit` bytes is refused
/// as it arrives, with a status saying so.
async fn next(
    stream: &mut Streaming<MergeMessage>,
    limit: usize,
) -> Result<Option<MergeMessage>, Status> {
    stream.message().await.map_err(|status| {
        over_limit(
            status,
            limit,
            "a message of the merge stream",
            "this merge's --max-message-bytes",
        )
    })
}

/// The stream `MergeProgressive` answers with.
type UpdateStream = Pin<Box<dyn Stream<Item = Result<MergeUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl<M: Merge> merge_server::Merge for MergeService<M> {
    async fn merge(
        &self,
        request: Request<Streaming<MergeMessage>>,
    ) -> Result<Response<MergeResponse>, Status> {
        let _permit = self.admit()?;
        let call = CallSpan::of(&request);
        let result = self
            .counted(request.into_inner(), None, &call.trace_id)
            .instrument(call.log.clone())
            .await;
        call.finish(&self.spans, &result);
        let result = result?;
        Ok(Response::new(MergeResponse {
            result: Some(result),
        }))
    }

    type MergeProgressiveStream = UpdateStream;

    async fn merge_progressive(
        &self,
        request: Request<Streaming<MergeMessage>>,
    ) -> Result<Response<UpdateStream>, Status> {
        let permit = self.admit()?;
        let (updates, receiver) = mpsc::unbounded_channel();
        let service = self.clone();
        let call = CallSpan::of(&request);
        let span = call.log.clone();
        tokio::spawn(
            async move {
                let last = service
                    .counted(request.into_inner(), Some(&updates), &call.trace_id)
                    .await;
                call.finish(&service.spans, &last);
                let last = last.map(|result| MergeUpdate {
                    kind: Some(update::Kind::Result(result)),
                });
                // The slot is free before the caller can see the result.
                drop(permit);
                let _ = updates.send(last);
            }
            .instrument(span),
        );
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(
            receiver,
        ))))
    }
}

/// Counts a merge in flight while it runs, and as cancelled when it is
/// dropped before it ends (the root gave up on the request).
struct MergeGuard {
    in_flight: Gauge,
    cancelled: Counter,
    finished: bool,
}

impl MergeGuard {
    fn enter<M>(service: &MergeService<M>) -> Self {
        service.in_flight.add(1);
        Self {
            in_flight: service.in_flight.clone(),
            cancelled: service.cancelled.clone(),
            finished: false,
        }
    }
}

impl Drop for MergeGuard {
    fn drop(&mut self) {
        self.in_flight.add(-1);
        if !self.finished {
            self.cancelled.inc();
        }
    }
}

/// The spans of one merge call: the log span (every line it logs names the
/// request and trace) and the exported one.
struct CallSpan {
    log: tracing::Span,
    exported: OpenSpan,
    request_id: String,
    /// The exemplar on the merge's latency histogram.
    trace_id: String,
}

impl CallSpan {
    fn of<T>(request: &Request<T>) -> Self {
        let request_id = sent_request_id(request.metadata()).unwrap_or_default();
        let trace = TraceContext::continue_or_start(request.metadata());
        let trace_id = trace.trace_id();
        let log = tracing::info_span!(
            "merge_call",
            request_id,
            trace_id,
            span_id = trace.span_id()
        );
        let exported = OpenSpan::start(trace, "scatter.v1.Merge/Merge", SpanKind::Server);
        Self {
            log,
            exported,
            request_id,
            trace_id,
        }
    }

    fn finish<T>(self, spans: &Spans, result: &Result<T, Status>) {
        let attributes = vec![("scatter.request_id", AttributeValue::from(self.request_id))];
        self.exported.finish_call(spans, attributes, result);
    }
}

#[cfg(test)]
mod tests;
