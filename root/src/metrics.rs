//! The root's request-level metrics; per-shard and per-replica counters
//! live with their statistics in `fanout`.

use scatter_management::metrics::{Counter, Gauge, Latency, Registry};
use scatter_proto::v1::Coverage;
use tonic::Code;

/// Counters and latencies of the `Root` service.
#[derive(Clone)]
pub struct RootMetrics {
    requests_by_code: Vec<Counter>,
    /// End-to-end latency of answered requests.
    pub request_latency: Latency,
    /// Requests running now.
    pub in_flight: Gauge,
    shards_answered: Counter,
    shards_failed: Counter,
    shards_timed_out: Counter,
    shards_skipped: Counter,
}

impl RootMetrics {
    /// Registers the root's metrics in `registry`.
    pub fn new(registry: &Registry) -> Self {
        let shards = |outcome| {
            registry.counter(
                "scatter_root_shard_outcomes_total",
                "How shards ended, over all requests.",
                &[("outcome", outcome)],
            )
        };
        Self {
            request_latency: registry.latency(
                "scatter_root_request_seconds",
                "Latency of answered requests.",
                &[],
            ),
            in_flight: registry.gauge(
                "scatter_root_requests_in_flight",
                "Requests running now.",
                &[],
            ),
            shards_answered: shards("answered"),
            shards_failed: shards("failed"),
            shards_timed_out: shards("timed_out"),
            shards_skipped: shards("skipped"),
            requests_by_code: (0..=16)
                .map(|c| {
                    let code = format!("{:?}", Code::from(c));
                    registry.counter(
                        "scatter_root_requests_total",
                        "Requests by gRPC code.",
                        &[("code", &code)],
                    )
                })
                .collect(),
        }
    }

    /// Counts one finished request by its gRPC code.
    pub fn record_request(&self, code: Code) {
        if let Some(counter) = self.requests_by_code.get(code as usize) {
            counter.inc();
        }
    }

    /// Adds one request's coverage to the shard outcome counters.
    pub fn record_coverage(&self, coverage: &Coverage) {
        self.shards_answered.add(u64::from(coverage.answered));
        self.shards_failed.add(u64::from(coverage.failed));
        self.shards_timed_out.add(u64::from(coverage.timed_out));
        self.shards_skipped.add(u64::from(coverage.skipped));
    }
}
