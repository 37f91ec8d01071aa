//! The hedging bound: the latency model replayed with no overhead of any
//! kind — no network, no root, no scheduling — hedging as Scatter does:
//! one hedge per shard, to its other replica, once the call has run
//! longer than the calls' own percentile (the run's hedge percentile of
//! the model's service times); with hints, at once for a straggler the
//! leaf recognises.
//!
//! The oracle is what no mode can beat: every shard's faster replica, for
//! free. This bound is what the hedging policy itself gives at its
//! budget. A measured mode far above it loses the difference to the
//! machine (calls over loopback, processes sharing the cores); a mode
//! near it can only get closer to the oracle with more information or
//! more extra calls.
//!
//! Beside the run's own percentile, the bound is replayed at a few others
//! ([`SWEEP`]): what a lower delay would buy, and what it would cost in
//! extra calls, so a hedge percentile can be chosen for a budget.

use std::ops::Range;

use serde::Serialize;

use crate::model::{CallId, Draw, LatencyModel};
use crate::recorder;
use crate::report::percentiles;
use crate::topology::Shape;

/// The hedge percentiles the bound is also replayed at.
pub const SWEEP: [f64; 5] = [95.0, 96.0, 97.0, 98.0, 99.0];

/// The bound for one variant: at the run's hedge percentile, and at each
/// of [`SWEEP`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HedgingBound {
    /// At the run's hedge percentile.
    #[serde(flatten)]
    pub at: PercentileBound,
    /// At each percentile of [`SWEEP`], in its order.
    pub by_percentile: Vec<PercentileBound>,
}

/// The bound, without and with hints, hedging after one percentile.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PercentileBound {
    /// The percentile of the model's service times hedged after.
    pub percentile: f64,
    /// That percentile: the hedge delay replayed, in µs.
    pub delay_us: u64,
    /// Hedging after the delay only.
    pub delay_only: BoundFigures,
    /// And at once for the stragglers the leaves recognise.
    pub with_hints: BoundFigures,
}

/// One replay's request latencies and cost.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BoundFigures {
    /// Median, µs.
    pub p50_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Hedges per 100 first calls.
    pub extra_calls_pct: f64,
}

/// The bound for requests `ids` over `shape`, hedging after `percentile`;
/// `None` where the replay would not be Scatter's policy: one replica (no
/// hedge), a slow replica (the root's choice of replica matters), fast
/// failures (retries), or a model without work.
pub fn hedging_bound(
    model: &LatencyModel,
    shape: Shape,
    ids: Range<u64>,
    percentile: f64,
) -> Option<HedgingBound> {
    if shape.replicas < 2 || model.slow.is_some() || model.errors.is_some() || ids.is_empty() {
        return None;
    }
    let at = |p| replay(model, shape, ids.clone(), p);
    Some(HedgingBound {
        at: at(percentile)?,
        by_percentile: SWEEP.into_iter().filter_map(at).collect(),
    })
}

