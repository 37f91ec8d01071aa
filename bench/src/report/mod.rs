//! The numbers a run reports: percentiles, the oracle bound and the hedging
//! bound ([`bound`]), ratios between modes, the machine it ran on, and
//! `overload`'s own figures; `report.json` and the printed table.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::capacity::CapacityProbe;
use crate::counters::RootCounters;
use crate::model::LatencyModel;
use crate::recorder;
use crate::topology::Shape;

pub mod bound;
pub mod confidence;
pub mod goodput;
mod machine;
pub mod overload;
mod progressive;
pub mod query_of_death;
pub mod seeds;
mod table;

pub use bound::{BoundFigures, HedgingBound, hedging_bound};
pub use confidence::Interval;
pub use machine::Machine;
pub use overload::OverloadFigures;
pub use progressive::Progressive;
pub use query_of_death::QueryOfDeathFigures;
pub use table::ms;

/// Latency percentiles in µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Largest.
    pub max_us: u64,
}

/// The percentiles of `h` (all zero when empty).
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        p50_us: h.value_at_quantile(0.5),
        p90_us: h.value_at_quantile(0.9),
        p99_us: h.value_at_quantile(0.99),
        p999_us: h.value_at_quantile(0.999),
        max_us: h.max(),
    }
}

/// 95 % confidence intervals of the tail percentiles (see [`confidence`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TailIntervals {
    /// Of the p99.
    pub p99: Option<Interval>,
    /// Of the p99.9.
    pub p999: Option<Interval>,
}

impl TailIntervals {
    /// The intervals of `h`'s p99 and p99.9.
    pub fn of(h: &Histogram<u64>) -> Self {
        Self {
            p99: confidence::interval(h, 0.99),
            p999: confidence::interval(h, 0.999),
        }
    }
}

/// `a / b`, or `None` when `b` is zero.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b != 0.0).then(|| a / b)
}

/// The oracle's latencies for requests `ids` over `shape`: per request, the
/// slowest shard's fastest replica as the model draws it.
pub fn oracle_histogram(
    model: &LatencyModel,
    shape: Shape,
    ids: impl Iterator<Item = u64>,
) -> Histogram<u64> {
    let mut h = recorder::histogram();
    for id in ids {
        recorder::record(&mut h, model.oracle(id, shape.shards, shape.replicas));
    }
    h
}

/// The oracle bound in µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Oracle {
    /// Median bound.
    pub p50_us: u64,
    /// 99th percentile bound.
    pub p99_us: u64,
    /// 99.9th percentile bound.
    pub p999_us: u64,
    /// Largest bound.
    pub max_us: u64,
}

impl From<Percentiles> for Oracle {
    fn from(p: Percentiles) -> Self {
        Self {
            p50_us: p.p50_us,
            p99_us: p.p99_us,
            p999_us: p.p999_us,
            max_us: p.max_us,
        }
    }
}

/// One mode's ratios against a reference (its value ÷ the reference's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Ratios {
    /// p50 ratio.
    pub p50: Option<f64>,
    /// p99 ratio.
    pub p99: Option<f64>,
    /// p99.9 ratio.
    pub p999: Option<f64>,
    /// Throughput ratio (not against the oracle).
    pub throughput: Option<f64>,
    /// Fan-out CPU per leaf call (only against a counterpart, whose CPU is
    /// measured in the same place: both a root process, or both the
    /// harness's client threads).
    pub cpu_per_leaf_call: Option<f64>,
}

