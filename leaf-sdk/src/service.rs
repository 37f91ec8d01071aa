//! The `scatter.v1.Leaf` gRPC service around a user's [`Leaf`], and `serve`.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::Stream;

use scatter_management::message_limit::MessageLimitLayer;
use scatter_management::metrics::{Counter, Gauge, Latency};
use scatter_management::trace::{AttributeValue, OpenSpan, SpanKind, Spans, TraceContext};
use scatter_management::{Error, InFlightCap, Process, grpc_timeout, sent_request_id};
use scatter_proto::v1::leaf_server::{self, LeafServer};
use scatter_proto::v1::{
    LeafInfo, LeafInfoRequest, LeafRequest, LeafResponse, LeafUpdate, Started, leaf_update,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tonic::service::{LayerExt as _, Routes};
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

use crate::hints::Hints;
use crate::queue::WorkQueue;
use crate::{Leaf, LeafOptions, ShardRequest};

mod stream;

/// Serves `leaf` as configured by `options` until SIGTERM or ctrl-c, then
/// drains and returns `Ok(())`.
pub async fn serve<L: Leaf>(leaf: L, options: LeafOptions) -> Result<(), Error> {
    let listener = scatter_management::bind(options.listen).await?;
    serve_on(leaf, options, listener, Process::new("leaf", &[SERVICE])).await
}

/// Like [`serve`], on a listener already bound and with a [`Process`] the
/// caller keeps (to read metrics or to stop it with `process.shutdown`).
pub async fn serve_on<L: Leaf>(
    leaf: L,
    options: LeafOptions,
    listener: TcpListener,
    process: Process,
) -> Result<(), Error> {
    let service = LeafService::new(leaf, &options, &process);
    let (shard, shard_count) = (options.shard, options.shard_count);
    let process = process
        .with_status(move || serde_json::json!({ "shard": shard, "shard_count": shard_count }));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, shard, shard_count, "leaf serving");
    }
    let max_message = options.serve.max_message_bytes;
    let server = LeafServer::new(service).max_decoding_message_size(max_message);
    let limit = MessageLimitLayer {
        what: "the request",
        whose: "this leaf's --max-message-bytes",
        limit: max_message,
    };
    let routes = Routes::new(limit.named_layer(server));
    scatter_management::serve(process, routes, listener, options.serve).await
}

const SERVICE: &str = "scatter.v1.Leaf";

/// The gRPC service for one leaf. Public so a leaf can be mounted into a
/// server the user builds; most users call [`serve`].
pub struct LeafService<L> {
    shared: Arc<Shared<L>>,
}

/// What every call of the service reads; shared with the streams of
/// `AnswerStream` calls, which outlive the method that returned them.
struct Shared<L> {
    leaf: L,
    shard: u32,
    shard_count: u32,
    cap: InFlightCap,
    queue: WorkQueue,
    metrics: LeafMetrics,
    spans: Spans,
}

#[derive(Clone)]
struct LeafMetrics {
    answered: Counter,
    failed: Counter,
    cancelled: Counter,
    refused: Counter,
    in_flight: Gauge,
    queued: Gauge,
    latency: Latency,
}

impl<L: Leaf> LeafService<L> {
    /// Wraps `leaf`, counting its calls in `process`'s metrics, refusing
    /// calls past `options.serve.max_in_flight` and queueing those past
    /// `options.max_concurrency`.
    pub fn new(leaf: L, options: &LeafOptions, process: &Process) -> Self {
        let m = &process.metrics;
        let calls = "scatter_leaf_calls_total";
        let calls_help = "Leaf calls by how they ended.";
        let shared = Shared {
            leaf,
            shard: options.shard,
            shard_count: options.shard_count,
            cap: InFlightCap::new("leaf", options.serve.max_in_flight),
            queue: WorkQueue::new(options.max_concurrency),
            metrics: LeafMetrics {
                answered: m.counter(calls, calls_help, &[("outcome", "ok")]),
                failed: m.counter(calls, calls_help, &[("outcome", "error")]),
                cancelled: m.counter(calls, calls_help, &[("outcome", "cancelled")]),
                refused: m.counter(calls, calls_help, &[("outcome", "refused")]),
                in_flight: m.gauge("scatter_leaf_in_flight", "Leaf calls running now.", &[]),
                queued: m.gauge(
                    "scatter_leaf_queued",
                    "Leaf calls waiting for a slot (--max-concurrency).",
                    &[],
                ),
                latency: m.latency("scatter_leaf_call_seconds", "Leaf call latency.", &[]),
            },
            spans: process.spans.clone(),
        };
        Self {
            shared: Arc::new(shared),
        }
    }
}

/// Counts a call that is dropped before it finishes (cancelled by the
/// caller, or past its deadline) as cancelled.
struct CallGuard {
    metrics: LeafMetrics,
    started: Instant,
    finished: bool,
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.metrics.in_flight.add(-1);
        if !self.finished {
            self.metrics.cancelled.inc();
            tracing::debug!("leaf call cancelled before it finished");
        }
    }
}

