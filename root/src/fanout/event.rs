//! What the gather tells its consumers: a partial arrived, a shard ended.
//! The unary answer, the progressive stream and the metrics all read these
//! events; none of them re-derives what the gather knows.

use std::sync::Arc;

use scatter_proto::v1::Payload;
use tonic::Code;

use crate::topology::Replica;

/// One step of one request's gather.
pub enum GatherEvent {
    /// A shard answered: its partial, who gave it, and on which attempt.
    Partial {
        /// Index of the shard in the request's snapshot (its id).
        shard: usize,
        /// The replica that answered.
        replica: Arc<Replica>,
        /// The attempt that answered (0 first, then hedges and retries).
        attempt: u32,
        /// The leaf's partial.
        partial: Payload,
    },
    /// A shard is done, one way or another; after its partial, if any.
    ShardEnded {
        /// Index of the shard.
        shard: usize,
        /// How it ended.
        end: ShardEnd,
    },
}

/// How one shard ended.
#[derive(Clone, Debug)]
pub enum ShardEnd {
    /// Its partial reached the merge.
    Answered,
    /// Every attempt failed.
    Failed(Missing),
    /// The deadline came first.
    TimedOut(Missing),
    /// Never called.
    Skipped(Missing),
}

/// What is known of a shard that did not answer.
#[derive(Clone, Debug)]
pub struct Missing {
    /// The last attempt's gRPC code.
    pub code: Code,
    /// The last attempt's message, or the root's explanation.
    pub message: String,
    /// The last replica called, if any.
    pub replica: String,
    /// Attempts made.
    pub attempts: u32,
}

impl Default for Missing {
    fn default() -> Self {
        Self {
            code: Code::Unknown,
            message: String::new(),
            replica: String::new(),
            attempts: 0,
        }
    }
}
