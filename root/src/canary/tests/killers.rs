//! Queries of death: a canary that kills its leaf stops its request and
//! quarantines its payload; what the quarantine refuses, for how long, and
//! within what memory.

use std::time::Duration;

use scatter_proto::v1::Policy;
use tonic::Code;

use super::*;

#[tokio::test(start_paused = true)]
async fn a_payload_that_kills_its_canary_leaf_is_not_fanned_out_and_its_twin_is_refused_without_a_leaf_call()
 {
    let leaves = Leaves::new();
    let (fanout, registry) = fanout(&leaves, 3, 2, true, |_| {});

    let error = query(&fanout, DEADLY).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error}");
    let seen = leaves.seen();
    assert_eq!(seen.len(), 1, "one leaf only, no retry: {seen:?}");
    assert_eq!(leaves.dead(), 1);
    let message = error.to_string();
    for part in [
        "payload content ",
        "query of death",
        &format!("shard {}", seen[0].shard),
        &seen[0].replica,
        "connection broke",
        "sent to no other shard",
        "300.0 s more",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }

    tokio::time::advance(Duration::from_secs(60)).await;
    let again = query(&fanout, DEADLY).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.to_string().contains("240.0 s more"), "{again}");
    assert!(again.to_string().contains("60.0 s ago"), "{again}");
    assert_eq!(leaves.calls(), 1, "refused without touching a leaf");
    assert_eq!(outcomes(&registry, "killed"), 1);
    assert_eq!(metric(&registry, "scatter_root_canary_refusals_total"), 1);
    assert_eq!(fanout.engine().canary.quarantined(), 1);

    let other = query(&fanout, "benign").await.unwrap();
    assert_eq!(
        answered(&other),
        3,
        "other payloads still reach every shard"
    );
}

#[tokio::test(start_paused = true)]
async fn a_quarantine_ends_after_its_period_and_the_payload_is_canaried_again() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 2, 1, true, |config| {
        config.canary.quarantine = Duration::from_secs(30);
    });
    query(&fanout, DEADLY).await.unwrap_err();
    tokio::time::advance(Duration::from_secs(30) - Duration::from_millis(1)).await;
    let error = query(&fanout, DEADLY).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert_eq!(leaves.calls(), 1);

    // The leaves were fixed meanwhile: the payload is no longer deadly.
    *leaves.deadly.lock().unwrap() = false;
    tokio::time::advance(Duration::from_millis(1)).await;
    let response = query(&fanout, DEADLY).await.unwrap();
    // The canary went to the shard it chose before, whose leaf is still
    // dead (a refused connection: no death of this payload's doing); then
    // the other shard was asked.
    assert_eq!(answered(&response), 1, "the killed leaf stays dead");
    assert_eq!(leaves.calls(), 2);
    assert_eq!(fanout.engine().canary.quarantined(), 0);
}

#[tokio::test(start_paused = true)]
async fn memory_is_bounded_the_oldest_seen_is_forgotten_first_and_a_flood_of_seen_keeps_the_quarantine()
 {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 2, 2, true, |config| {
        config.canary.max_fingerprints = 2;
    });
    query(&fanout, DEADLY).await.unwrap_err();
    for body in ["a", "b", "c"] {
        query(&fanout, body).await.unwrap();
    }
    assert_eq!(fanout.engine().canary.memory.seen_len(), 2);
    let calls = leaves.calls();
    query(&fanout, "c").await.unwrap();
    assert_eq!(
        leaves.calls() - calls,
        2,
        "c is seen: straight to both shards"
    );
    let start = ms_since(leaves.start);
    query(&fanout, "a").await.unwrap();
    let seen = leaves.seen();
    assert_eq!(
        seen[seen.len() - 1].at_ms,
        start + LEAF_MS,
        "a was forgotten: canaried again"
    );
    let error = query(&fanout, DEADLY).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "still quarantined");
}

#[tokio::test(start_paused = true)]
async fn a_client_fingerprint_names_the_kind_so_one_killer_quarantines_its_siblings() {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 2, 1, true, |_| {});
    let kind = || Policy {
        fingerprint: "report-by-region".into(),
        ..Policy::default()
    };
    fanout
        .query(request(DEADLY, kind()), None)
        .await
        .unwrap_err();
    let error = fanout
        .query(request("another region", kind()), None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition);
    assert!(
        error.to_string().contains("payload \"report-by-region\""),
        "{error}"
    );
    assert_eq!(leaves.calls(), 1);

    let long = Policy {
        fingerprint: "x".repeat(300),
        ..Policy::default()
    };
    let error = fanout.query(request("q", long), None).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument, "{error}");
    assert_eq!(leaves.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn identical_requests_arriving_while_a_canary_is_out_wait_for_it_so_a_burst_of_a_killer_costs_one_leaf()
 {
    let leaves = Leaves::new();
    let (fanout, _) = fanout(&leaves, 3, 2, true, |_| {});
    let burst = (0..5).map(|_| query(&fanout, DEADLY));
    let results = futures::future::join_all(burst).await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().unwrap_err().code() == Code::FailedPrecondition),
        "every one refused"
    );
    assert_eq!((leaves.calls(), leaves.dead()), (1, 1));

    let burst = (0..5).map(|_| query(&fanout, "benign"));
    let results = futures::future::join_all(burst).await;
    assert!(results.iter().all(|r| answered(r.as_ref().unwrap()) == 3));
    assert_eq!(
        leaves.calls(),
        1 + (1 + 2 + 4 * 3),
        "the killer's canary; one canary, then its request's two other shards and four fan-outs"
    );
}

#[tokio::test(start_paused = true)]
async fn a_killer_slower_than_the_canary_timeout_is_fanned_out_but_quarantined_once_its_canary_dies()
 {
    let leaves = Leaves::new();
    let (fanout, registry) = fanout(&leaves, 3, 1, true, |_| {});
    let error = query(&fanout, "slow:300 deadly").await.unwrap_err();
    assert_eq!(
        error.code(),
        Code::Unavailable,
        "every shard's leaf died: {error}"
    );
    assert_eq!(leaves.dead(), 3, "the trade of the timeout: the fleet");
    let error = query(&fanout, "slow:300 deadly").await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error}");
    assert_eq!(leaves.calls(), 3);
    assert_eq!(outcomes(&registry, "killed"), 1);
}
