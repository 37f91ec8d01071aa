//! Each of the root's limits, met exactly and then passed by one byte (or
//! one shard): the request just within works, the one just over gets the
//! status and message a user sees — RESOURCE_EXHAUSTED naming the flag to
//! raise — and only what was over the limit fails.

use std::time::{Duration, Instant};

use futures::future::join_all;
use scatter_proto::v1::{MergeResponse, Payload, QueryResponse, ShardOutcome};
use scatter_tests::process::run_to_end;
use scatter_tests::root::{assert_full_coverage, coverage, done, missing, outcome};
use scatter_tests::script::FILLER;
use scatter_tests::tree::test_merge;
use scatter_tests::{LeafFlags, Query, Root, Script, Server, Tree, binary, free_port};
use tonic::Code;
use tonic::metadata::MetadataValue;
use tonic_prost::prost::Message as _;

/// The size every byte limit is set to in these tests.
const LIMIT: usize = 10_000;

/// Asserts `status` is RESOURCE_EXHAUSTED and its message names `flag` and `LIMIT`.
fn assert_names_limit(status: &tonic::Status, flag: &str) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let message = status.message();
    assert!(
        message.contains(flag) && message.contains(&LIMIT.to_string()),
        "the message should name {flag} and {LIMIT}: {status:?}"
    );
}

#[tokio::test]
async fn request_payload_at_the_limit_is_answered_one_byte_over_is_refused() {
    let tree = Tree::start(2, &["--max-request-bytes", &LIMIT.to_string()]).await;
    let at = Payload::new(FILLER, vec![b'x'; LIMIT]);
    let response = tree.root.query(Query::new(at)).await.expect("at the limit");
    assert_full_coverage(&response, 2);

    let over = Payload::new(FILLER, vec![b'x'; LIMIT + 1]);
    let status = tree.root.query(Query::new(over)).await.expect_err("over");
    assert_names_limit(&status, "--max-request-bytes");
}

#[tokio::test]
async fn partial_over_the_limit_fails_its_shard_alone_with_resource_exhausted() {
    // Shard 1 has two replicas, to show the root does not retry the other.
    let flags = [(0, 0), (1, 0), (1, 1)].map(|(shard, replica)| LeafFlags {
        replica,
        ..LeafFlags::new(shard, 2)
    });
    let (leaves, merge) = tokio::join!(
        join_all(flags.into_iter().map(LeafFlags::start)),
        test_merge()
    );
    let addr = |i: usize| leaves[i].addr().to_string();
    let shards = [addr(0), format!("{},{}", addr(1), addr(2))];
    let root = Root::start(
        &shards,
        &merge.uri(),
        &["--max-partial-bytes", &LIMIT.to_string()],
    )
    .await;
    let at = Script::new().partial_bytes("*", LIMIT);
    let response = root.query(Query::script(&at)).await.expect("at");
    assert_full_coverage(&response, 2);

    let over = Script::new().partial_bytes(1, LIMIT + 1);
    for (how, response) in [
        ("Query", root.query(Query::script(&over)).await),
        (
            "QueryStream",
            stream_answer(&root, Query::script(&over)).await,
        ),
    ] {
        let response = response.unwrap_or_else(|s| panic!("{how}: shard 0 answered: {s:?}"));
        let c = coverage(&response);
        assert_eq!((c.answered, c.failed), (1, 1), "{how}: {c:?}");
        let shard = missing(c, 1);
        assert_eq!(outcome(shard), ShardOutcome::Failed, "{how}: {shard:?}");
        let status = tonic::Status::new(Code::from(shard.code), shard.message.clone());
        assert_names_limit(&status, "--max-partial-bytes");
        // Another replica would answer as much: the root does not retry.
        assert_eq!(shard.attempts, 1, "{how}: {shard:?}");
    }
}

#[tokio::test]
async fn merge_result_at_the_limit_is_answered_one_byte_over_is_resource_exhausted() {
    let tree = Tree::start(2, &["--max-result-bytes", &LIMIT.to_string()]).await;
    let at = Script::new().result_bytes(LIMIT);
    let response = tree.root.query(Query::script(&at)).await.expect("at");
    let result = response.result.clone().expect("a result");
    assert_eq!(wire_size_of_result(result), LIMIT);

    let over = Query::script(&Script::new().result_bytes(LIMIT + 1));
    let status = tree.root.query(over.clone()).await.expect_err("over");
    assert_names_limit(&status, "--max-result-bytes");
    let end = tree.root.query_stream_to_end(over).await;
    assert_names_limit(&end.end.expect_err("over, streamed"), "--max-result-bytes");
}

#[tokio::test]
async fn answer_at_the_response_limit_is_sent_one_byte_over_is_resource_exhausted() {
    let tree = Tree::start(2, &["--max-response-bytes", &LIMIT.to_string()]).await;
    // What the answer adds to the result (coverage, request id) is measured
    // on a first answer, so the next can be sized to the byte.
    let probe = Script::new().result_bytes(LIMIT / 2);
    let response = tree.root.query(Query::script(&probe)).await.expect("small");
    let framing = response.encoded_len() - LIMIT / 2;

    let at = Script::new().result_bytes(LIMIT - framing);
    let response = tree.root.query(Query::script(&at)).await.expect("at");
    assert_eq!(response.encoded_len(), LIMIT, "{:?}", coverage(&response));

    let over = Query::script(&Script::new().result_bytes(LIMIT - framing + 1));
    let status = tree.root.query(over.clone()).await.expect_err("over");
    assert_names_limit(&status, "--max-response-bytes");
    // The stream's last update carries the same answer, and more.
    let end = tree.root.query_stream_to_end(over).await;
    assert_names_limit(
        &end.end.expect_err("over, streamed"),
        "--max-response-bytes",
    );
}

