//! The scenarios: for each, the tree's shape, the leaves' latency model,
//! the modes compared, and the defaults a bare `scatter-bench SCENARIO`
//! runs with. A scenario with variants (a sweep) runs every mode on each.

use std::time::Duration;

use crate::leaf::LeafConfig;
use crate::model::{Base, FastErrors, LatencyModel, SlowReplica, Straggler};
use crate::modes::Mode;
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
    /// Stragglers with one call at a time per leaf, at 90 % and 120 % of capacity.
    Overload,
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
    /// This variant's rate as a multiple of the run's rate (or capacity).
    pub rate_scale: f64,
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
}

/// Every mode compared in the tail scenarios.
const TAIL_MODES: [Mode; 4] = [
    Mode::PlainFanout,
    Mode::TowerHedge,
    Mode::Scatter,
    Mode::ScatterHedge,
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
        straggler: Some(Straggler {
            p: 0.005,
            factor: 50.0,
        }),
        ..lognormal(seed)
    }
}

fn one(shape: Shape, leaf: LeafConfig) -> Vec<Variant> {
    vec![Variant {
        label: String::new(),
        shape,
        leaf,
        request_bytes: 100,
        rate_scale: 1.0,
    }]
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
                    .map(|n| Variant {
                        label: format!("N={n}"),
                        shape: shape(n, 1),
                        leaf: zero_work(seed, 100),
                        request_bytes: 100,
                        rate_scale: 1.0,
                    })
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
                    label: label.into(),
                    shape: shape(4, 1),
                    leaf: zero_work(seed, bytes),
                    request_bytes: bytes,
                    // 1 MiB × 4 shards each way: a fifth of the rate keeps
                    // a 2-core machine from measuring only memcpy.
                    rate_scale: if bytes >= 1 << 20 { 0.2 } else { 1.0 },
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
                let leaf = |slow: bool| LeafConfig {
                    model: LatencyModel {
                        slow: slow.then_some(SlowReplica {
                            shard: Some(0),
                            replica: 0,
                            factor: 10.0,
                        }),
                        ..lognormal(seed)
                    },
                    concurrency: None,
                    partial_bytes: 100,
                };
                Scenario {
                    name: "slow-replica",
                    variants: [("even", false), ("slow", true)]
                        .into_iter()
                        .map(|(label, slow)| Variant {
                            label: label.into(),
                            shape: shape(16, 2),
                            leaf: leaf(slow),
                            request_bytes: 100,
                            rate_scale: 1.0,
                        })
                        .collect(),
                    ..base
                }
            }
            Self::FlakyReplica => Scenario {
                name: "flaky-replica",
                variants: one(
                    shape(16, 2),
                    LeafConfig {
                        model: LatencyModel {
                            errors: Some(FastErrors {
                                replica: Some(0),
                                rate: 0.2,
                            }),
                            ..lognormal(seed)
                        },
                        concurrency: None,
                        partial_bytes: 100,
                    },
                ),
                ..base
            },
            Self::Overload => Scenario {
                name: "overload",
                default_duration: Duration::from_secs(15),
                variants: [("90%", 0.9), ("120%", 1.2)]
                    .into_iter()
                    .map(|(label, scale)| Variant {
                        label: label.into(),
                        shape: shape(16, 2),
                        leaf: LeafConfig {
                            model: stragglers(seed),
                            concurrency: Some(1),
                            partial_bytes: 100,
                        },
                        request_bytes: 100,
                        rate_scale: scale,
                    })
                    .collect(),
                timeout: Duration::from_secs(1),
                measure_capacity: true,
                ..base
            },
        }
    }
}

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
}
