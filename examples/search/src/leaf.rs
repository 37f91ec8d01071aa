//! The search leaf: the top k of one shard.

use std::time::Duration;

use scatter_leaf::{Leaf, Payload, ShardRequest, Status};

use crate::{Corpus, Index, Query};

/// A delay from which a query counts as slow, and the leaf hints so.
const SLOW_MS: u64 = 1000;

/// A leaf holding the index of its shard, built once at start.
#[derive(Debug)]
pub struct SearchLeaf {
    index: Index,
}

impl SearchLeaf {
    /// Indexes shard `shard` of `shard_count` of `corpus`.
    pub fn new(corpus: &Corpus, shard: u32, shard_count: u32) -> Self {
        Self {
            index: Index::new(shard, corpus.shard(shard, shard_count)),
        }
    }

    /// The index this leaf searches.
    pub fn index(&self) -> &Index {
        &self.index
    }
}

impl Leaf for SearchLeaf {
    /// Answers a `text/plain` or `application/json` query with this shard's
    /// top k as an `application/json` partial, after the query's
    /// `delay_ms`; an unreadable query is `INVALID_ARGUMENT`. A query that
    /// asks for a delay of a second or more is known to be slow from the
    /// start, and the leaf says so at once: a root listening for hints
    /// hedges it without waiting.
    async fn answer(&self, request: ShardRequest) -> Result<Payload, Status> {
        let query = Query::from_payload(&request.payload)?;
        if query.delay_ms >= SLOW_MS {
            let expected = Duration::from_millis(query.delay_ms);
            request
                .hints
                .slow(Some(expected), "the query asks for a delay");
        }
        if query.delay_ms > 0 {
            // When the root cancels the call or its deadline passes, the SDK
            // drops this future, and the wait with it.
            tokio::time::sleep(Duration::from_millis(query.delay_ms)).await;
        }
        // An in-memory search of one shard takes well under a millisecond,
        // too little to be worth moving off the runtime's thread.
        Ok(self.index.results(&query.query, query.k).to_payload())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Results;
    use scatter_leaf::Code;

    fn request(payload: Payload) -> ShardRequest {
        ShardRequest {
            payload,
            shard: 1,
            shard_count: 3,
            request_id: 7,
            attempt: 0,
            deadline: None,
            hints: scatter_leaf::Hints::none(),
        }
    }

    #[tokio::test]
    async fn a_leaf_answers_with_its_shard_top_k() {
        let corpus = Corpus::generate(42, 300);
        let leaf = SearchLeaf::new(&corpus, 1, 3);
        let query = Query::new("hello world", 5);
        let partial = leaf.answer(request(query.to_payload())).await.unwrap();
        let results = Results::from_payload(&partial).unwrap();
        assert_eq!(results.hits, leaf.index().search("hello world", 5));
        assert_eq!(results.hits.len(), 5);
        assert!(results.hits.iter().all(|h| h.shard == 1));
        assert!(results.total_hits >= 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_delayed_query_answers_after_its_delay_and_stops_when_dropped() {
        let leaf = SearchLeaf::new(&Corpus::generate(42, 30), 1, 3);
        let slow = Query::new("hello world", 5).delayed(2_000);
        let started = tokio::time::Instant::now();
        let partial = leaf.answer(request(slow.to_payload())).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(2_000));
        assert_eq!(
            Results::from_payload(&partial).unwrap().hits,
            leaf.index().search("hello world", 5)
        );

        // A caller that gives up after 100 ms (a deadline, a cancellation)
        // drops the answer: the wait ends with it, not 2 s later.
        let started = tokio::time::Instant::now();
        let given_up = tokio::time::timeout(
            Duration::from_millis(100),
            leaf.answer(request(slow.to_payload())),
        )
        .await;
        assert!(given_up.is_err());
        assert_eq!(started.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn a_query_asking_for_a_second_or_more_is_hinted_slow_at_once_and_a_quicker_one_not() {
        let leaf = SearchLeaf::new(&Corpus::generate(42, 30), 1, 3);
        let (said, mut heard) = tokio::sync::mpsc::unbounded_channel();
        let mut slow = request(Query::new("hello world", 5).delayed(1_500).to_payload());
        slow.hints = scatter_leaf::Hints::to(said.clone());
        leaf.answer(slow).await.unwrap();
        let Some(scatter_proto::v1::leaf_update::Kind::Slow(hint)) =
            heard.try_recv().ok().and_then(|update| update.kind)
        else {
            panic!("no slow hint");
        };
        assert_eq!(hint.expected_ms, 1_500);

        let mut quicker = request(Query::new("hello world", 5).delayed(999).to_payload());
        quicker.hints = scatter_leaf::Hints::to(said);
        leaf.answer(quicker).await.unwrap();
        assert!(heard.try_recv().is_err(), "a quicker query said nothing");
    }

    #[tokio::test]
    async fn a_leaf_refuses_a_bad_query_as_invalid_argument() {
        let leaf = SearchLeaf::new(&Corpus::generate(42, 10), 0, 1);
        let status = leaf
            .answer(request(Payload::new("image/png", "x")))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with("unsupported content type"),
            "{status:?}"
        );
    }
}