#[tokio::test]
async fn metadata_over_the_limit_is_resource_exhausted_naming_the_limit() {
    let tree = Tree::start(2, &["--max-metadata-bytes", &LIMIT.to_string()]).await;
    let with_header = |bytes: usize| {
        let mut request = Query::script(&Script::new()).request();
        let value = MetadataValue::try_from("x".repeat(bytes)).expect("ASCII");
        request.metadata_mut().insert("x-padding", value);
        request
    };
    let mut client = tree.root.client().await;
    let response = client
        .query(with_header(LIMIT / 2))
        .await
        .expect("under the limit");
    assert_full_coverage(response.get_ref(), 2);

    let status = client
        .query(with_header(LIMIT + 1))
        .await
        .expect_err("over");
    assert_names_limit(&status, "--max-metadata-bytes");
    // Far over it, HTTP/2 refuses the headers before the root reads them.
    let status = client
        .query(with_header(4 * LIMIT))
        .await
        .expect_err("far over");
    // The client sees what its gRPC library makes of HTTP 431.
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    assert!(status.message().contains("431"), "{status:?}");
    // The connection survives both.
    let response = client.query(with_header(0)).await.expect("small again");
    assert_full_coverage(response.get_ref(), 2);
}

#[tokio::test]
async fn a_tree_of_more_shards_than_the_limit_is_refused_at_start() {
    let tree = Tree::start(2, &["--max-shards", "2"]).await;
    let response = tree.root.query(Query::script(&Script::new())).await;
    assert_full_coverage(&response.expect("two shards of two"), 2);

    let leaf = tree.leaves[0].addr().to_string();
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--max-shards",
        "2",
        "--shard",
        &leaf,
        "--shard",
        &leaf,
        "--shard",
        &leaf,
    ];
    let finished = run_to_end(&binary("scatter"), &args, Duration::from_secs(10)).await;
    assert!(!finished.status.success(), "{finished:?}");
    assert!(
        finished.stderr.contains("3 shards") && finished.stderr.contains("max_shards (2)"),
        "{finished:?}"
    );
}

#[tokio::test]
async fn deadline_above_the_maximum_is_cut_to_the_maximum() {
    let flags = ["--max-deadline-ms", "500", "--default-deadline-ms", "200"];
    let tree = Tree::start(2, &flags).await;
    let slow = Script::new().delay(1, 30_000);
    let started = Instant::now();
    let response = tree
        .root
        .query(Query::script(&slow).deadline(Duration::from_secs(20)))
        .await
        .expect("shard 0 answers");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    let c = coverage(&response);
    assert_eq!((c.answered, c.timed_out), (1, 1), "{c:?}");
    assert_eq!(outcome(missing(c, 1)), ShardOutcome::TimedOut);
}

#[tokio::test]
async fn request_over_a_leafs_message_limit_fails_its_shard_with_resource_exhausted() {
    let small = LeafFlags {
        extra: vec!["--max-message-bytes".into(), LIMIT.to_string()],
        ..LeafFlags::new(1, 2)
    };
    let (leaf, small, merge) =
        tokio::join!(LeafFlags::new(0, 2).start(), small.start(), test_merge());
    let shards = [leaf.addr().to_string(), small.addr().to_string()];
    let root = Root::start(&shards, &merge.uri(), &[]).await;
    // The leaf's request adds the shard, the request id and framing.
    let under = Payload::new(FILLER, vec![b'x'; LIMIT - 100]);
    let response = root.query(Query::new(under)).await.expect("under");
    assert_full_coverage(&response, 2);

    let over = Payload::new(FILLER, vec![b'x'; LIMIT]);
    let response = root.query(Query::new(over)).await.expect("shard 0 answers");
    let c = coverage(&response);
    assert_eq!((c.answered, c.failed), (1, 1), "{c:?}");
    let shard = missing(c, 1);
    let status = tonic::Status::new(Code::from(shard.code), shard.message.clone());
    assert_names_limit(&status, "--max-message-bytes");
    assert_eq!(shard.attempts, 1, "{shard:?}");
}

#[tokio::test]
async fn request_over_the_merges_message_limit_is_resource_exhausted_naming_it() {
    let leaf = LeafFlags::new(0, 1).start().await;
    let flags = ["--max-message-bytes".to_owned(), LIMIT.to_string()];
    let merge = Server::start("test-merge", &binary("test-merge"), &flags, free_port()).await;
    let root = Root::start(&[leaf.addr().to_string()], &merge.uri(), &[]).await;
    let under = Payload::new(FILLER, vec![b'x'; LIMIT - 100]);
    root.query(Query::new(under)).await.expect("under");

    // The merge stream's first message carries the request.
    let over = Payload::new(FILLER, vec![b'x'; LIMIT]);
    let status = root.query(Query::new(over)).await.expect_err("over");
    assert_names_limit(&status, "--max-message-bytes");
}

/// The final answer of a `QueryStream` call, or the status it ended with.
async fn stream_answer(root: &Root, query: Query) -> Result<QueryResponse, tonic::Status> {
    let end = root.query_stream_to_end(query).await;
    end.end?;
    Ok(end
        .updates
        .iter()
        .find_map(done)
        .expect("a stream that ends well ends with its answer")
        .clone())
}

/// How many bytes `result` took on the wire from the merge.
fn wire_size_of_result(result: Payload) -> usize {
    MergeResponse {
        result: Some(result),
    }
    .encoded_len()
}