/// One mode in one variant of a scenario.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModeReport {
    /// The mode's name (see [`crate::modes::Mode::name`]).
    pub mode: String,
    /// The scenario variant (`""` when the scenario has one).
    pub variant: String,
    /// Requests sent in the measured phase.
    pub requests: u64,
    /// Requests answered successfully (every shard).
    pub ok: u64,
    /// Of those, answered within the deadline (deadly requests excluded).
    pub good: u64,
    /// Successful responses per second.
    pub throughput_rps: f64,
    /// Requests per second offered by the schedule.
    pub offered_rps: f64,
    /// Latency from due time to response, successful requests only.
    #[serde(flatten)]
    pub latency: Percentiles,
    /// 95 % confidence intervals of `latency`'s p99 and p99.9.
    pub latency_ci: TailIntervals,
    /// Leaf calls per request, counted by the leaves themselves.
    pub leaf_calls_per_request: f64,
    /// Leaf calls beyond one per shard, as a share of one per shard (%).
    pub extra_leaf_calls_pct: f64,
    /// Failed requests (errors, partial answers, no response); sheds apart.
    pub errors: u64,
    /// The most frequent error messages.
    pub error_kinds: Vec<(String, u64)>,
    /// Requests refused at once (RESOURCE_EXHAUSTED, or DEADLINE_EXCEEDED
    /// "refused at admission").
    pub sheds: u64,
    /// The most frequent refusal messages.
    pub shed_kinds: Vec<(String, u64)>,
    /// CPU seconds of the fan-out per 1,000 requests: the root process for
    /// Scatter modes, the harness's client threads for in-harness modes.
    pub root_cpu_s_per_1k: f64,
    /// The same per leaf call, in µs.
    pub root_cpu_us_per_leaf_call: f64,
    /// Where `root_cpu_s_per_1k` was measured.
    pub root_cpu_source: String,
    /// CPU seconds of the harness's client threads per 1,000 requests.
    pub client_cpu_s_per_1k: f64,
    /// Against plain-fanout in the same variant.
    pub vs_plain_fanout: Ratios,
    /// The hand-written mode that does this mode's job in the same place
    /// (`plain-root` for Scatter's root modes, `plain-fanout` for
    /// `scatter-embedded`), when set by the harness.
    pub counterpart: Option<String>,
    /// Against `counterpart` in the same variant (empty when it did not run).
    pub vs_counterpart: Ratios,
    /// Against the oracle bound of the variant (none for zero-work leaves).
    pub vs_oracle: Ratios,
    /// Against tower-hedge in the same variant.
    pub vs_tower_hedge: Ratios,
    /// Against the same mode in the scenario's baseline variant (e.g.
    /// `pauses` against `calm`), when the scenario has one.
    pub vs_baseline_variant: Ratios,
    /// Leaf busy time on calls whose work was thrown away (cancelled after
    /// they started, or answered but not used) ÷ leaf busy time in total,
    /// in % (see [`crate::work`]); `None` where not measured.
    pub extra_leaf_work_pct: Option<f64>,
    /// The part of it on calls cancelled after they started, in % of leaf
    /// busy time in total; the rest was answered but not used.
    pub cancelled_leaf_work_pct: Option<f64>,
    /// Leaf busy time per request, in ms (all calls, used or not).
    pub leaf_busy_ms_per_request: Option<f64>,
    /// The latest a request was sent after its due time, in µs.
    pub max_send_lag_us: u64,
    /// The root's counters (Scatter modes only).
    pub root_counters: Option<RootCounters>,
    /// Times to k of N shards (streaming modes only).
    pub progressive: Option<Progressive>,
    /// Goodput, admitted latency, sheds, classes, steps (`overload` only).
    pub overload: Option<OverloadFigures>,
    /// Pauses begun during the measured phase (`pauses`' paused variant).
    pub pauses: Option<u64>,
    /// Deadly requests, leaf processes lost, normal goodput (a variant
    /// with deadly requests only).
    pub query_of_death: Option<QueryOfDeathFigures>,
}

/// One variant of a scenario: its shape, rate and oracle.
#[derive(Clone, Debug, Serialize)]
pub struct VariantReport {
    /// Its label (`""` when the scenario has one variant).
    pub label: String,
    /// Shards × replicas.
    pub shape: Shape,
    /// Request rate offered.
    pub rate_rps: f64,
    /// Request payload bytes.
    pub request_bytes: usize,
    /// The leaves' configuration (model, concurrency, partial size).
    pub leaf: crate::leaf::LeafConfig,
    /// The oracle over the measured requests.
    pub oracle: Oracle,
    /// Scatter's hedging replayed on the model with no overhead, where it applies.
    pub bound: Option<HedgingBound>,
    /// A stepped load's phases as (requests/s, seconds); empty when steady.
    pub phases: Vec<(f64, f64)>,
    /// The priority mix, when the variant sends classes.
    pub priorities: Option<crate::priority::PriorityMix>,
}

/// Everything `report.json` holds.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The command line that produced it.
    pub command: String,
    /// Where it ran.
    pub machine: Machine,
    /// Fewer than 20,000 measured requests per mode: tail figures are a quick look.
    pub quick_look: bool,
    /// Measured phase length per mode, in seconds.
    pub duration_s: f64,
    /// Warm-up per mode (excluded), in seconds.
    pub warmup_s: f64,
    /// Arrival process.
    pub arrivals: crate::schedule::Arrivals,
    /// The client's deadline per request, in ms.
    pub timeout_ms: u64,
    /// Scatter's (and tower's) hedge percentile in this run.
    pub hedge_percentile: f64,
    /// For `overload`: the capacity the variants are multiples of, in requests/s.
    pub capacity_rps: Option<f64>,
    /// For `overload`: how that capacity was found (or that it was given).
    pub capacity_probe: Option<CapacityProbe>,
    /// Every mode of every variant.
    pub modes: Vec<ModeReport>,
    /// The oracle bound of the first variant.
    pub oracle: Oracle,
    /// Each variant's shape, rate and oracle.
    pub variants: Vec<VariantReport>,
    /// The variant every other one is compared with, mode by mode
    /// (`vs_baseline_variant`), when the scenario has one.
    pub baseline_variant: Option<String>,
}

