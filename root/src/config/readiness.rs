//! When the root says it is ready (`/readyz` 200, gRPC health SERVING):
//! when it could answer a query now — its merge reachable and enough shards
//! with a replica that answers health checks — and how often it checks.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_text;

/// Readiness settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReadinessConfig {
    /// The fraction of shards that must have a serving replica for the root
    /// to be ready. 0 (the default) means at least one shard — what a
    /// request with the default policy needs to get an answer, so the root
    /// is taken out of rotation exactly when every query would fail. Set 1.0
    /// when clients require every shard: a root missing one is then not
    /// ready, at the price of no root being ready while a shard is down.
    pub min_coverage: f64,
    /// How often the merge and every replica are asked for their health.
    /// Shorter notices a dead leaf or merge sooner; each round costs one
    /// small call per replica. Default 1 s.
    #[serde(with = "duration_text")]
    pub interval: Duration,
    /// How long one health check may take before its process counts as
    /// unreachable. Default 1 s.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        Self {
            min_coverage: 0.0,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        }
    }
}

impl ReadinessConfig {
    /// Checks the fraction and the periods.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.min_coverage) {
            return Err(format!(
                "readiness.min_coverage {} is not a fraction in [0, 1]",
                self.min_coverage
            ));
        }
        if self.interval.is_zero() || self.timeout.is_zero() {
            return Err("readiness.interval and readiness.timeout must be above zero".into());
        }
        Ok(())
    }
}
