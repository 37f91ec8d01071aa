//! Canary requests against queries of death (*The Tail at Scale*): a
//! payload the root has not seen recently goes to one shard first, and to
//! the others only once that canary answered or the canary timeout passed
//! (a slow canary is not a death). A payload whose canary breaks its
//! leaf's connection is sent nowhere else, and identical payloads are
//! refused for the quarantine period, without calling any leaf: a query
//! of death costs one leaf, not the fleet.
//!
//! Read in request order: [`fingerprint`] names the payload; [`memory`]
//! says whether it is quarantined, seen, or waiting for a canary already
//! out (one canary per fingerprint at a time: a burst of one new payload
//! costs one leaf at most); [`first`] sends the canary through [`leaf`],
//! the watched leaf stack, and hands what it left to the gather. This
//! file decides per request and keeps the counts.

mod fingerprint;
mod first;
mod leaf;
mod memory;

use scatter_management::metrics::{Counter, Registry};
use scatter_proto::v1::{Payload, Policy};
use tokio::time::Instant;

pub use fingerprint::Fingerprint;
pub use first::{Sent, send_first};
pub use leaf::Death;
use memory::{Look, Memory, Phase, Quarantine};

use crate::config::CanaryConfig;
use crate::error::QueryError;
use crate::fanout::ShardEnd;

/// The canary policy and what it has learnt, shared by every request.
pub struct Canary {
    config: CanaryConfig,
    memory: Memory,
    metrics: CanaryMetrics,
}

/// The canary counters.
struct CanaryMetrics {
    sent: Counter,
    passed: Counter,
    killed: Counter,
    inconclusive: Counter,
    slow: Counter,
    refused: Counter,
}

impl CanaryMetrics {
    fn new(registry: &Registry) -> Self {
        let outcome = |outcome| {
            registry.counter(
                "scatter_root_canary_outcomes_total",
                "How canaries ended: passed (answered: the payload is seen), killed (broke \
                 their leaf's connection: the payload is quarantined), inconclusive (failed \
                 otherwise or timed out).",
                &[("outcome", outcome)],
            )
        };
        Self {
            sent: registry.counter(
                "scatter_root_canaries_sent_total",
                "Requests sent to one shard first, as a canary.",
                &[],
            ),
            passed: outcome("passed"),
            killed: outcome("killed"),
            inconclusive: outcome("inconclusive"),
            slow: registry.counter(
                "scatter_root_canaries_slow_total",
                "Canaries still out at the canary timeout: their request fanned out anyway.",
                &[],
            ),
            refused: registry.counter(
                "scatter_root_canary_refusals_total",
                "Requests refused without a leaf call: their payload is quarantined.",
                &[],
            ),
        }
    }
}

impl Canary {
    /// The canary policy `config`, counting in `registry`.
    pub fn new(config: &CanaryConfig, registry: &Registry) -> Self {
        Self {
            config: config.clone(),
            memory: Memory::new(config.max_fingerprints),
            metrics: CanaryMetrics::new(registry),
        }
    }

    /// Fingerprints quarantined now, for `/status`.
    pub fn quarantined(&self) -> usize {
        self.memory.quarantined(Instant::now())
    }

