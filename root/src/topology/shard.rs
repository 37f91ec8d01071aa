//! One shard of the tree: its replicas, and its recent latencies, which set
//! its hedge delay — a percentile (default p95) of the shard's own window,
//! clamped between a floor and a cap, or a fixed delay — and what it did
//! over the last few seconds (requests, answers, hedges) for `/status`;
//! its own hedge budget, beside the tree's; and how long its calls take to
//! start, which sets when a tied call is copied.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use scatter_management::metrics::{Counter, Registry, SecondsGauge};
use tokio::time::Instant;

use super::budget::HedgeBudget;
use super::recent::{RecentCounts, Totals};
use super::replica::Replica;
use super::starts::StartTimes;
use super::window::{AtomicDuration, LatencyWindow};
use crate::config::HedgeConfig;

/// One shard: its id and its current replicas.
pub struct Shard {
    /// 0-based.
    pub id: u32,
    /// The replicas now in the tree; may be empty (the shard is then
    /// reported skipped).
    pub replicas: Vec<Arc<Replica>>,
    /// The shard's recent latencies, which set its hedge delay.
    pub stats: Arc<ShardStats>,
}

/// What the root knows of one shard across requests.
pub struct ShardStats {
    window: Mutex<LatencyWindow>,
    /// The configured percentile of the window, refreshed as samples arrive.
    cached: AtomicDuration,
    /// Requests whose hedge or retry of the shard the budget refused
    /// (once per request, however often the hedge asked again).
    pub budget_refusals: Counter,
    /// Requests whose hedge or retry of the shard was refused because the
    /// root was saturated or the replica it would go to was queueing (once
    /// per request).
    pub load_refusals: Counter,
    /// The hedge delay last used for the shard (or, once its window has
    /// history, the one the next request will use), in seconds, for
    /// `/metrics`. Set on every path — fixed delay, warm-up cap, percentile —
    /// not only when the window refreshes, which a fixed delay or a shard
    /// still warming up never reaches.
    pub delay_gauge: SecondsGauge,
    /// Requests, answers and hedges over the last few seconds.
    recent: RecentCounts<3>,
    /// The shard's own hedge budget, made on first use from the hedge
    /// configuration (`shard_budget_ratio`, `shard_budget_burst`).
    budget: OnceLock<HedgeBudget>,
    /// How long its calls take to start at their leaves (tied calls only).
    pub starts: StartTimes,
}

/// What one shard did over the last few seconds, for `/status`.
pub struct ShardRecent(Totals<3>);

impl ShardRecent {
    /// The time the counts cover.
    pub fn covered(&self) -> Duration {
        self.0.covered
    }
    /// Requests that reached the shard.
    pub fn requests(&self) -> u64 {
        self.0.counts[REQUESTS]
    }
    /// Requests that reached the shard, per second.
    pub fn requests_per_second(&self) -> f64 {
        self.0.per_second(REQUESTS)
    }
    /// Requests the shard answered.
    pub fn answered(&self) -> u64 {
        self.0.counts[ANSWERED]
    }
    /// The share of requests the shard answered; `None` without requests.
    pub fn answered_ratio(&self) -> Option<f64> {
        self.0.ratio(ANSWERED, REQUESTS)
    }
    /// Hedges sent per request; `None` without requests.
    pub fn hedge_rate(&self) -> Option<f64> {
        self.0.ratio(HEDGES, REQUESTS)
    }
}

const REQUESTS: usize = 0;
const ANSWERED: usize = 1;
const HEDGES: usize = 2;

/// How far back a shard's latencies count, and its recent counts.
const WINDOW_SPAN: Duration = Duration::from_secs(10);

impl ShardStats {
    /// Fresh statistics for `shard`.
    pub fn new(metrics: &Registry, shard: u32) -> Self {
        let shard = shard.to_string();
        let labels = [("shard", shard.as_str())];
        Self {
            window: Mutex::new(LatencyWindow::new(WINDOW_SPAN, Instant::now())),
            cached: AtomicDuration::default(),
            budget_refusals: metrics.counter(
                "scatter_root_budget_refusals_total",
                "Requests whose hedge or retry of the shard the budget refused (counted once per request).",
                &labels,
            ),
            load_refusals: metrics.counter(
                "scatter_root_load_refusals_total",
                "Requests whose hedge or retry of the shard was refused for load: the root saturated or the replica queueing (counted once per request).",
                &labels,
            ),
            delay_gauge: metrics.seconds_gauge(
                "scatter_root_hedge_delay_seconds",
                "The hedge delay last used for the shard.",
                &labels,
            ),
            recent: RecentCounts::new(WINDOW_SPAN, Instant::now()),
            budget: OnceLock::new(),
            starts: StartTimes::new(Instant::now()),
        }
    }

