//! A layer that keeps each replica's statistics from the calls made to it:
//! calls in flight (which steer replica choice), latency and error EWMAs,
//! and the per-replica counters. A call dropped before it ends (a hedge won,
//! the deadline came) is counted cancelled, and its time so far still says
//! the replica is at least that slow.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use scatter_proto::v1::Payload;
use tokio::time::Instant;
use tonic::{Code, Status};
use tower::{Layer, Service};

use super::leaf_call::{AttemptKind, LeafCall};
use super::request_id::RequestId;
use crate::call_status::is_over_limit;
use crate::topology::Replica;

/// Adds [`Observe`] to a leaf-call service.
#[derive(Clone, Copy, Debug, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner }
    }
}

/// Records every call's outcome in its replica's statistics.
#[derive(Clone, Debug)]
pub struct Observe<S> {
    inner: S,
}

impl<S> Service<LeafCall> for Observe<S>
where
    S: Service<LeafCall, Response = Payload, Error = Status>,
{
    type Response = Payload;
    type Error = Status;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, call: LeafCall) -> Observed<S::Future> {
        let replica = Arc::clone(&call.replica);
        let counters = &replica.stats.counters;
        counters.calls.inc();
        match call.kind {
            AttemptKind::First => counters.first_attempts.inc(),
            AttemptKind::Hedge => counters.hedges.inc(),
            AttemptKind::Retry => counters.retries.inc(),
            AttemptKind::Tied => counters.tied.inc(),
        }
        replica.stats.started();
        let request_id = call.request_id.clone();
        Observed {
            inner: self.inner.call(call),
            in_flight: InFlight {
                replica,
                request_id,
                started: Instant::now(),
                finished: false,
            },
        }
    }
}

pin_project! {
    /// A leaf call whose outcome is recorded when it ends, or when it is
    /// dropped before it ends.
    pub struct Observed<F> {
        #[pin]
        inner: F,
        in_flight: InFlight,
    }
}

impl<F> Future for Observed<F>
where
    F: Future<Output = Result<Payload, Status>>,
{
    type Output = Result<Payload, Status>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        this.in_flight.finish(&result);
        Poll::Ready(result)
    }
}

/// Marks the replica busy while the call runs; counts it cancelled when
/// the call is dropped before it ends.
struct InFlight {
    replica: Arc<Replica>,
    /// Its trace id is the exemplar on the latency histogram.
    request_id: RequestId,
    started: Instant,
    finished: bool,
}
impl InFlight {
    fn finish(&mut self, result: &Result<Payload, Status>) {
        self.finished = true;
        let stats = &self.replica.stats;
        let latency = self.started.elapsed();
        let Err(status) = result else {
            stats.observe(Some(latency));
            let trace_id = self.request_id.trace_id();
            (stats.counters.latency).record_traced(latency, Some(trace_id));
            return;
        };
        stats.health.record_error(status);
        stats.counters.error(status.code());
        match status.code() {
            // Out of time is slowness, not a fault: it says the replica takes
            // at least this long, and must not send it on probation for errors.
            Code::DeadlineExceeded => stats.observe_at_least(latency),
            // The leaf at its in-flight cap: a fault for replica choice.
            Code::ResourceExhausted if !is_over_limit(status) => {
                stats.counters.refusals.inc();
                stats.observe(None);
            }
            _ => stats.observe(None),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let stats = &self.replica.stats;
        stats.ended();
        if !self.finished {
            stats.counters.cancellations.inc();
            // A call that lost to a hedge still says the replica is at least
            // this slow; without it a replica whose calls are always
            // cancelled would never look slow, and would keep being chosen.
            stats.observe_at_least(self.started.elapsed());
        }
    }
}
