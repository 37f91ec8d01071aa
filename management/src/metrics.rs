//! A small Prometheus registry: counters, gauges and latency summaries.
//!
//! Handles are created once (at start-up or when a replica joins) and then
//! updated lock-free on the hot path, except latency summaries, which take a
//! short uncontended mutex around an HdrHistogram record (never across an
//! `.await`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Label pairs of one series, e.g. `&[("shard", "3")]`.
pub type Labels<'a> = &'a [(&'a str, &'a str)];

/// A monotonically increasing count.
#[derive(Clone, Default, Debug)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (in-flight calls, live replicas).
#[derive(Clone, Default, Debug)]
pub struct Gauge(Arc<AtomicI64>);

impl Gauge {
    /// Adds `n` (may be negative).
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Sets the value.
    pub fn set(&self, n: i64) {
        self.0.store(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Latencies, kept in an HdrHistogram (1 µs to 1 h, 3 significant digits)
/// and exposed as a Prometheus summary in seconds.
#[derive(Clone, Debug)]
pub struct Latency(Arc<Mutex<Histogram<u64>>>);

impl Default for Latency {
    fn default() -> Self {
        let histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3)
            .expect("static histogram bounds are valid");
        Self(Arc::new(Mutex::new(histogram)))
    }
}

impl Latency {
    /// Records one latency; values beyond an hour are clamped.
    pub fn record(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        let mut histogram = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        histogram.saturating_record(micros.max(1));
    }

    /// The latency at `quantile` (in [0, 1]), or `None` before any record.
    pub fn quantile(&self, quantile: f64) -> Option<Duration> {
        let histogram = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (!histogram.is_empty())
            .then(|| Duration::from_micros(histogram.value_at_quantile(quantile)))
    }

    /// How many latencies were recorded.
    pub fn count(&self) -> u64 {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[derive(Clone)]
enum Series {
    Counter(Counter),
    Gauge(Gauge),
    Latency(Latency),
}

struct Family {
    help: String,
    kind: &'static str,
    series: BTreeMap<String, Series>,
}

/// A set of named metric families, rendered in the Prometheus text format.
#[derive(Clone, Default)]
pub struct Registry {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
}

impl Registry {
    /// A counter; the same name and labels give the same counter.
    pub fn counter(&self, name: &str, help: &str, labels: Labels<'_>) -> Counter {
        match self.series(name, help, "counter", labels, || {
            Series::Counter(Counter::default())
        }) {
            Series::Counter(c) => c,
            _ => panic!("metric {name} registered with another type"),
        }
    }

    /// A gauge; the same name and labels give the same gauge.
    pub fn gauge(&self, name: &str, help: &str, labels: Labels<'_>) -> Gauge {
        match self.series(name, help, "gauge", labels, || {
            Series::Gauge(Gauge::default())
        }) {
            Series::Gauge(g) => g,
            _ => panic!("metric {name} registered with another type"),
        }
    }

    /// A latency summary; the same name and labels give the same one.
    pub fn latency(&self, name: &str, help: &str, labels: Labels<'_>) -> Latency {
        match self.series(name, help, "summary", labels, || {
            Series::Latency(Latency::default())
        }) {
            Series::Latency(l) => l,
            _ => panic!("metric {name} registered with another type"),
        }
    }

    fn series(
        &self,
        name: &str,
        help: &str,
        kind: &'static str,
        labels: Labels<'_>,
        make: impl FnOnce() -> Series,
    ) -> Series {
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let family = families.entry(name.to_owned()).or_insert_with(|| Family {
            help: help.to_owned(),
            kind,
            series: BTreeMap::new(),
        });
        family
            .series
            .entry(render_labels(labels))
            .or_insert_with(make)
            .clone()
    }

    /// The whole registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        for (name, family) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", family.help);
            let _ = writeln!(out, "# TYPE {name} {}", family.kind);
            for (labels, series) in &family.series {
                render_series(&mut out, name, labels, series);
            }
        }
        out
    }
}

fn render_series(out: &mut String, name: &str, labels: &str, series: &Series) {
    let braced = |extra: &str| {
        let inner = [labels, extra]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(",");
        if inner.is_empty() {
            String::new()
        } else {
            format!("{{{inner}}}")
        }
    };
    match series {
        Series::Counter(c) => {
            let _ = writeln!(out, "{name}{} {}", braced(""), c.get());
        }
        Series::Gauge(g) => {
            let _ = writeln!(out, "{name}{} {}", braced(""), g.get());
        }
        Series::Latency(l) => {
            let histogram = l.0.lock().unwrap_or_else(PoisonError::into_inner);
            for q in [0.5, 0.9, 0.99, 0.999] {
                let seconds = histogram.value_at_quantile(q) as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "{name}{} {seconds}",
                    braced(&format!("quantile=\"{q}\""))
                );
            }
            let sum: f64 = histogram
                .iter_recorded()
                .map(|v| v.value_iterated_to() as f64 * v.count_at_value() as f64)
                .sum::<f64>()
                / 1e6;
            let _ = writeln!(out, "{name}_sum{} {sum}", braced(""));
            let _ = writeln!(out, "{name}_count{} {}", braced(""), histogram.len());
        }
    }
}

fn render_labels(labels: Labels<'_>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_and_labels_share_one_counter() {
        let registry = Registry::default();
        registry
            .counter("calls_total", "calls", &[("shard", "1")])
            .inc();
        registry
            .counter("calls_total", "calls", &[("shard", "1")])
            .add(2);
        registry
            .counter("calls_total", "calls", &[("shard", "2")])
            .inc();
        let text = registry.render();
        assert!(text.contains("calls_total{shard=\"1\"} 3"), "{text}");
        assert!(text.contains("calls_total{shard=\"2\"} 1"), "{text}");
        assert!(text.contains("# TYPE calls_total counter"), "{text}");
    }

    #[test]
    fn latency_renders_quantiles_in_seconds() {
        let registry = Registry::default();
        let latency = registry.latency("call_seconds", "latency", &[]);
        for ms in 1..=100 {
            latency.record(Duration::from_millis(ms));
        }
        let text = registry.render();
        assert!(
            text.contains("call_seconds{quantile=\"0.5\"} 0.05"),
            "{text}"
        );
        assert!(text.contains("call_seconds_count 100"), "{text}");
        assert_eq!(latency.quantile(0.99).map(|d| d.as_millis()), Some(99));
    }
}
