//! The contract is plain gRPC + protobuf: the search leaf and merge written
//! in Python with grpcio, straight from the `.proto` files
//! (examples/python-leaf, examples/python-merge), serve a Scatter tree like
//! the SDK-built ones — same answers, status codes, cancellation and drain —
//! and a Python client built the same way consumes the root's `QueryStream`.
//!
//! Needs Python with `tests/python-requirements.txt` (which interpreter: see
//! `tests/src/python.rs`); where it is missing the tests are skipped
//! visibly, and fail where Python is required.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use scatter_example_search::Corpus;
use scatter_proto::v1::leaf_client::LeafClient;
use scatter_proto::v1::merge_client::MergeClient;
use scatter_proto::v1::merge_message::Kind;
use scatter_proto::v1::{LeafRequest, MergeBegin, MergeMessage, Payload, ShardPartial};
use scatter_tests::python::{self, CorpusDir};
use scatter_tests::root::assert_full_coverage;
use scatter_tests::server::is_serving;
use scatter_tests::tree::search_merge;
use scatter_tests::{Query, Root, Server, admin, eventually, free_port};
use serde_json::{Value, json};
use tonic::{Code, Status};

/// The generated corpus of the Rust search, written as a directory.
fn corpus(name: &str) -> (Corpus, CorpusDir) {
    let corpus = Corpus::generate(42, 300);
    let documents = corpus
        .documents()
        .iter()
        .map(|d| (d.id.clone(), d.title.clone(), d.text.clone()));
    (corpus.clone(), CorpusDir::write(name, documents))
}

fn json_query(value: &Value) -> Payload {
    Payload::new("application/json", value.to_string())
}

fn body_json(payload: Option<Payload>) -> Value {
    let body = payload.expect("a result payload").body;
    serde_json::from_slice(&body).expect("a JSON result")
}

/// `scatter_leaf_in_flight` on a Python leaf's `--metrics-listen` address.
async fn in_flight(metrics: SocketAddr) -> Option<f64> {
    gauge(metrics, "scatter_leaf_in_flight").await
}

/// The value of the gauge `name` served at `metrics`.
async fn gauge(metrics: SocketAddr, name: &str) -> Option<f64> {
    let (code, body) = admin::get(metrics, "/metrics").await.ok()?;
    assert_eq!(code, 200, "{body}");
    admin::series_value(&body, name)
}

/// Returns once the gauge `name` at `metrics` reads 1: the call under test
/// has reached the process.
async fn one_in_flight(metrics: SocketAddr, name: &str) {
    eventually(
        "the call is in flight",
        Duration::from_secs(5),
        async || gauge(metrics, name).await == Some(1.0),
    )
    .await;
}

#[tokio::test]
async fn python_leaves_and_merge_answer_like_a_search_over_the_whole_corpus() {
    if !python::grpc_ready() {
        return;
    }
    let (corpus, dir) = corpus("py-whole");
    let (a, b, merge) = tokio::join!(
        python::leaf(0, 2, dir.path(), &[]),
        python::leaf(1, 2, dir.path(), &[]),
        python::merge(&[])
    );
    let shards = [a.addr().to_string(), b.addr().to_string()];
    let root = Root::start(&shards, &merge.uri(), &[]).await;

    for (text, k) in [("hello world", 5), ("lion", 20), ("Signal, FAMILY!", 1)] {
        let query = Query::new(json_query(&json!({"query": text, "k": k})))
            .deadline(Duration::from_secs(5));
        let response = root.query(query).await.expect("an answer");
        assert_full_coverage(&response, 2);
        let got = body_json(response.result);
        let whole = scatter_example_search::Index::new(0, corpus.documents()).results(text, k);
        let want: Vec<(&str, f64)> = whole
            .hits
            .iter()
            .map(|h| (h.doc.as_str(), h.score))
            .collect();
        let hits = got["hits"].as_array().expect("hits");
        let got_hits: Vec<(&str, f64)> = hits
            .iter()
            .map(|h| (h["doc"].as_str().unwrap(), h["score"].as_f64().unwrap()))
            .collect();
        assert_eq!(got_hits, want, "{text:?}: {got}");
        assert_eq!(got["total_hits"], whole.total_hits, "{text:?}: {got}");
        assert!(
            hits.iter()
                .all(|h| h["shard"] == json!(doc_shard(&corpus, h))),
            "each hit names the shard that holds it: {got}"
        );
    }
}

