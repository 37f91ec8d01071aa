//! Seeded leaf latency models: how long one leaf call takes, or whether it
//! fails fast, as a pure function of (seed, request id, shard, replica,
//! attempt). Every mode of a run, and the oracle, see the same world.
//!
//! Draws come from a counter-based hash (splitmix64 over the call's
//! coordinates), not a stateful RNG, so a leaf needs no shared state and the
//! harness can recompute any leaf's draw on its own.
//!
//! The service time depends on (seed, request, shard, replica) and not on
//! the attempt: "replica r would take t for this request" is a fact of the
//! world, so a hedge sent to the other replica meets exactly the time the
//! oracle counted for it, and the oracle (each shard's fastest replica,
//! the slowest shard) is a true lower bound for every mode. Were the
//! attempt part of the latency draw, a hedge would re-roll the dice and
//! could beat the bound. The fast-failure draw does include the attempt:
//! a retry of the same replica is a fresh chance, as a transient
//! UNAVAILABLE would be.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The base service-time distribution of a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Base {
    /// No work: the leaf answers at once.
    Zero,
    /// Always the same time.
    Constant {
        /// Service time in microseconds.
        us: f64,
    },
    /// Exponential with the given mean.
    Exponential {
        /// Mean service time in microseconds.
        mean_us: f64,
    },
    /// Log-normal: `median × e^(σ·z)`, z standard normal.
    LogNormal {
        /// Median service time in microseconds.
        median_us: f64,
        /// σ of the underlying normal.
        sigma: f64,
    },
}

/// Rare slow calls: with probability `p` a call takes `factor` times its base draw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Straggler {
    /// Share of calls that straggle, in [0, 1].
    pub p: f64,
    /// How many times slower a straggling call is.
    pub factor: f64,
    /// Share of stragglers a leaf can recognise when the call starts (a
    /// cold cache, a long posting list), in [0, 1]: those, and only those,
    /// it hints as slow. The rest look like any call until they are late.
    #[serde(default = "Straggler::default_recognisable")]
    pub recognisable: f64,
}

impl Straggler {
    /// Stragglers `factor` times slower on a share `p` of calls, half of
    /// them recognisable.
    pub fn new(p: f64, factor: f64) -> Self {
        Self {
            p,
            factor,
            recognisable: Self::default_recognisable(),
        }
    }

    fn default_recognisable() -> f64 {
        0.5
    }
}

/// One replica slower than its siblings on every call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlowReplica {
    /// The shard whose replica is slow; `None` for the replica of every shard.
    pub shard: Option<u32>,
    /// The slow replica's index within its shard.
    pub replica: u32,
    /// How many times slower it is.
    pub factor: f64,
}

/// Calls that fail fast with UNAVAILABLE.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FastErrors {
    /// The replica index that fails; `None` for every replica.
    pub replica: Option<u32>,
    /// Share of that replica's calls that fail, in [0, 1].
    pub rate: f64,
}

/// The whole model, identical in every leaf and in the harness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyModel {
    /// Changes every draw; the same seed replays the same world.
    pub seed: u64,
    /// The base distribution.
    pub base: Base,
    /// Optional rare slow calls.
    pub straggler: Option<Straggler>,
    /// Optional slow replica.
    pub slow: Option<SlowReplica>,
    /// Optional fast failures.
    pub errors: Option<FastErrors>,
}

/// The coordinates of one leaf call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallId {
    /// The harness's request id (carried in the payload).
    pub request: u64,
    /// 0-based shard.
    pub shard: u32,
    /// 0-based replica within the shard.
    pub replica: u32,
    /// 0 for the first call of a shard, 1 for a hedge or retry...
    pub attempt: u32,
}

/// What the model decides for one call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Draw {
    /// Answer after this service time.
    Serve(Duration),
    /// Fail at once with UNAVAILABLE.
    Fail,
}

/// Independent uniform streams per call.
const STREAM_BASE_A: u64 = 1;
const STREAM_BASE_B: u64 = 2;
const STREAM_STRAGGLER: u64 = 3;
const STREAM_ERROR: u64 = 4;
const STREAM_RECOGNISABLE: u64 = 5;

