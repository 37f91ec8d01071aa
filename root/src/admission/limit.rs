//! The adaptive concurrency limit, a gradient limiter on the root's own
//! request latency. Answers are collected in windows; each closed window's
//! median is compared with the tree's unloaded latency, taken as the lowest
//! window median of the last [`BASELINE_SPAN`]:
//! - median within `tolerance` × baseline, and the limit in use (at least
//!   half of it occupied): the limit grows by its square root, so a small
//!   limit finds its level in a few windows and a large one does not
//!   overshoot by much;
//! - median above it: the limit shrinks in proportion,
//!   `limit × tolerance × baseline / median`, at most halving per window.
//!
//! The baseline needs no probe windows (no traffic is dropped to measure
//! it): while the limit holds queues short, some windows run at the
//! unloaded latency. It is forgotten after [`BASELINE_SPAN`], so a tree that
//! becomes slower for good is followed, not fought.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::AdmissionConfig;

/// How long a window median counts toward the baseline.
pub const BASELINE_SPAN: Duration = Duration::from_secs(30);
/// Answers a window needs before it closes, so one slow answer is not a median.
const MIN_SAMPLES: usize = 8;
/// A window closes early once it holds this many answers.
const MAX_SAMPLES: usize = 512;

/// The limit's state. Time comes in as arguments, so tests drive it in
/// paused time.
pub struct GradientLimit {
    limit: f64,
    floor: f64,
    ceiling: f64,
    tolerance: f64,
    window_span: Duration,
    window: Window,
    medians: VecDeque<(Instant, Duration)>,
}

/// The answers of the window being collected.
struct Window {
    opened: Instant,
    samples: Vec<Duration>,
    busiest: usize,
}

/// What a closed window decided.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adjustment {
    /// The limit before the window.
    pub before: f64,
    /// The limit after it.
    pub after: f64,
    /// The window's median latency.
    pub median: Duration,
}

impl GradientLimit {
    /// A limit between `config.min_limit` and `ceiling`, starting at
    /// `config.initial_limit`.
    pub fn new(config: &AdmissionConfig, ceiling: usize, now: Instant) -> Self {
        let ceiling = ceiling.max(1) as f64;
        let floor = (config.min_limit.max(1) as f64).min(ceiling);
        Self {
            limit: (config.initial_limit as f64).clamp(floor, ceiling),
            floor,
            ceiling,
            tolerance: config.tolerance.max(1.0),
            window_span: config.window,
            window: Window {
                opened: now,
                samples: Vec::with_capacity(MAX_SAMPLES),
                busiest: 0,
            },
            medians: VecDeque::new(),
        }
    }

    /// The current limit (fractional; whole permits are its floor).
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// The unloaded latency the limit steers by, once a window has closed.
    pub fn baseline(&self) -> Option<Duration> {
        self.medians.iter().map(|(_, m)| *m).min()
    }

    /// Notes that `in_flight` requests run now (the window remembers the
    /// busiest moment, to tell a limit in use from one nobody reaches).
    pub fn note_in_flight(&mut self, in_flight: usize) {
        self.window.busiest = self.window.busiest.max(in_flight);
    }

    /// Records one answered request's latency; returns what changed when
    /// this answer closed a window.
    pub fn record(&mut self, latency: Duration, now: Instant) -> Option<Adjustment> {
        self.window.samples.push(latency);
        let count = self.window.samples.len();
        let due = now.saturating_duration_since(self.window.opened) >= self.window_span;
        if count < MAX_SAMPLES && !(due && count >= MIN_SAMPLES) {
            return None;
        }
        Some(self.close_window(now))
    }