/// The shard of the document a hit names, in a 2-shard tree.
fn doc_shard(corpus: &Corpus, hit: &Value) -> usize {
    let position = corpus
        .documents()
        .iter()
        .position(|d| d.id == hit["doc"].as_str().unwrap_or_default())
        .expect("a hit names a document of the corpus");
    position % 2
}

#[tokio::test]
async fn python_leaf_refuses_what_it_cannot_read_with_invalid_argument_and_why() {
    if !python::grpc_ready() {
        return;
    }
    let (_, dir) = corpus("py-refuse");
    let leaf = python::leaf(0, 1, dir.path(), &[]).await;
    let root = Root::start(&[leaf.addr().to_string()], "builtin:concat", &[]).await;
    let cases = [
        (Payload::new("text/plain", "  ?! "), "empty query"),
        (
            Payload::new("text/html", "hello"),
            "unsupported content type \"text/html\"",
        ),
        (Payload::new("text/plain", vec![0xff, 0xfe]), "not UTF-8"),
        (
            Payload::new("application/json", "{not json"),
            "not valid JSON",
        ),
        (
            json_query(&json!({"query": "x", "qeury": 1})),
            "unknown field `qeury`",
        ),
        (
            json_query(&json!({"query": "x", "k": 1001})),
            "k = 1001 is out of range",
        ),
        (
            json_query(&json!({"query": "x", "delay_ms": 60001})),
            "delay_ms = 60001 is out of range",
        ),
    ];
    for (payload, reason) in cases {
        let status = root
            .query(Query::new(payload).deadline(Duration::from_secs(5)))
            .await
            .expect_err("the only shard refused the query");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains(reason),
            "{reason:?} in {status:?}"
        );
    }
}

#[tokio::test]
async fn python_leaf_called_for_another_shard_answers_failed_precondition() {
    if !python::grpc_ready() {
        return;
    }
    let (_, dir) = corpus("py-shard");
    let leaf = python::leaf(1, 3, dir.path(), &[]).await;
    let mut client = LeafClient::new(leaf.channel().await);
    let status = client
        .answer(LeafRequest {
            payload: Some(Payload::new("text/plain", "hello")),
            shard: 2,
            shard_count: 3,
            ..LeafRequest::default()
        })
        .await
        .expect_err("shard 2 is not this leaf's");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("serves shard 1 of 3"),
        "{status:?}"
    );
    let info = client
        .info(scatter_proto::v1::LeafInfoRequest {})
        .await
        .unwrap();
    assert_eq!((info.get_ref().shard, info.get_ref().shard_count), (1, 3));
}

#[tokio::test]
async fn python_client_streams_python_merge_snapshots_then_done_with_every_shard() {
    if !python::grpc_ready() {
        return;
    }
    // Shard 1 is slow, so the client sees shard 0's progress first.
    let (_, dir) = corpus("py-stream");
    let (a, b, merge) = tokio::join!(
        python::leaf(0, 2, dir.path(), &[]),
        python::leaf(1, 2, dir.path(), &["--delay-ms", "300"]),
        python::merge(&[])
    );
    let shards = [a.addr().to_string(), b.addr().to_string()];
    let root = Root::start(&shards, &merge.uri(), &[]).await;

    let root_addr = root.server.addr().to_string();
    let args = [
        "--addr",
        &root_addr,
        "--deadline-ms",
        "5000",
        "hello",
        "world",
    ];
    let stdout = python::run(&python::example("python-leaf", "stream_client.py"), &args).await;

    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("progress: 1/2 shards ended, 1 answered"),
        "{stdout}"
    );
    let done = lines
        .iter()
        .position(|line| *line == "done: 2/2 shards answered")
        .unwrap_or_else(|| panic!("no done line in:\n{stdout}"));
    // The snapshot after shard 0 holds its hits only; the result both shards'.
    let shards_in = |line: &str| {
        let result: Value = serde_json::from_str(line.trim()).expect("a JSON result");
        let mut shards: Vec<u64> = result["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| h["shard"].as_u64().unwrap())
            .collect();
        shards.sort_unstable();
        shards.dedup();
        shards
    };
    assert_eq!(shards_in(lines[1]), [0], "{stdout}");
    assert_eq!(shards_in(lines[done + 1]), [0, 1], "{stdout}");
}

