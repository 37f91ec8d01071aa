//! What a leaf says before it answers, driven in paused time with the
//! in-memory leaves of the shard tests: a slow hint hedges at once (budget
//! permitting), a tied call's copy cancels the call still queued, and each
//! shard spends only its own share of hedges.

use std::time::Duration;

use super::shard::{Behaviour, Leaves, World, addr, answered_by};
use crate::topology::HedgeBudget;

/// Hints heard, a fixed hedge delay of 20 ms, replica 0 chosen first.
fn listening() -> World {
    let mut world = World::new(2);
    world.hints = true;
    world.make_first_choice(0);
    world
}

#[tokio::test(start_paused = true)]
async fn a_slow_hint_hedges_at_once_instead_of_after_the_delay() {
    let world = listening();
    let leaves = Leaves::new(&[Behaviour::Hint(500, None), Behaviour::Answer(5)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(1), 1), "the hedge answered");
    assert_eq!(at, 5, "hedged at 0 ms, on the hint, not at 20 ms");
    let seen = leaves.seen();
    assert_eq!((seen.len(), seen[1].at_ms), (2, 0));
    assert_eq!(
        seen[0].completed,
        Some(false),
        "the hinted call is cancelled"
    );
    assert_eq!(seen[0].ended_ms, Some(5), "when the hedge answered");
}

#[tokio::test(start_paused = true)]
async fn a_slow_hint_sends_no_hedge_when_the_budget_is_spent() {
    let mut world = listening();
    world.budget = HedgeBudget::new(0.0, 1.0);
    assert!(world.budget.try_withdraw_retry(), "spend the only token");
    let leaves = Leaves::new(&[Behaviour::Hint(80, None), Behaviour::Answer(5)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(0), 0));
    assert_eq!(at, 80, "no hedge, on the hint or after the delay");
    assert_eq!(leaves.seen().len(), 1);
    assert_eq!(world.shard.stats.budget_refusals.get(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hinted_call_expected_to_end_before_the_hedge_delay_is_not_hedged() {
    let world = listening();
    let leaves = Leaves::new(&[Behaviour::Hint(15, Some(15)), Behaviour::Answer(5)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!((answered_by(&outcome), at), ((addr(0), 0), 15));
    assert_eq!(leaves.seen().len(), 1, "no hedge was needed");
}

#[tokio::test(start_paused = true)]
async fn hints_go_unheard_when_the_root_does_not_listen() {
    let mut world = listening();
    world.hints = false;
    let leaves = Leaves::new(&[Behaviour::Hint(500, None), Behaviour::Answer(5)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(1), 1));
    assert_eq!(at, 25, "hedged after the 20 ms delay, as without hints");
}

/// Ties after 1 ms; hints off; replica 0 chosen first.
fn tied() -> World {
    let mut world = World::new(2);
    world.tied = Some(Duration::from_millis(1));
    world.make_first_choice(0);
    world
}

#[tokio::test(start_paused = true)]
async fn a_tied_copy_that_starts_first_cancels_the_call_still_queued() {
    let world = tied();
    let leaves = Leaves::new(&[Behaviour::Queue(100, 10), Behaviour::Queue(0, 10)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(1), 1), "the copy answered");
    assert_eq!(at, 11, "copied at 1 ms, started at once, worked 10 ms");
    let seen = leaves.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].completed, seen[0].started_ms, seen[0].ended_ms),
        (Some(false), None, Some(1)),
        "the queued call was cancelled as the copy started (at 1 ms, not at its \
         answer), before it started itself: no work done"
    );
    assert_eq!((seen[1].at_ms, seen[1].started_ms), (1, Some(1)));
    let counters = &world.shard.replicas[1].stats.counters;
    assert_eq!((counters.tied.get(), counters.hedges.get()), (1, 0));
    assert_eq!(
        world.shard.replicas[0].stats.counters.cancellations.get(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_that_starts_within_the_tie_delay_gets_no_copy() {
    let world = tied();
    let leaves = Leaves::new(&[Behaviour::Queue(0, 10), Behaviour::Queue(0, 10)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!((answered_by(&outcome), at), ((addr(0), 0), 10));
    assert_eq!(leaves.seen().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_replica_whose_tied_call_never_started_may_still_take_the_hedge() {
    let world = tied();
    // Replica 0 queues the first call for 100 ms; the copy starts at
    // replica 1 at once but straggles, so at 20 ms the hedge goes back to
    // replica 0, which had done no work for this request.
    let leaves = Leaves::new(&[Behaviour::Queue(100, 10), Behaviour::Queue(0, 500)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(answered_by(&outcome), (addr(0), 2), "the hedge answered");
    assert_eq!(at, 130, "hedged at 20 ms, queued 100 ms, worked 10 ms");
    let seen = leaves.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        (seen[2].replica.as_str(), seen[2].at_ms),
        (addr(0).as_str(), 20)
    );
    assert_eq!(
        seen[1].completed,
        Some(false),
        "the straggling copy is cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hot_shard_spends_its_own_budget_and_leaves_the_trees() {
    let mut world = World::new(2);
    world.hedge.shard_budget_ratio = 0.0;
    world.hedge.shard_budget_burst = 1.0;
    world.make_first_choice(0);
    let slow_first = [Behaviour::Answer(80), Behaviour::Answer(5)];

    let leaves = Leaves::new(&slow_first);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!((answered_by(&outcome), at), ((addr(1), 1), 25), "hedged");

    world.make_first_choice(0);
    let leaves = Leaves::new(&slow_first);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(
        (answered_by(&outcome), at),
        ((addr(0), 0), 80),
        "the shard's own bucket is empty: no second hedge"
    );
    assert_eq!(world.shard.stats.budget_refusals.get(), 1);
    assert!(
        world.budget.try_withdraw_hedge(),
        "the tree's budget still has tokens for other shards"
    );
}

#[tokio::test(start_paused = true)]
async fn a_tie_waits_for_the_shards_usual_time_to_start_when_longer_than_the_delay() {
    let world = tied();
    // This shard's calls usually take up to 5 ms to say they started.
    for _ in 0..64 {
        world
            .shard
            .stats
            .starts
            .record(Duration::from_millis(5), tokio::time::Instant::now());
    }
    let leaves = Leaves::new(&[Behaviour::Queue(3, 10), Behaviour::Queue(0, 10)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!(
        (answered_by(&outcome), at),
        ((addr(0), 0), 13),
        "started at 3 ms, within the usual 5 ms: no copy at 1 ms"
    );
    assert_eq!(leaves.seen().len(), 1);
}
