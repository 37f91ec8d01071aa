//! The open-loop schedule: when each request is due, fixed before the run
//! (uniform or Poisson arrivals at a rate), and a sender that issues each
//! request at its time without ever waiting for an earlier response. A
//! response that is slow therefore delays nothing but itself, and its
//! latency is measured from the time it was due (coordinated-omission
//! correction: a sender that falls behind still charges the wait to the
//! system, not to nobody).

use std::future::Future;
use std::time::Duration;

use serde::Serialize;

use crate::timer::PreciseTimer;

/// How arrivals are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Arrivals {
    /// Exactly `1 / rate` apart.
    Uniform,
    /// Exponential gaps of mean `1 / rate` (seeded).
    Poisson,
}

/// The due times (offsets from the start) of `round(rate × duration)`
/// requests at `rate` per second: uniform arrivals fill `duration` exactly;
/// Poisson arrivals (seeded exponential gaps) end near it. A fixed count
/// keeps runs bounded and makes `--rate 250 --duration 80` mean exactly
/// 20,000 requests in every mode.
pub fn plan(rate: f64, duration: Duration, arrivals: Arrivals, seed: u64) -> Vec<Duration> {
    if rate <= 0.0 || duration.is_zero() {
        return Vec::new();
    }
    let count = (rate * duration.as_secs_f64()).round() as u64;
    let mut t = 0.0f64;
    (0..count)
        .map(|i| {
            let at = match arrivals {
                Arrivals::Uniform => i as f64 / rate,
                Arrivals::Poisson => {
                    t += -unit(seed, i).ln() / rate;
                    t
                }
            };
            Duration::from_secs_f64(at)
        })
        .collect()
}

/// The due times of consecutive phases, each `(rate, length)` planned as by
/// [`plan`] (phase `k` seeded `seed + k`) and starting where the previous
/// phase's length ends, so a step in the rate falls exactly on a phase
/// boundary.
pub fn plan_steps(phases: &[(f64, Duration)], arrivals: Arrivals, seed: u64) -> Vec<Duration> {
    let mut start = Duration::ZERO;
    let mut due = Vec::new();
    for (k, &(rate, length)) in phases.iter().enumerate() {
        let phase = plan(rate, length, arrivals, seed.wrapping_add(k as u64));
        // A Poisson phase may run a little past its length; never past the next step.
        due.extend(
            phase
                .into_iter()
                .filter(|&at| at < length)
                .map(|at| start + at),
        );
        start += length;
    }
    due
}

/// A uniform draw in (0, 1) for gap `i` (splitmix64 of seed and index).
fn unit(seed: u64, i: u64) -> f64 {
    let mut z = (seed ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03)).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A clock the sender waits on, measured from the schedule's start.
pub trait Pace {
    /// Time since the start.
    fn elapsed(&self) -> Duration;
    /// Completes when `offset` since the start is reached.
    fn wait_until(&self, offset: Duration) -> impl Future<Output = ()>;
}

/// Real time on the [`PreciseTimer`]: sends keep to their due time within
/// tens of microseconds instead of tokio's whole milliseconds.
pub struct PrecisePace {
    start: std::time::Instant,
    timer: PreciseTimer,
}

impl PrecisePace {
    /// A pace starting now.
    pub fn start_now(timer: PreciseTimer) -> Self {
        Self {
            start: std::time::Instant::now(),
            timer,
        }
    }

    /// The instant the schedule started.
    pub fn start(&self) -> std::time::Instant {
        self.start
    }
}

impl Pace for PrecisePace {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
    fn wait_until(&self, offset: Duration) -> impl Future<Output = ()> {
        self.timer.sleep_until(self.start + offset)
    }
}

/// tokio's clock (so tests can pause and advance it).
pub struct TokioPace {
    start: tokio::time::Instant,
}