#[tokio::test]
async fn python_leaf_stops_a_slow_query_at_once_when_its_deadline_passes() {
    if !python::grpc_ready() {
        return;
    }
    let (_, dir) = corpus("py-cancel");
    let metrics = free_port();
    let metrics_flag = metrics.to_string();
    let leaf = python::leaf(0, 1, dir.path(), &["--metrics-listen", &metrics_flag]).await;
    let root = Root::start(&[leaf.addr().to_string()], "builtin:concat", &[]).await;

    let slow = json_query(&json!({"query": "hello", "delay_ms": 30_000}));
    let started = Instant::now();
    let query = root.query(Query::new(slow).deadline(Duration::from_millis(1500)));
    let (answer, ()) = tokio::join!(query, one_in_flight(metrics, "scatter_leaf_in_flight"));
    assert!(answer.is_err(), "no shard can answer in time: {answer:?}");
    eventually(
        "the leaf stops the call's work",
        Duration::from_secs(3),
        async || in_flight(metrics).await == Some(0.0),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the 30 s wait went on"
    );
}

#[tokio::test]
async fn python_leaf_drains_on_sigterm_finishing_its_slow_call_and_exits_0() {
    if !python::grpc_ready() {
        return;
    }
    let (_, dir) = corpus("py-drain");
    let metrics = free_port();
    let flags = [
        "--grace-ms",
        "10000",
        "--metrics-listen",
        &metrics.to_string(),
    ];
    let mut leaf = python::leaf(0, 1, dir.path(), &flags).await;
    let mut client = LeafClient::new(leaf.channel().await);
    let slow = LeafRequest {
        payload: Some(json_query(&json!({"query": "hello", "delay_ms": 1500}))),
        shard: 0,
        shard_count: 1,
        ..LeafRequest::default()
    };
    let call = tokio::spawn(async move { client.answer(slow).await });
    one_in_flight(metrics, "scatter_leaf_in_flight").await;
    drain_started(&leaf).await;
    let answer = call
        .await
        .expect("the call's task")
        .expect("the slow call is answered");
    assert!(answer.get_ref().partial.is_some());
    let status = leaf.process.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", leaf.process.output());
}

/// Sends SIGTERM once `server` serves, and returns once it reports NOT_SERVING.
async fn drain_started(server: &Server) {
    server.process.signal(Signal::SIGTERM);
    eventually(
        "NOT_SERVING after SIGTERM",
        Duration::from_secs(5),
        async || !is_serving(&server.uri()).await,
    )
    .await;
}

#[tokio::test]
async fn a_sigterm_another_thread_takes_still_ends_the_wait_for_a_stop_signal() {
    if !python::grpc_ready() {
        return;
    }
    let printed = python::run(&python::fixture("stop_signal.py"), &[]).await;
    assert!(
        printed.contains("stopped by a SIGTERM another thread took"),
        "{printed}"
    );
}

