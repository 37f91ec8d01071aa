//! Latency-induced probation: a replica that stands far out from its
//! siblings — much slower, or failing much more — leaves the rotation for a
//! while. It still gets an occasional probe call, and comes back once its
//! probes show it healthy. The last active replica of a shard never leaves.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use crate::config::duration_text;
use crate::discovery::Replica;

/// When a replica goes on probation and how it comes back.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbationConfig {
    /// Off: every replica stays in rotation whatever it does.
    pub enabled: bool,
    /// Latency EWMA above this multiple of the median of its active
    /// siblings ejects a replica. Lower ejects sooner, and more wrongly.
    /// Default 3.
    pub latency_factor: f64,
    /// Error-rate EWMA above this ejects a replica whose siblings fail less
    /// than half as often. Default 0.5.
    pub error_rate: f64,
    /// Shortest stay on probation. Default 2 s.
    #[serde(with = "duration_text")]
    pub min_duration: Duration,
    /// One probe call per this interval while on probation. Default 200 ms.
    #[serde(with = "duration_text")]
    pub probe_interval: Duration,
}

impl Default for ProbationConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            latency_factor: 3.0,
            error_rate: 0.5,
            min_duration: Duration::from_secs(2),
            probe_interval: Duration::from_millis(200),
        }
    }
}

/// The probation state of one replica.
#[derive(Debug, Default)]
pub struct Probation {
    since: Option<Instant>,
    next_probe: Option<Instant>,
    probe_interval: Duration,
}

impl Probation {
    /// Whether the replica is out of the regular rotation.
    pub fn on_probation(&self) -> bool {
        self.since.is_some()
    }

    /// Claims the probe slot if one is due (one probe per interval).
    pub fn take_probe(&mut self, now: Instant) -> bool {
        match self.next_probe {
            Some(due) if now >= due => {
                self.next_probe = Some(now + self.probe_interval);
                true
            }
            _ => false,
        }
    }
}

/// Re-judges replica `index` of a shard after it finished a call: ejects it
/// if it stands out from its siblings, or returns it once its probation is
/// long enough and it no longer stands out. Returns `true` when it was
/// newly ejected.
pub fn evaluate(
    replicas: &[Arc<Replica>],
    index: usize,
    config: &ProbationConfig,
    now: Instant,
) -> bool {
    if !config.enabled || replicas.len() < 2 {
        return false;
    }
    let me = &replicas[index].stats;
    let siblings: Vec<&Arc<Replica>> = replicas
        .iter()
        .enumerate()
        .filter(|(i, r)| *i != index && !r.stats.probation.lock().is_ok_and(|p| p.since.is_some()))
        .map(|(_, r)| r)
        .collect();
    let outlier = stands_out(me.latency(), me.error_rate(), &siblings, config);
    let Ok(mut probation) = me.probation.lock() else {
        return false;
    };
    match probation.since {
        None if outlier && !siblings.is_empty() => {
            probation.since = Some(now);
            probation.next_probe = Some(now + config.probe_interval);
            probation.probe_interval = config.probe_interval;
            me.counters.probations.inc();
            tracing::info!(replica = %replicas[index].addr, "replica put on probation");
            true
        }
        Some(since) if !outlier && now.duration_since(since) >= config.min_duration => {
            *probation = Probation::default();
            tracing::info!(replica = %replicas[index].addr, "replica back from probation");
            false
        }
        _ => false,
    }
}

fn stands_out(
    latency: Option<Duration>,
    error_rate: f64,
    siblings: &[&Arc<Replica>],
    config: &ProbationConfig,
) -> bool {
    if siblings.is_empty() {
        return false;
    }
    let min_sibling_errors = siblings
        .iter()
        .map(|r| r.stats.error_rate())
        .fold(f64::INFINITY, f64::min);
    if error_rate > config.error_rate && min_sibling_errors < error_rate / 2.0 {
        return true;
    }
    let mut sibling_latencies: Vec<Duration> =
        siblings.iter().filter_map(|r| r.stats.latency()).collect();
    let (Some(latency), false) = (latency, sibling_latencies.is_empty()) else {
        return false;
    };
    sibling_latencies.sort();
    let median = sibling_latencies[sibling_latencies.len() / 2];
    latency.as_secs_f64() > config.latency_factor * median.as_secs_f64()
        // Ignore sub-millisecond noise between fast replicas.
        && latency > median + Duration::from_millis(1)
}
