//! `scatter.v1.Root/QueryStream` across real processes: the client sees
//! coverage (and, with a linked-in merge, the merged snapshot) grow while
//! the slowest shard is still working, the last update is exactly what
//! `Query` answers, a client that stops reading cancels the leaf calls
//! still out, the request's policy and input checks apply as for `Query`,
//! and `scatter query --stream` prints it all.

use std::time::Duration;

use futures::future::join_all;
use scatter_proto::v1::{
    ConcatResult, Coverage, QueryProgress, QueryResponse, QueryUpdate, ShardOutcome,
};
use scatter_tests::root::{
    StreamEnd, assert_full_coverage, coverage, done, missing, outcome, progress,
};
use scatter_tests::{LeafFlags, MergedResult, Query, Root, Script, Server, Tree, binary};
use tonic::{Code, Streaming};
use tonic_prost::prost::Message as _;

const IN_FLIGHT: &str = "scatter_leaf_in_flight";
const LEAF_OK: &str = r#"scatter_leaf_calls_total{outcome="ok"}"#;
const CANCELLED: &str = r#"scatter_leaf_calls_total{outcome="cancelled"}"#;
const ROOT_IN_FLIGHT: &str = "scatter_root_requests_in_flight";

/// Test leaves for `shards` shards and a root over them merging with the
/// built-in concat, which is linked into the root and gives snapshots.
async fn concat_tree(shards: u32) -> (Vec<Server>, Root) {
    let leaves = join_all((0..shards).map(|s| LeafFlags::new(s, shards).start())).await;
    let addrs: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    let root = Root::start(&addrs, "builtin:concat", &[]).await;
    (leaves, root)
}

/// The progress updates of `stream`, in order; every update but a last
/// `done` must be one.
fn progress_before_done(stream: &StreamEnd) -> Vec<&QueryProgress> {
    let updates = match stream.updates.split_last() {
        Some((last, rest)) if done(last).is_some() => rest,
        _ => &stream.updates[..],
    };
    updates
        .iter()
        .map(|u| progress(u).unwrap_or_else(|| panic!("not a progress update: {u:?}")))
        .collect()
}

/// The final answer of a stream that ended well.
fn final_answer(stream: &StreamEnd) -> &QueryResponse {
    assert!(stream.end.is_ok(), "the stream failed: {stream:?}");
    stream
        .updates
        .last()
        .and_then(done)
        .unwrap_or_else(|| panic!("the last update is not `done`: {stream:?}"))
}

fn progress_coverage(update: &QueryProgress) -> &Coverage {
    update
        .coverage
        .as_ref()
        .expect("every progress update carries coverage")
}

/// Shards that ended so far, whatever their outcome.
fn ended(c: &Coverage) -> u32 {
    c.answered + c.failed + c.timed_out + c.skipped
}

/// The shards in a concat result or snapshot, in its order.
fn concat_shards(payload: &scatter_proto::v1::Payload) -> Vec<u32> {
    ConcatResult::decode(payload.body.clone())
        .expect("a concat result")
        .partials
        .iter()
        .map(|p| p.shard)
        .collect()
}

/// Three test leaves, shard 2 answering after `slow_ms`, and an open
/// `QueryStream` of that request.
async fn stream_with_slow_shard_2(slow_ms: u64) -> (Tree, Streaming<QueryUpdate>) {
    let tree = Tree::start(3, &[]).await;
    let script = Script::new().delay(2, slow_ms);
    let updates = tree
        .root
        .query_stream(Query::script(&script).deadline(Duration::from_secs(10)))
        .await
        .expect("the stream opens");
    (tree, updates)
}

#[tokio::test]
async fn progress_with_two_shards_answered_arrives_while_the_slow_shard_still_runs() {
    let (tree, mut updates) = stream_with_slow_shard_2(3_000).await;

    for answered in 1..=2 {
        let update = updates
            .message()
            .await
            .expect("the stream goes on")
            .expect("a progress update");
        let c = progress_coverage(progress(&update).expect("a progress update"));
        assert_eq!((c.total, c.answered), (3, answered), "{c:?}");
        assert!(c.missing.is_empty(), "{c:?}");
    }
    // Two shards are in, and the slow leaf is observed still working on
    // its call (it answers after 3 s).
    tree.leaves[2]
        .wait_metric(IN_FLIGHT, 1.0, Duration::from_secs(2))
        .await;
    assert_eq!(tree.leaves[2].metric(LEAF_OK).await.unwrap_or(0.0), 0.0);

    let rest = StreamEnd::read(updates).await;
    let last_progress = progress_before_done(&rest);
    assert_eq!(last_progress.len(), 1, "{rest:?}");
    assert_eq!(progress_coverage(last_progress[0]).answered, 3);
    let answer = final_answer(&rest);
    assert_full_coverage(answer, 3);
    let merged = MergedResult::from_payload(answer.result.as_ref().expect("a result"));
    assert_eq!(
        merged.partials.last().map(|p| p.shard),
        Some(2),
        "the slow shard's partial reached the merge last: {merged:?}"
    );
}

