//! Scatter's demo workload: a sharded top-k text search.
//!
//! A [`Corpus`] of documents (generated from a seed, or read from a
//! directory) is split into shards by position. Each leaf ([`SearchLeaf`])
//! indexes its shard and answers a [`Query`] with its top k [`Hit`]s; the
//! merge ([`TopK`]) folds those partials into the top k of the whole corpus.
//! Scores ignore corpus-level statistics (see [`Index`]), so the merged
//! answer equals [`top_k_direct`], the same search over one index of the
//! whole corpus, however the corpus is sharded.
//!
//! The binaries `search-leaf` and `search-merge` serve the two halves.
//!
//! Payloads (see [`Query`] and [`Results`]):
//! - query: `text/plain` (the body is the query, k = [`DEFAULT_K`]) or
//!   `application/json` `{"query": "hello world", "k": 10}` (`k` optional,
//!   at most [`MAX_K`]; `"delay_ms": N` makes each leaf wait N ms first, up
//!   to [`MAX_DELAY_MS`]);
//! - partial and merged result: `application/json`
//!   `{"hits":[{"doc":"doc-000001","title":"...","score":1.234,"shard":0}],"total_hits":17}`,
//!   hits best first, `total_hits` the number of matching documents.

mod corpus;
mod error;
mod index;
mod leaf;
mod merge;
mod rank;
mod wire;

pub use corpus::{Corpus, DEFAULT_DOCS, DEFAULT_SEED, Document};
pub use error::SearchError;
pub use index::{Index, tokenize};
pub use leaf::SearchLeaf;
pub use merge::{TopK, TopKFold};
pub use wire::{APPLICATION_JSON, DEFAULT_K, Hit, MAX_DELAY_MS, MAX_K, Query, Results, TEXT_PLAIN};

/// The top `k` hits for `query` over one index of the whole corpus (as
/// shard 0 of 1): what the merged answer of any sharding must equal, up to
/// the `shard` of each hit.
pub fn top_k_direct(corpus: &Corpus, query: &str, k: usize) -> Vec<Hit> {
    Index::new(0, corpus.documents()).search(query, k)
}

#[cfg(test)]
mod tests;