    /// Decides for one request: `Err` refuses it (its payload is
    /// quarantined, or its fingerprint malformed); `Some` makes it the
    /// canary of its fingerprint; `None` fans it out at once. A request
    /// whose fingerprint has a canary out waits for it, the canary timeout
    /// at most; refused (DEADLINE_EXCEEDED, no leaf called) when its own
    /// `gather_deadline` comes first.
    ///
    /// Off (the policy off and the request not asking, nothing
    /// quarantined) this is a few branches: no hash, no lock.
    pub async fn admit(
        &self,
        policy: &Policy,
        payload: &Payload,
        gather_deadline: Instant,
    ) -> Result<Option<Ticket<'_>>, QueryError> {
        use scatter_proto::v1::Canary as Asked;
        let asked = Asked::try_from(policy.canary).unwrap_or(Asked::Unspecified);
        let always = asked == Asked::Always;
        let wants = match asked {
            Asked::Always => true,
            Asked::Never => false,
            Asked::Unspecified => self.config.enabled,
        };
        if !wants && self.memory.nothing_quarantined() {
            return fingerprint::check(policy).map(|()| None);
        }
        let fingerprint = Fingerprint::of(policy, payload)?;
        let canary_timeout = Instant::now() + self.config.timeout;
        let wait_until = gather_deadline.min(canary_timeout);
        loop {
            let now = Instant::now();
            let mut phase = match self.memory.look(fingerprint.key, wants, always, now) {
                Look::Refused(quarantine) => {
                    self.metrics.refused.inc();
                    return Err(refusal(&quarantine, now));
                }
                Look::FanOut => return Ok(None),
                Look::Canary(id) => {
                    return Ok(Some(Ticket {
                        out: Out {
                            canary: self,
                            key: fingerprint.key,
                            id,
                        },
                        fingerprint,
                        ended: false,
                    }));
                }
                Look::Wait(phase) => phase,
            };
            let ended = phase.wait_for(|p| *p != Phase::Running);
            match tokio::time::timeout_at(wait_until, ended).await {
                // As long as a canary may take: fan out, as its request does.
                Err(_) if wait_until == canary_timeout => return Ok(None),
                Err(_) => {
                    return Err(QueryError::CanaryWait {
                        fingerprint: fingerprint.to_string(),
                    });
                }
                Ok(Ok(phase)) if matches!(*phase, Phase::Slow | Phase::Passed) => return Ok(None),
                // Killed: the memory refuses it now; gone (the canary's
                // request ended without a verdict): decide afresh.
                Ok(_) => {}
            }
        }
    }
}

/// The refusal of a payload `quarantine` holds, at `now`.
fn refusal(quarantine: &Quarantine, now: Instant) -> QueryError {
    QueryError::Quarantined {
        fingerprint: quarantine.fingerprint.clone(),
        shard: quarantine.shard,
        replica: quarantine.replica.clone(),
        cause: quarantine.cause.clone(),
        ago: now.saturating_duration_since(quarantine.since),
        remaining: quarantine.until.saturating_duration_since(now),
    }
}

/// One request's right and duty to send its fingerprint's canary: what the
/// canary shows is remembered through it. Dropped unsettled (the request
/// ended first), the fingerprint is left as it was, and the requests
/// waiting for this canary decide afresh.
pub struct Ticket<'a> {
    out: Out<'a>,
    fingerprint: Fingerprint,
    ended: bool,
}

/// A canary out: where its news goes.
#[derive(Clone, Copy)]
struct Out<'a> {
    canary: &'a Canary,
    key: u64,
    id: u64,
}

impl Out<'_> {
    /// The canary leaves for its shard.
    fn sent(self) {
        self.canary.metrics.sent.inc();
    }

    /// The canary outlived the timeout: its request fans out, and the
    /// requests waiting for it may too.
    fn slow(self) {
        self.canary.metrics.slow.inc();
        self.canary.memory.publish(self.key, self.id, Phase::Slow);
    }
}

impl Ticket<'_> {
    /// The fingerprint this ticket is for.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// Remembers what the canary's shard ended with: a `death` quarantines
    /// the fingerprint (and is the refusal to answer with), an answer
    /// marks it seen; anything else (a leaf's own error, a timeout) says
    /// nothing of the payload, and the next request canaries again.
    fn settle(mut self, end: &ShardEnd, death: Option<&Death>) -> Option<QueryError> {
        self.ended = true;
        let Out { canary, key, id } = self.out;
        let now = Instant::now();
        if let Some(death) = death {
            canary.metrics.killed.inc();
            let quarantine = Quarantine {
                fingerprint: self.fingerprint.to_string(),
                shard: death.shard,
                replica: death.replica.clone(),
                cause: death.cause.clone(),
                since: now,
                until: now + canary.config.quarantine,
            };
            tracing::warn!(
                fingerprint = %quarantine.fingerprint,
                shard = death.shard,
                replica = %death.replica,
                cause = %death.cause,
                "canary killed its leaf: payload quarantined"
            );
            let refusal = refusal(&quarantine, now);
            canary.memory.quarantine(key, quarantine);
            canary.memory.end(key, id, Phase::Killed);
            return Some(refusal);
        }
        if matches!(end, ShardEnd::Answered) {
            canary.metrics.passed.inc();
            canary.memory.seen(key, now, canary.config.seen_for);
            canary.memory.end(key, id, Phase::Passed);
        } else {
            canary.metrics.inconclusive.inc();
            canary.memory.end(key, id, Phase::Running);
        }
        None
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.out
                .canary
                .memory
                .end(self.out.key, self.out.id, Phase::Running);
        }
    }
}

#[cfg(test)]
mod tests;
