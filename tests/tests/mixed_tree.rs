//! A tree of mixed languages answers exactly as an all-Rust one: over the
//! same corpus directory, shards 0 and 2 served by the Rust search leaf, 1
//! and 3 by the Python one (examples/python-leaf), merged by the Python
//! merge (examples/python-merge), gives the same hits in the same order,
//! with the same scores and `total_hits`, as four Rust leaves and the Rust
//! merge — for text and JSON queries, any k, and ties.
//!
//! Needs Python with `tests/python-requirements.txt`; where it is missing
//! the test is skipped visibly, and fails where Python is required.

use std::time::Duration;

use futures::future::join_all;
use scatter_example_search::Corpus;
use scatter_proto::v1::Payload;
use scatter_tests::python::{self, CorpusDir};
use scatter_tests::root::assert_full_coverage;
use scatter_tests::tree::{search_leaf_over, search_merge};
use scatter_tests::{Query, Root, Server};
use serde_json::{Value, json};

const SHARDS: u32 = 4;

/// 400 generated documents, plus some that tie exactly (same words, same
/// length) across shards, and some with non-ASCII words.
fn corpus_dir() -> CorpusDir {
    let generated = Corpus::generate(7, 400);
    let mut documents: Vec<(String, String, String)> = generated
        .documents()
        .iter()
        .map(|d| (d.id.clone(), d.title.clone(), d.text.clone()))
        .collect();
    for i in 0..9 {
        let text = "tiebreak lantern tiebreak harbour".to_owned();
        documents.push((format!("tie-{i:02}"), format!("Tie {i}"), text));
    }
    documents.push((
        "u-1".into(),
        "Naïve CAFÉ".into(),
        "Über naïve straße café 2024".into(),
    ));
    documents.push(("u-2".into(), "Ελληνικά".into(), "ΣΟΦΊΑ σοφία café".into()));
    CorpusDir::write("mixed", documents)
}

fn text(query: &str) -> Payload {
    Payload::new("text/plain", query.to_owned())
}

fn json_query(value: &Value) -> Payload {
    Payload::new("application/json", value.to_string())
}

/// The queries both trees answer: plain and JSON, small and large k, words
/// common and rare, ties, case and non-ASCII words.
fn queries() -> Vec<Payload> {
    vec![
        text("hello world"),
        text("hello"),
        text("World"),
        text("lion"),
        text("signal family lion"),
        text("tiebreak"),
        text("tiebreak lantern"),
        text("café"),
        text("CAFÉ naïve"),
        text("σοφία"),
        text("über 2024"),
        text("no-such-word-here zzzz"),
        json_query(&json!({"query": "hello world", "k": 1})),
        json_query(&json!({"query": "hello world", "k": 3})),
        json_query(&json!({"query": "hello world", "k": 1000})),
        json_query(&json!({"query": "tiebreak", "k": 4})),
        json_query(&json!({"query": "tiebreak harbour", "k": 20})),
        json_query(&json!({"query": "lion family", "k": 50})),
        json_query(&json!({"query": "the of and", "k": 25})),
        json_query(&json!({"query": "Hello, World!", "k": 7, "delay_ms": 0})),
        json_query(&json!({"query": "signal", "k": 200})),
    ]
}

async fn answer(root: &Root, payload: Payload) -> Value {
    let query = Query::new(payload).deadline(Duration::from_secs(10));
    let response = root.query(query).await.expect("an answer");
    assert_full_coverage(&response, SHARDS);
    let body = response.result.expect("a result").body;
    serde_json::from_slice(&body).expect("a JSON result")
}

#[tokio::test]
async fn a_tree_of_rust_and_python_leaves_with_the_python_merge_answers_as_an_all_rust_one() {
    if !python::grpc_ready() {
        return;
    }
    let dir = corpus_dir();
    let dir = dir.path();
    let rust_leaves = join_all((0..SHARDS).map(|shard| search_leaf_over(shard, SHARDS, dir)));
    let mixed_leaves = join_all((0..SHARDS).map(|shard| async move {
        if shard % 2 == 0 {
            search_leaf_over(shard, SHARDS, dir).await
        } else {
            python::leaf(shard, SHARDS, dir, &[]).await
        }
    }));
    let (rust_leaves, mixed_leaves, rust_merge, python_merge) = tokio::join!(
        rust_leaves,
        mixed_leaves,
        search_merge(),
        python::merge(&[])
    );
    let addrs = |leaves: &[Server]| -> Vec<String> {
        leaves.iter().map(|l| l.addr().to_string()).collect()
    };
    let (rust_shards, mixed_shards) = (addrs(&rust_leaves), addrs(&mixed_leaves));
    let (rust_uri, python_uri) = (rust_merge.uri(), python_merge.uri());
    let (all_rust, mixed) = tokio::join!(
        Root::start(&rust_shards, &rust_uri, &[]),
        Root::start(&mixed_shards, &python_uri, &[])
    );

    let mut tied = false;
    for payload in queries() {
        let what = String::from_utf8_lossy(&payload.body).into_owned();
        let (want, got) = tokio::join!(answer(&all_rust, payload.clone()), answer(&mixed, payload));
        assert_eq!(got, want, "query {what}");
        let scores: Vec<f64> = want["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| h["score"].as_f64().expect("a score"))
            .collect();
        tied |= scores.windows(2).any(|pair| pair[0] == pair[1]);
    }
    assert!(tied, "some query ranks hits of equal score, broken by id");
}
