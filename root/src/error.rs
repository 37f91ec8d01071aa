//! The one error type of the root library, and its mapping to gRPC status
//! codes a client can act on.

use tonic::{Code, Status};

/// Everything that can go wrong in the root, at start-up or for a request.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    /// The configuration cannot be used.
    #[error("configuration: {0}")]
    Config(String),
    /// A process or container runtime could not start or watch the tree.
    #[error("runtime: {0}")]
    Runtime(String),
    /// Serving failed (bind, transport).
    #[error(transparent)]
    Serve(#[from] scatter_management::Error),
    /// The request is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The request is larger than the root accepts.
    #[error(
        "request payload is {size} bytes; this root accepts at most {limit} (raise --max-request-bytes)"
    )]
    TooLarge {
        /// Bytes received.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The root is at its concurrency limit.
    #[error("root is at its limit of {limit} concurrent requests; retry with backoff")]
    Overloaded {
        /// The configured limit.
        limit: usize,
    },
    /// Too few shards answered for the request's policy.
    #[error("{policy}: {coverage}")]
    Coverage {
        /// The code the client gets: UNAVAILABLE, or the leaves' own code
        /// when every shard refused the request for the same client fault.
        code: Code,
        /// What the policy asked for.
        policy: String,
        /// What happened, shard by shard.
        coverage: String,
    },
    /// The merge cannot be reached.
    #[error("merge at {addr} is unavailable: {message}")]
    MergeUnavailable {
        /// The merge's address.
        addr: String,
        /// What the transport said.
        message: String,
    },
    /// The merge answered with an error.
    #[error("merge failed ({code:?}): {message}")]
    MergeFailed {
        /// The merge's status code.
        code: Code,
        /// The merge's own message.
        message: String,
    },
    /// The merge did not answer before the request deadline.
    #[error(
        "merge did not answer within the request deadline ({waited_ms} ms after the last partial)"
    )]
    MergeDeadline {
        /// How long the root waited for it.
        waited_ms: u128,
    },
}

impl From<RootError> for Status {
    fn from(error: RootError) -> Self {
        let code = match &error {
            RootError::InvalidRequest(_) => Code::InvalidArgument,
            RootError::TooLarge { .. } | RootError::Overloaded { .. } => Code::ResourceExhausted,
            RootError::Coverage { code, .. } => *code,
            RootError::MergeUnavailable { .. } => Code::Unavailable,
            RootError::MergeFailed { .. } => Code::Internal,
            RootError::MergeDeadline { .. } => Code::DeadlineExceeded,
            RootError::Config(_) | RootError::Runtime(_) | RootError::Serve(_) => Code::Internal,
        };
        Status::new(code, error.to_string())
    }
}
