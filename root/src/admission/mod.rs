//! Admission: whether a request may start now. Three checks, each refusing
//! at once rather than queueing:
//! - the hard ceiling, `limits.max_concurrent_requests`;
//! - the adaptive limit ([`limit`]), of which each priority class may fill
//!   its share ([`priority`]): beyond it, RESOURCE_EXHAUSTED with
//!   `grpc-retry-pushback-ms`;
//! - the deadline: a request with less time than requests take now (the
//!   median of the last window) is refused with DEADLINE_EXCEEDED instead
//!   of being started to time out.
//!
//! A [`Permit`] is held for the life of the request; when it finishes, its
//! latency feeds the limit. [`Admission::saturated`] tells the fan-out to
//! stop adding hedges and retries.

pub mod limit;
pub mod priority;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use scatter_management::metrics::{Counter, Gauge, Registry};
use tokio::time::Instant;

use crate::config::AdmissionConfig;
use crate::error::QueryError;
use limit::{Adjustment, GradientLimit};
pub use priority::Class;

/// A window median older than this says nothing about the deadline a
/// request needs now (every request may have been refused since).
const NEED_TTL: Duration = Duration::from_secs(1);
/// The pushback suggested before any latency is known.
const DEFAULT_PUSHBACK: Duration = Duration::from_millis(10);

/// The root's admission control, shared by every request.
pub struct Admission {
    shared: Arc<Shared>,
}

struct Shared {
    adaptive: bool,
    deadline_aware: bool,
    ceiling: usize,
    in_flight: AtomicUsize,
    /// High-priority requests among them.
    high_in_flight: AtomicUsize,
    /// The most requests running at once since the limit last looked.
    busiest: AtomicUsize,
    /// The limit as `f64` bits, read without the lock.
    limit_bits: AtomicU64,
    limit: Mutex<GradientLimit>,
    /// The last window's median latency, in µs, and when it was taken.
    need_us: AtomicU64,
    need_at_ms: AtomicU64,
    epoch: Instant,
    metrics: AdmissionMetrics,
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShedReason {
    /// Its class's share of the adaptive limit was full.
    Limit,
    /// The hard ceiling was reached.
    Ceiling,
    /// Its deadline was shorter than requests take now.
    Deadline,
}

impl ShedReason {
    const ALL: [Self; 3] = [Self::Limit, Self::Ceiling, Self::Deadline];

    fn name(self) -> &'static str {
        match self {
            Self::Limit => "limit",
            Self::Ceiling => "ceiling",
            Self::Deadline => "deadline",
        }
    }
}

struct AdmissionMetrics {
    limit: Gauge,
    in_flight: Gauge,
    /// By reason, then class.
    shed: Vec<Counter>,
}

impl AdmissionMetrics {
    fn new(registry: &Registry) -> Self {
        let shed = ShedReason::ALL
            .iter()
            .flat_map(|reason| {
                Class::ALL.iter().map(move |class| {
                    registry.counter(
                        "scatter_root_shed_total",
                        "Requests refused at admission, by reason and priority.",
                        &[("reason", reason.name()), ("priority", class.name())],
                    )
                })
            })
            .collect();
        Self {
            limit: registry.gauge(
                "scatter_root_concurrency_limit",
                "The adaptive concurrency limit now (whole requests).",
                &[],
            ),
            in_flight: registry.gauge(
                "scatter_root_admitted_in_flight",
                "Admitted requests running now.",
                &[],
            ),
            shed,
        }
    }

    fn shed(&self, reason: ShedReason, class: Class) {
        let index = reason as usize * Class::ALL.len() + class as usize;
        self.shed[index].inc();
    }
}

impl Admission {
    /// Admission with `config`, never more than `ceiling` requests at once,
    /// counting in `registry`.
    pub fn new(config: &AdmissionConfig, ceiling: usize, registry: &Registry) -> Self {
        let epoch = Instant::now();
        let ceiling = ceiling.max(1);
        let limit = GradientLimit::new(config, ceiling, epoch);
        let initial = if config.adaptive {
            limit.limit()
        } else {
            ceiling as f64
        };
        let metrics = AdmissionMetrics::new(registry);
        metrics.limit.set(initial as i64);
        Self {
            shared: Arc::new(Shared {
                adaptive: config.adaptive,
                deadline_aware: config.deadline_aware,
                ceiling,
                in_flight: AtomicUsize::new(0),
                high_in_flight: AtomicUsize::new(0),
                busiest: AtomicUsize::new(0),
                limit_bits: AtomicU64::new(initial.to_bits()),
                limit: Mutex::new(limit),
                need_us: AtomicU64::new(0),
                need_at_ms: AtomicU64::new(0),
                epoch,
                metrics,
            }),
        }
    }

    /// The concurrency limit now.
    pub fn limit(&self) -> f64 {
        f64::from_bits(self.shared.limit_bits.load(Ordering::Relaxed))
    }

