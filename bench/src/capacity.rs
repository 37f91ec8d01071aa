//! How `overload` decides its capacity: the highest rate at which the
//! hand-written fan-out (`plain-fanout`) still answers well — every request
//! answered, none failed, p99 under a tenth of the deadline — found by a
//! short search of a few steps. Here are the decisions (the criterion and
//! which rate to try next); `run::capacity` runs the steps.
//!
//! The search starts light (a quarter of the leaves' throughput ceiling,
//! halving while even that fails), then bisects between the highest rate
//! that passed and the lowest that failed — at first the ceiling itself,
//! where the leaves' queues grow without bound, so it is taken as failed
//! without trying it. A fixed number of bisections keeps the probe's time
//! fixed; the steps are short and noisy, so capacity is an estimate,
//! reported with every step tried.

use std::time::Duration;

use serde::Serialize;

/// The first rate tried, as a share of the ceiling.
const LIGHT: f64 = 0.25;
/// Light rates tried (each half the last) before giving up.
const LIGHT_TRIES: usize = 3;
/// Bisections after a light rate passed: the estimate is then within
/// `(ceiling - light) / 2^BISECTIONS` of the boundary.
const BISECTIONS: usize = 5;

/// What a rate must show to count as within capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Criterion {
    /// The p99 (of successful requests, from their due time) must stay under this.
    pub max_p99: Duration,
}

impl Criterion {
    /// p99 under a tenth of `deadline`: far enough below it that a rate
    /// just under capacity leaves no request near its deadline.
    pub fn for_deadline(deadline: Duration) -> Self {
        Self {
            max_p99: deadline / 10,
        }
    }

    /// Whether a step passed: every request answered, none failed or shed,
    /// and the p99 strictly under the bound.
    pub fn passes(&self, step: &StepResult) -> bool {
        step.requests > 0 && step.ok == step.requests && step.errors == 0 && step.p99 < self.max_p99
    }

    /// The criterion in words, for the report.
    pub fn describe(&self) -> String {
        format!(
            "plain-fanout answers every request, none failed, p99 < {} ms",
            self.max_p99.as_secs_f64() * 1e3
        )
    }
}

/// What plain-fanout did at one rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepResult {
    /// Requests sent.
    pub requests: u64,
    /// Successful answers.
    pub ok: u64,
    /// Failed (or shed) requests.
    pub errors: u64,
    /// p99 of successful requests.
    pub p99: Duration,
}

/// One step of the search as the report shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProbeStep {
    /// The rate offered.
    pub rate_rps: f64,
    /// Requests sent.
    pub requests: u64,
    /// Successful answers.
    pub ok: u64,
    /// Failed (or shed) requests.
    pub errors: u64,
    /// p99 of successful requests, in µs.
    pub p99_us: u64,
    /// Whether it met the criterion.
    pub passed: bool,
}

/// How the run's capacity was found, for `report.json` and the table.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CapacityProbe {
    /// The capacity the variants are multiples of, in requests/s.
    pub capacity_rps: f64,
    /// `search` when probed, `--rate` when given on the command line.
    pub method: String,
    /// The criterion a rate had to meet.
    pub criterion: String,
    /// The leaves' throughput ceiling the search started from (replicas ×
    /// slots ÷ mean service time), in requests/s.
    pub ceiling_rps: f64,
    /// Seconds each step sent for.
    pub step_s: f64,
    /// Every step, in the order tried.
    pub steps: Vec<ProbeStep>,
}

/// The search's state: the rates tried so far and what they showed.
#[derive(Clone, Debug)]
pub struct CapacitySearch {
    ceiling: f64,
    /// Highest rate that passed.
    passed: Option<f64>,
    /// Lowest rate that failed (at first the ceiling, untried).
    failed: f64,
    light_tries: usize,
    bisections: usize,
}

impl CapacitySearch {
    /// A search below `ceiling` requests/s.
    pub fn new(ceiling: f64) -> Self {
        Self {
            ceiling,
            passed: None,
            failed: ceiling,
            light_tries: 0,
            bisections: 0,
        }
    }

    /// The next rate to try, or `None` when the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        match self.passed {
            None if self.light_tries < LIGHT_TRIES => {
                Some(self.ceiling * LIGHT / f64::from(1u32 << self.light_tries))
            }
            None => None,
            Some(_) if self.bisections >= BISECTIONS => None,
            Some(passed) => Some((passed + self.failed) / 2.0),
        }
    }

    /// Notes whether `rate` passed.
    pub fn observe(&mut self, rate: f64, passed: bool) {
        if self.passed.is_none() {
            self.light_tries += 1;
        } else {
            self.bisections += 1;
        }
        if passed {
            self.passed = Some(self.passed.map_or(rate, |p| p.max(rate)));
        } else {
            self.failed = self.failed.min(rate);
        }
    }

    /// The highest rate that passed, once one has.
    pub fn capacity(&self) -> Option<f64> {
        self.passed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(ok: u64, errors: u64, p99_ms: u64) -> StepResult {
        StepResult {
            requests: 100,
            ok,
            errors,
            p99: Duration::from_millis(p99_ms),
        }
    }

    #[test]
    fn a_rate_passes_only_with_every_answer_and_p99_under_a_tenth_of_the_deadline() {
        let c = Criterion::for_deadline(Duration::from_secs(1));
        assert!(c.passes(&step(100, 0, 99)));
        assert!(
            !c.passes(&step(100, 0, 100)),
            "at the bound is not under it"
        );
        assert!(!c.passes(&step(99, 1, 20)), "one error fails the step");
        assert!(!c.passes(&step(99, 0, 20)), "a lost request fails the step");
        assert!(!c.passes(&StepResult {
            requests: 0,
            ..step(0, 0, 1)
        }));
    }

    /// Runs the search against a system that passes at or below `boundary`.
    fn search(ceiling: f64, boundary: f64) -> (Option<f64>, Vec<f64>) {
        let mut s = CapacitySearch::new(ceiling);
        let mut tried = Vec::new();
        while let Some(rate) = s.next_rate() {
            tried.push(rate);
            s.observe(rate, rate <= boundary);
            assert!(tried.len() < 20, "the search does not end: {tried:?}");
        }
        (s.capacity(), tried)
    }

    #[test]
    fn bisection_ends_just_below_the_boundary() {
        let (capacity, tried) = search(400.0, 230.0);
        let capacity = capacity.unwrap();
        assert_eq!(tried[0], 100.0, "starts at a quarter of the ceiling");
        assert_eq!(tried.len(), 1 + BISECTIONS);
        assert!(capacity <= 230.0, "never above the boundary: {capacity}");
        let resolution = (400.0 - 100.0) / f64::from(1u32 << BISECTIONS);
        assert!(230.0 - capacity <= resolution, "{capacity} {tried:?}");
        assert!(
            tried.iter().all(|&r| r < 400.0),
            "the ceiling is never tried"
        );
    }

    #[test]
    fn a_failing_light_rate_halves_and_a_hopeless_system_has_no_capacity() {
        let (capacity, tried) = search(400.0, 30.0);
        assert_eq!(&tried[..3], &[100.0, 50.0, 25.0]);
        let capacity = capacity.unwrap();
        assert!((25.0..=30.0).contains(&capacity), "{capacity}");

        let (none, tried) = search(400.0, 1.0);
        assert_eq!(none, None);
        assert_eq!(tried, vec![100.0, 50.0, 25.0]);
    }
}
