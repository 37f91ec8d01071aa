//! The metrics registry behind every process's `/metrics`, built on the
//! maintained `prometheus-client` crate: counters, gauges and histograms,
//! rendered as OpenMetrics (with exemplars) or as the classic Prometheus
//! text format 0.0.4.
//!
//! Call sites name a series by its full exposed name (`..._total` for a
//! counter, `..._seconds` for a latency) and its labels; handles are made
//! once (at start-up or when a replica joins) and updated lock-free on the
//! hot path.

mod series;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::counter::Counter as PcCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge as PcGauge;
use prometheus_client::registry::{Metric, Registry as PcRegistry, Unit};

pub use series::{Counter, Gauge, Latency, Ratio, SecondsGauge};
use series::{LabelSet, PcHistogram, latency_histogram, ratio_histogram};

/// Label pairs of one series, e.g. `&[("shard", "3")]`.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// The `Content-Type` of [`Registry::render_openmetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The `Content-Type` of [`Registry::render`].
pub const TEXT_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

type HistogramFamily = Family<LabelSet, PcHistogram, fn() -> PcHistogram>;

/// One registered family, kept to hand out its series.
enum Kind {
    Counter(Family<LabelSet, PcCounter<u64>>),
    Gauge(Family<LabelSet, PcGauge<i64>>),
    Seconds(Family<LabelSet, PcGauge<f64, std::sync::atomic::AtomicU64>>),
    Histogram(HistogramFamily),
}

#[derive(Default)]
struct Inner {
    registry: PcRegistry,
    families: HashMap<String, Kind>,
}

/// A set of named metric families. Cloning shares it.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<Inner>>,
}

/// Panics: a name used with two types is a bug in the process, found by
/// the first test that registers both.
fn mismatch(name: &str) -> ! {
    panic!("metric {name} registered with another type")
}

impl Registry {
    /// A counter; the same name and labels give the same counter. `name`
    /// ends in `_total`, as exposed.
    pub fn counter(&self, name: &str, help: &str, labels: Labels<'_>) -> Counter {
        // The library adds `_total` itself.
        let base = name.strip_suffix("_total").unwrap_or(name);
        let mut inner = self.lock();
        let kind = inner.family(base, help, None, || Kind::Counter(Family::default()));
        match kind {
            Kind::Counter(family) => Counter(family.get_or_create_owned(&owned(labels))),
            _ => mismatch(name),
        }
    }

    /// A gauge; the same name and labels give the same gauge.
    pub fn gauge(&self, name: &str, help: &str, labels: Labels<'_>) -> Gauge {
        let mut inner = self.lock();
        match inner.family(name, help, None, || Kind::Gauge(Family::default())) {
            Kind::Gauge(family) => Gauge(family.get_or_create_owned(&owned(labels))),
            _ => mismatch(name),
        }
    }

    /// A gauge holding a duration, exposed in seconds; `name` ends in
    /// `_seconds`.
    pub fn seconds_gauge(&self, name: &str, help: &str, labels: Labels<'_>) -> SecondsGauge {
        let (base, unit) = seconds(name);
        let mut inner = self.lock();
        match inner.family(base, help, unit, || Kind::Seconds(Family::default())) {
            Kind::Seconds(family) => SecondsGauge(family.get_or_create_owned(&owned(labels))),
            _ => mismatch(name),
        }
    }

    /// A latency histogram in seconds; the same name and labels give the
    /// same one. `name` ends in `_seconds`.
    pub fn latency(&self, name: &str, help: &str, labels: Labels<'_>) -> Latency {
        let (base, unit) = seconds(name);
        let make = || Kind::Histogram(Family::new_with_constructor(latency_histogram as fn() -> _));
        let mut inner = self.lock();
        match inner.family(base, help, unit, make) {
            Kind::Histogram(family) => Latency::new(family.get_or_create_owned(&owned(labels))),
            _ => mismatch(name),
        }
    }

    /// A histogram of fractions in [0, 1]; `name` ends in `_ratio`.
    pub fn ratio(&self, name: &str, help: &str, labels: Labels<'_>) -> Ratio {
        let make = || Kind::Histogram(Family::new_with_constructor(ratio_histogram as fn() -> _));
        let mut inner = self.lock();
        match inner.family(name, help, None, make) {
            Kind::Histogram(family) => Ratio(family.get_or_create_owned(&owned(labels))),
            _ => mismatch(name),
        }
    }

    /// The registry in the classic Prometheus text format 0.0.4, which
    /// every scraper and `promtool check metrics` read (no exemplars).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let inner = self.lock();
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &inner.registry);
        out
    }

    /// The registry in the OpenMetrics text format 1.0.0, with exemplars.
    pub fn render_openmetrics(&self) -> String {
        let mut out = String::new();
        let inner = self.lock();
        let _ = text::encode(&mut out, &inner.registry);
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// The family called `name`, registered on first use.
    fn family(
        &mut self,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        make: impl FnOnce() -> Kind,
    ) -> &Kind {
        let Self { registry, families } = self;
        families.entry(name.to_owned()).or_insert_with(|| {
            let kind = make();
            match &kind {
                Kind::Counter(f) => register(registry, name, help, unit, f.clone()),
                Kind::Gauge(f) => register(registry, name, help, unit, f.clone()),
                Kind::Seconds(f) => register(registry, name, help, unit, f.clone()),
                Kind::Histogram(f) => register(registry, name, help, unit, f.clone()),
            }
            kind
        })
    }
}

fn register(
    registry: &mut PcRegistry,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    metric: impl Metric,
) {
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, metric),
        None => registry.register(name, help, metric),
    }
}

/// `name` without its `_seconds` suffix, and the unit the library adds
/// back (declared in OpenMetrics' `# UNIT` line).
fn seconds(name: &str) -> (&str, Option<Unit>) {
    match name.strip_suffix("_seconds") {
        Some(base) => (base, Some(Unit::Seconds)),
        None => (name, None),
    }
}

fn owned(labels: Labels<'_>) -> LabelSet {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests;
