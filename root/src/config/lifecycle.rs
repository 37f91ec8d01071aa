//! How the root stops: after SIGTERM it reports NOT_SERVING for
//! `drain_delay` while still answering, then stops accepting and lets
//! requests in flight finish within `grace`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_text;

/// Drain settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleConfig {
    /// How long requests in flight may finish after the listener closes.
    /// Longer lets slow requests end; shorter stops a stuck root sooner.
    /// Default 10 s.
    #[serde(with = "duration_text")]
    pub grace: Duration,
    /// How long to keep answering while reporting NOT_SERVING, so load
    /// balancers move away before the listener closes. Default 0: close at
    /// once, right for clients that watch health; on Kubernetes give it the
    /// few seconds endpoints take to update.
    #[serde(with = "duration_text")]
    pub drain_delay: Duration,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            drain_delay: Duration::ZERO,
        }
    }
}
