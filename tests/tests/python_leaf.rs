//! The contract is plain gRPC + protobuf: a leaf written in Python with
//! grpcio, straight from the `.proto` files (examples/python-leaf), serves
//! a Scatter tree like an SDK-built one.
//!
//! Needs python3 with grpcio, grpcio-tools and grpcio-health-checking. Where
//! they are missing the test says so and passes, unless
//! `SCATTER_REQUIRE_PYTHON=1` (CI sets it, after installing them).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use scatter_proto::v1::{ConcatResult, Payload};
use scatter_tests::root::assert_full_coverage;
use scatter_tests::{Query, Root, Server, free_port};

fn leaf_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-leaf/leaf.py")
}

fn python_ready() -> bool {
    let ready = Command::new("python3")
        .args(["-c", "import grpc, grpc_tools, grpc_health"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        assert!(
            std::env::var("SCATTER_REQUIRE_PYTHON").as_deref() != Ok("1"),
            "SCATTER_REQUIRE_PYTHON=1 but python3 cannot import grpcio, grpcio-tools and \
             grpcio-health-checking (pip install grpcio grpcio-tools grpcio-health-checking)"
        );
        eprintln!("skipped: python3 with grpcio is not installed here");
    }
    ready
}

async fn python_leaf(shard: u32, shard_count: u32) -> Server {
    let args = [
        leaf_script().display().to_string(),
        "--shard".into(),
        shard.to_string(),
        "--shard-count".into(),
        shard_count.to_string(),
    ];
    Server::start(
        &format!("python leaf {shard}"),
        Path::new("python3"),
        &args,
        free_port(),
    )
    .await
}

/// Lines `0..1000` hold "fizz" when divisible by 3; shard `s` of `n` holds
/// the lines `i` with `i % n == s`.
fn expected_fizz(shard: u64, shard_count: u64) -> u64 {
    (0..1000u64)
        .filter(|i| i % shard_count == shard && i % 3 == 0)
        .count() as u64
}

#[tokio::test]
async fn python_leaves_answer_through_the_root_like_rust_ones() {
    if !python_ready() {
        return;
    }
    let (a, b) = tokio::join!(python_leaf(0, 2), python_leaf(1, 2));
    let shards = [a.addr().to_string(), b.addr().to_string()];
    let root = Root::start(&shards, "builtin:concat", &[]).await;

    let query = Query::new(Payload::new("text/plain", "fizz")).deadline(Duration::from_secs(5));
    let response = root.query(query).await.expect("an answer");
    assert_full_coverage(&response, 2);

    let result = response.result.unwrap_or_default();
    let concat: ConcatResult =
        tonic_prost::prost::Message::decode(result.body).expect("a concat result");
    for partial in concat.partials {
        let body = partial.partial.unwrap_or_default().body;
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON from python");
        let shard = u64::from(partial.shard);
        assert_eq!(json["shard"], shard);
        assert_eq!(json["matches"], expected_fizz(shard, 2), "{json}");
    }
}

#[tokio::test]
async fn python_leaf_refusing_an_empty_query_fails_the_request_with_its_message() {
    if !python_ready() {
        return;
    }
    let leaf = python_leaf(0, 1).await;
    let root = Root::start(&[leaf.addr().to_string()], "builtin:concat", &[]).await;
    let status = root
        .query(Query::new(Payload::new("text/plain", "  ")).deadline(Duration::from_secs(5)))
        .await
        .expect_err("the only shard refused the query");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("empty query"), "{status:?}");
}