/// Minimum measured requests per mode for reported tail figures.
pub const FULL_RUN_REQUESTS: u64 = 20_000;

impl Report {
    /// Fills every mode's ratios against plain-fanout of its variant, its
    /// counterpart in the variant, and its variant's oracle; a streaming
    /// mode's against `scatter-hedge`; an overloaded mode's admitted p99
    /// against its own at 50 %.
    pub fn compute_ratios(&mut self) {
        self.compare_progressive();
        self.compare_overload();
        let reference = |name: &str, variant: &str| {
            self.modes
                .iter()
                .find(|m| m.mode == name && m.variant == variant)
                .cloned()
        };
        let found: Vec<[Option<ModeReport>; 4]> = self
            .modes
            .iter()
            .map(|m| {
                [
                    reference("plain-fanout", &m.variant),
                    m.counterpart
                        .as_deref()
                        .and_then(|c| reference(c, &m.variant)),
                    reference("tower-hedge", &m.variant),
                    self.baseline_variant
                        .as_deref()
                        .filter(|b| *b != m.variant)
                        .and_then(|b| reference(&m.mode, b)),
                ]
            })
            .collect();
        for (m, [plain, counterpart, tower, baseline]) in self.modes.iter_mut().zip(found) {
            // CPU is compared only where it is measured in the same place.
            let latency_only = |m: &ModeReport, r: &ModeReport| Ratios {
                cpu_per_leaf_call: None,
                ..against(m, r)
            };
            if let Some(p) = plain {
                m.vs_plain_fanout = latency_only(m, &p);
            }
            if let Some(t) = tower {
                m.vs_tower_hedge = latency_only(m, &t);
            }
            if let Some(b) = baseline {
                m.vs_baseline_variant = against(m, &b);
                if let Some(q) = &mut m.query_of_death {
                    q.compare(&b);
                }
            }
            if let Some(c) = counterpart {
                m.vs_counterpart = against(m, &c);
            }
            // Zero-work leaves have no bound worth dividing by.
            if let Some(v) = self
                .variants
                .iter()
                .find(|v| v.label == m.variant && v.oracle.max_us > 1)
            {
                let base = |p: u64| p as f64;
                m.vs_oracle = Ratios {
                    p50: ratio(base(m.latency.p50_us), base(v.oracle.p50_us)),
                    p99: ratio(base(m.latency.p99_us), base(v.oracle.p99_us)),
                    p999: ratio(base(m.latency.p999_us), base(v.oracle.p999_us)),
                    ..Ratios::default()
                };
            }
        }
    }
}

/// `m`'s figures ÷ `reference`'s.
fn against(m: &ModeReport, reference: &ModeReport) -> Ratios {
    let (a, b) = (&m.latency, &reference.latency);
    let us = |p: u64| p as f64;
    Ratios {
        p50: ratio(us(a.p50_us), us(b.p50_us)),
        p99: ratio(us(a.p99_us), us(b.p99_us)),
        p999: ratio(us(a.p999_us), us(b.p999_us)),
        throughput: ratio(m.throughput_rps, reference.throughput_rps),
        cpu_per_leaf_call: ratio(
            m.root_cpu_us_per_leaf_call,
            reference.root_cpu_us_per_leaf_call,
        ),
    }
}

