//! When to hedge: a shard whose attempt has not answered after its hedge
//! delay gets one more attempt at another replica. The delay is a
//! percentile (default p95) of that shard's own recent latencies, clamped
//! between a floor and a cap, or a fixed delay; extra attempts are bounded
//! by the [`HedgeBudget`](super::budget::HedgeBudget).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use scatter_management::metrics::{Counter, Gauge, Registry};
use serde::Deserialize;
use tokio::time::Instant;

use super::window::{AtomicDuration, LatencyWindow};
use crate::config::duration_text;

/// Hedging and fast-retry settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HedgeConfig {
    /// Send hedges at all (fast retries on UNAVAILABLE stay on). Default on.
    pub enabled: bool,
    /// Hedge after this percentile of the shard's recent latencies. Lower
    /// hedges more often (more load, shorter tail). Default 95.
    pub percentile: f64,
    /// Hedge after this fixed delay instead of a percentile.
    #[serde(with = "optional_duration_text")]
    pub fixed_delay: Option<Duration>,
    /// The shortest hedge delay, so fast shards are not hedged on noise.
    /// Default 1 ms.
    #[serde(with = "duration_text")]
    pub min_delay: Duration,
    /// The longest hedge delay; also the delay before a shard has enough
    /// history. Default 250 ms.
    #[serde(with = "duration_text")]
    pub max_delay: Duration,
    /// Extra attempts (hedges and retries) allowed per first attempt.
    /// Default 0.05 (5 %).
    pub budget_ratio: f64,
    /// Extra attempts that may be saved up for a burst; a fifth of them are
    /// kept for fast retries. Larger rides out a burst of slow shards (one
    /// request may want a hedge for several); smaller adds less load when
    /// the whole tree slows down. Default 100.
    pub budget_burst: f64,
    /// Attempts per shard at most, counting the first. Default 2.
    pub max_attempts: u32,
    /// No hedge or retry is sent with less than this left before the
    /// gather deadline: it could not answer in time. Default 2 ms.
    #[serde(with = "duration_text")]
    pub min_remaining: Duration,
}

impl Default for HedgeConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            percentile: 95.0,
            fixed_delay: None,
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(250),
            budget_ratio: 0.05,
            budget_burst: 100.0,
            max_attempts: 2,
            min_remaining: Duration::from_millis(2),
        }
    }
}

impl HedgeConfig {
    /// Checks ranges serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.percentile > 0.0 && self.percentile < 100.0) {
            return Err(format!(
                "hedge percentile {} is not in (0, 100)",
                self.percentile
            ));
        }
        if self.min_delay > self.max_delay {
            return Err("hedge min_delay is above max_delay".into());
        }
        if self.max_attempts == 0 {
            return Err("hedge max_attempts must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.budget_ratio) {
            return Err(format!(
                "hedge budget_ratio {} is not in [0, 1]",
                self.budget_ratio
            ));
        }
        Ok(())
    }
}

/// What the root knows of one shard across requests.
pub struct ShardStats {
    window: Mutex<LatencyWindow>,
    /// The configured percentile of the window, refreshed as samples arrive.
    cached: AtomicDuration,
    /// Hedges or retries not sent because the budget was spent.
    pub budget_refusals: Counter,
    /// The shard's current hedge delay in microseconds, for `/metrics`.
    pub delay_gauge: Gauge,
}

/// How far back a shard's latencies count.
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
                "Hedges or retries not sent because the budget was spent.",
                &labels,
            ),
            delay_gauge: metrics.gauge(
                "scatter_root_hedge_delay_microseconds",
                "The shard's current hedge delay.",
                &labels,
            ),
        }
    }

    /// Records a successful attempt's latency.
    pub fn record(&self, latency: Duration, config: &HedgeConfig, now: Instant) {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if window.record(latency, now)
            && let Some(value) = window.percentile(config.percentile)
        {
            self.cached.set(value);
            self.delay_gauge
                .set(i64::try_from(clamp(value, config).as_micros()).unwrap_or(i64::MAX));
        }
    }

    /// How long to wait before hedging this shard: the configured (or
    /// per-request) percentile of its recent latencies within the floor and
    /// cap; the cap until the shard has enough history.
    pub fn hedge_delay(&self, config: &HedgeConfig, percentile: Option<f64>) -> Duration {
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

/// `Option<Duration>` written as text, or absent.
mod optional_duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| crate::config::duration_text::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
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
}
