//! Latency-induced probation: a replica that stands far out from its
//! siblings — much slower, or failing much more — leaves the rotation for a
//! while. It still gets an occasional probe call, and comes back once its
//! probes show it healthy. The last active replica of a shard never leaves.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::replica::Replica;
use crate::config::ProbationConfig;

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

/// Calls a replica must have made before it can be judged an outlier.
const MIN_SAMPLES: u64 = 50;

/// Re-judges replica `index` of a shard after it finished a call. It is
/// ejected when its slow trends stand out from its active siblings' (a
/// persistent outlier, not one straggler), and returns once its probation is
/// long enough and its recent calls (the probes) no longer stand out.
/// Returns `true` when it was newly ejected.
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
        .filter(|(i, r)| *i != index && !r.stats.on_probation())
        .map(|(_, r)| r)
        .collect();
    let Ok(mut probation) = me.probation.lock() else {
        return false;
    };
    match probation.since {
        None => {
            let judged: Vec<Judged> = siblings
                .iter()
                .filter(|r| r.stats.samples() >= MIN_SAMPLES)
                .map(|r| Judged::trend(r))
                .collect();
            // When calls queue at every sibling too, latency says how loaded
            // the shard is, not how healthy this replica is: ejecting it
            // would pile its load on the others. Only errors count then.
            let queued = !siblings.is_empty() && siblings.iter().all(|r| r.stats.in_flight() > 1);
            let mut mine = Judged::trend(&replicas[index]);
            if queued {
                mine.latency = None;
            }
            let outlier = me.samples() >= MIN_SAMPLES && stands_out(&mine, &judged, config);
            if !outlier {
                return false;
            }
            probation.since = Some(now);
            probation.next_probe = Some(now + config.probe_interval);
            probation.probe_interval = config.probe_interval;
            me.counters.probations.inc();
            // Out of rotation is a change an operator should see at the default level.
            tracing::warn!(
                replica = %replicas[index].addr,
                latency_ms = mine.latency.map(|l| l.as_secs_f64() * 1e3),
                error_rate = mine.errors,
                "replica put on probation"
            );
            true
        }
        Some(since) => {
            let judged: Vec<Judged> = siblings.iter().map(|r| Judged::recent(r)).collect();
            let recovered = !stands_out(&Judged::recent(&replicas[index]), &judged, config);
            if recovered && now.duration_since(since) >= config.min_duration {
                *probation = Probation::default();
                me.reset_trend();
                tracing::info!(
                    replica = %replicas[index].addr,
                    after_ms = now.duration_since(since).as_millis(),
                    "replica back from probation"
                );
            }
            false
        }
    }
}

/// A replica's latency and error rate, as one judgement sees them.
struct Judged {
    latency: Option<Duration>,
    errors: f64,
}

impl Judged {
    /// The slow trends: what the replica has persistently been.
    fn trend(replica: &Replica) -> Self {
        Self {
            latency: replica.stats.latency_trend(),
            errors: replica.stats.error_trend(),
        }
    }

    /// The quick EWMAs: what its latest calls were.
    fn recent(replica: &Replica) -> Self {
        Self {
            latency: replica.stats.latency(),
            errors: replica.stats.error_rate(),
        }
    }
}

fn stands_out(me: &Judged, siblings: &[Judged], config: &ProbationConfig) -> bool {
    if siblings.is_empty() {
        return false;
    }
    let min_sibling_errors = siblings
        .iter()
        .map(|s| s.errors)
        .fold(f64::INFINITY, f64::min);
    if me.errors > config.error_rate && min_sibling_errors < me.errors / 2.0 {
        return true;
    }
    let mut sibling_latencies: Vec<Duration> = siblings.iter().filter_map(|s| s.latency).collect();
    let (Some(latency), false) = (me.latency, sibling_latencies.is_empty()) else {
        return false;
    };
    sibling_latencies.sort();
    let median = sibling_latencies[sibling_latencies.len() / 2];
    latency.as_secs_f64() > config.latency_factor * median.as_secs_f64()
        // Ignore sub-millisecond noise between fast replicas.
        && latency > median + Duration::from_millis(1)
}
