//! Object-safe forms of [`Merge`] and [`Fold`], so the root can hold any
//! merge (built-in or the user's own) behind one pointer.

use std::sync::Arc;

use crate::{Fold, Merge, MergeBegin, Payload, Status};

/// [`Merge`] behind a `dyn` pointer; every `Merge` is one.
pub trait DynMerge: Send + Sync + 'static {
    /// Starts merging one request.
    fn begin_dyn(&self, begin: &MergeBegin) -> Result<Box<dyn DynFold>, Status>;
}

/// [`Fold`] behind a `dyn` pointer; every `Fold` is one.
pub trait DynFold: Send + 'static {
    /// Takes one shard's partial.
    fn accept_dyn(&mut self, shard: u32, partial: Payload) -> Result<(), Status>;
    /// Returns the merged result.
    fn finish_dyn(self: Box<Self>) -> Result<Payload, Status>;
    /// The result so far, if the fold gives one.
    fn snapshot_dyn(&self) -> Option<Payload>;
}

impl<M: Merge> DynMerge for M {
    fn begin_dyn(&self, begin: &MergeBegin) -> Result<Box<dyn DynFold>, Status> {
        Ok(Box::new(self.begin(begin)?))
    }
}

impl<F: Fold> DynFold for F {
    fn accept_dyn(&mut self, shard: u32, partial: Payload) -> Result<(), Status> {
        self.accept(shard, partial)
    }
    fn finish_dyn(self: Box<Self>) -> Result<Payload, Status> {
        (*self).finish()
    }
    fn snapshot_dyn(&self) -> Option<Payload> {
        self.snapshot()
    }
}

impl Merge for Arc<dyn DynMerge> {
    type Fold = Box<dyn DynFold>;
    fn begin(&self, begin: &MergeBegin) -> Result<Self::Fold, Status> {
        // Through the pointer: `self.begin_dyn` would pick this very impl
        // (an `Arc<dyn DynMerge>` is itself a `DynMerge`) and recurse.
        (**self).begin_dyn(begin)
    }
}

impl Fold for Box<dyn DynFold> {
    fn accept(&mut self, shard: u32, partial: Payload) -> Result<(), Status> {
        self.as_mut().accept_dyn(shard, partial)
    }
    fn finish(self) -> Result<Payload, Status> {
        self.finish_dyn()
    }
    fn snapshot(&self) -> Option<Payload> {
        self.as_ref().snapshot_dyn()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Concat;

    #[test]
    fn a_merge_behind_a_pointer_folds_like_the_merge_itself() {
        let merge: Arc<dyn DynMerge> = Arc::new(Concat);
        let mut fold = Merge::begin(&merge, &MergeBegin::default()).unwrap();
        Fold::accept(&mut fold, 0, Payload::new("t", "zero")).unwrap();
        let result = Fold::finish(fold).unwrap();
        assert_eq!(result.content_type, crate::CONCAT_CONTENT_TYPE);
        assert!(!result.body.is_empty());
    }
}
