//! The handles call sites keep: counters, gauges and histograms, thin
//! wrappers over `prometheus-client` series so that only this folder knows
//! the library. Every update is lock-free except a histogram observation,
//! which takes the library's short uncontended lock (never across `.await`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64};
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter as PcCounter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::gauge::Gauge as PcGauge;

/// Label pairs as the library stores them.
pub(crate) type LabelSet = Vec<(String, String)>;

/// The histogram every latency and ratio uses; its exemplars carry a
/// `trace_id` label.
pub(crate) type PcHistogram = HistogramWithExemplars<LabelSet>;

/// Latency bucket bounds in seconds: 50 µs (a loopback leaf call) to 30 s
/// (a request at the longest deadline anyone sets), on the 1-2.5-5 steps
/// dashboards expect. Finer buckets cost memory per replica series; coarser
/// ones blur the percentiles the hedge delay is tuned against.
pub(crate) const LATENCY_BUCKETS: [f64; 18] = [
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
    1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Ratio bucket bounds: fine near 1, where a healthy tree's coverage sits.
pub(crate) const RATIO_BUCKETS: [f64; 8] = [0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0];

/// OpenMetrics caps an exemplar's labels at 128 characters; a longer trace
/// id is cut so the exposition stays valid.
const MAX_TRACE_ID_CHARS: usize = 100;

pub(crate) fn latency_histogram() -> PcHistogram {
    HistogramWithExemplars::new(LATENCY_BUCKETS.into_iter())
}

pub(crate) fn ratio_histogram() -> PcHistogram {
    HistogramWithExemplars::new(RATIO_BUCKETS.into_iter())
}

/// A monotonically increasing count.
#[derive(Clone, Default, Debug)]
pub struct Counter(pub(crate) PcCounter<u64, AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.inc();
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.inc_by(n);
    }
    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A whole number that goes up and down (in-flight calls, a 0/1 state).
#[derive(Clone, Default, Debug)]
pub struct Gauge(pub(crate) PcGauge<i64, AtomicI64>);

impl Gauge {
    /// Adds `n` (may be negative).
    pub fn add(&self, n: i64) {
        self.0.inc_by(n);
    }
    /// Sets the value.
    pub fn set(&self, n: i64) {
        self.0.set(n);
    }
    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.get()
    }
}

/// A duration that goes up and down (a hedge delay), exposed in seconds.
#[derive(Clone, Default, Debug)]
pub struct SecondsGauge(pub(crate) PcGauge<f64, AtomicU64>);

impl SecondsGauge {
    /// Sets the value.
    pub fn set(&self, value: Duration) {
        self.0.set(value.as_secs_f64());
    }
    /// The current value.
    pub fn get(&self) -> Duration {
        Duration::from_secs_f64(self.0.get().max(0.0))
    }
}

/// A latency histogram in seconds; see [`LATENCY_BUCKETS`].
#[derive(Clone, Debug)]
pub struct Latency {
    pub(crate) histogram: PcHistogram,
    count: Arc<AtomicU64>,
}

impl Latency {
    pub(crate) fn new(histogram: PcHistogram) -> Self {
        Self {
            histogram,
            count: Arc::default(),
        }
    }

    /// Records one latency.
    pub fn record(&self, latency: Duration) {
        self.record_traced(latency, None);
    }

    /// Records one latency; with a trace id, the bucket it falls in keeps
    /// it as an exemplar, shown in the OpenMetrics format, so a slow bucket
    /// on a dashboard leads to one request's trace and logs.
    pub fn record_traced(&self, latency: Duration, trace_id: Option<&str>) {
        observe(&self.histogram, latency.as_secs_f64(), trace_id);
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A histogram of fractions in [0, 1] (coverage); see [`RATIO_BUCKETS`].
#[derive(Clone, Debug)]
pub struct Ratio(pub(crate) PcHistogram);

impl Ratio {
    /// Records one fraction, clamped to [0, 1].
    pub fn record(&self, ratio: f64) {
        observe(&self.0, ratio.clamp(0.0, 1.0), None);
    }
}

fn observe(histogram: &PcHistogram, value: f64, trace_id: Option<&str>) {
    let exemplar = trace_id.map(|id| {
        let id = match id.char_indices().nth(MAX_TRACE_ID_CHARS) {
            Some((end, _)) => id[..end].to_owned(),
            None => id.to_owned(),
        };
        vec![("trace_id".to_owned(), id)]
    });
    let at = exemplar.as_ref().map(|_| SystemTime::now());
    histogram.observe(value, exemplar, at);
}
