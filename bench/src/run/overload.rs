//! `overload`'s figures of one mode's measured phase, from its recorder:
//! goodput (answers within the deadline that completed during the
//! schedule, per second) against capacity, admitted and shed latency,
//! success by class, and for a stepped load how goodput settled after each step.

use std::time::Duration;

use super::Context;
use crate::recorder::{GOODPUT_BUCKET, Recorder};
use crate::report::{OverloadFigures, goodput, overload, percentiles, ratio};

/// The figures of `requests` measured requests, the last due at
/// `last_due`, against `capacity` requests/s. Goodput counts completions
/// up to the last due time: the schedule's actual end (Poisson arrivals end
/// near the nominal length, not on it), after which only the drain runs.
pub(super) fn figures(
    recorder: &Recorder,
    context: &Context<'_>,
    capacity: f64,
    requests: u64,
    last_due: Duration,
) -> OverloadFigures {
    let span = last_due;
    let series = goodput::series(recorder.good_buckets(), GOODPUT_BUCKET, span);
    let goodput_rps = goodput::mean(&series);
    let stepped = context.variant.load.is_stepped();
    OverloadFigures {
        offered_share: ratio(context.rate, capacity).unwrap_or(0.0),
        goodput_rps,
        goodput_share: ratio(goodput_rps, capacity).unwrap_or(0.0),
        admitted: percentiles(recorder.admitted()),
        admitted_p99_vs_50pct: None,
        sheds: recorder.sheds(),
        shed_latency: percentiles(recorder.shed()),
        by_priority: context.variant.priorities.map_or_else(Vec::new, |mix| {
            overload::by_priority(mix, requests, recorder.good_by_priority())
        }),
        steps: if stepped {
            goodput::settle(&series, GOODPUT_BUCKET, &context.phases, capacity)
        } else {
            Vec::new()
        },
        goodput_buckets_rps: if stepped { series } else { Vec::new() },
    }
}
