//! One replica of a shard: its address, its kept-open channel, and what the
//! root has learnt of it across requests — latency and error EWMAs (quick,
//! for choosing), slow trends (for probation), recent latencies (for
//! `/status`), calls in flight, the load its leaf reports, counters.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use scatter_management::metrics::{Counter, Gauge, Latency, Registry};
use tonic::Code;

use scatter_proto::v1::leaf_client::LeafClient;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::health::ReplicaHealth;
use super::probation::Probation;
use super::reports::LeafReports;
use super::window::LatencyWindow;

/// Weight of the newest sample in the latency and error EWMAs that steer
/// replica choice: quick to follow a replica that slows down.
const EWMA_WEIGHT: f64 = 0.2;
/// Weight of the newest sample in the slow trends that decide probation:
/// one straggler in a hundred calls barely moves them, a replica that stays
/// slow does.
const TREND_WEIGHT: f64 = 0.02;
/// How far back the latencies `/status` shows go: long enough for a
/// percentile to mean something at a few calls a second, short enough that
/// a replica's change shows within seconds.
const RECENT_SPAN: Duration = Duration::from_secs(10);

/// One leaf process serving one shard.
pub struct Replica {
    /// Its address, as configured or discovered (`http://host:port`).
    pub addr: String,
    /// The kept-open channel; clone per call (cheap).
    pub client: LeafClient<Channel>,
    /// Latency, load and outcome statistics used to choose replicas.
    pub stats: ReplicaStats,
}

/// What the root knows of one replica.
pub struct ReplicaStats {
    ewma_us: AtomicU64,
    error_rate: AtomicU64,
    trend_us: AtomicU64,
    trend_errors: AtomicU64,
    samples: AtomicU64,
    in_flight: AtomicU32,
    recent: Mutex<LatencyWindow>,
    pub(crate) probation: Mutex<Probation>,
    /// Its last health check and the last error a call ended with.
    pub health: ReplicaHealth,
    /// Counters exposed on `/metrics`, labelled by shard and replica.
    pub counters: ReplicaCounters,
    /// The load its leaf reports, and whether it streams answers.
    pub reports: LeafReports,
}

/// Per-replica series on `/metrics`, labelled `shard` and `replica`.
pub struct ReplicaCounters {
    /// Every call sent here: first attempts, hedges and retries.
    pub calls: Counter,
    /// Calls running here now.
    pub in_flight: Gauge,
    /// Latency of calls here that answered.
    pub latency: Latency,
    /// First attempts of a shard sent here.
    pub first_attempts: Counter,
    /// Hedges sent here.
    pub hedges: Counter,
    /// Hedges sent here that answered first.
    pub hedges_won: Counter,
    /// Retries after a fast failure sent here.
    pub retries: Counter,
    /// Tied copies sent here (a call that had not started at its leaf).
    pub tied: Counter,
    /// Calls here cancelled because another attempt won or the deadline came.
    pub cancellations: Counter,
    /// The registry and labels, for error counters made per code as codes
    /// occur (seventeen series per replica, mostly zero, would bury the
    /// ones that matter).
    errors: (Registry, [String; 2]),
    /// Calls the leaf refused at once with RESOURCE_EXHAUSTED (at its
    /// in-flight cap); each is retried on a sibling when budget and
    /// deadline allow.
    pub refusals: Counter,
    /// Times this replica was put on probation.
    pub probations: Counter,
}

