//! The scenarios: for each, the tree's shape, the leaves' latency model,
//! the modes compared, and the defaults a bare `scatter-bench SCENARIO`
//! runs with. A scenario with variants (a sweep) runs every mode on each.

use std::time::Duration;

use crate::leaf::LeafConfig;
use crate::model::{Base, FastErrors, LatencyModel, SlowReplica, Straggler};
use crate::modes::Mode;
use crate::pauses::PauseModel;
use crate::priority::PriorityMix;
use crate::topology::Shape;

/// The scenarios by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScenarioName {
    /// Zero-work leaves, 16 shards × 1 replica: what the root costs.
    Overhead,
    /// Zero-work leaves, N ∈ {1, 4, 16, 64} shards: growth with N.
    FanoutSweep,
    /// Request and partial sizes from 100 B to 1 MiB, 4 shards.
    PayloadSweep,
    /// 16 × 2, log-normal median 5 ms σ 0.5, 0.5 % of calls 50× slower;
    /// with `scatter-stream`'s times to k of N shards.
    Stragglers,
    /// One replica of one shard 10× slower, against the same run without it.
    SlowReplica,
    /// One replica of every shard fails 20 % of its calls with UNAVAILABLE.
    FlakyReplica,
    /// One call at a time per leaf, at 50 % to 500 % of a measured
    /// capacity; mixed priorities at 200 %; a step from 50 % to 200 % and back.
    Overload,
    /// 16 × 2, log-normal 5 ms σ 0.5; every leaf freezes (SIGSTOP) for
    /// 30 ms about once every 2 s, against the same run without pauses.
    Pauses,
    /// 1,000 requests whose payload kills every leaf it reaches, mixed
    /// into normal load; with and without canaries, against a clean run.
    QueryOfDeath,
}

/// One shape-and-model combination a scenario runs every mode on.
#[derive(Clone, Debug)]
pub struct Variant {
    /// Short label (`""` for a scenario's only variant).
    pub label: String,
    /// Shards × replicas.
    pub shape: Shape,
    /// The leaves' model, concurrency limit and partial size.
    pub leaf: LeafConfig,
    /// Request payload bytes.
    pub request_bytes: usize,
    /// The offered load, in multiples of the run's rate (or capacity).
    pub load: Load,
    /// Each request's `Policy.priority`, when the variant mixes classes.
    pub priorities: Option<PriorityMix>,
    /// Leaves freeze on a seeded schedule during each phase ([`crate::pauses`]).
    pub pauses: Option<PauseModel>,
    /// Deadly requests are mixed into the measured phase ([`crate::query_of_death`]).
    pub deadly: bool,
    /// Queries say a fingerprint (`Policy.fingerprint`), so a root with
    /// canaries knows which payloads it has seen.
    pub fingerprints: bool,
}

impl Variant {
    /// A variant at the run's rate with 100 B requests and nothing else.
    pub fn new(label: &str, shape: Shape, leaf: LeafConfig) -> Self {
        Self {
            label: label.into(),
            shape,
            leaf,
            request_bytes: 100,
            load: Load::Steady(1.0),
            priorities: None,
            pauses: None,
            deadly: false,
            fingerprints: false,
        }
    }
}

/// How a variant's offered load runs over its measured phase.
#[derive(Clone, Debug, PartialEq)]
pub enum Load {
    /// One rate throughout: this multiple of the run's rate.
    Steady(f64),
    /// Equal consecutive phases at these multiples of the run's rate,
    /// together lasting `length` × the run's duration; arrivals are then
    /// uniform whatever `--arrivals` says, so the goodput measured in short
    /// buckets shows the system, not the arrival process's noise.
    Steps {
        /// Each phase's multiple of the run's rate.
        scales: Vec<f64>,
        /// The phases' total length as a multiple of the run's duration.
        length: f64,
    },
}

impl Load {
    /// The phases as (rate, length) at `rate` over `duration`: one phase
    /// for a steady load.
    pub fn phases(&self, rate: f64, duration: Duration) -> Vec<(f64, Duration)> {
        match self {
            Self::Steady(scale) => vec![(rate * scale, duration)],
            Self::Steps { scales, length } => {
                let each = duration.mul_f64(*length) / scales.len().max(1) as u32;
                scales.iter().map(|scale| (rate * scale, each)).collect()
            }
        }
    }

    /// Whether the rate changes during the phase.
    pub fn is_stepped(&self) -> bool {
        matches!(self, Self::Steps { .. })
    }
}

