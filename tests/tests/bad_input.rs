//! Bad requests, a bad leaf, a failing or missing merge and overload each get
//! a status a client can act on — and the root keeps answering good queries.

use std::time::{Duration, Instant};

use bytes::Bytes;

use scatter_proto::v1::{Payload, ShardOutcome};
use scatter_tests::root::{assert_full_coverage, coverage, missing, outcome};
use scatter_tests::tree::test_merge;
use scatter_tests::{LeafFlags, Query, Root, Script, Tree, free_port, raw};
use tonic::Code;

const IN_FLIGHT: &str = "scatter_leaf_in_flight";
const ROOT_IN_FLIGHT: &str = "scatter_root_requests_in_flight";
// Refused before the policy was read, a request's priority is "unknown".
const INVALID_ARGUMENT: &str =
    r#"scatter_root_requests_total{code="InvalidArgument",priority="unknown"}"#;
const INTERNAL: &str = r#"scatter_root_requests_total{code="Internal",priority="normal"}"#;
const RESOURCE_EXHAUSTED: &str =
    r#"scatter_root_requests_total{code="ResourceExhausted",priority="unknown"}"#;

/// A query every shard answers.
fn good() -> Query {
    Query::script(&Script::new())
}

async fn assert_still_answers_fully(root: &Root, shards: u32) {
    let response = root.query(good()).await.expect("a good query is answered");
    assert_full_coverage(&response, shards);
}

#[tokio::test]
async fn request_without_payload_is_invalid_argument() {
    let tree = Tree::start(2, &[]).await;
    let status = tree
        .root
        .query(Query::without_payload())
        .await
        .expect_err("no payload");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("payload"), "{status:?}");
    assert_still_answers_fully(&tree.root, 2).await;
}

#[tokio::test]
async fn min_coverage_outside_zero_to_one_is_invalid_argument() {
    let tree = Tree::start(2, &[]).await;
    let status = tree
        .root
        .query(good().min_coverage(1.5))
        .await
        .expect_err("1.5 is not a fraction");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("min_coverage"), "{status:?}");
    assert_still_answers_fully(&tree.root, 2).await;
}

#[tokio::test]
async fn body_that_is_not_protobuf_is_invalid_argument_and_counted() {
    let tree = Tree::start(2, &[]).await;
    // A varint that never ends: no protobuf message starts like this.
    let not_protobuf = Bytes::from_static(&[0xff; 11]);
    for path in ["/scatter.v1.Root/Query", "/scatter.v1.Root/QueryStream"] {
        let channel = tree.root.server.channel().await;
        let status = raw::call(channel, path, not_protobuf.clone())
            .await
            .expect_err("not a QueryRequest");
        assert_eq!(status.code(), Code::InvalidArgument, "{path}: {status:?}");
        assert!(
            status.message().contains("not a valid protobuf"),
            "{path}: {status:?}"
        );
    }
    let counted = tree.root.server.metric(INVALID_ARGUMENT).await;
    assert_eq!(counted, Some(2.0), "{INVALID_ARGUMENT}");
    assert_still_answers_fully(&tree.root, 2).await;
}

#[tokio::test]
async fn payload_over_the_limit_is_resource_exhausted_naming_the_limit() {
    let tree = Tree::start(2, &["--max-request-bytes", "1024"]).await;
    for size in [2048, 64 << 10] {
        let payload = Payload::new("application/octet-stream", vec![b'x'; size]);
        let status = tree
            .root
            .query(Query::new(payload))
            .await
            .expect_err("over the limit");
        assert_eq!(
            status.code(),
            Code::ResourceExhausted,
            "{size} B: {status:?}"
        );
        assert!(status.message().contains("1024"), "{size} B: {status:?}");
    }
    // Refused before or after tonic read them, each counts once.
    let counted = tree.root.server.metric(RESOURCE_EXHAUSTED).await;
    assert_eq!(counted, Some(2.0), "{RESOURCE_EXHAUSTED}");
    assert_still_answers_fully(&tree.root, 2).await;
}

#[tokio::test]
async fn failing_merge_is_internal_with_the_merges_own_message() {
    let tree = Tree::start(2, &[]).await;
    let status = tree
        .root
        .query(Query::script(
            &Script::new().merge_fail("boom: no fold today"),
        ))
        .await
        .expect_err("the merge fails");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(
        status.message().contains("boom: no fold today"),
        "{status:?}"
    );
    let counted = tree.root.server.metric(INTERNAL).await;
    assert_eq!(counted, Some(1.0), "{INTERNAL}");
    assert_still_answers_fully(&tree.root, 2).await;
}

#[tokio::test]
async fn request_beyond_the_concurrency_limit_is_refused_at_once() {
    let tree = Tree::start(2, &["--max-concurrent", "1"]).await;
    let mut slow_client = tree.root.client().await;
    let slow = Query::script(&Script::new().delay("*", 10_000)).deadline(Duration::from_secs(20));
    let slow = tokio::spawn(async move { slow_client.query(slow.request()).await });
    tree.leaves[0]
        .wait_metric(IN_FLIGHT, 1.0, Duration::from_secs(5))
        .await;

    let mut client = tree.root.client().await;
    let started = Instant::now();
    let status = client
        .query(good().request())
        .await
        .expect_err("the root is at its limit");
    let took = started.elapsed();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(took < Duration::from_millis(500), "refused after {took:?}");

    slow.abort();
    tree.root
        .server
        .wait_metric(ROOT_IN_FLIGHT, 0.0, Duration::from_secs(2))
        .await;
    assert_still_answers_fully(&tree.root, 2).await;
}

#[tokio::test]
async fn leaf_answering_garbage_fails_only_its_shard() {
    let (normal, garbage, merge) = tokio::join!(
        LeafFlags::new(0, 2).start(),
        LeafFlags::new(1, 2).garbage().start(),
        test_merge()
    );
    let shards = [normal.addr().to_string(), garbage.addr().to_string()];
    let root = Root::start(&shards, &merge.uri(), &[]).await;

    let response = root.query(good()).await.expect("a partial answer");
    let c = coverage(&response);
    assert_eq!((c.total, c.answered, c.failed), (2, 1, 1), "{c:?}");
    let shard = missing(c, 1);
    assert_eq!(outcome(shard), ShardOutcome::Failed, "{shard:?}");
    assert_eq!(Code::from(shard.code), Code::Internal, "{shard:?}");
}

#[tokio::test]
async fn unreachable_merge_is_unavailable() {
    let (leaf, unused) = (LeafFlags::new(0, 1).start().await, free_port());
    let root =
        Root::start_listening(&[leaf.addr().to_string()], &format!("http://{unused}"), &[]).await;
    // Not ready without its merge, but it still answers, with the reason.
    let status = root.query(good()).await.expect_err("no merge");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("merge"), "{status:?}");
}
