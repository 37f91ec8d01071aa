//! A hedge refused for now — no token in the budget, the sibling queueing —
//! asks again one hedge delay later, then after two, four… delays, so a
//! straggler met during a burst of refusals is still hedged once the burst
//! passes, and a long burst costs a shard a handful of asks; the refusal
//! is counted once.

use std::time::Duration;

use super::shard::{Behaviour, Leaves, World, addr, answered_by, make_queueing};
use crate::topology::HedgeBudget;

/// A first call that straggles (500 ms) on replica 0, a sibling that
/// answers in 5 ms; the hedge delay is a fixed 20 ms.
fn straggler() -> (World, Leaves) {
    let world = World::new(2);
    world.make_first_choice(0);
    let leaves = Leaves::new(&[Behaviour::Answer(500), Behaviour::Answer(5)]);
    (world, leaves)
}

/// Runs the straggler with the budget spent (half a token per first call:
/// this shard's own deposit is not enough) until, at `token_at_ms`,
/// another request's first call pays in a token.
async fn with_a_token_back_at(token_at_ms: u64) -> (World, Leaves, u64) {
    let (mut world, leaves) = straggler();
    world.budget = HedgeBudget::new(0.5, 10.0);
    while world.budget.try_withdraw_hedge() {}
    let ((outcome, at), ()) = tokio::join!(world.run(&leaves), async {
        tokio::time::sleep(Duration::from_millis(token_at_ms)).await;
        world.budget.deposit();
    });
    assert_eq!(answered_by(&outcome), (addr(1), 1), "the hedge answered");
    (world, leaves, at)
}

#[tokio::test(start_paused = true)]
async fn a_hedge_the_budget_refused_goes_one_delay_later_once_a_token_is_back() {
    let (world, leaves, at) = with_a_token_back_at(30).await;
    assert_eq!(
        at, 45,
        "refused at 20 ms, sent at 40 ms, answered 5 ms later"
    );
    assert_eq!(leaves.seen()[1].at_ms, 40);
    assert_eq!(world.shard.stats.budget_refusals.get(), 1, "counted once");
}

#[tokio::test(start_paused = true)]
async fn a_hedge_refused_while_the_sibling_queued_goes_once_its_queue_drained() {
    let (world, leaves) = straggler();
    let sibling = &world.shard.replicas[1].stats;
    make_queueing(sibling);
    let ((outcome, at), ()) = tokio::join!(world.run(&leaves), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        sibling.ended();
    });
    assert!(!sibling.queueing());
    assert_eq!(answered_by(&outcome), (addr(1), 1));
    assert_eq!(
        at, 85,
        "refused at 20 and 40 ms, asked again 40 ms later (the wait doubles), sent at 80 ms"
    );
    assert_eq!(world.shard.stats.load_refusals.get(), 1, "counted once");
}

#[tokio::test(start_paused = true)]
async fn a_refused_hedge_waits_twice_as_long_before_each_new_ask() {
    let (world, leaves, at) = with_a_token_back_at(100).await;
    // Asks at 20, 40 and 80 ms find no token; the one at 100 ms is paid
    // in, and the next ask, at 160 ms, finds it.
    assert_eq!(leaves.seen()[1].at_ms, 160);
    assert_eq!(at, 165);
    assert_eq!(world.shard.stats.budget_refusals.get(), 1, "counted once");
}

#[tokio::test(start_paused = true)]
async fn a_hedge_refused_all_along_never_goes_and_the_first_call_ends_the_shard() {
    let (mut world, _) = straggler();
    world.budget = HedgeBudget::new(0.0, 10.0);
    while world.budget.try_withdraw_hedge() {}
    let leaves = Leaves::new(&[Behaviour::Answer(90), Behaviour::Answer(5)]);
    let (outcome, at) = world.run(&leaves).await;
    assert_eq!((answered_by(&outcome), at), ((addr(0), 0), 90));
    assert_eq!(leaves.seen().len(), 1, "no hedge ever went");
    assert_eq!(world.shard.stats.budget_refusals.get(), 1);
}
