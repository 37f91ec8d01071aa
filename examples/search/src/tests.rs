//! The property the example exists to show: merging the shards' top k gives
//! the top k of the whole corpus.

use scatter_merge::{Fold, Merge, MergeBegin};

use super::*;

/// The indexes of `corpus` split into `shard_count` shards.
fn shard_indexes(corpus: &Corpus, shard_count: u32) -> Vec<Index> {
    (0..shard_count)
        .map(|shard| Index::new(shard, corpus.shard(shard, shard_count)))
        .collect()
}

/// The merged answer of the shards: each shard's index answers, and the
/// `TopK` fold merges the partials in reverse shard order (arrival order
/// must not matter).
fn merged(shards: &[Index], query: &Query) -> Results {
    let begin = MergeBegin {
        request: Some(query.to_payload()),
        shard_count: shards.len() as u32,
        request_id: 1,
        ..MergeBegin::default()
    };
    let mut fold = TopK.begin(&begin).unwrap();
    for index in shards.iter().rev() {
        let shard = index.shard();
        let partial = index.results(&query.query, query.k).to_payload();
        fold.accept(shard, partial).unwrap();
    }
    Results::from_payload(&fold.finish().unwrap()).unwrap()
}

/// Hits without their shard, which a direct search cannot know.
fn ranked(hits: &[Hit]) -> Vec<(&str, &str, f64)> {
    hits.iter()
        .map(|h| (h.doc.as_str(), h.title.as_str(), h.score))
        .collect()
}

#[test]
fn merged_top_k_of_shards_equals_top_k_of_the_whole_corpus() {
    let corpus = Corpus::generate(DEFAULT_SEED, 2_000);
    let whole = Index::new(0, corpus.documents());
    let shardings: Vec<Vec<Index>> = [1, 3, 8].map(|n| shard_indexes(&corpus, n)).into();
    for text in [
        "hello world",
        "hello",
        "scatter gather shard",
        "river of light",
        "The World",
    ] {
        for k in [1, 10, 100] {
            let query = Query::new(text, k);
            let direct = top_k_direct(&corpus, text, k);
            assert!(!direct.is_empty(), "{text:?} has hits");
            for shards in &shardings {
                let merged = merged(shards, &query);
                let shard_count = shards.len();
                assert_eq!(
                    ranked(&merged.hits),
                    ranked(&direct),
                    "{text:?} k={k} shards={shard_count}"
                );
                assert_eq!(merged.total_hits, whole.results(text, k).total_hits);
                for hit in &merged.hits {
                    let position: usize = hit.doc["doc-".len()..].parse().unwrap();
                    assert_eq!(hit.shard as usize, position % shard_count, "{}", hit.doc);
                }
            }
        }
    }
}

#[test]
fn hello_world_finds_documents_holding_both_words_first() {
    let corpus = Corpus::generate(DEFAULT_SEED, 2_000);
    let top = &top_k_direct(&corpus, "hello world", 1)[0];
    let doc = corpus.documents().iter().find(|d| d.id == top.doc).unwrap();
    let words: Vec<String> = tokenize(&doc.title).chain(tokenize(&doc.text)).collect();
    assert!(words.iter().any(|w| w == "hello") && words.iter().any(|w| w == "world"));
}