/// A duration in whole µs.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Base, SlowReplica};

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = recorder::histogram();
        for us in 1..=10_000u64 {
            h.record(us).unwrap();
        }
        let p = percentiles(&h);
        let near = |got: u64, want: u64| got.abs_diff(want) <= want / 500 + 1;
        assert!(near(p.p50_us, 5_000), "{p:?}");
        assert!(near(p.p90_us, 9_000), "{p:?}");
        assert!(near(p.p99_us, 9_900), "{p:?}");
        assert!(near(p.p999_us, 9_990), "{p:?}");
        assert!(near(p.max_us, 10_000), "{p:?}");
        assert_eq!(percentiles(&recorder::histogram()), Percentiles::default());
    }

    #[test]
    fn oracle_takes_each_shards_fastest_replica_then_the_slowest_shard() {
        // Constant 1 ms, but replica 0 of shard 2 is 10× slower: with two
        // replicas the bound stays 1 ms; with one it is 10 ms.
        let mut model = LatencyModel::new(1, Base::Constant { us: 1000.0 });
        model.slow = Some(SlowReplica {
            shard: Some(2),
            replica: 0,
            factor: 10.0,
        });
        let two = Shape {
            shards: 4,
            replicas: 2,
        };
        let one = Shape {
            shards: 4,
            replicas: 1,
        };
        let p2 = percentiles(&oracle_histogram(&model, two, 0..100));
        let p1 = percentiles(&oracle_histogram(&model, one, 0..100));
        let h = recorder::histogram();
        assert!(h.equivalent(p2.max_us, 1000), "{p2:?}");
        assert!(h.equivalent(p1.p50_us, 10_000), "{p1:?}");
    }

    fn mode(name: &str, p50: u64, p999: u64, rps: f64) -> ModeReport {
        ModeReport {
            mode: name.into(),
            root_cpu_us_per_leaf_call: 50.0,
            throughput_rps: rps,
            latency: Percentiles {
                p50_us: p50,
                p999_us: p999,
                ..Percentiles::default()
            },
            ..ModeReport::default()
        }
    }

    /// A streaming mode's times: all but one at 0.5 ms, full at 2 ms.
    fn streamed() -> Progressive {
        let h = |us: u64| {
            let mut h = recorder::histogram();
            h.record(us).unwrap();
            h
        };
        Progressive::new(&h(250), &h(500), &h(2_000))
    }

    /// A report with no modes and one zero-work variant.
    pub(crate) fn empty_report() -> Report {
        Report {
            scenario: "t".into(),
            command: String::new(),
            machine: Machine::this(),
            quick_look: true,
            duration_s: 1.0,
            warmup_s: 0.0,
            arrivals: crate::schedule::Arrivals::Uniform,
            timeout_ms: 1000,
            hedge_percentile: 95.0,
            capacity_rps: None,
            capacity_probe: None,
            modes: Vec::new(),
            oracle: Oracle::default(),
            variants: vec![VariantReport {
                label: String::new(),
                shape: Shape {
                    shards: 1,
                    replicas: 1,
                },
                rate_rps: 100.0,
                request_bytes: 8,
                leaf: crate::leaf::LeafConfig {
                    model: LatencyModel::new(0, Base::Zero),
                    concurrency: None,
                    partial_bytes: 8,
                },
                oracle: Oracle::default(),
                bound: None,
                phases: Vec::new(),
                priorities: None,
            }],
            baseline_variant: None,
        }
    }

    #[test]
    fn ratios_against_plain_fanout_the_counterpart_and_the_oracle() {
        let mut report = empty_report();
        report.variants[0].oracle = Oracle {
            p50_us: 500,
            p999_us: 5_000,
            max_us: 9_000,
            ..Oracle::default()
        };
        report.modes = vec![
            mode("plain-fanout", 1000, 200_000, 100.0),
            ModeReport {
                counterpart: Some("plain-root".into()),
                latency: Percentiles {
                    p99_us: 1_000,
                    ..mode("", 1100, 10_000, 0.0).latency
                },
                ..mode("scatter-hedge", 1100, 10_000, 99.0)
            },
            ModeReport {
                root_cpu_us_per_leaf_call: 40.0,
                ..mode("plain-root", 2200, 200_000, 100.0)
            },
            ModeReport {
                progressive: Some(streamed()),
                ..mode("scatter-stream", 1200, 12_000, 99.0)
            },
        ];
        report.compute_ratios();
        let s = &report.modes[1];
        assert_eq!(s.vs_plain_fanout.p50, Some(1.1));
        assert_eq!(s.vs_plain_fanout.p999, Some(0.05));
        assert_eq!(s.vs_plain_fanout.throughput, Some(0.99));
        assert_eq!(s.vs_plain_fanout.p99, None, "zero reference gives no ratio");
        assert_eq!(
            s.vs_plain_fanout.cpu_per_leaf_call, None,
            "CPU measured elsewhere"
        );
        assert_eq!(s.vs_counterpart.p50, Some(0.5));
        assert_eq!(s.vs_counterpart.cpu_per_leaf_call, Some(1.25));
        assert_eq!(s.vs_oracle.p50, Some(2.2));
        assert_eq!(s.vs_oracle.p999, Some(2.0));
        assert_eq!(
            report.modes[0].vs_counterpart,
            Ratios::default(),
            "no counterpart"
        );
        let p = report.modes[3].progressive.as_ref().unwrap();
        assert_eq!(p.all_but_one_p99_vs_full_p99, Some(0.25));
        assert_eq!(p.all_but_one_p99_vs_scatter_hedge_p99, Some(0.5));
        let table = report.table();
        assert!(table.contains("scatter-hedge"));
        assert!(
            table.contains("all-but-one p99 ÷ full p99 0.25×; ÷ scatter-hedge full p99 0.50×"),
            "{table}"
        );
        assert!(table.contains("all but one (0/1)"), "{table}");
        assert!(
            table.contains("scatter-hedge ÷ plain-root: p50 0.50×"),
            "{table}"
        );
    }
}
