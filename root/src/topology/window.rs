//! A shard's recent latencies: a sliding window of two HdrHistograms (the
//! current half and the one before), so old behaviour fades out. The hedge
//! delay is read from it often, so its default percentile is cached and
//! refreshed as samples arrive rather than computed per request. Each
//! replica keeps one too, for the recent percentiles `/status` shows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

/// Latencies of one shard over roughly the last `span`.
pub struct LatencyWindow {
    current: Histogram<u64>,
    previous: Histogram<u64>,
    rotated_at: Instant,
    span: Duration,
    since_refresh: u32,
}

/// Samples needed before a percentile means anything.
pub const MIN_SAMPLES: u64 = 32;
/// Refresh the cached percentile every this many samples.
const REFRESH_EVERY: u32 = 16;

impl LatencyWindow {
    /// An empty window of `span` (each half is `span / 2`).
    pub fn new(span: Duration, now: Instant) -> Self {
        let histogram =
            || Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("static bounds are valid");
        Self {
            current: histogram(),
            previous: histogram(),
            rotated_at: now,
            span,
            since_refresh: 0,
        }
    }

    /// Records one latency; returns `true` when the cached percentile is due
    /// a refresh.
    pub fn record(&mut self, latency: Duration, now: Instant) -> bool {
        if now.duration_since(self.rotated_at) >= self.span / 2 {
            std::mem::swap(&mut self.current, &mut self.previous);
            self.current.reset();
            self.rotated_at = now;
            self.since_refresh = REFRESH_EVERY;
        }
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.current.saturating_record(micros);
        self.since_refresh += 1;
        if self.since_refresh >= REFRESH_EVERY {
            self.since_refresh = 0;
            true
        } else {
            false
        }
    }

    /// The latency at `percentile` (0–100) over the window, or `None` with
    /// fewer than [`MIN_SAMPLES`] samples.
    pub fn percentile(&self, percentile: f64) -> Option<Duration> {
        let count = self.current.len() + self.previous.len();
        if count < MIN_SAMPLES {
            return None;
        }
        at_percentile(&self.current, Some(&self.previous), percentile)
    }

    /// The latency at `percentile` of the samples still recent at `now`,
    /// however few (for people to read, not to set delays). Halves too old
    /// are left out even when no sample came to rotate them, so a replica
    /// that stopped answering shows no latency rather than its old one.
    pub fn recent_percentile(&self, percentile: f64, now: Instant) -> Option<Duration> {
        let age = now.saturating_duration_since(self.rotated_at);
        if age >= self.span {
            None
        } else if age >= self.span / 2 {
            at_percentile(&self.current, None, percentile)
        } else {
            at_percentile(&self.current, Some(&self.previous), percentile)
        }
    }
}

/// The value at `percentile` of the samples of `a` and `b` together.
fn at_percentile(
    a: &Histogram<u64>,
    b: Option<&Histogram<u64>>,
    percentile: f64,
) -> Option<Duration> {
    let count = a.len() + b.map_or(0, Histogram::len);
    if count == 0 {
        return None;
    }
    // Walk both halves' buckets together, so no merged copy is made.
    let target = ((percentile / 100.0) * count as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    let mut a = a.iter_recorded().peekable();
    let mut b = b.into_iter().flat_map(Histogram::iter_recorded).peekable();
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.value_iterated_to() <= y.value_iterated_to() => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => return None,
        }?;
        seen += next.count_at_value();
        if seen >= target {
            return Some(Duration::from_micros(next.value_iterated_to()));
        }
    }
}

/// A duration stored as microseconds in an atomic, for lock-free reads.
#[derive(Default)]
pub struct AtomicDuration(AtomicU64);

impl AtomicDuration {
    /// The stored duration; `None` when unset (0).
    pub fn get(&self) -> Option<Duration> {
        let us = self.0.load(Ordering::Relaxed);
        (us > 0).then(|| Duration::from_micros(us))
    }
    /// Stores a duration.
    pub fn set(&self, value: Duration) {
        let us = u64::try_from(value.as_micros()).unwrap_or(u64::MAX).max(1);
        self.0.store(us, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_needs_warm_up_then_follows_samples() {
        let now = Instant::now();
        let mut window = LatencyWindow::new(Duration::from_secs(10), now);
        for ms in 1..=20 {
            window.record(Duration::from_millis(ms), now);
        }
        assert_eq!(window.percentile(95.0), None, "20 samples are not enough");
        for ms in 21..=100 {
            window.record(Duration::from_millis(ms), now);
        }
        let p95 = window.percentile(95.0).unwrap();
        assert!((94..=96).contains(&p95.as_millis()), "{p95:?}");
    }

    #[test]
    fn old_samples_fade_after_two_rotations() {
        let start = Instant::now();
        let mut window = LatencyWindow::new(Duration::from_secs(2), start);
        for _ in 0..100 {
            window.record(Duration::from_millis(50), start);
        }
        let later = start + Duration::from_secs(1);
        let much_later = start + Duration::from_secs(2);
        window.record(Duration::from_millis(5), later);
        for _ in 0..100 {
            window.record(Duration::from_millis(5), much_later);
        }
        let p99 = window.percentile(99.0).unwrap();
        assert!(
            p99 < Duration::from_millis(6),
            "old 50 ms samples still count: {p99:?}"
        );
    }

    #[test]
    fn recent_percentiles_need_one_sample_and_go_stale_without_new_ones() {
        let start = Instant::now();
        let mut window = LatencyWindow::new(Duration::from_secs(10), start);
        assert_eq!(window.recent_percentile(50.0, start), None, "no sample yet");
        window.record(Duration::from_millis(40), start);
        for _ in 0..3 {
            window.record(Duration::from_millis(10), start + Duration::from_secs(1));
        }
        let at = |p, secs| {
            window
                .recent_percentile(p, start + Duration::from_secs(secs))
                .map(|d| d.as_millis())
        };
        assert_eq!(at(50.0, 2), Some(10));
        assert_eq!(at(99.0, 2), Some(40), "one slow call in four");
        // Nothing recorded since: the samples age out on their own.
        assert_eq!(at(50.0, 6), Some(10), "half a span on");
        assert_eq!(at(50.0, 10), None, "a whole span on");
    }
}