#[tokio::test]
async fn python_merge_drains_on_sigterm_finishing_its_open_merge_and_exits_0() {
    if !python::grpc_ready() {
        return;
    }
    let metrics = free_port();
    let mut merge = python::merge(&["--metrics-listen", &metrics.to_string()]).await;
    let mut client = MergeClient::new(merge.channel().await);
    let (messages, stream) = tokio::sync::mpsc::unbounded_channel();
    messages
        .send(begin(Some(json_query(&json!({"query": "hello", "k": 2})))))
        .unwrap();
    let call = tokio::spawn(async move {
        client
            .merge(tokio_stream::wrappers::UnboundedReceiverStream::new(stream))
            .await
    });
    one_in_flight(metrics, "scatter_merge_in_flight").await;
    drain_started(&merge).await;
    // The merge is still open: its last partial comes after the drain began.
    messages.send(partial(1, PARTIAL)).unwrap();
    drop(messages);
    let merged = call
        .await
        .expect("the call's task")
        .expect("the open merge is answered");
    assert_eq!(body_json(merged.into_inner().result)["total_hits"], 7);
    let status = merge.process.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{}", merge.process.output());
}

const PARTIAL: &str = r#"{"hits":[{"doc":"d1","title":"T","score":1.5,"shard":1}],"total_hits":7}"#;

fn begin(request: Option<Payload>) -> MergeMessage {
    MergeMessage {
        kind: Some(Kind::Begin(MergeBegin {
            request,
            shard_count: 4,
            ..MergeBegin::default()
        })),
    }
}

fn partial(shard: u32, body: &str) -> MergeMessage {
    MergeMessage {
        kind: Some(Kind::Partial(ShardPartial {
            shard,
            partial: Some(Payload::new("application/json", body.to_owned())),
        })),
    }
}

async fn merge_with(merge: &Server, stream: Vec<MergeMessage>) -> Result<Value, Status> {
    let mut client = MergeClient::new(merge.channel().await);
    let response = client.merge(tokio_stream::iter(stream)).await?;
    Ok(body_json(response.into_inner().result))
}

#[tokio::test]
async fn python_merge_answers_and_refuses_streams_as_the_rust_search_merge_does() {
    if !python::grpc_ready() {
        return;
    }
    let (py_merge, rust_merge) = tokio::join!(python::merge(&[]), search_merge());
    let request = || Some(json_query(&json!({"query": "hello", "k": 2})));
    let other = r#"{"hits":[{"doc":"d0","title":"U","score":1.5,"shard":0},{"doc":"d2","title":"V","score":2.25,"shard":0}],"total_hits":3}"#;
    // Two partials of four shards, in any order: the answer holds what came.
    let good = vec![begin(request()), partial(1, PARTIAL), partial(0, other)];
    let (p, r) = tokio::join!(
        merge_with(&py_merge, good.clone()),
        merge_with(&rust_merge, good)
    );
    let p = p.expect("the Python merge answers");
    assert_eq!(p, r.expect("the Rust merge answers"));
    assert_eq!(p["total_hits"], 10, "{p}");

    let bad_request = Some(json_query(&json!({"query": "hello", "k": 5000})));
    let malformed = [
        vec![],
        vec![partial(0, PARTIAL)],
        vec![MergeMessage { kind: None }],
        vec![begin(request()), begin(request())],
        vec![begin(None)],
        vec![begin(bad_request)],
        vec![begin(request()), partial(3, r#"{"hits": ["#)],
        vec![begin(request()), partial(3, r#"{"hits": []}"#)],
    ];
    for stream in malformed {
        let what = format!("{stream:?}");
        let (p, r) = tokio::join!(
            merge_with(&py_merge, stream.clone()),
            merge_with(&rust_merge, stream)
        );
        let (p, r) = (p.expect_err(&what), r.expect_err(&what));
        assert_eq!(
            (p.code(), r.code()),
            (Code::InvalidArgument, Code::InvalidArgument),
            "{what}"
        );
        // Parser messages differ in their last words; the reason does not.
        let reason = |s: &Status| {
            s.message()
                .split(": ")
                .take(2)
                .collect::<Vec<_>>()
                .join(": ")
        };
        assert_eq!(reason(&p), reason(&r), "{what}: {p:?} vs {r:?}");
    }
}
