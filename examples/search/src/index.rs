//! An inverted index over one shard's documents, and its scoring.
//!
//! The scoring is BM25's term-frequency saturation and length normalisation
//! **without** the corpus-level IDF, and with a fixed average document
//! length. So a document's score depends only on the document and the
//! query, never on which other documents share its shard: the top k merged
//! from any sharding equals the top k of the whole corpus. (Real engines
//! keep IDF and exchange term statistics in a first round; this demo avoids
//! that round.)

use std::collections::HashMap;

use crate::rank::{by_score_then_id, keep_top, round_score};
use crate::{Document, Hit, Results};

/// BM25's term-frequency saturation: a term's contribution approaches
/// `K1 + 1` as it repeats.
const K1: f64 = 1.2;
/// BM25's length normalisation: 0 ignores length, 1 divides by it fully.
const B: f64 = 0.75;
/// The document length (in words) that counts as average. Fixed rather than
/// measured, so it cannot differ between shards; about the mean of the
/// generated corpus.
const AVG_DOC_LEN: f64 = 100.0;

/// The words of `text`: its runs of letters and digits, lowercased.
pub fn tokenize(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
}

/// The searchable form of one shard: for each word, the documents holding
/// it and how often.
#[derive(Debug, Default)]
pub struct Index {
    shard: u32,
    documents: Vec<Entry>,
    postings: HashMap<String, Vec<Posting>>,
}

#[derive(Debug)]
struct Entry {
    id: String,
    title: String,
    /// Words in title and text.
    len: u32,
}

#[derive(Debug)]
struct Posting {
    /// Position in `Index::documents`.
    doc: u32,
    /// Occurrences of the word in the document.
    count: u32,
}

impl Index {
    /// Indexes the title and text of `documents`, which make up `shard`
    /// (the shard is only copied into hits).
    pub fn new<'a>(shard: u32, documents: impl IntoIterator<Item = &'a Document>) -> Self {
        let mut index = Self {
            shard,
            ..Self::default()
        };
        for document in documents {
            let position = u32::try_from(index.documents.len()).expect("fewer than 2^32 documents");
            let mut counts: HashMap<String, u32> = HashMap::new();
            let mut len = 0u32;
            for word in tokenize(&document.title).chain(tokenize(&document.text)) {
                len = len.saturating_add(1);
                *counts.entry(word).or_default() += 1;
            }
            for (word, count) in counts {
                let posting = Posting {
                    doc: position,
                    count,
                };
                index.postings.entry(word).or_default().push(posting);
            }
            index.documents.push(Entry {
                id: document.id.clone(),
                title: document.title.clone(),
                len,
            });
        }
        index
    }

    /// The shard this index serves.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// How many documents are indexed.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether no document is indexed.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty()
    }

    /// How many distinct words are indexed.
    pub fn words(&self) -> usize {
        self.postings.len()
    }

    /// The top `k` hits for `query`, best first (score descending, then
    /// document id ascending). Only documents with a score above 0 are hits.
    pub fn search(&self, query: &str, k: usize) -> Vec<Hit> {
        self.results(query, k).hits
    }

    /// Like [`Index::search`], with the number of matching documents.
    pub fn results(&self, query: &str, k: usize) -> Results {
        let mut words: Vec<String> = tokenize(query).collect();
        words.sort_unstable();
        words.dedup();

        // Each document's score sums its words in the same (sorted) order
        // in every index, so the floating-point sum is the same everywhere.
        let mut scores = vec![0.0; self.documents.len()];
        for word in &words {
            for posting in self.postings.get(word).into_iter().flatten() {
                let doc = posting.doc as usize;
                scores[doc] += term_score(posting.count, self.documents[doc].len);
            }
        }
        let mut matches: Vec<(f64, u32)> = (0..)
            .zip(scores)
            .map(|(doc, score)| (round_score(score), doc))
            .filter(|&(score, _)| score > 0.0)
            .collect();
        let total_hits = matches.len() as u64;
        keep_top(&mut matches, k, |a, b| {
            by_score_then_id((a.0, self.id(a.1)), (b.0, self.id(b.1)))
        });

        let hits = matches
            .into_iter()
            .map(|(score, doc)| {
                let entry = &self.documents[doc as usize];
                Hit {
                    doc: entry.id.clone(),
                    title: entry.title.clone(),
                    score,
                    shard: self.shard,
                }
            })
            .collect();
        Results { hits, total_hits }
    }

    fn id(&self, doc: u32) -> &str {
        &self.documents[doc as usize].id
    }
}

/// One word's contribution: BM25 without IDF.
fn term_score(count: u32, len: u32) -> f64 {
    let tf = f64::from(count);
    let norm = 1.0 - B + B * f64::from(len) / AVG_DOC_LEN;
    tf * (K1 + 1.0) / (tf + K1 * norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, text: &str) -> Document {
        Document {
            id: id.into(),
            title: String::new(),
            text: text.into(),
        }
    }

    #[test]
    fn tokens_are_lowercase_alphanumeric_runs() {
        let words: Vec<String> = tokenize("Hello, World! x86-64 naïve__ok").collect();
        assert_eq!(words, ["hello", "world", "x86", "64", "naïve", "ok"]);
    }

    #[test]
    fn a_document_scores_the_same_whatever_shares_its_shard() {
        let target = doc("t", "hello hello world of words");
        let alone = Index::new(0, [&target]).search("hello world", 10);
        let others = [
            doc("a", "hello"),
            doc("b", "world world world"),
            doc("c", "nothing"),
        ];
        let crowded = Index::new(0, others.iter().chain([&target])).search("hello world", 10);
        let score = |hits: &[Hit]| hits.iter().find(|h| h.doc == "t").map(|h| h.score);
        assert_eq!(score(&alone), score(&crowded));
        assert!(score(&alone).unwrap() > 0.0);
    }

    #[test]
    fn hits_rank_by_score_then_id_and_stop_at_k() {
        let docs = [
            doc("d3", "apple"),
            doc("d1", "apple"),
            doc("d2", "apple apple banana"),
            doc("d4", "cherry"),
        ];
        let index = Index::new(5, &docs);
        let results = index.results("Apple banana apple", 10);
        let ids: Vec<&str> = results.hits.iter().map(|h| h.doc.as_str()).collect();
        assert_eq!(ids, ["d2", "d1", "d3"]);
        assert_eq!(results.total_hits, 3);
        assert!(results.hits.iter().all(|h| h.shard == 5 && h.score > 0.0));
        // Repeating a query word does not count it twice.
        assert_eq!(
            index.search("apple", 10)[1].score,
            index.search("apple apple", 10)[1].score
        );

        let top = index.results("apple", 2);
        assert_eq!(top.hits.len(), 2);
        assert_eq!(top.total_hits, 3);
        assert!(index.search("durian", 10).is_empty());
    }

    #[test]
    fn longer_documents_score_lower_for_the_same_count() {
        let docs = [
            doc("short", "hello"),
            doc("long", &format!("hello {}", "filler ".repeat(300))),
        ];
        let hits = Index::new(0, &docs).search("hello", 10);
        assert_eq!(hits[0].doc, "short");
        assert!(hits[0].score > hits[1].score);
    }
}