impl LatencyModel {
    /// A model with only a base distribution.
    pub fn new(seed: u64, base: Base) -> Self {
        Self {
            seed,
            base,
            straggler: None,
            slow: None,
            errors: None,
        }
    }

    /// The decision for one call.
    pub fn draw(&self, call: CallId) -> Draw {
        if let Some(errors) = &self.errors
            && errors.replica.is_none_or(|r| r == call.replica)
            && self.uniform(call, STREAM_ERROR) < errors.rate
        {
            return Draw::Fail;
        }
        // The latency draws ignore the attempt (see the module doc).
        let at = CallId { attempt: 0, ..call };
        let mut us = match self.base {
            Base::Zero => 0.0,
            Base::Constant { us } => us,
            Base::Exponential { mean_us } => -mean_us * self.uniform(at, STREAM_BASE_A).ln(),
            Base::LogNormal { median_us, sigma } => median_us * (sigma * self.normal(at)).exp(),
        };
        if let Some(s) = &self.straggler
            && self.uniform(at, STREAM_STRAGGLER) < s.p
        {
            us *= s.factor;
        }
        if let Some(slow) = &self.slow
            && slow.replica == call.replica
            && slow.shard.is_none_or(|s| s == call.shard)
        {
            us *= slow.factor;
        }
        Draw::Serve(Duration::from_nanos((us.max(0.0) * 1e3) as u64))
    }

    /// What a leaf can know of `call` when it starts: if the call is a
    /// straggler of a kind it recognises, the class's typical time
    /// (`factor` × the base median, never the drawn time); else `None` —
    /// a normal call, or a straggler that looks like one. Decided on a
    /// stream of its own, so the draws of time are unchanged.
    pub fn recognisable_straggler(&self, call: CallId) -> Option<Duration> {
        let s = self.straggler.as_ref()?;
        let at = CallId { attempt: 0, ..call };
        let straggles = self.uniform(at, STREAM_STRAGGLER) < s.p;
        (straggles && self.uniform(at, STREAM_RECOGNISABLE) < s.recognisable).then(|| {
            let median = match self.base {
                Base::Zero => 0.0,
                Base::Constant { us } => us,
                Base::Exponential { mean_us } => mean_us * std::f64::consts::LN_2,
                Base::LogNormal { median_us, .. } => median_us,
            };
            Duration::from_nanos((median * s.factor * 1e3) as u64)
        })
    }

    /// The lower bound for one request over `shards` × `replicas` leaves:
    /// the slowest shard's fastest replica, as the model draws them (a
    /// replica whose first attempt would fail does not count; a shard whose
    /// every replica would fail counts as zero).
    pub fn oracle(&self, request: u64, shards: u32, replicas: u32) -> Duration {
        (0..shards)
            .map(|shard| {
                (0..replicas)
                    .filter_map(|replica| {
                        match self.draw(CallId {
                            request,
                            shard,
                            replica,
                            attempt: 0,
                        }) {
                            Draw::Serve(d) => Some(d),
                            Draw::Fail => None,
                        }
                    })
                    .min()
                    .unwrap_or_default()
            })
            .max()
            .unwrap_or_default()
    }

    /// The mean service time of a call to a replica that is not slowed,
    /// from the model's formulas (used to predict a leaf's capacity).
    pub fn mean_service(&self) -> Duration {
        let base = match self.base {
            Base::Zero => 0.0,
            Base::Constant { us } => us,
            Base::Exponential { mean_us } => mean_us,
            Base::LogNormal { median_us, sigma } => median_us * (sigma * sigma / 2.0).exp(),
        };
        let straggle = self
            .straggler
            .as_ref()
            .map_or(1.0, |s| 1.0 + s.p * (s.factor - 1.0));
        Duration::from_nanos((base * straggle * 1e3) as u64)
    }