/// The updates of one `AnswerStream` call.
type UpdateStream = Pin<Box<dyn Stream<Item = Result<LeafUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl<L: Leaf> leaf_server::Leaf for LeafService<L> {
    async fn answer(
        &self,
        request: Request<LeafRequest>,
    ) -> Result<Response<LeafResponse>, Status> {
        let shared = &self.shared;
        shared
            .traced(request, "scatter.v1.Leaf/Answer", Hints::none())
            .await
            .map(Response::new)
    }

    type AnswerStreamStream = UpdateStream;

    async fn answer_stream(
        &self,
        request: Request<LeafRequest>,
    ) -> Result<Response<UpdateStream>, Status> {
        let (updates, heard) = mpsc::unbounded_channel();
        let shared = Arc::clone(&self.shared);
        let work = Box::pin(async move {
            shared
                .traced(request, "scatter.v1.Leaf/AnswerStream", Hints::to(updates))
                .await
        });
        let updates = stream::from_first_said(stream::with_updates(heard, work)).await?;
        Ok(Response::new(Box::pin(updates)))
    }

    async fn info(&self, _: Request<LeafInfoRequest>) -> Result<Response<LeafInfo>, Status> {
        Ok(Response::new(LeafInfo {
            shard: self.shared.shard,
            shard_count: self.shared.shard_count,
        }))
    }
}

impl<L: Leaf> Shared<L> {
    /// One call, in a span of its own named `method`, whose early news
    /// goes to `hints`.
    async fn traced(
        &self,
        request: Request<LeafRequest>,
        method: &'static str,
        hints: Hints,
    ) -> Result<LeafResponse, Status> {
        let deadline = grpc_timeout(request.metadata()).map(|t| Instant::now() + t);
        let request_id = sent_request_id(request.metadata());
        let trace = TraceContext::continue_or_start(request.metadata());
        let call = request.into_inner();
        let request_id = request_id.unwrap_or_else(|| call.request_id.to_string());
        // Every line the call logs, the user's too, names the request, the
        // trace and the attempt; the trace id also marks the call's latency
        // as an exemplar.
        let trace_id = trace.trace_id();
        let span = tracing::info_span!(
            "leaf_call",
            request_id,
            trace_id = trace_id.as_str(),
            span_id = trace.span_id(),
            shard = call.shard,
            attempt = call.attempt,
        );
        let exported = OpenSpan::start(trace, method, SpanKind::Server);
        let attributes = vec![
            ("scatter.request_id", AttributeValue::from(request_id)),
            ("scatter.shard", call.shard.into()),
            ("scatter.attempt", call.attempt.into()),
        ];
        let result = self
            .answer_in(call, deadline, &trace_id, hints)
            .instrument(span)
            .await;
        exported.finish_call(&self.spans, attributes, &result);
        result
    }

    /// One call, inside its span; `trace_id` marks its latency as an
    /// exemplar.
    async fn answer_in(
        &self,
        call: LeafRequest,
        deadline: Option<Instant>,
        trace_id: &str,
        hints: Hints,
    ) -> Result<LeafResponse, Status> {
        if call.shard != self.shard || call.shard_count != self.shard_count {
            return Err(Status::failed_precondition(format!(
                "this leaf serves shard {} of {}, but was called for shard {} of {}",
                self.shard, self.shard_count, call.shard, call.shard_count
            )));
        }
        // Held until the call ends or is dropped; a refusal never reaches the leaf.
        let _permit = self
            .cap
            .try_enter()
            .inspect_err(|_| self.metrics.refused.inc())?;
        let working = self.queue.start(&self.metrics.queued).await?;
        self.metrics.in_flight.add(1);
        let mut guard = CallGuard {
            metrics: self.metrics.clone(),
            started: Instant::now(),
            finished: false,
        };
        if call.report_start {
            hints.send(leaf_update::Kind::Started(Started {
                load: Some(self.queue.load()),
            }));
        }
        let shard_request = ShardRequest {
            payload: call.payload.unwrap_or_default(),
            shard: call.shard,
            shard_count: call.shard_count,
            request_id: call.request_id,
            attempt: call.attempt,
            deadline,
            hints,
        };
        let result = self.leaf.answer(shard_request).await;
        guard.finished = true;
        let latency = guard.started.elapsed();
        self.metrics.latency.record_traced(latency, Some(trace_id));
        let latency_ms = latency.as_secs_f64() * 1e3;
        // The load as this call leaves it, itself still counted.
        let load = self.queue.load();
        drop(working);
        match result {
            Ok(partial) => {
                self.metrics.answered.inc();
                tracing::debug!(latency_ms, "leaf call answered");
                Ok(LeafResponse {
                    partial: Some(partial),
                    load: Some(load),
                })
            }
            Err(status) => {
                self.metrics.failed.inc();
                tracing::debug!(latency_ms, code = ?status.code(), error = status.message(), "leaf call failed");
                Err(status)
            }
        }
    }
}

#[cfg(test)]
mod tests;