/// The policy replayed hedging after `percentile`; `None` for a model
/// whose calls take no time.
fn replay(
    model: &LatencyModel,
    shape: Shape,
    ids: Range<u64>,
    percentile: f64,
) -> Option<PercentileBound> {
    let serve = |request, shard, replica| match model.draw(CallId {
        request,
        shard,
        replica,
        attempt: 0,
    }) {
        Draw::Serve(d) => u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
        Draw::Fail => unreachable!("a model with fast failures has no bound (refused above)"),
    };
    let mut calls = recorder::histogram();
    for request in ids.clone() {
        for shard in 0..shape.shards {
            calls.saturating_record(serve(request, shard, 0).max(1));
        }
    }
    let delay_us = calls.value_at_quantile(percentile / 100.0);
    if delay_us <= 1 {
        return None;
    }
    let replay_with = |hints: bool| {
        let mut latency = recorder::histogram();
        let mut hedges = 0u64;
        for request in ids.clone() {
            let slowest = (0..shape.shards)
                .map(|shard| {
                    // Replica draws are alike: the first call goes to 0.
                    let first = serve(request, shard, 0);
                    let hinted = hints
                        && model
                            .recognisable_straggler(CallId {
                                request,
                                shard,
                                replica: 0,
                                attempt: 0,
                            })
                            .is_some();
                    let hedge_at = if hinted { 0 } else { delay_us };
                    if first <= hedge_at {
                        return first;
                    }
                    hedges += 1;
                    first.min(hedge_at + serve(request, shard, 1))
                })
                .max()
                .unwrap_or_default();
            latency.saturating_record(slowest.max(1));
        }
        let p = percentiles(&latency);
        let first_calls = (ids.end - ids.start) * u64::from(shape.shards);
        BoundFigures {
            p50_us: p.p50_us,
            p99_us: p.p99_us,
            p999_us: p.p999_us,
            extra_calls_pct: 100.0 * hedges as f64 / first_calls as f64,
        }
    };
    Some(PercentileBound {
        percentile,
        delay_us,
        delay_only: replay_with(false),
        with_hints: replay_with(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Base, SlowReplica, Straggler};
    use crate::report::oracle_histogram;

    fn stragglers() -> LatencyModel {
        LatencyModel {
            straggler: Some(Straggler::new(0.005, 50.0)),
            ..LatencyModel::new(
                3,
                Base::LogNormal {
                    median_us: 5000.0,
                    sigma: 0.5,
                },
            )
        }
    }

    const SHAPE: Shape = Shape {
        shards: 16,
        replicas: 2,
    };

    #[test]
    fn the_bound_lies_between_the_oracle_and_no_hedging_and_hints_lower_it() {
        let model = stragglers();
        let ids = 0..20_000;
        let bound = hedging_bound(&model, SHAPE, ids.clone(), 98.0).unwrap().at;
        let oracle = percentiles(&oracle_histogram(&model, SHAPE, ids.clone()));
        let one = Shape {
            replicas: 1,
            ..SHAPE
        };
        // One replica is what no hedging gives: its own first call.
        let unhedged = percentiles(&oracle_histogram(&model, one, ids));
        for figures in [bound.delay_only, bound.with_hints] {
            assert!(oracle.p999_us <= figures.p999_us, "{oracle:?} {figures:?}");
            assert!(
                figures.p999_us * 10 < unhedged.p999_us,
                "hedging cuts the 50× stragglers: {figures:?} {unhedged:?}"
            );
        }
        assert!(
            bound.with_hints.p999_us < bound.delay_only.p999_us,
            "{bound:?}"
        );
        // About 2 % of calls outlast the p98; hints add the recognised
        // stragglers that would not (none: they are 50× slower).
        let cost = bound.delay_only.extra_calls_pct;
        assert!((1.8..2.2).contains(&cost), "{cost}");
        assert!(
            (bound.with_hints.extra_calls_pct - cost).abs() < 0.01,
            "{bound:?}"
        );
    }

    #[test]
    fn a_lower_percentile_buys_a_lower_bound_for_about_its_share_of_extra_calls() {
        let bound = hedging_bound(&stragglers(), SHAPE, 0..20_000, 98.0).unwrap();
        let swept: Vec<f64> = bound.by_percentile.iter().map(|b| b.percentile).collect();
        assert_eq!(swept, SWEEP);
        let at_98 = bound.by_percentile.iter().find(|b| b.percentile == 98.0);
        assert_eq!(
            at_98,
            Some(&bound.at),
            "the run's own percentile is one of them"
        );
        for pair in bound.by_percentile.windows(2) {
            let [lower, higher] = pair else {
                unreachable!("windows of two")
            };
            assert!(lower.delay_us < higher.delay_us, "{pair:?}");
            for (l, h) in [
                (lower.delay_only, higher.delay_only),
                (lower.with_hints, higher.with_hints),
            ] {
                // Same draws, earlier hedges: no request gets slower.
                assert!(l.p999_us <= h.p999_us && l.p50_us <= h.p50_us, "{pair:?}");
                assert!(l.extra_calls_pct > h.extra_calls_pct, "{pair:?}");
            }
        }
        for b in &bound.by_percentile {
            let share = 100.0 - b.percentile;
            assert!(
                (b.delay_only.extra_calls_pct - share).abs() < 0.2,
                "about (100 - p) % of calls outlast the p-th percentile: {b:?}"
            );
        }
    }

    #[test]
    fn no_bound_where_the_replay_would_not_be_the_policy() {
        let model = stragglers();
        let one = Shape {
            shards: 4,
            replicas: 1,
        };
        assert_eq!(hedging_bound(&model, one, 0..100, 98.0), None);
        let slow = LatencyModel {
            slow: Some(SlowReplica {
                shard: None,
                replica: 0,
                factor: 10.0,
            }),
            ..stragglers()
        };
        assert_eq!(hedging_bound(&slow, SHAPE, 0..100, 98.0), None);
        let zero = LatencyModel::new(1, Base::Zero);
        assert_eq!(hedging_bound(&zero, SHAPE, 0..100, 98.0), None);
    }
}
