//! The gather of one request: every shard's future starts at once, and the
//! gather is the stream of their events in the order they happen — a
//! partial the moment it arrives, then its shard's end. It ends when every
//! shard has ended; each shard ends by the gather deadline at the latest.
//! Dropping the stream drops every shard future, which cancels every leaf
//! call still out.
//!
//! [`gather_after`] is the gather of a request whose canary went first:
//! the canary's shard is an outcome already there or a future already
//! running, and the other shards start now.

use futures::stream::{self, FuturesUnordered, Stream, StreamExt as _};
use scatter_proto::v1::Payload;
use tonic::Status;
use tower::Service;

use super::event::GatherEvent;
use super::leaf_call::LeafCall;
use super::shard::{self, ShardOutcome, ShardPlan};

/// The events of one request's gather over `plans` (one per shard, in
/// shard order), each shard's attempts going through `leaf`.
pub fn gather<'a, S, P>(plans: P, leaf: &S) -> impl Stream<Item = GatherEvent> + use<'a, S, P>
where
    S: Service<LeafCall, Response = Payload, Error = Status> + Clone + 'a,
    P: IntoIterator<Item = ShardPlan<'a>>,
{
    let shards: FuturesUnordered<_> = plans
        .into_iter()
        .enumerate()
        .map(|(index, plan)| shard::run(plan, index, leaf.clone()))
        .collect();
    shards.flat_map(|outcome| stream::iter(events(outcome)))
}

/// The events of a gather whose `first` shard's outcome (ready, or still
/// coming) is in hand: the other shards, `(index, plan)` each, start now.
pub fn gather_after<'a, S, P, F>(
    first: F,
    plans: P,
    leaf: &S,
) -> impl Stream<Item = GatherEvent> + use<'a, S, P, F>
where
    S: Service<LeafCall, Response = Payload, Error = Status> + Clone + 'a,
    P: IntoIterator<Item = (usize, ShardPlan<'a>)>,
    F: Future<Output = ShardOutcome>,
{
    let shards: FuturesUnordered<_> = plans
        .into_iter()
        .map(|(index, plan)| shard::run(plan, index, leaf.clone()))
        .collect();
    stream::select(shards, stream::once(first)).flat_map(|outcome| stream::iter(events(outcome)))
}

/// A shard's outcome as its events: the partial first, when there is one.
fn events(outcome: ShardOutcome) -> impl Iterator<Item = GatherEvent> {
    let ShardOutcome { shard, end, answer } = outcome;
    let partial = answer.map(|a| GatherEvent::Partial {
        shard,
        replica: a.replica,
        attempt: a.attempt,
        partial: a.partial,
    });
    partial
        .into_iter()
        .chain(std::iter::once(GatherEvent::ShardEnded { shard, end }))
}
