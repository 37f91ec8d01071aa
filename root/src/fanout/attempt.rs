//! One attempt: one call to one replica for one shard, carrying the shared
//! payload (a cheap `Bytes` clone, not a copy) and the time left as
//! `grpc-timeout`. Dropping the future cancels the call: tonic resets the
//! HTTP/2 stream and the leaf sees its work cancelled.

use std::sync::Arc;
use std::time::Duration;

use scatter_proto::v1::{LeafRequest, Payload};
use tokio::time::Instant;
use tonic::Status;

use crate::discovery::Replica;

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

/// How one attempt ended.
pub struct AttemptOutcome {
    /// Index of the shard in the topology.
    pub shard: usize,
    /// Index of the replica in the shard.
    pub replica: usize,
    /// Why it was sent.
    pub kind: AttemptKind,
    /// The partial, or the leaf's (or transport's) status.
    pub result: Result<Payload, Status>,
    /// From send to answer.
    pub latency: Duration,
}

/// Marks the replica busy while the call runs; counts it cancelled when
/// the call is dropped before it ends.
struct InFlight<'a> {
    replica: &'a Replica,
    started: Instant,
    finished: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.replica.stats.ended();
        if !self.finished {
            self.replica.stats.counters.cancellations.inc();
            // A call that lost to a hedge still says the replica is at least
            // this slow; without it a replica whose calls are always
            // cancelled would never look slow, and would keep being chosen.
            self.replica.stats.observe_at_least(self.started.elapsed());
        }
    }
}

/// Calls `replica` with `request`, allowing it `timeout`.
pub async fn call(
    replica: Arc<Replica>,
    request: LeafRequest,
    timeout: Duration,
    shard: usize,
    replica_index: usize,
    kind: AttemptKind,
) -> AttemptOutcome {
    let counters = &replica.stats.counters;
    match kind {
        AttemptKind::First => counters.first_attempts.inc(),
        AttemptKind::Hedge => counters.hedges.inc(),
        AttemptKind::Retry => counters.retries.inc(),
    }
    replica.stats.started();
    let started = Instant::now();
    let mut in_flight = InFlight {
        replica: &replica,
        started,
        finished: false,
    };
    let mut grpc_request = tonic::Request::new(request);
    grpc_request.set_timeout(timeout);
    let mut client = replica.client.clone();
    let result = match client.answer(grpc_request).await {
        Ok(response) => response
            .into_inner()
            .partial
            .ok_or_else(|| Status::internal("the leaf answered without a partial")),
        Err(status) => Err(crate::call_status::local_cause(status)),
    };
    in_flight.finished = true;
    let latency = started.elapsed();
    if result.is_err() {
        counters.failures.inc();
    }
    match &result {
        Ok(_) => replica.stats.observe(Some(latency)),
        // Out of time is slowness, not a fault: it says the replica takes at
        // least this long, and must not send it on probation for errors.
        Err(status) if status.code() == tonic::Code::DeadlineExceeded => {
            replica.stats.observe_at_least(latency);
        }
        Err(_) => replica.stats.observe(None),
    }
    drop(in_flight);
    AttemptOutcome {
        shard,
        replica: replica_index,
        kind,
        result,
        latency,
    }
}