impl ReplicaCounters {
    /// Counts one failed call here by its gRPC code.
    pub fn error(&self, code: Code) {
        let (registry, [shard, replica]) = &self.errors;
        let code = format!("{code:?}");
        registry
            .counter(
                "scatter_root_leaf_errors_total",
                "Leaf calls that failed, per replica and gRPC code.",
                &[("shard", shard), ("replica", replica), ("code", &code)],
            )
            .inc();
    }
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
            recent: Mutex::new(LatencyWindow::new(RECENT_SPAN, Instant::now())),
            probation: Mutex::new(Probation::default()),
            health: ReplicaHealth::default(),
            reports: LeafReports::new(Instant::now()),
            counters: ReplicaCounters {
                calls: c(
                    "scatter_root_leaf_calls_total",
                    "Leaf calls sent per replica: first attempts, hedges and retries.",
                ),
                in_flight: metrics.gauge(
                    "scatter_root_leaf_in_flight",
                    "Leaf calls running now per replica.",
                    &labels,
                ),
                latency: metrics.latency(
                    "scatter_root_leaf_call_seconds",
                    "Latency of leaf calls that answered, per replica.",
                    &labels,
                ),
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
                tied: c(
                    "scatter_root_tied_total",
                    "Tied copies sent per replica: calls not started at their leaf after the tie delay.",
                ),
                cancellations: c("scatter_root_cancellations_total", "Leaf calls cancelled."),
                errors: (metrics.clone(), [shard.clone(), addr.to_owned()]),
                refusals: c(
                    "scatter_root_leaf_refusals_total",
                    "Leaf calls refused with RESOURCE_EXHAUSTED (the leaf at its in-flight cap).",
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

    /// The latency at `percentile` (0–100) of its answers over the last
    /// few seconds; `None` when it answered none in that time.
    pub fn recent_latency(&self, percentile: f64) -> Option<Duration> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recent_percentile(percentile, Instant::now())
    }

    /// Whether the replica is out of rotation on probation.
    pub fn on_probation(&self) -> bool {
        self.probation().on_probation()
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// One more call in flight.
    pub fn started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.counters.in_flight.add(1);
    }

    /// One call fewer in flight.
    pub fn ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.counters.in_flight.add(-1);
    }

    /// Folds one finished call into the EWMAs, trends and recent latencies.
    /// A failure counts as an error; its latency is not a service time, so
    /// it is not folded.
    pub fn observe(&self, latency: Option<Duration>) {
        let error = if latency.is_some() { 0.0 } else { 1.0 };
        update_ewma(&self.error_rate, error, EWMA_WEIGHT);
        update_ewma(&self.trend_errors, error, TREND_WEIGHT);
        self.samples.fetch_add(1, Ordering::Relaxed);
        if let Some(latency) = latency {
            let sample = latency.as_secs_f64() * 1e6;
            fold_latency(&self.ewma_us, sample, EWMA_WEIGHT);
            fold_latency(&self.trend_us, sample, TREND_WEIGHT);
            self.recent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record(latency, Instant::now());
        }
    }

    /// Folds a lower bound on latency (a call cancelled after `elapsed`):
    /// it raises the EWMA and trend when above them, and never lowers them.
    pub fn observe_at_least(&self, elapsed: Duration) {
        let sample = elapsed.as_secs_f64() * 1e6;
        for (cell, weight) in [(&self.ewma_us, EWMA_WEIGHT), (&self.trend_us, TREND_WEIGHT)] {
            if sample > f64::from_bits(cell.load(Ordering::Relaxed)) {
                fold_latency(cell, sample, weight);
            }
        }
        self.samples.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether calls are piling up here, so another attempt sent here would
    /// wait in the queue. A leaf that reports its load is believed: calls
    /// wait there when its fresh report says some do (a leaf without a
    /// concurrency limit never makes one wait). Without a report the root
    /// guesses: more than one call in flight from this root, and the recent
    /// latency at least twice the slow trend — a guess one straggler can
    /// set off, which is why a report wins over it.
    pub fn queueing(&self) -> bool {
        if let Some((_, queued)) = self.reports.fresh(Instant::now()) {
            return queued > 0;
        }
        match (self.latency(), self.latency_trend()) {
            (Some(recent), Some(trend)) => self.in_flight() >= 2 && recent >= trend * 2,
            _ => false,
        }
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
    /// cube of the queue ahead of it, so load spreads before a queue forms
    /// (a linear term lets replicas take turns at being swamped), and
    /// failing replicas cost more. The queue is the calls this root has
    /// out there or, when the leaf's fresh report says more run there (other
    /// roots' calls), those, plus the calls the leaf reports waiting.
    pub fn score(&self) -> f64 {
        self.score_at(Instant::now())
    }

    /// [`score`](Self::score) at `now`, for a caller that already read the
    /// clock (replica choice reads it once for every candidate).
    pub fn score_at(&self, now: Instant) -> f64 {
        let ewma = f64::from_bits(self.ewma_us.load(Ordering::Relaxed));
        let own = self.in_flight();
        let ahead = match self.reports.fresh(now) {
            Some((others, queued)) => own.max(others).saturating_add(queued),
            None => own,
        };
        let queue = 1.0 + f64::from(ahead);
        ewma.max(1.0) * queue.powi(3) * (1.0 + 4.0 * self.error_rate())
    }

    pub(crate) fn probation(&self) -> std::sync::MutexGuard<'_, Probation> {
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
