//! What a leaf's method receives.

use std::time::Instant;

use scatter_proto::v1::Payload;

use crate::Hints;

/// One attempt of one request, for this leaf's shard.
#[derive(Clone, Debug)]
pub struct ShardRequest {
    /// The client's payload, byte for byte.
    pub payload: Payload,
    /// The shard asked for (equal to the leaf's own; the SDK checks).
    pub shard: u32,
    /// How many shards make the whole.
    pub shard_count: u32,
    /// The root's id of the request; equal for every shard and attempt.
    pub request_id: u64,
    /// 0 for the first attempt, 1 for a hedge or retry, ...
    pub attempt: u32,
    /// When the caller stops waiting, from `grpc-timeout`. The SDK already
    /// drops the work at this instant; use it to budget work (e.g. return
    /// early with fewer results).
    pub deadline: Option<Instant>,
    /// The call's line back to the root: tell it early that this call will
    /// be slow (see [`Hints::slow`]).
    pub hints: Hints,
}
