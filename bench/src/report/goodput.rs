//! Goodput over time: successful answers within the deadline per
//! [`GOODPUT_BUCKET`](crate::recorder::GOODPUT_BUCKET) of completion time
//! (the mean over the schedule is a run's goodput: answers that came after
//! the schedule ended do not count, so a backlog served in the drain does
//! not flatter an overloaded mode); and, for `overload`'s step variant, how
//! long after each step in the offered load goodput took to settle at its
//! new steady level.
//!
//! A phase's steady level is the median bucket of its second half (a
//! median, so a backlog served in a burst late in the phase does not move
//! it). It has settled from the first bucket after which every 1 s window (the mean
//! of [`WINDOW`] buckets, so a bucket's noise does not count as a swing)
//! stays within ±[`BAND`] of that level — but never tighter than
//! ±[`BAND_FLOOR`] of capacity, so a level near zero has a band at all.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// Buckets per judged window (1 s of 250 ms buckets).
pub const WINDOW: usize = 4;
/// The settle band, as a share of the phase's steady level.
pub const BAND: f64 = 0.10;
/// The band's least half-width, as a share of capacity.
pub const BAND_FLOOR: f64 = 0.05;

/// Goodput in requests/s for each whole bucket of `bucket` in `[0, span)`,
/// from counts of good answers by bucket index (a bucket with none is 0).
pub fn series(counts: &BTreeMap<u64, u64>, bucket: Duration, span: Duration) -> Vec<f64> {
    let whole = (span.as_nanos() / bucket.as_nanos().max(1)) as u64;
    (0..whole)
        .map(|i| counts.get(&i).copied().unwrap_or(0) as f64 / bucket.as_secs_f64())
        .collect()
}

/// One step in the offered load and how goodput followed it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepSettle {
    /// When the step happened, in seconds from the measured phase's start.
    pub at_s: f64,
    /// Offered rate before the step.
    pub from_rps: f64,
    /// Offered rate after it.
    pub to_rps: f64,
    /// The new phase's steady goodput (median bucket of its second half), in requests/s.
    pub level_rps: f64,
    /// The same as a share of capacity.
    pub level_share: f64,
    /// Seconds from the step until goodput stayed within the band;
    /// `None` when it never did within the phase.
    pub settle_s: Option<f64>,
}

/// How goodput settled after each step between `phases` (offered rate,
/// length), from its per-bucket `series`.
pub fn settle(
    series: &[f64],
    bucket: Duration,
    phases: &[(f64, Duration)],
    capacity: f64,
) -> Vec<StepSettle> {
    let mut steps = Vec::new();
    let mut start = Duration::ZERO;
    for pair in phases.windows(2) {
        let ((from_rps, before), (to_rps, length)) = (pair[0], pair[1]);
        start += before;
        let first = start.as_nanos().div_ceil(bucket.as_nanos()) as usize;
        let end = (((start + length).as_nanos() / bucket.as_nanos()) as usize).min(series.len());
        let phase = series.get(first..end).unwrap_or_default();
        let level = median(&phase[phase.len() / 2..]);
        let band = (level * BAND).max(capacity * BAND_FLOOR);
        let settled_from = settled_from(phase, level, band);
        steps.push(StepSettle {
            at_s: start.as_secs_f64(),
            from_rps,
            to_rps,
            level_rps: level,
            level_share: if capacity > 0.0 {
                level / capacity
            } else {
                0.0
            },
            settle_s: settled_from.map(|i| {
                (bucket * (first + i) as u32)
                    .saturating_sub(start)
                    .as_secs_f64()
            }),
        });
    }
    steps
}

/// The first bucket of `phase` from which every window within the phase
/// stays within `band` of `level`; `None` when the last window does not,
/// or the phase holds no whole window.
fn settled_from(phase: &[f64], level: f64, band: f64) -> Option<usize> {
    let windows: Vec<f64> = phase.windows(WINDOW).map(mean).collect();
    let last_outside = windows.iter().rposition(|w| (w - level).abs() > band);
    match last_outside {
        _ if windows.is_empty() => None,
        None => Some(0),
        Some(i) if i + 1 == windows.len() => None,
        Some(i) => Some(i + 1),
    }
}