impl TokioPace {
    /// A pace starting now.
    pub fn start_now() -> Self {
        Self {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Pace for TokioPace {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
    fn wait_until(&self, offset: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep_until(self.start + offset)
    }
}

/// How well the sender kept its schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct SendLag {
    /// Requests issued.
    pub sent: usize,
    /// The latest any request went out after its due time.
    pub max: Duration,
}

/// Issues request `i` of `due` at `due[i]` by calling `issue(i, due[i])`,
/// which must start the request and return at once (spawn it); never waits
/// for responses. A request found overdue (the sender was descheduled) is
/// issued at once with its original due time.
pub async fn run_open_loop<P: Pace>(
    pace: &P,
    due: &[Duration],
    mut issue: impl FnMut(usize, Duration),
) -> SendLag {
    let mut lag = SendLag::default();
    for (i, &at) in due.iter().enumerate() {
        if pace.elapsed() < at {
            pace.wait_until(at).await;
        }
        lag.max = lag.max.max(pace.elapsed().saturating_sub(at));
        issue(i, at);
        lag.sent += 1;
    }
    lag
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn uniform_plan_is_evenly_spaced_and_bounded() {
        let due = plan(100.0, Duration::from_secs(2), Arrivals::Uniform, 1);
        assert_eq!(due.len(), 200);
        assert_eq!(due[1] - due[0], Duration::from_millis(10));
        assert!(due.last().unwrap() < &Duration::from_secs(2));
    }

    #[test]
    fn poisson_plan_has_the_rate_and_replays_with_its_seed() {
        let a = plan(1000.0, Duration::from_secs(10), Arrivals::Poisson, 7);
        let b = plan(1000.0, Duration::from_secs(10), Arrivals::Poisson, 7);
        assert_eq!(a, b);
        assert_eq!(a.len(), 10_000);
        let end = a.last().unwrap().as_secs_f64();
        assert!((9.7..10.3).contains(&end), "the last arrival at {end} s");
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        assert_ne!(
            a,
            plan(1000.0, Duration::from_secs(10), Arrivals::Poisson, 8)
        );
    }

    #[test]
    fn stepped_plan_changes_rate_exactly_at_each_boundary() {
        let second = Duration::from_secs(1);
        let due = plan_steps(
            &[(100.0, second), (400.0, second), (100.0, second)],
            Arrivals::Uniform,
            1,
        );
        let within = |from: u64, to: u64| {
            due.iter()
                .filter(|d| (from * 1000..to * 1000).contains(&(d.as_millis() as u64)))
                .count()
        };
        assert_eq!((within(0, 1), within(1, 2), within(2, 3)), (100, 400, 100));
        assert_eq!(due[100], second, "the second phase starts on its boundary");
        assert!(due.windows(2).all(|w| w[0] < w[1]));
        let poisson = plan_steps(&[(500.0, second), (50.0, second)], Arrivals::Poisson, 3);
        let inside = |rate, seed| {
            plan(rate, second, Arrivals::Poisson, seed)
                .into_iter()
                .filter(|d| *d < second)
                .count()
        };
        let later = poisson.iter().filter(|d| **d >= second).count();
        assert_eq!(
            later,
            inside(50.0, 4),
            "no arrival of the first phase spills into the second"
        );
        assert_eq!(poisson.len() - later, inside(500.0, 3));
        assert!(poisson.iter().all(|d| *d < 2 * second));
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_its_schedule_when_responses_are_slow() {
        let due = plan(100.0, Duration::from_secs(1), Arrivals::Uniform, 0);
        let pace = TokioPace::start_now();
        let issued = Arc::new(Mutex::new(Vec::new()));
        let mut responses = Vec::new();
        let lag = run_open_loop(&pace, &due, |i, at| {
            issued.lock().unwrap().push((i, at, pace.elapsed()));
            // Every response takes 5 s: far longer than the whole schedule.
            responses.push(tokio::spawn(tokio::time::sleep(Duration::from_secs(5))));
        })
        .await;
        assert_eq!(lag.sent, 100);
        assert_eq!(lag.max, Duration::ZERO);
        assert!(
            pace.elapsed() < Duration::from_secs(1),
            "the sender waited for responses: {:?}",
            pace.elapsed()
        );
        for (i, at, sent_at) in issued.lock().unwrap().iter() {
            assert_eq!(at, sent_at, "request {i} went out off schedule");
        }
        assert!(responses.iter().all(|r| !r.is_finished()));
    }

    #[tokio::test(start_paused = true)]
    async fn overdue_requests_go_at_once_and_keep_their_due_time() {
        let due = vec![
            Duration::ZERO,
            Duration::from_millis(1),
            Duration::from_millis(2),
        ];
        let pace = TokioPace::start_now();
        tokio::time::advance(Duration::from_millis(10)).await;
        let mut seen = Vec::new();
        let lag = run_open_loop(&pace, &due, |i, at| seen.push((i, at))).await;
        assert_eq!(seen, vec![(0, due[0]), (1, due[1]), (2, due[2])]);
        assert_eq!(lag.max, Duration::from_millis(10));
    }
}