    /// The shard's own hedge budget: a hedge of this shard needs a token
    /// from it as well as from the tree's.
    pub fn budget(&self, config: &HedgeConfig) -> &HedgeBudget {
        self.budget
            .get_or_init(|| HedgeBudget::new(config.shard_budget_ratio, config.shard_budget_burst))
    }

    /// Counts one request's end for this shard: answered or not.
    pub fn ended(&self, answered: bool, now: Instant) {
        self.recent.add([1, u64::from(answered), 0], now);
    }

    /// Counts one hedge sent for this shard.
    pub fn hedged(&self, now: Instant) {
        self.recent.add([0, 0, 1], now);
    }

    /// What the shard did over the last few seconds.
    pub fn recent(&self, now: Instant) -> ShardRecent {
        ShardRecent(self.recent.totals(now))
    }

    /// Records a successful attempt's latency.
    pub fn record(&self, latency: Duration, config: &HedgeConfig, now: Instant) {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if window.record(latency, now)
            && let Some(value) = window.percentile(config.percentile)
        {
            self.cached.set(value);
            self.delay_gauge.set(clamp(value, config));
        }
    }

    /// How long to wait before hedging this shard: the configured (or
    /// per-request) percentile of its recent latencies within the floor and
    /// cap; the cap until the shard has enough history. The gauge shows the
    /// delay last used, whichever way it was found.
    pub fn hedge_delay(&self, config: &HedgeConfig, percentile: Option<f64>) -> Duration {
        let delay = self.choose_delay(config, percentile);
        self.delay_gauge.set(delay);
        delay
    }

    fn choose_delay(&self, config: &HedgeConfig, percentile: Option<f64>) -> Duration {
        if let Some(fixed) = config.fixed_delay {
            return fixed;
        }
        let raw = match percentile {
            Some(p) if p != config.percentile => self
                .window
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .percentile(p),
            _ => self.cached.get(),
        };
        raw.map_or(config.max_delay, |d| clamp(d, config))
    }
}

fn clamp(delay: Duration, config: &HedgeConfig) -> Duration {
    delay.clamp(config.min_delay, config.max_delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_is_the_cap_before_warm_up_then_follows_the_percentile_within_bounds() {
        let config = HedgeConfig {
            min_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(40),
            ..HedgeConfig::default()
        };
        let stats = ShardStats::new(&Registry::default(), 0);
        assert_eq!(stats.hedge_delay(&config, None), config.max_delay);
        assert_eq!(
            stats.delay_gauge.get(),
            config.max_delay,
            "the warm-up cap is shown"
        );
        let now = Instant::now();
        for i in 0..200u64 {
            stats.record(Duration::from_millis(5 + i % 20), &config, now);
        }
        let delay = stats.hedge_delay(&config, None);
        assert!(
            (22..=25).contains(&delay.as_millis()),
            "p95 of 5..25 ms: {delay:?}"
        );
        let low = stats.hedge_delay(&config, Some(1.0));
        assert_eq!(low.as_millis(), 5, "per-request percentile: {low:?}");
        for _ in 0..200 {
            stats.record(Duration::from_secs(1), &config, now);
        }
        assert_eq!(stats.hedge_delay(&config, None), config.max_delay, "capped");
        // Ten seconds on, the 1 s samples have left the window.
        for step in [6, 12] {
            for _ in 0..100 {
                stats.record(
                    Duration::from_micros(100),
                    &config,
                    now + Duration::from_secs(step),
                );
            }
        }
        assert_eq!(
            stats.hedge_delay(&config, None),
            config.min_delay,
            "floored"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn recent_counts_give_the_share_answered_and_hedged_and_the_rate() {
        let stats = ShardStats::new(&Registry::default(), 0);
        let empty = stats.recent(Instant::now());
        assert_eq!((empty.answered_ratio(), empty.hedge_rate()), (None, None));
        for answered in [true, true, true, false] {
            stats.ended(answered, Instant::now());
        }
        stats.hedged(Instant::now());
        tokio::time::advance(Duration::from_secs(2)).await;
        let recent = stats.recent(Instant::now());
        assert_eq!(recent.requests(), 4);
        assert_eq!(recent.answered(), 3);
        assert_eq!(recent.answered_ratio(), Some(0.75));
        assert_eq!(recent.hedge_rate(), Some(0.25));
        assert_eq!(recent.requests_per_second(), 2.0);
    }

    #[test]
    fn the_gauge_shows_a_fixed_delay_once_it_is_used() {
        let config = HedgeConfig {
            fixed_delay: Some(Duration::from_millis(7)),
            ..HedgeConfig::default()
        };
        let stats = ShardStats::new(&Registry::default(), 0);
        assert_eq!(
            stats.delay_gauge.get(),
            Duration::ZERO,
            "nothing hedged yet"
        );
        assert_eq!(stats.hedge_delay(&config, None), Duration::from_millis(7));
        assert_eq!(stats.delay_gauge.get(), Duration::from_millis(7));
    }
}