#[tokio::test]
async fn done_is_exactly_what_query_answers_for_the_same_request() {
    let (_leaves, root) = concat_tree(3).await;
    let script = Script::new()
        .fail(1, "internal", "shard 1 is broken")
        .delay(2, 200)
        .partial("same bytes");
    let query = Query::script(&script).deadline(Duration::from_secs(5));

    let unary = root.query(query.clone()).await.expect("a partial answer");
    let stream = root.query_stream_to_end(query).await;
    let last = final_answer(&stream);

    assert_eq!(last.result, unary.result, "the same merged result");
    assert_eq!(last.coverage, unary.coverage, "the same coverage");
    let c = coverage(last);
    assert_eq!((c.answered, c.failed), (2, 1), "{c:?}");
    assert_eq!(missing(c, 1).message, "shard 1 is broken");
    // Every update names the request the final answer names.
    assert!(
        stream
            .updates
            .iter()
            .all(|u| u.request_id == last.request_id),
        "{stream:?}"
    );
}

#[tokio::test]
async fn client_dropping_the_stream_after_the_first_progress_cancels_the_slow_leaf_call() {
    let (tree, mut updates) = stream_with_slow_shard_2(5_000).await;
    let first = updates
        .message()
        .await
        .expect("the stream goes on")
        .expect("a first update");
    assert!(progress(&first).is_some(), "{first:?}");

    drop(updates);
    tree.leaves[2]
        .wait_metric(CANCELLED, 1.0, Duration::from_secs(3))
        .await;
    assert_eq!(tree.leaves[2].metric(IN_FLIGHT).await, Some(0.0));
    tree.root
        .server
        .wait_metric(ROOT_IN_FLIGHT, 0.0, Duration::from_secs(3))
        .await;
}

#[tokio::test]
async fn a_merge_process_whose_fold_has_no_snapshot_streams_every_shard_end_with_coverage_only() {
    let tree = Tree::start(3, &[]).await;
    let script = Script::new()
        .fail(1, "internal", "shard 1 is broken")
        .delay(2, 200);
    let stream = tree
        .root
        .query_stream_to_end(Query::script(&script).deadline(Duration::from_secs(5)))
        .await;

    let updates = progress_before_done(&stream);
    assert_eq!(updates.len(), 3, "one update per shard end: {stream:?}");
    for (n, update) in (1..).zip(&updates) {
        assert!(
            update.snapshot.is_none(),
            "the test merge's fold gives no snapshot"
        );
        assert_eq!(ended(progress_coverage(update)), n, "{update:?}");
    }
    let last = progress_coverage(updates[2]);
    assert_eq!((last.answered, last.failed), (2, 1), "{last:?}");
    let answer = final_answer(&stream);
    assert_eq!(coverage(answer), last, "done reports the last picture");
}

#[tokio::test]
async fn linked_in_concat_snapshots_grow_shard_by_shard() {
    let (_leaves, root) = concat_tree(3).await;
    let script = Script::new().delay(1, 300).delay(2, 600);
    let stream = root
        .query_stream_to_end(Query::script(&script).deadline(Duration::from_secs(5)))
        .await;
    let answer = final_answer(&stream);
    assert_full_coverage(answer, 3);

    let updates = progress_before_done(&stream);
    let sizes: Vec<usize> = updates
        .iter()
        .map(|u| {
            let snapshot = u.snapshot.as_ref().expect("concat gives a snapshot");
            let shards = concat_shards(snapshot);
            let answered = progress_coverage(u).answered as usize;
            assert!(
                shards.len() <= answered,
                "a snapshot holds only answered shards: {shards:?} vs {u:?}"
            );
            shards.len()
        })
        .collect();
    assert!(sizes.len() >= 2, "the first shards' snapshots: {stream:?}");
    assert!(
        sizes.windows(2).all(|w| w[0] < w[1]) && sizes[0] == 1,
        "each snapshot holds one more partial: {sizes:?}"
    );
    let all = concat_shards(answer.result.as_ref().expect("a result"));
    assert_eq!(all, vec![0, 1, 2]);
}

