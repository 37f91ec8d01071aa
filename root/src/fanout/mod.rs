//! The fan-out of one request, per shard and then together.
//!
//! Read in request order: [`deadline`] fixes the time the leaves get;
//! [`shard`] is one shard's attempts as one future (choose a replica with
//! [`choose`], call it through the leaf-call stack of [`leaf_call`] and
//! [`observe`], hedge after the shard's delay within the hedge budget (global and per shard), retry
//! a fast failure, cancel losers); [`gather`] drives every shard's future
//! and emits [`event`]s; [`coverage`] turns shard ends into the report and
//! applies the request's policy.
//!
//! The leaf call is any `tower::Service<LeafCall>`, so layers stack on it
//! and the timing logic is tested in paused time with in-memory services.

mod attempts;
pub mod choose;
pub mod coverage;
pub mod deadline;
pub mod event;
pub mod gather;
pub mod leaf_call;
pub mod listen;
pub mod observe;
pub mod request_id;
pub mod shard;
#[cfg(test)]
mod tests;

pub use crate::topology::HedgeBudget;
pub use deadline::Deadlines;
pub use event::{GatherEvent, Missing, ShardEnd};
pub use gather::{gather, gather_after};
pub use leaf_call::{AttemptKind, GrpcLeaf, LeafCall, LeafService, LeafStack, leaf_stack};
pub use listen::{Heard, Listener, News};
pub use request_id::RequestId;
pub use shard::{Hedging, ShardPlan};