/// A scenario, resolved.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Its command-line name.
    pub name: &'static str,
    /// Requests per second when `--rate` is not given.
    pub default_rate: f64,
    /// Measured seconds per mode when `--duration` is not given.
    pub default_duration: Duration,
    /// The modes compared.
    pub modes: Vec<Mode>,
    /// Shapes and models.
    pub variants: Vec<Variant>,
    /// Hedge percentile for Scatter and tower (unless `--hedge-percentile`).
    pub hedge_percentile: f64,
    /// The client's deadline per request.
    pub timeout: Duration,
    /// Rates are multiples of a capacity the harness measures first.
    pub measure_capacity: bool,
    /// The variant the others are compared with, mode by mode.
    pub baseline_variant: Option<&'static str>,
}

/// Every mode compared in the tail scenarios.
const TAIL_MODES: [Mode; 4] = [
    Mode::PlainFanout,
    Mode::TowerHedge,
    Mode::Scatter,
    Mode::ScatterHedge,
];

/// `pauses`' modes: the baselines and Scatter's hedging, with and without
/// the leaves' information.
const PAUSE_MODES: [Mode; 5] = [
    Mode::PlainFanout,
    Mode::TowerHedge,
    Mode::ScatterHedge,
    Mode::ScatterHints,
    Mode::ScatterTied,
];

fn zero_work(seed: u64, bytes: usize) -> LeafConfig {
    LeafConfig {
        model: LatencyModel::new(seed, Base::Zero),
        concurrency: None,
        partial_bytes: bytes,
    }
}

fn lognormal(seed: u64) -> LatencyModel {
    LatencyModel::new(
        seed,
        Base::LogNormal {
            median_us: 5000.0,
            sigma: 0.5,
        },
    )
}

fn stragglers(seed: u64) -> LatencyModel {
    LatencyModel {
        straggler: Some(Straggler::new(0.005, 50.0)),
        ..lognormal(seed)
    }
}

fn one(shape: Shape, leaf: LeafConfig) -> Vec<Variant> {
    vec![Variant::new("", shape, leaf)]
}

/// The leaves of `slow-replica`, `flaky-replica`, `overload`, `pauses` and
/// `query-of-death`: no limit, 100 B partials.
fn lognormal_leaf(model: LatencyModel) -> LeafConfig {
    LeafConfig {
        model,
        concurrency: None,
        partial_bytes: 100,
    }
}

const fn shape(shards: u32, replicas: u32) -> Shape {
    Shape { shards, replicas }
}