/// The median of `values` (the mean of the middle two when even; 0 when empty).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The mean of `values` (0 when empty): over a [`series`], the goodput of
/// the whole span.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUCKET: Duration = Duration::from_millis(250);

    #[test]
    fn series_covers_whole_buckets_of_the_span_with_gaps_as_zero() {
        let counts = BTreeMap::from([(0, 25), (2, 50), (9, 7)]);
        let rps = series(&counts, BUCKET, Duration::from_millis(1100));
        assert_eq!(
            rps,
            vec![100.0, 0.0, 200.0, 0.0],
            "bucket 9 is past the span"
        );
    }

    /// 4 s phases of 16 buckets: 50 rps, then `middle`, then 50 rps again.
    fn stepped(middle: &[f64]) -> (Vec<f64>, Vec<(f64, Duration)>) {
        let mut s = vec![50.0; 16];
        s.extend_from_slice(middle);
        s.extend(vec![50.0; 16]);
        let four = Duration::from_secs(4);
        (s, vec![(50.0, four), (200.0, four), (50.0, four)])
    }

    #[test]
    fn settle_is_the_time_until_every_later_second_stays_in_the_band() {
        // After the step up: 1 s at 20 rps (a stall), then 100 rps steady.
        let mut middle = vec![20.0; 4];
        middle.extend(vec![100.0; 12]);
        let (s, phases) = stepped(&middle);
        let steps = settle(&s, BUCKET, &phases, 100.0);
        assert_eq!(steps.len(), 2);
        let up = &steps[0];
        assert_eq!((up.at_s, up.from_rps, up.to_rps), (4.0, 50.0, 200.0));
        assert_eq!(up.level_rps, 100.0);
        assert_eq!(up.level_share, 1.0);
        // Windows starting at buckets 1..3 still hold part of the stall.
        assert_eq!(up.settle_s, Some(1.0));
        let down = &steps[1];
        assert_eq!(
            (down.at_s, down.level_rps, down.settle_s),
            (8.0, 50.0, Some(0.0))
        );
    }

    #[test]
    fn one_noisy_bucket_does_not_unsettle_but_a_late_swing_does() {
        // ±20 % in a single bucket moves a 1 s window by 5 %: within ±10 %.
        let mut middle = vec![100.0; 16];
        middle[10] = 120.0;
        let (s, phases) = stepped(&middle);
        assert_eq!(settle(&s, BUCKET, &phases, 100.0)[0].settle_s, Some(0.0));

        // Goodput collapsing in the last second never settles.
        let mut middle = vec![100.0; 12];
        middle.extend(vec![0.0; 4]);
        let (s, phases) = stepped(&middle);
        let up = &settle(&s, BUCKET, &phases, 100.0)[0];
        assert_eq!(up.settle_s, None, "{up:?}");
    }

    #[test]
    fn a_late_burst_of_backlog_does_not_move_the_level() {
        // A fan-out that stalls 1.5 s after the step down, then serves its
        // backlog in a burst (300 rps for 0.5 s) and is steady at 50 rps.
        let mut last = vec![0.0; 6];
        last.extend([300.0, 300.0]);
        last.extend(vec![50.0; 8]);
        let mut s = vec![50.0; 16];
        s.extend(vec![100.0; 16]);
        s.extend(last);
        let four = Duration::from_secs(4);
        let phases = [(50.0, four), (200.0, four), (50.0, four)];
        let down = &settle(&s, BUCKET, &phases, 100.0)[1];
        assert_eq!(down.level_rps, 50.0);
        // The last window holding a burst bucket starts at bucket 7.
        assert_eq!(down.settle_s, Some(2.0), "{down:?}");
    }

    #[test]
    fn a_level_near_zero_is_judged_against_a_floor_of_capacity() {
        // A fan-out that answers nothing in time at 200 %: 2 rps of noise
        // around zero is within 5 % of a 100 rps capacity.
        let middle: Vec<f64> = (0..16)
            .map(|i| if i % 2 == 0 { 4.0 } else { 0.0 })
            .collect();
        let (s, phases) = stepped(&middle);
        let up = &settle(&s, BUCKET, &phases, 100.0)[0];
        assert_eq!(up.level_rps, 2.0);
        assert_eq!(up.settle_s, Some(0.0));
    }
}
