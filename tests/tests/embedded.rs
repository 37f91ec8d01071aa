//! Scatter as a library: a `scatter_root::Fanout` in the test process over
//! the same leaves, with the same configuration, answers exactly what a
//! `scatter serve` root answers — the same coverage (a missing shard's
//! outcome, code and message included) and the same result bytes — at once
//! and progressively.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::join_all;
use scatter_example_search::{Query as SearchQuery, Results, TopK};
use scatter_management::metrics::Registry;
use scatter_proto::v1::{Payload, QueryRequest, QueryResponse, ShardOutcome};
use scatter_root::Fanout;
use scatter_root::config::RootConfig;
use scatter_root::merge::MergeTarget;
use scatter_tests::root::{coverage, done, missing, outcome};
use scatter_tests::tree::{search_leaf, search_merge};
use scatter_tests::{LeafFlags, Query, Root, Script, Server, free_port};
use tonic::Code;

const DEADLINE: Duration = Duration::from_secs(5);
const SEED: u64 = 11;
const DOCS: usize = 3000;

/// The same tree two ways: a `scatter serve` root over `shards` merging
/// with `merge`, and the configuration an embedded [`Fanout`] gets for it.
async fn root_and_config(shards: &[String], merge: &str) -> (Root, RootConfig) {
    let root = Root::start(shards, merge, &[]).await;
    let config = RootConfig {
        shards: shards.iter().map(|s| vec![s.clone()]).collect(),
        merge: merge.to_owned(),
        ..RootConfig::default()
    };
    (root, config)
}

fn request(payload: Payload) -> QueryRequest {
    QueryRequest {
        payload: Some(payload),
        ..QueryRequest::default()
    }
}

/// Asserts that two answers hold the same result bytes and coverage.
fn assert_same_answer(embedded: &QueryResponse, root: &QueryResponse, what: &str) {
    assert_eq!(
        embedded.result, root.result,
        "{what}: the embedded result differs from the root's"
    );
    assert_eq!(
        embedded.coverage, root.coverage,
        "{what}: the embedded coverage differs from the root's"
    );
}

/// The final answer of the embedded fan-out's stream for `payload`.
async fn embedded_stream_answer(fanout: &Fanout, payload: Payload) -> QueryResponse {
    let updates: Vec<_> = fanout
        .query_stream(request(payload), Some(DEADLINE))
        .collect()
        .await;
    let last = updates
        .last()
        .expect("at least the final update")
        .as_ref()
        .unwrap_or_else(|e| panic!("the stream failed: {e}"));
    done(last)
        .unwrap_or_else(|| panic!("the last update is not `done`: {updates:?}"))
        .clone()
}

#[tokio::test]
async fn embedded_fanout_answers_the_same_bytes_and_coverage_as_the_root_over_search_leaves() {
    let leaves = join_all((0..3).map(|shard| search_leaf(shard, 3, SEED, DOCS))).await;
    let shards: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    let (root, config) = root_and_config(&shards, "builtin:concat").await;
    let fanout = Fanout::connect(config).await.expect("the fan-out connects");

    for (text, k) in [("hello world", 5), ("distributed search", 3), ("zzzz", 10)] {
        let payload = SearchQuery::new(text, k).to_payload();
        let from_root = root
            .query(Query::new(payload.clone()).deadline(DEADLINE))
            .await
            .expect("the root answers");
        let embedded = fanout
            .query(request(payload.clone()), Some(DEADLINE))
            .await
            .expect("the embedded fan-out answers");
        assert_same_answer(&embedded, &from_root, text);
        assert_eq!(coverage(&embedded).answered, 3, "{text}");
        let streamed = embedded_stream_answer(&fanout, payload).await;
        assert_same_answer(&streamed, &from_root, text);
    }
}

#[tokio::test]
async fn embedded_fanout_reports_a_refusing_shard_and_a_down_shard_like_the_root() {
    let leaves: Vec<Server> = join_all((0..3).map(|shard| LeafFlags::new(shard, 4).start())).await;
    let mut shards: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    shards.push(free_port().to_string()); // shard 3: nothing listens
    let (root, config) = root_and_config(&shards, "builtin:concat").await;
    let fanout = Fanout::connect(config).await.expect("the fan-out connects");

    let script = Script::new().fail(1, "invalid_argument", "shard 1 cannot read this");
    let from_root = root
        .query(Query::script(&script).deadline(DEADLINE))
        .await
        .expect("a partial answer");
    let embedded = fanout
        .query(request(script.payload()), Some(DEADLINE))
        .await
        .expect("a partial answer");

    let c = coverage(&embedded);
    assert_eq!((c.total, c.answered, c.failed), (4, 2, 2), "{c:?}");
    let refused = missing(c, 1);
    assert_eq!(outcome(refused), ShardOutcome::Failed, "{refused:?}");
    assert_eq!(Code::from(refused.code), Code::InvalidArgument);
    assert_eq!(refused.message, "shard 1 cannot read this");
    let down = missing(c, 3);
    assert_eq!(outcome(down), ShardOutcome::Failed, "{down:?}");
    assert_eq!(Code::from(down.code), Code::Unavailable, "{down:?}");
    assert_same_answer(&embedded, &from_root, "one shard refusing, one down");

    // The policy applies the same: both refuse when all shards are required.
    let strict = QueryRequest {
        policy: Some(scatter_proto::v1::Policy {
            require_all_shards: true,
            ..Default::default()
        }),
        ..request(script.payload())
    };
    let embedded = fanout
        .query(strict, Some(DEADLINE))
        .await
        .expect_err("all shards were required");
    let from_root = root
        .query(
            Query::script(&script)
                .require_all_shards()
                .deadline(DEADLINE),
        )
        .await
        .expect_err("all shards were required");
    assert_eq!(embedded.code(), from_root.code());
    assert_eq!(embedded.to_string(), from_root.message());
}

#[tokio::test]
async fn merge_linked_into_the_fanout_answers_like_the_same_merge_as_a_process() {
    let (leaves, merge) = tokio::join!(
        join_all((0..3).map(|shard| search_leaf(shard, 3, SEED, DOCS))),
        search_merge()
    );
    let shards: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    let (root, config) = root_and_config(&shards, &merge.uri()).await;
    let fanout = Fanout::with_merge(
        config,
        MergeTarget::Local(Arc::new(TopK)),
        &Registry::default(),
    )
    .await
    .expect("the fan-out connects");

    let payload = SearchQuery::new("hello world", 10).to_payload();
    let from_root = root
        .query(Query::new(payload.clone()).deadline(DEADLINE))
        .await
        .expect("the root answers");
    let embedded = fanout
        .query(request(payload), Some(DEADLINE))
        .await
        .expect("the embedded fan-out answers");
    assert_eq!(embedded.coverage, from_root.coverage);
    let results = |r: &QueryResponse| {
        Results::from_payload(r.result.as_ref().expect("a result")).expect("search results")
    };
    let (embedded, from_root) = (results(&embedded), results(&from_root));
    assert!(!embedded.hits.is_empty(), "the query has hits");
    assert_eq!(embedded, from_root);
}