    /// A uniform draw in (0, 1) for `call` on one stream.
    fn uniform(&self, call: CallId, stream: u64) -> f64 {
        let mut h = mix(self.seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407));
        h = mix(h ^ call.request);
        h = mix(h ^ (u64::from(call.shard) << 32 | u64::from(call.replica)));
        h = mix(h ^ u64::from(call.attempt));
        // 53 random bits, centred in their cell so neither 0 nor 1 comes out.
        ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box–Muller).
    fn normal(&self, call: CallId) -> f64 {
        let u1 = self.uniform(call, STREAM_BASE_A);
        let u2 = self.uniform(call, STREAM_BASE_B);
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// splitmix64's finaliser: a bijective 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(request: u64) -> CallId {
        CallId {
            request,
            shard: 3,
            replica: 1,
            attempt: 0,
        }
    }

    fn served(draw: Draw) -> Duration {
        match draw {
            Draw::Serve(d) => d,
            Draw::Fail => panic!("unexpected failure"),
        }
    }

    fn stragglers(seed: u64) -> LatencyModel {
        LatencyModel {
            straggler: Some(Straggler::new(0.005, 50.0)),
            ..LatencyModel::new(
                seed,
                Base::LogNormal {
                    median_us: 5000.0,
                    sigma: 0.5,
                },
            )
        }
    }

    #[test]
    fn same_seed_gives_the_same_draws_and_another_seed_others() {
        let (a, b, c) = (stragglers(7), stragglers(7), stragglers(8));
        let same = (0..1000).all(|r| a.draw(call(r)) == b.draw(call(r)));
        let differ = (0..1000)
            .filter(|&r| a.draw(call(r)) != c.draw(call(r)))
            .count();
        assert!(same);
        assert!(
            differ > 990,
            "only {differ} of 1000 draws changed with the seed"
        );
    }

    #[test]
    fn request_shard_and_replica_change_the_time_but_the_attempt_does_not() {
        let m = stragglers(1);
        let base = m.draw(call(5));
        let others = [
            CallId {
                shard: 4,
                ..call(5)
            },
            CallId {
                replica: 0,
                ..call(5)
            },
            call(6),
        ];
        for other in others {
            assert_ne!(m.draw(other), base, "{other:?}");
        }
        // A hedge to this replica meets the time the oracle counted for it.
        assert_eq!(
            m.draw(CallId {
                attempt: 1,
                ..call(5)
            }),
            base
        );
    }

    #[test]
    fn a_retry_of_the_same_replica_is_a_fresh_chance_to_fail() {
        let mut m = LatencyModel::new(2, Base::Zero);
        m.errors = Some(FastErrors {
            replica: None,
            rate: 0.5,
        });
        let differ = (0..1000)
            .filter(|&r| {
                m.draw(call(r))
                    != m.draw(CallId {
                        attempt: 1,
                        ..call(r)
                    })
            })
            .count();
        assert!(
            (400..600).contains(&differ),
            "{differ} of 1000 retries changed fate"
        );
    }

    #[test]
    fn straggler_fraction_is_within_tolerance() {
        // Base-only draws never exceed 10× the median here (z > 4.6 at σ 0.5);
        // stragglers are 50× the base, so > 10× the median means a straggler
        // unless the base draw was below 0.2× the median (z < -3.2, ~0.07 %).
        let m = stragglers(42);
        let n = 200_000u64;
        let slow = (0..n)
            .filter(|&r| served(m.draw(call(r))) > Duration::from_millis(50))
            .count() as f64;
        let share = slow / n as f64;
        assert!((0.0042..0.0058).contains(&share), "straggler share {share}");
    }

    #[test]
    fn lognormal_median_and_exponential_mean_match_their_parameters() {
        let m = LatencyModel::new(
            3,
            Base::LogNormal {
                median_us: 5000.0,
                sigma: 0.5,
            },
        );
        let mut draws: Vec<Duration> = (0..20_001).map(|r| served(m.draw(call(r)))).collect();
        draws.sort();
        let median = draws[10_000].as_secs_f64() * 1e3;
        assert!((4.85..5.15).contains(&median), "median {median} ms");

        let e = LatencyModel::new(3, Base::Exponential { mean_us: 1000.0 });
        let mean = (0..20_000)
            .map(|r| served(e.draw(call(r))).as_secs_f64())
            .sum::<f64>()
            / 20_000.0;
        assert!((0.00096..0.00104).contains(&mean), "mean {mean} s");
    }

    #[test]
    fn slow_replica_and_fast_errors_hit_only_their_targets() {
        let mut m = LatencyModel::new(9, Base::Constant { us: 1000.0 });
        m.slow = Some(SlowReplica {
            shard: Some(2),
            replica: 0,
            factor: 10.0,
        });
        m.errors = Some(FastErrors {
            replica: Some(1),
            rate: 0.2,
        });
        let at = |shard, replica, request| {
            m.draw(CallId {
                request,
                shard,
                replica,
                attempt: 0,
            })
        };
        assert_eq!(at(2, 0, 1), Draw::Serve(Duration::from_millis(10)));
        assert_eq!(at(3, 0, 1), Draw::Serve(Duration::from_millis(1)));
        let fails = (0..10_000).filter(|&r| at(0, 1, r) == Draw::Fail).count();
        assert!((1800..2200).contains(&fails), "{fails} of 10000 failed");
        assert!((0..10_000).all(|r| at(0, 0, r) != Draw::Fail));
    }

    #[test]
    fn oracle_is_the_slowest_shards_fastest_replica() {
        let mut m = LatencyModel::new(1, Base::Constant { us: 1000.0 });
        m.slow = Some(SlowReplica {
            shard: Some(1),
            replica: 0,
            factor: 10.0,
        });
        // Shard 1's replica 1 is normal speed, so the bound stays 1 ms.
        assert_eq!(m.oracle(0, 4, 2), Duration::from_millis(1));
        // With one replica, the slow one is the only choice.
        assert_eq!(m.oracle(0, 4, 1), Duration::from_millis(10));
    }

    #[test]
    fn about_half_the_stragglers_are_recognisable_and_only_stragglers() {
        let m = stragglers(5);
        let n = 400_000u64;
        let (mut slow, mut hinted) = (0, 0);
        for r in 0..n {
            let time = served(m.draw(call(r)));
            let hint = m.recognisable_straggler(call(r));
            let is_straggler = m.uniform(call(r), STREAM_STRAGGLER) < 0.005;
            slow += u64::from(is_straggler);
            if let Some(hint) = hint {
                hinted += 1;
                assert!(is_straggler, "a normal call was hinted");
                // The class's time, not the drawn one.
                assert_eq!(hint, Duration::from_millis(250));
                assert!(time > Duration::from_millis(25));
            }
        }
        let share = hinted as f64 / slow as f64;
        assert!((0.45..0.55).contains(&share), "{hinted} of {slow} hinted");
        // The same call is hinted the same on every attempt and every run.
        let hinted_call = (0..n)
            .map(call)
            .find(|c| m.recognisable_straggler(*c).is_some())
            .unwrap();
        let again = CallId {
            attempt: 1,
            ..hinted_call
        };
        assert!(stragglers(5).recognisable_straggler(again).is_some());
        assert_eq!(
            LatencyModel::new(5, Base::Zero).recognisable_straggler(hinted_call),
            None
        );
    }

    #[test]
    fn old_configs_without_a_recognisable_share_read_as_half() {
        let s: Straggler = serde_json::from_str(r#"{"p":0.005,"factor":50.0}"#).unwrap();
        assert_eq!(s, Straggler::new(0.005, 50.0));
        assert_eq!(s.recognisable, 0.5);
    }

    #[test]
    fn mean_service_accounts_for_stragglers() {
        let m = stragglers(1);
        let mean = m.mean_service().as_secs_f64() * 1e3;
        // 5 ms · e^(0.125) = 5.666 ms, × (1 + 0.005 · 49) = 7.05 ms.
        assert!((7.0..7.1).contains(&mean), "{mean}");
    }
}
