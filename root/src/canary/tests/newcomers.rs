//! Payloads that are not deadly: one canary round trip, then the fan-out;
//! how long the root waits for a canary, what a request may ask, and what
//! is no verdict.

use std::time::Duration;

use scatter_proto::v1::{Canary as Asked, Policy};
use tonic::Code;

use super::*;

#[tokio::test(start_paused = true)]
async fn an_unseen_benign_payload_costs_one_canary_round_trip_then_fans_out_and_is_seen_after() {
    let leaves = Leaves::new();
    let (fanout, registry) = fanout(&leaves, 3, 1, true, |_| {});

    let response = query(&fanout, "benign").await.unwrap();
    assert_eq!(answered(&response), 3);
    let seen = leaves.seen();
    assert_eq!(
        seen.len(),
        3,
        "the canary's shard is not asked again: {seen:?}"
    );
    assert_eq!(seen[0].at_ms, 0, "the canary alone first");
    assert!(
        seen[1..]
            .iter()
            .all(|s| s.at_ms == LEAF_MS && s.shard != seen[0].shard),
        "the other shards once it answered: {seen:?}"
    );
    assert_eq!(ms_since(leaves.start), 2 * LEAF_MS, "one extra round trip");

    let start = ms_since(leaves.start);
    let response = query(&fanout, "benign").await.unwrap();
    assert_eq!(answered(&response), 3);
    let seen = leaves.seen();
    assert!(
        seen[3..].iter().all(|s| s.at_ms == start),
        "seen: every shard at once: {seen:?}"
    );
    assert_eq!(metric(&registry, "scatter_root_canaries_sent_total"), 1);
    assert_eq!(outcomes(&registry, "passed"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_canary_slower_than_the_timeout_is_not_waited_for_past_it_and_is_remembered_when_it_answers()
 {
    let leaves = Leaves::new();
    let (fanout, registry) = fanout(&leaves, 3, 1, true, |_| {});

    let response = query(&fanout, "slow:300").await.unwrap();
    assert_eq!(answered(&response), 3);
    let seen = leaves.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen[1..].iter().all(|s| s.at_ms == 100),
        "fanned out at the 100 ms canary timeout: {seen:?}"
    );
    assert_eq!(ms_since(leaves.start), 400);
    assert_eq!(metric(&registry, "scatter_root_canaries_slow_total"), 1);

    let start = ms_since(leaves.start);
    query(&fanout, "slow:300").await.unwrap();
    assert!(
        leaves.seen()[3..].iter().all(|s| s.at_ms == start),
        "the slow canary answered: seen"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_may_ask_for_a_canary_always_or_never_whatever_the_policy() {
    let leaves = Leaves::new();
    let (off, _) = fanout(&leaves, 2, 1, false, |_| {});
    let always = || Policy {
        canary: Asked::Always as i32,
        ..Policy::default()
    };
    for _ in 0..2 {
        let start = ms_since(leaves.start);
        off.query(request("q", always()), None).await.unwrap();
        let seen = leaves.seen();
        assert_eq!(
            seen[seen.len() - 1].at_ms,
            start + LEAF_MS,
            "canaried, seen or not: {seen:?}"
        );
    }
    let start = ms_since(leaves.start);
    query(&off, "unseen").await.unwrap();
    assert!(
        leaves.seen().iter().rev().take(2).all(|s| s.at_ms == start),
        "the policy off: no canary"
    );

    let (on, _) = fanout(&leaves, 2, 1, true, |_| {});
    let never = Policy {
        canary: Asked::Never as i32,
        ..Policy::default()
    };
    let start = ms_since(leaves.start);
    on.query(request("fresh", never.clone()), None)
        .await
        .unwrap();
    assert!(
        leaves.seen().iter().rev().take(2).all(|s| s.at_ms == start),
        "never: no canary"
    );

    // A killer found by an asked-for canary is refused to every request.
    let calls = leaves.calls();
    off.query(request(DEADLY, always()), None)
        .await
        .unwrap_err();
    assert_eq!(leaves.calls(), calls + 1);
    let error = query(&off, DEADLY).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert_eq!(leaves.calls(), calls + 1);
    let never = Policy {
        canary: Asked::Never as i32,
        ..Policy::default()
    };
    let error = off.query(request(DEADLY, never), None).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert_eq!(leaves.calls(), calls + 1, "never still refused");
}

#[tokio::test(start_paused = true)]
async fn a_leaf_refusing_the_canary_is_no_death_the_request_goes_on_and_the_next_canaries_again() {
    let leaves = Leaves::new();
    let (fanout, registry) = fanout(&leaves, 3, 1, true, |_| {});
    let error = query(&fanout, REFUSED).await.unwrap_err();
    assert_eq!(
        error.code(),
        Code::InvalidArgument,
        "as without a canary: {error}"
    );
    assert_eq!(leaves.calls(), 3, "the other shards were asked");
    assert_eq!(leaves.dead(), 0);
    let start = ms_since(leaves.start);
    query(&fanout, REFUSED).await.unwrap_err();
    let seen = leaves.seen();
    assert_eq!(seen[4].at_ms, start + LEAF_MS, "canaried again: {seen:?}");
    assert_eq!(outcomes(&registry, "inconclusive"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_canary_whose_replica_is_already_down_is_retried_on_its_sibling_and_passes() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 2, 2, true, |_| {});
    // Both shards' replica 0 is down before the request: a refused
    // connection is not this payload's doing.
    for shard in 0..2 {
        leaves.dead.lock().unwrap().insert(addr(shard, 0));
    }
    let response = query(&fanout, "benign").await.unwrap();
    assert_eq!(answered(&response), 2);
    let start = ms_since(leaves.start);
    query(&fanout, "benign").await.unwrap();
    assert!(
        leaves.seen().iter().rev().take(2).all(|s| s.at_ms == start),
        "it passed: seen"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_waiting_for_a_canary_whose_request_went_away_sends_its_own() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 2, 1, true, |_| {});
    let first = tokio::time::timeout(Duration::from_millis(5), query(&fanout, "slow:50"));
    let second = async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        query(&fanout, "slow:50").await
    };
    let (first, second) = tokio::join!(first, second);
    assert!(first.is_err(), "the first request was dropped at 5 ms");
    assert_eq!(answered(&second.unwrap()), 2);
    let at: Vec<u64> = leaves.seen().iter().map(|s| s.at_ms).collect();
    assert_eq!(
        at,
        vec![0, 5, 55],
        "its own canary at 5 ms, then the other shard"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_deadline_comes_before_its_canarys_verdict_calls_no_other_shard() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 3, 1, true, |_| {});
    let short = Duration::from_millis(50);
    let error = fanout
        .query(request("slow:80", Policy::default()), Some(short))
        .await
        .unwrap_err();
    assert_eq!(leaves.calls(), 1, "the canary only");
    let message = error.to_string();
    assert!(message.contains("0/3 shards answered"), "{message}");
    assert_eq!(
        message.matches("not called").count(),
        2,
        "the others are reported, not called: {message}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_whose_deadline_comes_while_it_waits_for_anothers_canary_is_refused_uncalled() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 2, 1, true, |_| {});
    let patient = query(&fanout, "slow:60");
    let hasty = async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        let short = Duration::from_millis(30);
        fanout
            .query(request("slow:60", Policy::default()), Some(short))
            .await
    };
    let (patient, hasty) = tokio::join!(patient, hasty);
    assert_eq!(answered(&patient.unwrap()), 2);
    let error = hasty.unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error}");
    assert!(
        error.to_string().contains("waited for the canary"),
        "{error}"
    );
    assert_eq!(leaves.calls(), 2, "the patient request's calls only");
}
