//! The example search across real processes: four `search-leaf` shards, the
//! `search-merge` and a root answer exactly what one search over the whole
//! corpus answers.

use futures::future::join_all;
use scatter_example_search::{Corpus, Query as SearchQuery, Results, top_k_direct};
use scatter_tests::root::assert_full_coverage;
use scatter_tests::tree::{search_leaf, search_merge};
use scatter_tests::{Query, Root};

const SHARDS: u32 = 4;
const SEED: u64 = 7;
const DOCS: usize = 2000;
const K: usize = 10;

#[tokio::test]
async fn sharded_search_returns_the_same_top_k_as_one_search_over_the_whole_corpus() {
    let (leaves, merge) = tokio::join!(
        join_all((0..SHARDS).map(|shard| search_leaf(shard, SHARDS, SEED, DOCS))),
        search_merge()
    );
    let shards: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    let root = Root::start(&shards, &merge.uri(), &[]).await;

    let query = SearchQuery::new("hello world", K).to_payload();
    let response = root
        .query(Query::new(query))
        .await
        .expect("the root answers");

    assert_full_coverage(&response, SHARDS);
    let merged = Results::from_payload(&response.result.unwrap_or_default())
        .expect("the result is the search's JSON");
    let corpus = Corpus::generate(SEED, DOCS);
    let direct = top_k_direct(&corpus, "hello world", K);
    assert_eq!(
        direct.len(),
        K,
        "the corpus has at least {K} hits for the query"
    );
    let key = |h: &scatter_example_search::Hit| (h.doc.clone(), h.title.clone(), h.score);
    assert_eq!(
        merged.hits.iter().map(key).collect::<Vec<_>>(),
        direct.iter().map(key).collect::<Vec<_>>(),
        "merged top {K} differs from the direct search"
    );
    for hit in &merged.hits {
        assert!(
            corpus
                .shard(hit.shard, SHARDS)
                .iter()
                .any(|d| d.id == hit.doc),
            "{} is reported from shard {}, which does not hold it",
            hit.doc,
            hit.shard
        );
    }
}
