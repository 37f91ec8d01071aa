//! Choosing a replica for each attempt: adaptive, in the manner of C3 and
//! power-of-two-choices. Each replica keeps an EWMA of its latency and a
//! count of calls in flight; an attempt goes to the better of two random
//! candidates by `ewma × (1 + in_flight)`, never to a replica this request
//! already tried for the shard while another is available. Replicas on
//! probation are left out, but for an occasional probe.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use scatter_management::metrics::{Counter, Registry};
use tokio::time::Instant;

use super::probation::Probation;
use crate::discovery::Replica;

/// Weight of the newest sample in the latency and error EWMAs that steer
/// replica choice: quick to follow a replica that slows down.
const EWMA_WEIGHT: f64 = 0.2;
/// Weight of the newest sample in the slow trends that decide probation:
/// one straggler in a hundred calls barely moves them, a replica that stays
/// slow does.
const TREND_WEIGHT: f64 = 0.02;

/// What the root knows of one replica.
pub struct ReplicaStats {
    ewma_us: AtomicU64,
    error_rate: AtomicU64,
    trend_us: AtomicU64,
    trend_errors: AtomicU64,
    samples: AtomicU64,
    in_flight: AtomicU32,
    pub(crate) probation: Mutex<Probation>,
    /// Counters exposed on `/metrics`, labelled by shard and replica.
    pub counters: ReplicaCounters,
}

/// Per-replica counters.
pub struct ReplicaCounters {
    /// First attempts of a shard sent here.
    pub first_attempts: Counter,
    /// Hedges sent here.
    pub hedges: Counter,
    /// Hedges sent here that answered first.
    pub hedges_won: Counter,
    /// Retries after a fast failure sent here.
    pub retries: Counter,
    /// Calls here cancelled because another attempt won or the deadline came.
    pub cancellations: Counter,
    /// Calls here that ended in an error.
    pub failures: Counter,
    /// Times this replica was put on probation.
    pub probations: Counter,
}

impl ReplicaStats {
    /// Fresh statistics for a replica of `shard` at `addr`.
    pub fn new(metrics: &Registry, shard: u32, addr: &str) -> Self {
        let shard = shard.to_string();
        let labels = [("shard", shard.as_str()), ("replica", addr)];
        let c = |name: &str, help: &str| metrics.counter(name, help, &labels);
        Self {
            ewma_us: AtomicU64::new(0f64.to_bits()),
            error_rate: AtomicU64::new(0f64.to_bits()),
            trend_us: AtomicU64::new(0f64.to_bits()),
            trend_errors: AtomicU64::new(0f64.to_bits()),
            samples: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            probation: Mutex::new(Probation::default()),
            counters: ReplicaCounters {
                first_attempts: c(
                    "scatter_root_first_attempts_total",
                    "First attempts per replica.",
                ),
                hedges: c(
                    "scatter_root_hedges_total",
                    "Hedged attempts sent per replica.",
                ),
                hedges_won: c(
                    "scatter_root_hedges_won_total",
                    "Hedged attempts that answered first.",
                ),
                retries: c(
                    "scatter_root_retries_total",
                    "Fast retries sent per replica.",
                ),
                cancellations: c("scatter_root_cancellations_total", "Leaf calls cancelled."),
                failures: c(
                    "scatter_root_leaf_failures_total",
                    "Leaf calls that failed.",
                ),
                probations: c(
                    "scatter_root_probations_total",
                    "Times a replica went on probation.",
                ),
            },
        }
    }

    /// The latency EWMA, `None` before the first answer.
    pub fn latency(&self) -> Option<Duration> {
        let us = f64::from_bits(self.ewma_us.load(Ordering::Relaxed));
        (us > 0.0).then(|| Duration::from_secs_f64(us / 1e6))
    }

    /// The error-rate EWMA, in [0, 1].
    pub fn error_rate(&self) -> f64 {
        f64::from_bits(self.error_rate.load(Ordering::Relaxed))
    }

