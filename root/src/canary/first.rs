//! Sending a request's canary: one shard, through the watched leaf stack,
//! with no hedge, no tied copy and no retry after a broken connection; then waiting for
//! it until the canary timeout at most.
//!
//! The shard is chosen by the fingerprint — the first shard from
//! `key % shards` on with a replica that takes work — so one payload's
//! canaries go to one shard (a killer returning after its quarantine hits
//! the shard it hit before), while different payloads spread over all.

use std::sync::{Arc, OnceLock};

use futures::FutureExt as _;
use futures::future::{Either, ready};
use scatter_proto::v1::Payload;
use tokio::time::Instant;
use tonic::Status;
use tower::Service;

use super::Ticket;
use super::leaf::watched;
use crate::error::QueryError;
use crate::fanout::shard::{self, ShardOutcome};
use crate::fanout::{Hedging, LeafCall, ShardPlan};
use crate::topology::Shard;

/// Sends `ticket`'s canary to one of `shards`, its plan made by `plan`
/// (given the shard's index) with hedging off, through `leaf`, and waits
/// for it until the canary timeout, or the plan's gather deadline when
/// that comes first.
///
/// `Err` is the refusal to answer with: the canary killed its leaf (the
/// fingerprint is quarantined by then). `Ok(Some(sent))` is what the
/// canary left for the gather. `Ok(None)`: no shard has a replica that
/// takes work, so no canary went out.
pub async fn send_first<'a, S, P>(
    ticket: Ticket<'a>,
    shards: &'a [Shard],
    plan: P,
    leaf: &S,
) -> Result<Option<Sent<impl Future<Output = ShardOutcome> + use<'a, S, P>>>, QueryError>
where
    S: Service<LeafCall, Response = Payload, Error = Status, Future: Send> + Clone + Send + 'a,
    P: FnOnce(usize) -> ShardPlan<'a>,
{
    let Some(index) = shard_for(ticket.fingerprint().key, shards) else {
        return Ok(None);
    };
    // No second call of any kind: a hedge, a hint's hedge or a tied copy
    // of a killer would kill a second leaf.
    let plan = ShardPlan {
        hedging: Hedging::Off,
        hints: false,
        tied: None,
        ..plan(index)
    };
    let out = ticket.out;
    out.sent();
    let gather_deadline = plan.gather_deadline;
    let wait_until = gather_deadline.min(Instant::now() + out.canary.config.timeout);
    let death = Arc::new(OnceLock::new());
    let leaf = watched(leaf, Arc::clone(&death));
    let mut running = Box::pin(async move {
        let outcome = shard::run(plan, index, leaf).await;
        let refusal = ticket.settle(&outcome.end, death.get());
        (outcome, refusal)
    });
    // Out of time, the other shards could not answer: calling them would
    // only risk them, should the payload be deadly.
    let in_time = || Instant::now() < gather_deadline;
    tokio::select! {
        biased;
        (outcome, refusal) = &mut running => match refusal {
            Some(refusal) => Err(refusal),
            None => Ok(Some(Sent {
                shard: index,
                outcome: Either::Left(ready(outcome)),
                fan_out: in_time(),
            })),
        },
        () = tokio::time::sleep_until(wait_until) => {
            let fan_out = in_time();
            if fan_out {
                out.slow();
            }
            Ok(Some(Sent {
                shard: index,
                outcome: Either::Right(running.map(|(outcome, _)| outcome)),
                fan_out,
            }))
        }
    }
}

/// What a canary left for its request's gather.
pub struct Sent<F> {
    /// The canary's shard.
    pub shard: usize,
    /// Its outcome: ready when the canary answered or failed in time,
    /// still coming (and remembered when it ends) when it was slow.
    pub outcome: F,
    /// Whether the other shards are called: not when the request's gather
    /// deadline came before the canary's verdict.
    pub fan_out: bool,
}

/// The canary's shard for fingerprint `key`: the first from `key % len` on
/// with a replica that takes work.
fn shard_for(key: u64, shards: &[Shard]) -> Option<usize> {
    let len = shards.len();
    let start = usize::try_from(key % u64::try_from(len.max(1)).ok()?).ok()?;
    (0..len).map(|i| (start + i) % len).find(|&i| {
        shards[i]
            .replicas
            .iter()
            .any(|r| r.stats.health.takes_work())
    })
}
