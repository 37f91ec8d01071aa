//! The search merge: the global top k of the shards' partials.

use scatter_merge::{Fold, Merge, MergeBegin, Payload, Status};

use crate::rank::{best_first, keep_top};
use crate::{Hit, Query, Results, SearchError};

/// Merges partial top-k lists into the top k of the whole corpus; `k` comes
/// from the client's query.
#[derive(Clone, Copy, Debug, Default)]
pub struct TopK;

/// The best hits of one request so far.
#[derive(Clone, Debug)]
pub struct TopKFold {
    k: usize,
    hits: Vec<Hit>,
    total_hits: u64,
}

impl Merge for TopK {
    type Fold = TopKFold;

    /// Reads `k` from the request; an unreadable request is
    /// `INVALID_ARGUMENT`, as it is at the leaves.
    fn begin(&self, begin: &MergeBegin) -> Result<TopKFold, Status> {
        let request = begin.request.as_ref().ok_or(SearchError::NoRequest)?;
        let query = Query::from_payload(request)?;
        Ok(TopKFold {
            k: query.k,
            hits: Vec::with_capacity(query.k),
            total_hits: 0,
        })
    }
}

impl Fold for TopKFold {
    /// Keeps the best `k` of the hits so far and adds up `total_hits`. A
    /// partial that is not a search result is `INVALID_ARGUMENT` naming
    /// its shard.
    fn accept(&mut self, shard: u32, partial: Payload) -> Result<(), Status> {
        let results =
            Results::from_payload(&partial).map_err(|reason| SearchError::BadPartial {
                shard,
                reason: Box::new(reason),
            })?;
        self.total_hits = self.total_hits.saturating_add(results.total_hits);
        self.hits.extend(results.hits);
        keep_top(&mut self.hits, self.k, best_first);
        Ok(())
    }

    fn finish(self) -> Result<Payload, Status> {
        let results = Results {
            hits: self.hits,
            total_hits: self.total_hits,
        };
        Ok(results.to_payload())
    }

    /// The top k so far: at most k hits, so cheap to give after each partial.
    fn snapshot(&self) -> Option<Payload> {
        self.clone().finish().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scatter_merge::Code;

    fn begin(query: &Query) -> MergeBegin {
        MergeBegin {
            request: Some(query.to_payload()),
            shard_count: 2,
            request_id: 1,
            ..MergeBegin::default()
        }
    }

    #[test]
    fn a_malformed_partial_is_invalid_argument_naming_its_shard() {
        let mut fold = TopK.begin(&begin(&Query::new("hello", 3))).unwrap();
        let status = fold
            .accept(4, Payload::new("application/json", r#"{"hits": ["#))
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().starts_with("shard 4 sent a partial"),
            "{status:?}"
        );
        assert!(
            status
                .message()
                .contains("result payload is not valid JSON"),
            "{status:?}"
        );
        let status = fold
            .accept(2, Payload::new("text/plain", "hi"))
            .unwrap_err();
        assert!(status.message().contains("shard 2"), "{status:?}");
    }

    #[test]
    fn a_bad_request_fails_the_merge_at_begin() {
        let status = TopK.begin(&MergeBegin::default()).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let mut bad = begin(&Query::new("hello", 3));
        bad.request = Some(Payload::new(
            "application/json",
            r#"{"query":"hello","k":5000}"#,
        ));
        assert!(
            TopK.begin(&bad)
                .unwrap_err()
                .message()
                .contains("out of range")
        );
    }

    #[test]
    fn no_partials_merge_to_no_hits() {
        let fold = TopK.begin(&begin(&Query::new("hello", 3))).unwrap();
        let results = Results::from_payload(&fold.finish().unwrap()).unwrap();
        assert_eq!(results, Results::default());
    }
}