    /// Whether the replica is out of rotation on probation.
    pub fn on_probation(&self) -> bool {
        self.probation().on_probation()
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub(crate) fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Folds one finished call into the EWMAs and trends. A failure counts
    /// as an error; its latency is not a service time, so it is not folded.
    pub(crate) fn observe(&self, latency: Option<Duration>) {
        let error = if latency.is_some() { 0.0 } else { 1.0 };
        update_ewma(&self.error_rate, error, EWMA_WEIGHT);
        update_ewma(&self.trend_errors, error, TREND_WEIGHT);
        self.samples.fetch_add(1, Ordering::Relaxed);
        if let Some(latency) = latency {
            let sample = latency.as_secs_f64() * 1e6;
            fold_latency(&self.ewma_us, sample, EWMA_WEIGHT);
            fold_latency(&self.trend_us, sample, TREND_WEIGHT);
        }
    }

    /// Folds a lower bound on latency (a call cancelled after `elapsed`):
    /// it raises the EWMA and trend when above them, and never lowers them.
    pub(crate) fn observe_at_least(&self, elapsed: Duration) {
        let sample = elapsed.as_secs_f64() * 1e6;
        for (cell, weight) in [(&self.ewma_us, EWMA_WEIGHT), (&self.trend_us, TREND_WEIGHT)] {
            if sample > f64::from_bits(cell.load(Ordering::Relaxed)) {
                fold_latency(cell, sample, weight);
            }
        }
        self.samples.fetch_add(1, Ordering::Relaxed);
    }

    /// The slow latency trend, `None` before the first answer.
    pub fn latency_trend(&self) -> Option<Duration> {
        let us = f64::from_bits(self.trend_us.load(Ordering::Relaxed));
        (us > 0.0).then(|| Duration::from_secs_f64(us / 1e6))
    }

    /// The slow error-rate trend, in [0, 1].
    pub fn error_trend(&self) -> f64 {
        f64::from_bits(self.trend_errors.load(Ordering::Relaxed))
    }

    /// Calls observed so far.
    pub fn samples(&self) -> u64 {
        self.samples.load(Ordering::Relaxed)
    }

    /// Restarts the trends from the recent EWMAs (a replica back from
    /// probation is judged on what it does now).
    pub(crate) fn reset_trend(&self) {
        self.trend_us
            .store(self.ewma_us.load(Ordering::Relaxed), Ordering::Relaxed);
        self.trend_errors
            .store(self.error_rate.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Expected cost of one more call here, C3 style: latency times the
    /// cube of the queue the root has put on it, so load spreads before a
    /// queue forms (a linear term lets replicas take turns at being
    /// swamped), and failing replicas cost more.
    fn score(&self) -> f64 {
        let ewma = f64::from_bits(self.ewma_us.load(Ordering::Relaxed));
        let queue = 1.0 + f64::from(self.in_flight());
        ewma.max(1.0) * queue.powi(3) * (1.0 + 4.0 * self.error_rate())
    }

    fn probation(&self) -> std::sync::MutexGuard<'_, Probation> {
        self.probation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn update_ewma(cell: &AtomicU64, sample: f64, weight: f64) {
    let old = f64::from_bits(cell.load(Ordering::Relaxed));
    cell.store((old + weight * (sample - old)).to_bits(), Ordering::Relaxed);
}

/// A latency EWMA step; the first sample sets the value.
fn fold_latency(cell: &AtomicU64, sample: f64, weight: f64) {
    let old = f64::from_bits(cell.load(Ordering::Relaxed));
    let new = if old == 0.0 {
        sample
    } else {
        old + weight * (sample - old)
    };
    cell.store(new.max(f64::MIN_POSITIVE).to_bits(), Ordering::Relaxed);
}

/// Picks the replica index for the next attempt of a shard, or `None` when
/// every replica was already tried. `tried` lists replicas this request
/// already called for the shard. A replica on probation is chosen only as
/// its due probe, or when nothing else is left.
pub fn choose(
    replicas: &[std::sync::Arc<Replica>],
    tried: &[usize],
    now: Instant,
) -> Option<usize> {
    let untried = || (0..replicas.len()).filter(|i| !tried.contains(i));
    let mut active = [usize::MAX; 2];
    let mut seen = 0usize;
    for i in untried() {
        let mut probation = replicas[i].stats.probation();
        if probation.on_probation() {
            if probation.take_probe(now) {
                return Some(i);
            }
            continue;
        }
        drop(probation);
        // Reservoir-sample two active candidates in one pass.
        if seen < 2 {
            active[seen] = i;
        } else {
            let j = (random() % (seen as u64 + 1)) as usize;
            if j < 2 {
                active[j] = i;
            }
        }
        seen += 1;
    }
    match seen {
        0 => untried().min_by(|a, b| {
            replicas[*a]
                .stats
                .score()
                .total_cmp(&replicas[*b].stats.score())
        }),
        1 => Some(active[0]),
        _ => {
            let (a, b) = (active[0], active[1]);
            let better = if replicas[a].stats.score() <= replicas[b].stats.score() {
                a
            } else {
                b
            };
            Some(better)
        }
    }
}

/// A cheap, thread-safe pseudo-random number (splitmix64 over a counter):
/// enough to break ties between replicas, not for anything secret.
fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut z = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
