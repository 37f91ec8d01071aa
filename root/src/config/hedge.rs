//! Hedging, fast retries and probation: when the root sends a shard a
//! second attempt, how much extra load it may add for that, and when a
//! replica that stands out from its siblings leaves the rotation.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_text;
use super::duration_text::optional;

/// The most extra attempts that may be saved up: far beyond any useful
/// burst, and small enough that the budget's token arithmetic cannot
/// overflow.
const MAX_BUDGET_BURST: f64 = 1e9;

/// Hedging and fast-retry settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HedgeConfig {
    /// Send hedges at all (fast retries on UNAVAILABLE stay on). Default on.
    pub enabled: bool,
    /// Hedge after this percentile of the shard's recent latencies. Lower
    /// hedges more often (more load, shorter tail). Default 95.
    pub percentile: f64,
    /// Hedge after this fixed delay instead of a percentile.
    #[serde(with = "optional")]
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
    /// Each shard's own share of extra attempts per first attempt of that
    /// shard, on top of the global budget: one hot shard cannot spend the
    /// whole tree's budget on its hedges. Default 0.1 (10 %).
    pub shard_budget_ratio: f64,
    /// Hedges one shard may save up. Default 10.
    pub shard_budget_burst: f64,
    /// Attempts per shard at most, counting the first. Default 2.
    pub max_attempts: u32,
    /// Listen for leaves' early hints: leaf calls go through
    /// `Leaf/AnswerStream`, and a leaf that says a call will be slow gets
    /// the shard hedged at once (budget permitting) instead of after its
    /// delay. Leaves without `AnswerStream` are called with `Answer` as
    /// before. Default off.
    pub hints: bool,
    /// Tie every request's leaf calls: when a shard's call has not started
    /// work at its leaf after this delay (or the shard's recent p99
    /// time-to-start, when longer), a copy goes to another replica,
    /// and whichever starts first cancels the other (*The Tail at Scale*'s
    /// tied requests). Needs leaves that report their start
    /// (`AnswerStream`; the Rust SDK does). Default off; a request may ask
    /// for it with `HedgePolicy.tied`, which uses this delay or 1 ms.
    #[serde(with = "optional")]
    pub tied_delay: Option<Duration>,
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
            shard_budget_ratio: 0.1,
            shard_budget_burst: 10.0,
            max_attempts: 2,
            hints: false,
            tied_delay: None,
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
        if !(0.0..=MAX_BUDGET_BURST).contains(&self.budget_burst) {
            return Err(format!(
                "hedge budget_burst {} is not in [0, {MAX_BUDGET_BURST}]",
                self.budget_burst
            ));
        }
        if !(0.0..=1.0).contains(&self.shard_budget_ratio) {
            return Err(format!(
                "hedge shard_budget_ratio {} is not in [0, 1]",
                self.shard_budget_ratio
            ));
        }
        if !(0.0..=MAX_BUDGET_BURST).contains(&self.shard_budget_burst) {
            return Err(format!(
                "hedge shard_budget_burst {} is not in [0, {MAX_BUDGET_BURST}]",
                self.shard_budget_burst
            ));
        }
        if self.tied_delay.is_some_and(|d| d.is_zero()) {
            return Err("hedge tied_delay must be above zero (leave it out for no ties)".into());
        }
        Ok(())
    }
}

/// When a replica goes on probation and how it comes back.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbationConfig {
    /// Off: every replica stays in rotation whatever it does.
    pub enabled: bool,
    /// Latency EWMA above this multiple of the median of its active
    /// siblings ejects a replica. Lower ejects sooner, and more wrongly.
    /// Default 3.
    pub latency_factor: f64,
    /// An error-rate trend above this ejects a replica whose siblings fail
    /// less than half as often. Lower ejects a flaky replica sooner; its
    /// failed calls cost a retry each, paid from the hedge budget.
    /// Default 0.1.
    pub error_rate: f64,
    /// Shortest stay on probation. Default 2 s.
    #[serde(with = "duration_text")]
    pub min_duration: Duration,
    /// One probe call per this interval while on probation. Default 200 ms.
    #[serde(with = "duration_text")]
    pub probe_interval: Duration,
}

impl ProbationConfig {
    /// Checks ranges serde cannot: a factor that can single a replica out,
    /// an error rate that is a rate.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.latency_factor.is_finite() && self.latency_factor > 1.0) {
            return Err(format!(
                "probation.latency_factor {} must be a number above 1",
                self.latency_factor
            ));
        }
        if !(self.error_rate > 0.0 && self.error_rate <= 1.0) {
            return Err(format!(
                "probation.error_rate {} is not in (0, 1]",
                self.error_rate
            ));
        }
        if self.probe_interval.is_zero() {
            return Err("probation.probe_interval must be above zero".into());
        }
        Ok(())
    }
}

impl Default for ProbationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            latency_factor: 3.0,
            error_rate: 0.1,
            min_duration: Duration::from_secs(2),
            probe_interval: Duration::from_millis(200),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_budget_out_of_range_or_a_zero_tie_delay_is_refused_saying_which() {
        let refused = |config: HedgeConfig| config.validate().unwrap_err();
        let message = refused(HedgeConfig {
            shard_budget_ratio: 1.5,
            ..HedgeConfig::default()
        });
        assert!(message.contains("shard_budget_ratio 1.5"), "{message}");
        let message = refused(HedgeConfig {
            shard_budget_burst: -1.0,
            ..HedgeConfig::default()
        });
        assert!(message.contains("shard_budget_burst -1"), "{message}");
        let message = refused(HedgeConfig {
            tied_delay: Some(Duration::ZERO),
            ..HedgeConfig::default()
        });
        assert!(
            message.contains("tied_delay must be above zero"),
            "{message}"
        );
        let tied = HedgeConfig {
            tied_delay: Some(Duration::from_micros(500)),
            hints: true,
            ..HedgeConfig::default()
        };
        assert_eq!(tied.validate(), Ok(()));
    }
}
