//! Canary requests against queries of death: which requests go to one
//! shard first, how long the root waits for that canary, and how long it
//! remembers what the canary showed.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_text;

/// Canary settings (`[canary]`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CanaryConfig {
    /// Canary every request whose payload fingerprint was not seen
    /// recently (a request may still ask for `CANARY_ALWAYS` or
    /// `CANARY_NEVER`). On, a new payload costs one leaf round trip before
    /// the fan-out, and a query of death costs one leaf instead of the
    /// fleet. Default off.
    pub enabled: bool,
    /// How long the root waits for the canary before it fans out anyway: a
    /// slow canary is not a death. Longer catches payloads that take
    /// longer to kill a leaf; shorter adds less latency to a new payload
    /// on a slow shard. Never more than the request's deadline leaves.
    /// Default 100 ms.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// How long a fingerprint whose canary answered counts as seen: its
    /// requests fan out at once. Longer canaries less; shorter notices
    /// sooner a payload that turned deadly (new code on the leaves).
    /// Default 10 m.
    #[serde(with = "duration_text")]
    pub seen_for: Duration,
    /// How long a fingerprint whose canary killed its leaf is refused
    /// (FAILED_PRECONDITION, no leaf called). Longer protects the fleet
    /// longer; shorter lets a payload back sooner after a false alarm (a
    /// leaf that died of something else during the canary). Default 5 m.
    #[serde(with = "duration_text")]
    pub quarantine: Duration,
    /// The most fingerprints remembered as seen, and apart the most as
    /// quarantined; past it the oldest is forgotten (a forgotten seen
    /// payload is canaried again, a forgotten killer costs one more
    /// leaf). About 100 bytes each. Default 10000.
    pub max_fingerprints: usize,
}

impl Default for CanaryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            timeout: Duration::from_millis(100),
            seen_for: Duration::from_secs(600),
            quarantine: Duration::from_secs(300),
            max_fingerprints: 10_000,
        }
    }
}

impl CanaryConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout.is_zero() {
            return Err(
                "canary.timeout must be above zero (it is how long a canary may take)".into(),
            );
        }
        if self.seen_for.is_zero() || self.quarantine.is_zero() {
            return Err("canary.seen_for and canary.quarantine must be above zero".into());
        }
        if self.max_fingerprints == 0 {
            return Err("canary.max_fingerprints must be at least 1".into());
        }
        Ok(())
    }
}
