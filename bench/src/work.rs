//! Leaf work, used and thrown away. A bench leaf times every call it
//! starts, from the moment its work begins (its slot taken, when the leaf
//! serves a limited number at once) to its answer, its failure or its
//! cancellation, and adds that busy time to a counter by outcome; an
//! answer also reports it in its partial ([`crate::wire`]). The client
//! sums the busy time the partials of each successful answer report: the
//! work the answer used. Everything else the leaves were busy with —
//! calls cancelled after they started (a hedge or tied copy that lost),
//! answers that arrived too late to be used, the partials of a request
//! that failed — was thrown away:
//!
//! extra leaf work = (busy in total − busy used) ÷ busy in total.

use std::time::{Duration, Instant};

use prost::Message as _;
use scatter_management::metrics::{Counter, Registry};
use scatter_proto::v1::{ConcatResult, QueryResponse};

use crate::metrics::{Reading, label};
use crate::wire;

/// The bench leaf's busy-time counter, in µs, labelled by outcome.
pub const BUSY_SERIES: &str = "scatter_bench_leaf_busy_us_total";

/// A leaf process's busy-time counters.
#[derive(Clone)]
pub struct BusyCounters {
    answered: Counter,
    failed: Counter,
    cancelled: Counter,
}

impl BusyCounters {
    /// Registers the counters in a leaf process's metrics.
    pub fn register(metrics: &Registry) -> Self {
        let help = "Time the bench leaf was busy on calls, in µs, by how they ended.";
        Self {
            answered: metrics.counter(BUSY_SERIES, help, &[("outcome", "answered")]),
            failed: metrics.counter(BUSY_SERIES, help, &[("outcome", "failed")]),
            cancelled: metrics.counter(BUSY_SERIES, help, &[("outcome", "cancelled")]),
        }
    }

    /// Starts timing a call whose work begins now.
    pub fn start(&self) -> Busy {
        Busy {
            counters: self.clone(),
            started: Instant::now(),
            ended: false,
        }
    }
}

/// One call being worked on: counted as cancelled if dropped unended.
pub struct Busy {
    counters: BusyCounters,
    started: Instant,
    ended: bool,
}

impl Busy {
    /// Ends the call as answered (`ok`) or failed; returns its busy time.
    pub fn end(mut self, ok: bool) -> Duration {
        self.ended = true;
        let busy = self.started.elapsed();
        let counter = if ok {
            &self.counters.answered
        } else {
            &self.counters.failed
        };
        counter.add(micros(busy));
        busy
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        if !self.ended {
            self.counters.cancelled.add(micros(self.started.elapsed()));
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The busy time the partials of a merged answer report.
pub fn used_by_concat(result: &ConcatResult) -> Duration {
    result
        .partials
        .iter()
        .filter_map(|p| p.partial.as_ref())
        .filter_map(|payload| wire::partial_busy(&payload.body))
        .sum()
}

/// The busy time the partials of a root's answer report (its result is
/// the built-in concat's `ConcatResult`); zero if it is not one.
pub fn used_by_response(response: &QueryResponse) -> Duration {
    response
        .result
        .as_ref()
        .and_then(|r| ConcatResult::decode(r.body.clone()).ok())
        .map_or(Duration::ZERO, |c| used_by_concat(&c))
}

/// Busy time in total, every outcome, in a reading (summed over leaves).
pub fn busy(reading: &Reading) -> Duration {
    Duration::from_micros(reading.sum(BUSY_SERIES).max(0.0).round() as u64)
}

/// Busy time on calls that were cancelled after their work started, in a
/// reading (summed over leaves).
pub fn cancelled(reading: &Reading) -> Duration {
    let us: f64 = reading
        .series(BUSY_SERIES)
        .filter(|(labels, _)| label(labels, "outcome").as_deref() == Some("cancelled"))
        .map(|(_, v)| v)
        .sum();
    Duration::from_micros(us.max(0.0).round() as u64)
}

/// Extra leaf work in %: busy time not used ÷ busy time in total
/// (`None` when the leaves were never busy).
pub fn extra_pct(total: Duration, used: Duration) -> Option<f64> {
    let total = total.as_secs_f64();
    (total > 0.0).then(|| (total - used.as_secs_f64()).max(0.0) / total * 100.0)
}

#[cfg(test)]
mod tests {
    use scatter_proto::v1::{Payload, ShardPartial};

    use super::*;

    #[test]
    fn a_dropped_call_counts_as_cancelled_and_an_ended_one_by_its_outcome() {
        let registry = Registry::default();
        let counters = BusyCounters::register(&registry);
        let answered = counters.start();
        std::thread::sleep(Duration::from_millis(2));
        let busy = answered.end(true);
        assert!(busy >= Duration::from_millis(2));
        let cancelled = counters.start();
        std::thread::sleep(Duration::from_millis(1));
        drop(cancelled);
        let reading = Reading::parse(&registry.render());
        let by = |outcome: &str| {
            reading
                .series(BUSY_SERIES)
                .find(|(l, _)| crate::metrics::label(l, "outcome").as_deref() == Some(outcome))
                .map(|(_, v)| v)
                .unwrap()
        };
        assert_eq!(by("answered"), micros(busy) as f64);
        assert!(by("cancelled") >= 1_000.0);
        assert_eq!(by("failed"), 0.0);
        assert!(super::busy(&reading) >= Duration::from_millis(3));
        assert_eq!(
            super::cancelled(&reading).as_micros() as f64,
            by("cancelled")
        );
    }

    #[test]
    fn used_work_is_what_the_answers_partials_report() {
        let partial = |busy_us| ShardPartial {
            shard: 0,
            partial: Some(Payload::new(
                wire::PARTIAL_CONTENT_TYPE,
                wire::partial_body(Duration::ZERO, Duration::from_micros(busy_us), 100),
            )),
        };
        let result = ConcatResult {
            partials: vec![partial(5_000), partial(7_000)],
        };
        assert_eq!(used_by_concat(&result), Duration::from_millis(12));
        let response = QueryResponse {
            result: Some(Payload::new("x", result.encode_to_vec())),
            ..QueryResponse::default()
        };
        assert_eq!(used_by_response(&response), Duration::from_millis(12));
        let extra = extra_pct(Duration::from_millis(15), Duration::from_millis(12)).unwrap();
        assert!((extra - 20.0).abs() < 1e-9, "{extra}");
        assert_eq!(extra_pct(Duration::ZERO, Duration::ZERO), None);
    }
}