#[tokio::test]
async fn linked_in_concat_reports_every_answered_shard_in_progress_before_done() {
    // root.proto: one progress update each time a shard ends, then done.
    // With a merge that gives snapshots, an answered shard is reported only
    // with its snapshot, so the last shard's update must not be lost when
    // the gather ends before its snapshot is read.
    let (_leaves, root) = concat_tree(3).await;
    let script = Script::new().delay(1, 300).delay(2, 600);
    let stream = root
        .query_stream_to_end(Query::script(&script).deadline(Duration::from_secs(5)))
        .await;
    let answer = final_answer(&stream);
    let updates = progress_before_done(&stream);
    let answered: Vec<u32> = updates
        .iter()
        .map(|u| progress_coverage(u).answered)
        .collect();
    assert_eq!(
        answered,
        vec![1, 2, 3],
        "a progress update per answered shard: {stream:?}"
    );
    let last_snapshot = updates[2].snapshot.as_ref().expect("a snapshot");
    assert_eq!(
        Some(last_snapshot),
        answer.result.as_ref(),
        "with every shard in, the snapshot is the final result"
    );
}

#[tokio::test]
async fn stream_requiring_all_shards_ends_unavailable_after_its_progress_when_one_fails() {
    let tree = Tree::start(3, &[]).await;
    let script = Script::new().fail(1, "internal", "shard 1 is broken");
    let query = Query::script(&script)
        .require_all_shards()
        .deadline(Duration::from_secs(5));
    let stream = tree.root.query_stream_to_end(query).await;

    let status = stream.end.as_ref().expect_err("all shards were required");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("shard 1"), "{status:?}");
    assert!(
        stream.updates.iter().all(|u| done(u).is_none()),
        "no final answer: {stream:?}"
    );
    let updates = progress_before_done(&stream);
    assert_eq!(updates.len(), 3, "every shard end came first: {stream:?}");
    let last = progress_coverage(updates[2]);
    let shard = missing(last, 1);
    assert_eq!(outcome(shard), ShardOutcome::Failed, "{shard:?}");
    assert_eq!(shard.message, "shard 1 is broken");
}

#[tokio::test]
async fn stream_without_a_payload_is_refused_with_invalid_argument_and_no_update() {
    let tree = Tree::start(2, &[]).await;
    let stream = tree
        .root
        .query_stream_to_end(Query::without_payload())
        .await;
    let status = stream.end.as_ref().expect_err("no payload");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(stream.updates.is_empty(), "{stream:?}");
    assert_eq!(tree.leaves[0].metric(LEAF_OK).await.unwrap_or(0.0), 0.0);
}

/// Runs `scatter query --stream` against `root` with `script` as the
/// payload, plus `flags`; returns its exit success, stdout and stderr.
async fn scatter_query_stream(
    root: &Root,
    script: &Script,
    flags: &[&str],
) -> (bool, String, String) {
    let body = String::from_utf8(script.payload().body.to_vec()).expect("a script is text");
    let uri = root.server.uri();
    let mut args = vec![
        "query",
        "--stream",
        "--addr",
        &uri,
        "--deadline-ms",
        "5000",
        "--content-type",
        "application/json",
    ];
    args.extend(flags);
    args.push(&body);
    let query = tokio::process::Command::new(binary("scatter"))
        .args(&args)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(15), query)
        .await
        .expect("scatter query finishes")
        .expect("scatter query runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Where `needle` starts in `text`.
///
/// # Panics
/// When it is not there.
fn position(text: &str, needle: &str) -> usize {
    text.find(needle)
        .unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"))
}

#[tokio::test]
async fn scatter_query_stream_prints_a_line_per_shard_then_done_the_result_and_coverage() {
    let tree = Tree::start(3, &[]).await;
    let script = Script::new().delay(2, 200).partial("from the cli");
    let (ok, stdout, stderr) = scatter_query_stream(&tree.root, &script, &[]).await;
    assert!(ok, "scatter query --stream failed:\n{stdout}{stderr}");

    let order = [
        "1/3 shards ended, 1 answered",
        "2/3 shards ended, 2 answered",
        "3/3 shards ended, 3 answered",
        "] done",
        "\"text\": \"from the cli\"",
        "coverage: 3/3 answered",
    ]
    .map(|line| position(&stdout, line));
    assert!(order.is_sorted(), "out of order {order:?}:\n{stdout}");
}

#[tokio::test]
async fn scatter_query_stream_exits_non_zero_naming_the_missing_shard_when_all_are_required() {
    let tree = Tree::start(3, &[]).await;
    let script = Script::new().fail(1, "internal", "shard 1 is broken");
    let (ok, stdout, stderr) = scatter_query_stream(&tree.root, &script, &["--require-all"]).await;
    assert!(!ok, "all shards were required:\n{stdout}");
    position(&stdout, "3/3 shards ended, 2 answered");
    assert!(!stdout.contains("] done"), "{stdout}");
    position(&stderr, "error: Unavailable");
    position(&stderr, "shard 1");
}