    /// Admitted requests running now.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::Relaxed)
    }

    /// Whether the root is shedding normal-priority requests: extra
    /// attempts (hedges, retries) would only add load to a full tree.
    pub fn saturated(&self) -> bool {
        self.in_flight() >= Class::Normal.cap(self.limit()).min(self.shared.ceiling)
    }

    /// What requests take now (the last window's median), if known and
    /// recent.
    pub fn need(&self) -> Option<Duration> {
        let shared = &self.shared;
        let us = shared.need_us.load(Ordering::Relaxed);
        let at = Duration::from_millis(shared.need_at_ms.load(Ordering::Relaxed));
        let age = Instant::now()
            .saturating_duration_since(shared.epoch)
            .saturating_sub(at);
        (us > 0 && age <= NEED_TTL).then(|| Duration::from_micros(us))
    }

    /// Admits a request of `class` with `deadline` to spend, or refuses it.
    pub fn admit(&self, class: Class, deadline: Duration) -> Result<Permit, QueryError> {
        let shared = &self.shared;
        if shared.deadline_aware
            && let Some(needed) = self.need()
            && deadline < needed
        {
            shared.metrics.shed(ShedReason::Deadline, class);
            return Err(QueryError::DeadlineTooShort { deadline, needed });
        }
        let limit_cap = class.cap(self.limit());
        let cap = limit_cap.min(shared.ceiling);
        // High priority is held to its cap on its own count, so lower
        // classes never crowd it out; it still counts in the total the
        // lower classes are held to, so they make room as it arrives.
        let high = class == Class::High;
        let admitted = if high {
            take(&shared.high_in_flight, cap).and_then(|_| {
                take(&shared.in_flight, shared.ceiling).inspect_err(|_| {
                    shared.high_in_flight.fetch_sub(1, Ordering::AcqRel);
                })
            })
        } else {
            take(&shared.in_flight, cap)
        };
        match admitted {
            Ok(before) => {
                shared.busiest.fetch_max(before + 1, Ordering::Relaxed);
                shared.metrics.in_flight.add(1);
                Ok(Permit {
                    shared: Arc::clone(shared),
                    admitted: Instant::now(),
                    high,
                })
            }
            Err(running) => {
                let at_ceiling = running >= shared.ceiling || limit_cap >= shared.ceiling;
                let (reason, which) = if at_ceiling {
                    (
                        ShedReason::Ceiling,
                        "the ceiling (--max-concurrent)".to_owned(),
                    )
                } else {
                    (
                        ShedReason::Limit,
                        format!("the adaptive limit for {}-priority requests", class.name()),
                    )
                };
                shared.metrics.shed(reason, class);
                Err(QueryError::Overloaded {
                    running,
                    cap: if at_ceiling { shared.ceiling } else { cap },
                    which,
                    retry_after: self.need().unwrap_or(DEFAULT_PUSHBACK),
                })
            }
        }
    }
}

/// Takes a place on `count` if it is below `cap`: the count before, or
/// the count that was full.
fn take(count: &AtomicUsize, cap: usize) -> Result<usize, usize> {
    count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
        (n < cap).then_some(n + 1)
    })
}

/// One admitted request's place. Dropping it frees the place; [`finish`]
/// first lets its latency steer the limit.
///
/// [`finish`]: Permit::finish
pub struct Permit {
    shared: Arc<Shared>,
    admitted: Instant,
    high: bool,
}

impl Permit {
    /// Ends the request. With `measured`, its latency counts toward the
    /// limit (an answer, or a failure that took the tree's time); a request
    /// refused for its own fault, or cancelled, says nothing of the tree.
    /// Returns the adaptive limit's change when this answer closed a window.
    pub fn finish(self, measured: bool) -> Option<Adjustment> {
        if !measured {
            return None;
        }
        let shared = &self.shared;
        let now = Instant::now();
        let latency = now.saturating_duration_since(self.admitted);
        let adjustment = {
            let mut limit = shared.limit.lock().unwrap_or_else(PoisonError::into_inner);
            let in_flight = shared.in_flight.load(Ordering::Relaxed);
            limit.note_in_flight(shared.busiest.swap(in_flight, Ordering::Relaxed));
            limit.record(latency, now)?
        };
        let median_us = u64::try_from(adjustment.median.as_micros()).unwrap_or(u64::MAX);
        shared.need_us.store(median_us.max(1), Ordering::Relaxed);
        let at = now.saturating_duration_since(shared.epoch).as_millis();
        shared
            .need_at_ms
            .store(u64::try_from(at).unwrap_or(u64::MAX), Ordering::Relaxed);
        if !shared.adaptive {
            return None;
        }
        shared
            .limit_bits
            .store(adjustment.after.to_bits(), Ordering::Relaxed);
        shared.metrics.limit.set(adjustment.after as i64);
        Some(adjustment)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.shared.in_flight.fetch_sub(1, Ordering::AcqRel);
        if self.high {
            self.shared.high_in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        self.shared.metrics.in_flight.add(-1);
    }
}

#[cfg(test)]
mod tests;
