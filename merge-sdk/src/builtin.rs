//! Built-in merges, for trees that run no merge of their own.

use prost::Message as _;
use scatter_proto::v1::{ConcatResult, ShardPartial};

use crate::{Fold, Merge, MergeBegin, Payload, Status};

/// The content type of [`Concat`]'s result.
pub const CONCAT_CONTENT_TYPE: &str = "application/x-protobuf; messageType=scatter.v1.ConcatResult";

/// Concatenation: every partial, unchanged and tagged with its shard, in
/// shard order, as one `scatter.v1.ConcatResult`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Concat;

/// The partials of one request so far.
#[derive(Clone, Debug, Default)]
pub struct ConcatFold {
    partials: Vec<ShardPartial>,
}

impl Merge for Concat {
    type Fold = ConcatFold;
    fn begin(&self, begin: &MergeBegin) -> Result<ConcatFold, Status> {
        Ok(ConcatFold {
            partials: Vec::with_capacity(begin.shard_count as usize),
        })
    }
}

impl Fold for ConcatFold {
    fn accept(&mut self, shard: u32, partial: Payload) -> Result<(), Status> {
        self.partials.push(ShardPartial {
            shard,
            partial: Some(partial),
        });
        Ok(())
    }

    fn finish(mut self) -> Result<Payload, Status> {
        self.partials.sort_by_key(|p| p.shard);
        let result = ConcatResult {
            partials: self.partials,
        };
        Ok(Payload::new(CONCAT_CONTENT_TYPE, result.encode_to_vec()))
    }

    fn snapshot(&self) -> Option<Payload> {
        self.clone().finish().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_orders_by_shard_and_keeps_bytes() {
        let mut fold = Concat.begin(&MergeBegin::default()).unwrap();
        fold.accept(2, Payload::new("t", "two")).unwrap();
        fold.accept(0, Payload::new("t", "zero")).unwrap();
        let result = fold.finish().unwrap();
        assert_eq!(result.content_type, CONCAT_CONTENT_TYPE);
        let decoded = ConcatResult::decode(result.body).unwrap();
        let got: Vec<(u32, &[u8])> = decoded
            .partials
            .iter()
            .map(|p| (p.shard, p.partial.as_ref().unwrap().body.as_ref()))
            .collect();
        assert_eq!(got, vec![(0, &b"zero"[..]), (2, &b"two"[..])]);
    }
}
