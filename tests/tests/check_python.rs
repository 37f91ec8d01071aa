//! `scatter check` against leaves and merges written in Python with grpcio
//! alone: the examples pass every check, and each deliberately broken leaf
//! or merge of `tests/fixtures` fails exactly the check it breaks — the checker
//! catches what production would otherwise find.

use scatter_tests::check::{self, CheckRun, assert_fails_exactly};
use scatter_tests::python::{self, CorpusDir};
use scatter_tests::{Server, free_port, tree};

/// A request the Python search leaf takes 1.5 s over (`delay_ms`).
const SLOW: &str = r#"{"query": "hello world", "delay_ms": 1500}"#;

/// A small corpus both search leaves read.
fn corpus(name: &str) -> CorpusDir {
    CorpusDir::write(
        name,
        (0..60).map(|i| {
            (
                format!("doc-{i:03}"),
                format!("Title {i}"),
                format!("hello world {} lantern harbour {i}", "tide ".repeat(i % 7)),
            )
        }),
    )
}

/// `python3 SCRIPT ARGS`, as one command line for `--exec`.
fn command(script: &std::path::Path, args: &str) -> String {
    format!(
        "{} {} {args}",
        python::interpreter().display(),
        script.display()
    )
}

/// Checks the leaf that `script` with `args` starts, reading its in-flight
/// gauge from its `--metrics-listen` endpoint.
async fn check_leaf(script: &std::path::Path, args: &str, corpus: &CorpusDir) -> CheckRun {
    let metrics = free_port();
    let exec = command(
        script,
        &format!(
            "{args} --corpus-dir {} --metrics-listen {metrics}",
            corpus.path().display()
        ),
    );
    let metrics_url = format!("http://{metrics}/metrics");
    check::run(&[
        "leaf",
        "--exec",
        &exec,
        "--metrics",
        &metrics_url,
        "--slow-payload",
        SLOW,
        "--grace-ms",
        "4000",
        "--json",
    ])
    .await
}

#[tokio::test]
async fn the_python_leaf_passes_every_check() {
    if !python::grpc_ready() {
        return;
    }
    let corpus = corpus("check-leaf");
    let leaf = python::example("python-leaf", "leaf.py");
    let run = check_leaf(&leaf, "--shard 1 --shard-count 2", &corpus).await;
    assert_fails_exactly(&run, &[]);
}

#[tokio::test]
async fn the_python_merge_passes_every_check_with_partials_from_python_and_rust_leaves() {
    if !python::grpc_ready() {
        return;
    }
    let corpus = corpus("check-merge");
    let python_leaf = python::leaf(0, 2, corpus.path(), &[]).await;
    let rust_leaf = tree::search_leaf_over(1, 2, corpus.path()).await;
    let merge = python::example("python-merge", "merge.py");
    let run = check_merge(&merge, "", [&python_leaf, &rust_leaf]).await;
    assert_fails_exactly(&run, &[]);
}

#[tokio::test]
async fn a_leaf_that_ignores_cancellation_fails_the_cancellation_check_alone() {
    if !python::grpc_ready() {
        return;
    }
    let corpus = corpus("check-ignores");
    let fixture = python::fixture("broken_leaf.py");
    let run = check_leaf(&fixture, "--break ignores_cancellation", &corpus).await;
    assert_fails_exactly(&run, &["cancellation"]);
    let got = run.line("cancellation")["got"].to_string();
    assert!(got.contains("the work goes on for nobody"), "{got}");
}

#[tokio::test]
async fn a_leaf_that_crashes_on_bad_input_fails_the_bad_payload_check_alone_and_is_restarted() {
    if !python::grpc_ready() {
        return;
    }
    let corpus = corpus("check-crashes");
    let fixture = python::fixture("broken_leaf.py");
    let run = check_leaf(&fixture, "--break crashes_on_bad_input", &corpus).await;
    assert_fails_exactly(&run, &["bad-payload"]);
    let got = run.line("bad-payload")["got"].to_string();
    assert!(
        got.contains("the process exited with code 70")
            && got.contains("started again for the next checks"),
        "{got}"
    );
}

#[tokio::test]
async fn a_leaf_whose_answer_stream_never_says_started_fails_the_answer_stream_check_alone() {
    if !python::grpc_ready() {
        return;
    }
    let corpus = corpus("check-never-started");
    let fixture = python::fixture("broken_leaf.py");
    let run = check_leaf(&fixture, "--break never_says_started", &corpus).await;
    assert_fails_exactly(&run, &["answer-stream"]);
    let got = run.line("answer-stream")["got"].to_string();
    assert!(
        got.contains("no `started` before the answer (answer)"),
        "{got}"
    );
}

#[tokio::test]
async fn a_leaf_that_never_drains_fails_the_drain_check_alone() {
    if !python::grpc_ready() {
        return;
    }
    let corpus = corpus("check-never-drains");
    let fixture = python::fixture("broken_leaf.py");
    let run = check_leaf(&fixture, "--break never_drains", &corpus).await;
    assert_fails_exactly(&run, &["drain"]);
    let got = run.line("drain")["got"].to_string();
    assert!(
        got.contains("health still SERVING") && got.contains("still running 4000 ms after SIGTERM"),
        "{got}"
    );
}

/// Checks the merge that `script` with `args` starts, reading its
/// in-flight gauge from its `--metrics-listen` endpoint, with partials from
/// `leaves`.
async fn check_merge(script: &std::path::Path, args: &str, leaves: [&Server; 2]) -> CheckRun {
    let [a, b] = leaves.map(|leaf| leaf.addr().to_string());
    let metrics = free_port();
    let merge = command(script, &format!("{args} --metrics-listen {metrics}"));
    let metrics_url = format!("http://{metrics}/metrics");
    check::run(&[
        "merge",
        "--exec",
        &merge,
        "--metrics",
        &metrics_url,
        "--leaf",
        &a,
        "--leaf",
        &b,
        "--grace-ms",
        "4000",
        "--json",
    ])
    .await
}

/// Checks the merge that `tests/fixtures/broken_merge.py --break KIND`
/// starts, with partials from two Rust search leaves.
async fn check_broken_merge(kind: &str, corpus: &CorpusDir) -> CheckRun {
    let leaves = [
        tree::search_leaf_over(0, 2, corpus.path()).await,
        tree::search_leaf_over(1, 2, corpus.path()).await,
    ];
    let fixture = python::fixture("broken_merge.py");
    check_merge(
        &fixture,
        &format!("--break {kind}"),
        [&leaves[0], &leaves[1]],
    )
    .await
}

#[tokio::test]
async fn a_merge_that_waits_for_every_shard_fails_the_missing_shards_check_alone() {
    if !python::grpc_ready() {
        return;
    }
    let corpus = corpus("check-needs-every-shard");
    let run = check_broken_merge("needs_every_shard", &corpus).await;
    assert_fails_exactly(&run, &["missing-shards"]);
    let got = run.line("missing-shards")["got"].to_string();
    assert!(
        got.contains("UNKNOWN") && got.contains("expected 3 partials, got 2"),
        "{got}"
    );
}

#[tokio::test]
async fn a_merge_whose_answer_depends_on_arrival_order_fails_the_any_order_check_alone() {
    if !python::grpc_ready() {
        return;
    }
    let corpus = corpus("check-order-dependent");
    let run = check_broken_merge("order_dependent", &corpus).await;
    assert_fails_exactly(&run, &["any-order"]);
    let got = run.line("any-order")["got"].to_string();
    assert!(
        got.contains("order [0, 1] gave") && got.contains("order [1, 0] gave"),
        "{got}"
    );
}