impl ScenarioName {
    /// The scenario with the model seeded by `seed`.
    pub fn resolve(self, seed: u64) -> Scenario {
        let base = Scenario {
            name: "",
            // What this 2-core machine sustains for 16 × 2 leaves without
            // queueing on CPU (400 rps did not).
            default_rate: 250.0,
            default_duration: Duration::from_secs(20),
            modes: TAIL_MODES.to_vec(),
            variants: Vec::new(),
            hedge_percentile: 95.0,
            timeout: Duration::from_secs(5),
            measure_capacity: false,
            baseline_variant: None,
        };
        match self {
            Self::Overhead => Scenario {
                name: "overhead",
                default_rate: 200.0,
                modes: vec![
                    Mode::Direct,
                    Mode::PlainFanout,
                    Mode::PlainRoot,
                    Mode::TowerHedge,
                    Mode::Scatter,
                    Mode::ScatterEmbedded,
                    Mode::ScatterMerge,
                ],
                variants: one(shape(16, 1), zero_work(seed, 100)),
                ..base
            },
            Self::FanoutSweep => Scenario {
                name: "fanout-sweep",
                default_rate: 200.0,
                default_duration: Duration::from_secs(10),
                modes: vec![
                    Mode::PlainFanout,
                    Mode::PlainRoot,
                    Mode::Scatter,
                    Mode::ScatterEmbedded,
                ],
                variants: [1, 4, 16, 64]
                    .into_iter()
                    .map(|n| Variant::new(&format!("N={n}"), shape(n, 1), zero_work(seed, 100)))
                    .collect(),
                ..base
            },
            Self::PayloadSweep => Scenario {
                name: "payload-sweep",
                default_rate: 50.0,
                default_duration: Duration::from_secs(10),
                modes: vec![
                    Mode::Direct,
                    Mode::PlainFanout,
                    Mode::Scatter,
                    Mode::ScatterMerge,
                ],
                variants: [
                    (100, "100B"),
                    (10 << 10, "10KiB"),
                    (100 << 10, "100KiB"),
                    (1 << 20, "1MiB"),
                ]
                .into_iter()
                .map(|(bytes, label)| Variant {
                    request_bytes: bytes,
                    // 1 MiB × 4 shards each way: a fifth of the rate keeps
                    // a 2-core machine from measuring only memcpy.
                    load: Load::Steady(if bytes >= 1 << 20 { 0.2 } else { 1.0 }),
                    ..Variant::new(label, shape(4, 1), zero_work(seed, bytes))
                })
                .collect(),
                ..base
            },
            Self::Stragglers => Scenario {
                name: "stragglers",
                // 250 rps × 80 s = the 20,000 requests per mode a p99.9 needs.
                default_duration: Duration::from_secs(80),
                modes: vec![
                    Mode::Direct,
                    Mode::PlainFanout,
                    Mode::TowerHedge,
                    Mode::Scatter,
                    Mode::ScatterHedge,
                    Mode::ScatterHints,
                    Mode::ScatterTied,
                    Mode::ScatterStream,
                ],
                variants: one(
                    shape(16, 2),
                    LeafConfig {
                        model: stragglers(seed),
                        concurrency: None,
                        partial_bytes: 100,
                    },
                ),
                hedge_percentile: 98.0,
                ..base
            },
            Self::SlowReplica => {
                let leaf = |slow: bool| {
                    lognormal_leaf(LatencyModel {
                        slow: slow.then_some(SlowReplica {
                            shard: Some(0),
                            replica: 0,
                            factor: 10.0,
                        }),
                        ..lognormal(seed)
                    })
                };
                Scenario {
                    name: "slow-replica",
                    variants: [("even", false), ("slow", true)]
                        .into_iter()
                        .map(|(label, slow)| Variant::new(label, shape(16, 2), leaf(slow)))
                        .collect(),
                    baseline_variant: Some("even"),
                    ..base
                }
            }
            Self::FlakyReplica => Scenario {
                name: "flaky-replica",
                variants: one(
                    shape(16, 2),
                    lognormal_leaf(LatencyModel {
                        errors: Some(FastErrors {
                            replica: Some(0),
                            rate: 0.2,
                        }),
                        ..lognormal(seed)
                    }),
                ),
                ..base
            },
            Self::Overload => Scenario {
                name: "overload",
                // Six rates and a 2× step over four modes stay under six
                // minutes with the capacity probe and the warm-ups.
                default_duration: Duration::from_secs(6),
                variants: overload_variants(seed),
                timeout: Duration::from_secs(1),
                measure_capacity: true,
                ..base
            },
            Self::Pauses => Scenario {
                name: "pauses",
                // 250 rps × 80 s: 20,000 requests per mode and variant.
                default_duration: Duration::from_secs(80),
                modes: PAUSE_MODES.to_vec(),
                variants: [("calm", None), ("pauses", Some(PauseModel::GC))]
                    .into_iter()
                    .map(|(label, pauses)| Variant {
                        pauses,
                        ..Variant::new(label, shape(16, 2), lognormal_leaf(lognormal(seed)))
                    })
                    .collect(),
                baseline_variant: Some("calm"),
                ..base
            },
            Self::QueryOfDeath => Scenario {
                name: "query-of-death",
                // 250 rps × 40 s = 10,000 requests, one in ten deadly.
                default_duration: Duration::from_secs(40),
                modes: vec![Mode::PlainFanout, Mode::ScatterHedge, Mode::ScatterCanary],
                variants: [("clean", false), ("deadly", true)]
                    .into_iter()
                    .map(|(label, deadly)| Variant {
                        deadly,
                        fingerprints: true,
                        ..Variant::new(label, shape(16, 2), lognormal_leaf(lognormal(seed)))
                    })
                    .collect(),
                baseline_variant: Some("clean"),
                ..base
            },
        }
    }
}

/// `overload`'s variants: 16 × 2 leaves serving one call at a time (the
/// rest queue, FIFO), log-normal median 5 ms σ 0.5 without the 50×
/// stragglers — a 250 ms straggler holding a leaf's only slot would keep
/// plain-fanout's p99 above a tenth of the 1 s deadline at any rate, and
/// capacity could not be defined by it. Steady loads at 50 % to 500 % of
/// capacity; at 200 %, priorities mixed 20 % high / 40 % normal / 40 % low;
/// a step from 50 % to 200 % and back, in three phases over twice the
/// run's duration.
fn overload_variants(seed: u64) -> Vec<Variant> {
    let variant = |label: &str, load: Load, priorities: Option<PriorityMix>| Variant {
        load,
        priorities,
        ..Variant::new(
            label,
            shape(16, 2),
            LeafConfig {
                concurrency: Some(1),
                ..lognormal_leaf(lognormal(seed))
            },
        )
    };
    let mut variants: Vec<Variant> = [
        ("50%", 0.5),
        ("90%", 0.9),
        ("120%", 1.2),
        ("200%", 2.0),
        ("500%", 5.0),
    ]
    .into_iter()
    .map(|(label, scale)| variant(label, Load::Steady(scale), None))
    .collect();
    variants.push(variant(
        "mix200%",
        Load::Steady(2.0),
        Some(PriorityMix::OVERLOAD),
    ));
    variants.push(variant(
        STEP_LABEL,
        Load::Steps {
            scales: vec![0.5, 2.0, 0.5],
            length: 2.0,
        },
        None,
    ));
    variants
}

