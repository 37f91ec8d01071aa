//! The adaptive concurrency limit, a gradient limiter on the root's own
//! request latency. Answers are collected in windows; each closed window's
//! median is compared with the tree's unloaded latency (the baseline):
//! - median within `tolerance` × baseline: the limit grows — doubling per
//!   window until the first shrink (slow start, as TCP's), then by its
//!   square root, so a large limit does not overshoot by much. Beyond
//!   [`IDLE_HEADROOM`] it grows only while in use (at least half of it
//!   occupied at some moment of the window): idle headroom says nothing
//!   of what the tree can carry. Below it, it grows anyway, so a lightly
//!   loaded root does not shed a passing spike;
//! - median above it: the limit moves halfway to
//!   `limit × tolerance × baseline / median`, and by at most a quarter per
//!   window, so one noisy window does not shed a load the tree can carry.
//!
//! The baseline is the lowest window median seen, with no probe windows
//! (no traffic is dropped to measure it). A window at higher latency moves
//! it only when it ran at the floor (in-flight requests on average, by
//! Little's law, no more than `min_limit`): with the limit as low as it
//! goes and requests still slower, the tree is slower for good, and is
//! followed. Any other slower window is congestion — this root's own, or
//! other clients' load on the same leaves — and never moves the baseline:
//! so the baseline does not creep up under sustained overload, the failure
//! of limiters whose minimum latency is re-learnt from loaded windows. The
//! limit starts small (`initial_limit`) so that the first windows, even
//! under a burst, measure the tree nearly unloaded.

use std::time::Duration;

use tokio::time::Instant;

use crate::config::AdmissionConfig;

