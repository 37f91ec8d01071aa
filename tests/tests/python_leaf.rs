//! The contract is plain gRPC + protobuf: a leaf written in Python with
//! grpcio, straight from the `.proto` files (examples/python-leaf), serves
//! a Scatter tree like an SDK-built one, and a Python client built the same
//! way consumes the root's progressive `QueryStream`.
//!
//! Needs python3 with grpcio, grpcio-tools and grpcio-health-checking. Where
//! they are missing the test says so and passes, unless
//! `SCATTER_REQUIRE_PYTHON=1` (CI sets it, after installing them).

use std::path::{Path, PathBuf};
use std::time::Duration;

use scatter_proto::v1::{ConcatResult, Payload};
use scatter_tests::root::assert_full_coverage;
use scatter_tests::{Query, Root, Server, free_port, python};

/// A script of the Python example.
fn example(file: &str) -> PathBuf {
    python::example("python-leaf", file)
}

fn python_ready() -> bool {
    python::ready(
        &["grpc", "grpc_tools", "grpc_health"],
        "grpcio grpcio-tools grpcio-health-checking",
    )
}

/// Starts the Python leaf for `shard` of `shard_count`, with `extra` flags
/// (e.g. `--delay-ms 300`).
async fn python_leaf(shard: u32, shard_count: u32, extra: &[&str]) -> Server {
    let mut args = vec![
        example("leaf.py").display().to_string(),
        "--shard".into(),
        shard.to_string(),
        "--shard-count".into(),
        shard_count.to_string(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
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
    let (a, b) = tokio::join!(python_leaf(0, 2, &[]), python_leaf(1, 2, &[]));
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
    let leaf = python_leaf(0, 1, &[]).await;
    let root = Root::start(&[leaf.addr().to_string()], "builtin:concat", &[]).await;
    let status = root
        .query(Query::new(Payload::new("text/plain", "  ")).deadline(Duration::from_secs(5)))
        .await
        .expect_err("the only shard refused the query");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("empty query"), "{status:?}");
}

#[tokio::test]
async fn python_client_streams_progress_then_done_with_every_shard_answered() {
    if !python_ready() {
        return;
    }
    // Shard 1 is slow, so the client sees shard 0's progress first.
    let (a, b) = tokio::join!(
        python_leaf(0, 2, &[]),
        python_leaf(1, 2, &["--delay-ms", "300"])
    );
    let shards = [a.addr().to_string(), b.addr().to_string()];
    let root = Root::start(&shards, "builtin:concat", &[]).await;

    let root_addr = root.server.addr().to_string();
    let args = ["--addr", &root_addr, "--deadline-ms", "5000", "fizz"];
    let stdout = python::run(&example("stream_client.py"), &args).await;

    let updates: Vec<&str> = stdout
        .lines()
        .filter(|line| !line.starts_with(' '))
        .collect();
    let (last, progress) = updates.split_last().expect("some updates");
    assert_eq!(*last, "done: 2/2 shards answered", "{stdout}");
    assert_eq!(
        progress.first().copied(),
        Some("progress: 1/2 shards ended, 1 answered"),
        "{stdout}"
    );
    assert!(
        progress.iter().all(|line| line.starts_with("progress: ")),
        "{stdout}"
    );
    for shard in 0..2u64 {
        let partial = format!(
            "  shard {shard}: {{\"shard\": {shard}, \"matches\": {}",
            expected_fizz(shard, 2)
        );
        assert!(stdout.contains(&partial), "no {partial:?} in:\n{stdout}");
    }
}