/// The label of `overload`'s step variant.
pub const STEP_LABEL: &str = "step";

/// The label of the variant whose admitted p99 the others are compared with.
pub const BASELINE_LABEL: &str = "50%";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_has_modes_variants_and_sane_defaults() {
        for name in [
            ScenarioName::Overhead,
            ScenarioName::FanoutSweep,
            ScenarioName::PayloadSweep,
            ScenarioName::Stragglers,
            ScenarioName::SlowReplica,
            ScenarioName::FlakyReplica,
            ScenarioName::Overload,
            ScenarioName::Pauses,
            ScenarioName::QueryOfDeath,
        ] {
            let s = name.resolve(1);
            assert!(!s.name.is_empty() && !s.modes.is_empty() && !s.variants.is_empty());
            assert!(s.default_rate > 0.0 && !s.default_duration.is_zero());
            for v in &s.variants {
                assert!(v.shape.shards > 0 && v.shape.replicas > 0, "{}", s.name);
            }
        }
        let sweep = ScenarioName::FanoutSweep.resolve(1);
        let ns: Vec<u32> = sweep.variants.iter().map(|v| v.shape.shards).collect();
        assert_eq!(ns, vec![1, 4, 16, 64]);
    }

    #[test]
    fn pauses_and_query_of_death_compare_with_a_calm_or_clean_run_of_the_same_world() {
        for (name, baseline, other) in [
            (ScenarioName::Pauses, "calm", "pauses"),
            (ScenarioName::QueryOfDeath, "clean", "deadly"),
        ] {
            let s = name.resolve(3);
            assert_eq!(s.baseline_variant, Some(baseline));
            let [a, b] = &s.variants[..] else {
                panic!("{}: two variants", s.name)
            };
            assert_eq!((a.label.as_str(), b.label.as_str()), (baseline, other));
            assert_eq!(a.leaf, b.leaf, "{}: the same leaves", s.name);
            assert_eq!(
                a.leaf.model.straggler, None,
                "{}: no 50× stragglers",
                s.name
            );
            assert_eq!(a.shape, shape(16, 2));
        }
        let pauses = ScenarioName::Pauses.resolve(1);
        assert_eq!(pauses.variants[0].pauses, None);
        assert_eq!(pauses.variants[1].pauses, Some(PauseModel::GC));
        assert!(pauses.modes.contains(&Mode::ScatterTied));
        let qod = ScenarioName::QueryOfDeath.resolve(1);
        assert!(!qod.variants[0].deadly && qod.variants[1].deadly);
        assert!(qod.variants.iter().all(|v| v.fingerprints));
        assert!(qod.modes.contains(&Mode::ScatterCanary));
    }

    #[test]
    fn overload_spans_half_to_five_times_capacity_with_a_mix_and_a_step() {
        let s = ScenarioName::Overload.resolve(1);
        assert!(s.measure_capacity);
        let labels: Vec<&str> = s.variants.iter().map(|v| v.label.as_str()).collect();
        assert_eq!(
            labels,
            vec!["50%", "90%", "120%", "200%", "500%", "mix200%", "step"]
        );
        for v in &s.variants {
            assert_eq!(
                v.leaf.model.straggler, None,
                "{}: no 50× stragglers",
                v.label
            );
            assert_eq!(v.leaf.concurrency, Some(1), "{}", v.label);
        }
        assert!(s.variants.iter().filter(|v| v.priorities.is_some()).count() == 1);
        let step = s.variants.iter().find(|v| v.label == STEP_LABEL).unwrap();
        let phases = step.load.phases(100.0, Duration::from_secs(6));
        assert_eq!(
            phases,
            vec![
                (50.0, Duration::from_secs(4)),
                (200.0, Duration::from_secs(4)),
                (50.0, Duration::from_secs(4))
            ]
        );
        assert!(s.variants.iter().any(|v| v.label == BASELINE_LABEL));
    }
}