/// The limit grows while latency is good up to this, used or not.
pub const IDLE_HEADROOM: f64 = 32.0;
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
    slow_start: bool,
    window_span: Duration,
    window: Window,
    baseline: Option<Duration>,
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
            slow_start: true,
            window_span: config.window,
            window: Window {
                opened: now,
                samples: Vec::with_capacity(MAX_SAMPLES),
                busiest: 0,
            },
            baseline: None,
        }
    }

    /// The current limit (fractional; whole permits are its floor).
    pub fn limit(&self) -> f64 {
        self.limit
    }

    /// The unloaded latency the limit steers by, once a window has closed.
    pub fn baseline(&self) -> Option<Duration> {
        self.baseline
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
        let elapsed = now.saturating_duration_since(self.window.opened);
        let samples = &mut self.window.samples;
        // Little's law: time spent in requests over the window's length.
        let busy: Duration = samples.iter().sum();
        let concurrency = busy.as_secs_f64() / elapsed.as_secs_f64().max(1e-3);
        let middle = samples.len() / 2;
        let median = *samples.select_nth_unstable(middle).1;
        let baseline = self.update_baseline(median, concurrency);
        let before = self.limit;
        let allowed = baseline.as_secs_f64() * self.tolerance;
        let observed = median.as_secs_f64().max(f64::MIN_POSITIVE);
        if observed <= allowed {
            let in_use = self.window.busiest as f64 * 2.0 >= self.limit;
            if in_use || self.limit < IDLE_HEADROOM {
                self.limit += if self.slow_start {
                    self.limit
                } else {
                    self.limit.sqrt().max(1.0)
                };
            }
        } else {
            self.slow_start = false;
            self.limit *= f64::midpoint(1.0, (allowed / observed).max(0.5));
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

    /// Folds a window into the baseline (see the module's docs); returns it.
    fn update_baseline(&mut self, median: Duration, concurrency: f64) -> Duration {
        let replace = self
            .baseline
            .is_none_or(|b| median < b || concurrency <= self.floor);
        if replace {
            self.baseline = Some(median);
        }
        self.baseline.unwrap_or(median)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: Duration = Duration::from_millis(100);

    fn config(initial: usize, min: usize) -> AdmissionConfig {
        AdmissionConfig {
            initial_limit: initial,
            min_limit: min,
            tolerance: 2.0,
            window: SPAN,
            ..AdmissionConfig::default()
        }
    }

    /// Feeds one window of answers taking `latency` with `in_flight`
    /// requests running throughout (as Little's law has it), and returns
    /// the limit after it.
    async fn window(limit: &mut GradientLimit, latency: Duration, in_flight: f64) -> f64 {
        limit.note_in_flight(in_flight.ceil() as usize);
        let per_span = SPAN.as_secs_f64() * in_flight / latency.as_secs_f64();
        let n = (per_span.ceil() as usize).clamp(MIN_SAMPLES, MAX_SAMPLES);
        let step = latency.div_f64(in_flight);
        for _ in 0..n {
            tokio::time::advance(step).await;
            limit.record(latency, Instant::now());
        }
        limit.limit()
    }

    /// A window with the whole limit in use.
    async fn full(limit: &mut GradientLimit, latency: Duration) -> f64 {
        let in_flight = limit.limit().floor();
        window(limit, latency, in_flight).await
    }

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn grows_while_latency_stays_near_the_baseline() {
        let mut limit = GradientLimit::new(&config(4, 1), 1_000_000, Instant::now());
        let mut last = limit.limit();
        for _ in 0..10 {
            let now = full(&mut limit, MS * 10).await;
            assert!(now > last, "{now} after {last}");
            last = now;
        }
        assert_eq!(limit.baseline(), Some(MS * 10));
    }

    #[tokio::test(start_paused = true)]
    async fn shrinks_when_latency_rises_and_never_below_its_floor() {
        let mut limit = GradientLimit::new(&config(64, 3), 1000, Instant::now());
        // The baseline, measured while two requests ran.
        window(&mut limit, MS * 10, 2.0).await;
        let before = limit.limit();
        // Three times the baseline with tolerance 2: halfway to two thirds.
        let after = full(&mut limit, MS * 30).await;
        assert!(
            (after - before * 5.0 / 6.0).abs() < 1e-9,
            "{before} → {after}"
        );
        // Far slower: at most a quarter less per window, never below the floor.
        let cut = full(&mut limit, MS * 1000).await;
        assert!((cut - after * 0.75).abs() < 1e-9, "{after} → {cut}");
        for _ in 0..20 {
            window(&mut limit, MS * 1000, 64.0).await;
        }
        assert_eq!(limit.limit(), 3.0);
    }

    #[tokio::test(start_paused = true)]
    async fn never_above_the_ceiling() {
        let mut limit = GradientLimit::new(&config(4, 1), 20, Instant::now());
        for _ in 0..50 {
            full(&mut limit, MS * 10).await;
        }
        assert_eq!(limit.limit(), 20.0);
        let capped = GradientLimit::new(&config(500, 1), 20, Instant::now());
        assert_eq!(capped.limit(), 20.0, "the initial limit is capped too");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_limit_grows_to_its_headroom_and_no_further() {
        let mut limit = GradientLimit::new(&config(4, 1), 1000, Instant::now());
        for _ in 0..10 {
            window(&mut limit, MS * 10, 2.0).await;
        }
        assert_eq!(
            limit.limit(),
            IDLE_HEADROOM,
            "two requests at a time never use more"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_needs_its_span_and_enough_answers() {
        let mut limit = GradientLimit::new(&config(16, 1), 1000, Instant::now());
        // Many answers within the span: no decision yet.
        for _ in 0..100 {
            assert_eq!(limit.record(MS, Instant::now()), None);
        }
        tokio::time::advance(SPAN).await;
        assert!(limit.record(MS, Instant::now()).is_some());
        // A new window with too few answers stays open past its span.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(limit.record(MS, Instant::now()), None);
    }

    #[tokio::test(start_paused = true)]
    async fn sustained_overload_does_not_move_the_baseline() {
        let mut limit = GradientLimit::new(&config(4, 1), 1000, Instant::now());
        // The tree answers in 10 ms up to 4 requests at once; beyond that,
        // requests queue and latency grows with the concurrency.
        let latency = |in_flight: f64| (MS * 10).mul_f64((in_flight / 4.0).max(1.0));
        for _ in 0..1000 {
            let in_flight = limit.limit().floor();
            window(&mut limit, latency(in_flight), in_flight).await;
        }
        assert_eq!(
            limit.baseline(),
            Some(MS * 10),
            "no creep after 1000 windows"
        );
        let settled = limit.limit();
        assert!(
            (4.0..=16.0).contains(&settled),
            "holds latency near tolerance × baseline: limit {settled}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_baseline_follows_a_tree_that_becomes_slower_for_good() {
        let mut limit = GradientLimit::new(&config(4, 2), 1000, Instant::now());
        full(&mut limit, MS * 10).await;
        // The tree is now 5× slower at any load: the limit shrinks to its
        // floor, where the new latency is measured.
        let mut windows = 0;
        while limit.baseline() != Some(MS * 50) {
            full(&mut limit, MS * 50).await;
            windows += 1;
            assert!(windows < 20, "the old baseline was never replaced");
        }
        let low = limit.limit();
        let grown = full(&mut limit, MS * 50).await;
        assert!(grown > low, "at the new baseline the limit grows again");
    }
}