    fn close_window(&mut self, now: Instant) -> Adjustment {
        let samples = &mut self.window.samples;
        let middle = samples.len() / 2;
        let median = *samples.select_nth_unstable(middle).1;
        while self
            .medians
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > BASELINE_SPAN)
        {
            self.medians.pop_front();
        }
        self.medians.push_back((now, median));
        let baseline = self.baseline().unwrap_or(median);
        let before = self.limit;
        let allowed = baseline.as_secs_f64() * self.tolerance;
        let observed = median.as_secs_f64().max(f64::MIN_POSITIVE);
        if observed <= allowed {
            // Grow only a limit in use: idle headroom says nothing.
            if self.window.busiest as f64 * 2.0 >= self.limit {
                self.limit += self.limit.sqrt().max(1.0);
            }
        } else {
            self.limit *= (allowed / observed).max(0.5);
        }
        self.limit = self.limit.clamp(self.floor, self.ceiling);
        self.window.samples.clear();
        self.window.busiest = 0;
        self.window.opened = now;
        Adjustment {
            before,
            after: self.limit,
            median,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(initial: usize, min: usize) -> AdmissionConfig {
        AdmissionConfig {
            initial_limit: initial,
            min_limit: min,
            tolerance: 2.0,
            window: Duration::from_millis(100),
            ..AdmissionConfig::default()
        }
    }

    /// Feeds one window of answers at `latency`, the limit fully in use,
    /// and returns the limit after it.
    async fn window(limit: &mut GradientLimit, latency: Duration) -> f64 {
        limit.note_in_flight(limit.limit() as usize);
        for _ in 0..MIN_SAMPLES {
            tokio::time::advance(Duration::from_millis(100) / MIN_SAMPLES as u32).await;
            limit.record(latency, Instant::now());
        }
        limit.limit()
    }

    #[tokio::test(start_paused = true)]
    async fn grows_while_latency_stays_near_the_baseline() {
        let mut limit = GradientLimit::new(&config(4, 1), 1000, Instant::now());
        let mut last = limit.limit();
        for _ in 0..10 {
            let now = window(&mut limit, Duration::from_millis(10)).await;
            assert!(now > last, "{now} after {last}");
            last = now;
        }
        assert_eq!(limit.baseline(), Some(Duration::from_millis(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn shrinks_when_latency_rises_and_never_below_its_floor() {
        let mut limit = GradientLimit::new(&config(64, 3), 1000, Instant::now());
        window(&mut limit, Duration::from_millis(10)).await;
        let before = limit.limit();
        // Three times the baseline with tolerance 2: shrink to two thirds.
        let after = window(&mut limit, Duration::from_millis(30)).await;
        assert!(
            (after - before * 2.0 / 3.0).abs() < 1e-9,
            "{before} → {after}"
        );
        // Far slower: at most halving per window, and never below the floor.
        let halved = window(&mut limit, Duration::from_secs(1)).await;
        assert!((halved - after / 2.0).abs() < 1e-9, "{after} → {halved}");
        for _ in 0..20 {
            window(&mut limit, Duration::from_secs(1)).await;
        }
        assert_eq!(limit.limit(), 3.0);
    }

    #[tokio::test(start_paused = true)]
    async fn never_above_the_ceiling() {
        let mut limit = GradientLimit::new(&config(4, 1), 20, Instant::now());
        for _ in 0..50 {
            window(&mut limit, Duration::from_millis(10)).await;
        }
        assert_eq!(limit.limit(), 20.0);
        let capped = GradientLimit::new(&config(500, 1), 20, Instant::now());
        assert_eq!(capped.limit(), 20.0, "the initial limit is capped too");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_limit_does_not_grow() {
        let mut limit = GradientLimit::new(&config(16, 1), 1000, Instant::now());
        for _ in 0..5 {
            limit.note_in_flight(2);
            for _ in 0..MIN_SAMPLES {
                tokio::time::advance(Duration::from_millis(20)).await;
                limit.record(Duration::from_millis(10), Instant::now());
            }
        }
        assert_eq!(limit.limit(), 16.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_needs_its_span_and_enough_answers() {
        let mut limit = GradientLimit::new(&config(16, 1), 1000, Instant::now());
        // Many answers within the span: no decision yet.
        for _ in 0..100 {
            assert_eq!(limit.record(Duration::from_millis(1), Instant::now()), None);
        }
        // The span passes, but one answer is no median... with 100 it closes.
        tokio::time::advance(Duration::from_millis(100)).await;
        let adjustment = limit.record(Duration::from_millis(1), Instant::now());
        assert!(adjustment.is_some());
        // A new window with too few answers stays open past its span.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(limit.record(Duration::from_millis(1), Instant::now()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_baseline_follows_a_tree_that_becomes_slower_for_good() {
        let mut limit = GradientLimit::new(&config(16, 1), 1000, Instant::now());
        window(&mut limit, Duration::from_millis(10)).await;
        // The tree is now 5× slower, for longer than the baseline's span.
        let mut windows = 0;
        while limit.baseline() != Some(Duration::from_millis(50)) {
            window(&mut limit, Duration::from_millis(50)).await;
            windows += 1;
            assert!(windows < 1000, "the old baseline was never forgotten");
        }
        let floor = limit.limit();
        let grown = window(&mut limit, Duration::from_millis(50)).await;
        assert!(grown > floor, "at the new baseline the limit grows again");
    }
}
