//! The root's request-level metrics; per-shard and per-replica series live
//! with their statistics in `topology`, admission's in `admission`.

use std::sync::{Arc, OnceLock};

use scatter_management::metrics::{Counter, Gauge, Latency, Ratio, Registry};
use scatter_proto::v1::Coverage;
use tonic::Code;

use crate::admission::Class;

/// The `priority` label of a request refused before its policy was read
/// (unreadable, too large, a bad `x-request-id`).
const UNKNOWN_PRIORITY: &str = "unknown";

/// gRPC codes, 0 (OK) to 16 (UNAUTHENTICATED).
const CODES: usize = 17;
/// The priority classes plus "unknown".
const PRIORITIES: usize = Class::ALL.len() + 1;

/// Counters and latencies of the `Root` service.
#[derive(Clone)]
pub struct RootMetrics {
    registry: Registry,
    /// By code, then priority; each made on first use, so `/metrics` lists
    /// the outcomes that happened rather than 68 zeros.
    requests: Arc<[OnceLock<Counter>]>,
    /// End-to-end latency of answered requests.
    pub request_latency: Latency,
    /// How long the merge took to answer once the partials were in.
    pub merge_latency: Latency,
    /// Requests running now.
    pub in_flight: Gauge,
    coverage: Ratio,
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
            registry: registry.clone(),
            requests: (0..CODES * PRIORITIES).map(|_| OnceLock::new()).collect(),
            request_latency: registry.latency(
                "scatter_root_request_seconds",
                "Latency of answered requests.",
                &[],
            ),
            merge_latency: registry.latency(
                "scatter_root_merge_seconds",
                "Time from the last partial (or the gather deadline) to the merge's answer.",
                &[],
            ),
            in_flight: registry.gauge(
                "scatter_root_requests_in_flight",
                "Requests running now.",
                &[],
            ),
            coverage: registry.ratio(
                "scatter_root_coverage_ratio",
                "Fraction of shards that answered, per gathered request.",
                &[],
            ),
            shards_answered: shards("answered"),
            shards_failed: shards("failed"),
            shards_timed_out: shards("timed_out"),
            shards_skipped: shards("skipped"),
        }
    }

    /// Counts one finished request by its gRPC code and priority class
    /// (`None` when it was refused before its policy was read).
    pub fn record_request(&self, code: Code, class: Option<Class>) {
        let code_index = (code as usize).min(CODES - 1);
        let class_index = class.map_or(Class::ALL.len(), |c| c as usize);
        let Some(slot) = self.requests.get(code_index * PRIORITIES + class_index) else {
            return;
        };
        slot.get_or_init(|| {
            let code = format!("{code:?}");
            let priority = class.map_or(UNKNOWN_PRIORITY, Class::name);
            self.registry.counter(
                "scatter_root_requests_total",
                "Finished requests by gRPC code and priority.",
                &[("code", &code), ("priority", priority)],
            )
        })
        .inc();
    }

    /// Adds one request's coverage to the shard outcome counters and the
    /// coverage ratio.
    pub fn record_coverage(&self, coverage: &Coverage) {
        self.shards_answered.add(u64::from(coverage.answered));
        self.shards_failed.add(u64::from(coverage.failed));
        self.shards_timed_out.add(u64::from(coverage.timed_out));
        self.shards_skipped.add(u64::from(coverage.skipped));
        if coverage.total > 0 {
            self.coverage
                .record(f64::from(coverage.answered) / f64::from(coverage.total));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_code_and_priority_and_unused_pairs_stay_hidden() {
        let registry = Registry::default();
        let metrics = RootMetrics::new(&registry);
        metrics.record_request(Code::Ok, Some(Class::High));
        metrics.record_request(Code::Ok, Some(Class::High));
        metrics.record_request(Code::InvalidArgument, None);
        let text = registry.render();
        assert!(
            text.contains(r#"scatter_root_requests_total{code="Ok",priority="high"} 2"#),
            "{text}"
        );
        let unknown = r#"scatter_root_requests_total{code="InvalidArgument",priority="unknown"} 1"#;
        assert!(text.contains(unknown), "{text}");
        assert_eq!(
            text.matches("scatter_root_requests_total{").count(),
            2,
            "{text}"
        );
    }

    #[test]
    fn a_half_covered_request_lands_in_the_half_bucket_of_the_coverage_ratio() {
        let registry = Registry::default();
        let metrics = RootMetrics::new(&registry);
        metrics.record_coverage(&Coverage {
            total: 4,
            answered: 2,
            failed: 2,
            ..Coverage::default()
        });
        let text = registry.render();
        assert!(
            text.contains(r#"scatter_root_coverage_ratio_bucket{le="0.25"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"scatter_root_coverage_ratio_bucket{le="0.5"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"scatter_root_shard_outcomes_total{outcome="failed"} 2"#),
            "{text}"
        );
    }
}
