//! Admission: how many requests the root runs at once. The limit adapts to
//! the latency the root observes, in the manner of TCP's congestion window
//! (Netflix's concurrency-limits, Envoy's adaptive concurrency): it grows
//! while requests answer close to the tree's unloaded latency and shrinks
//! when they queue. `limits.max_concurrent_requests` stays a hard ceiling.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_text;

/// Adaptive admission settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionConfig {
    /// Adapt the limit to observed latency. Off, the limit is the ceiling
    /// (`limits.max_concurrent_requests`). Default on.
    pub adaptive: bool,
    /// The limit at start. Small, so the first windows measure the tree
    /// nearly unloaded even under a burst; it doubles per window while
    /// latency stays low (slow start). Default 4.
    pub initial_limit: usize,
    /// The limit never goes below this, however slow requests get (nor
    /// above the ceiling, which wins when lower). Default 2.
    pub min_limit: usize,
    /// How much slower than the tree's unloaded latency (the lowest recent
    /// median) requests may get before the limit shrinks. Larger admits
    /// more queueing for more throughput; smaller keeps latency lower and
    /// sheds sooner. Default 2.0.
    pub tolerance: f64,
    /// How often the limit is reconsidered (when the window has enough
    /// answers). Shorter follows load faster but reads noisier medians.
    /// Default 100 ms.
    #[serde(with = "duration_text")]
    pub window: Duration,
    /// Refuse at once a request whose deadline is shorter than the median
    /// latency of recent requests: it would most likely time out, after
    /// holding leaves busy. Default on.
    pub deadline_aware: bool,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            adaptive: true,
            initial_limit: 4,
            min_limit: 2,
            tolerance: 2.0,
            window: Duration::from_millis(100),
            deadline_aware: true,
        }
    }
}

impl AdmissionConfig {
    /// Checks the settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_limit == 0 {
            return Err("admission.min_limit must be at least 1".into());
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 1.0) {
            return Err(format!(
                "admission.tolerance {} must be at least 1 (1 = no queueing at all)",
                self.tolerance
            ));
        }
        if self.window.is_zero() {
            return Err("admission.window must be above zero".into());
        }
        Ok(())
    }
}
