//! The root library's errors: [`StartError`] for what stops a root (or an
//! embedded fan-out) from starting, and [`QueryError`] for what ends one
//! request, mapped to the gRPC status a client can act on.

use tonic::{Code, Status};

/// Why a root or an embedded fan-out could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration cannot be used.
    #[error("configuration: {0}")]
    Config(String),
    /// A process or container runtime could not start or watch the tree.
    #[error("{what}")]
    Runtime {
        /// What went wrong, or what was being done when `source` happened.
        what: String,
        /// The error underneath, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Serving failed (bind, transport).
    #[error(transparent)]
    Serve(#[from] scatter_management::Error),
}

impl StartError {
    /// A runtime error: `what` was being done when `source` happened.
    pub fn runtime(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Runtime {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// A runtime error with nothing underneath: `what` says it all.
    pub fn runtime_failed(what: impl Into<String>) -> Self {
        Self::Runtime {
            what: what.into(),
            source: None,
        }
    }
}

/// Why one request got no merged answer.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
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
        "merge did not answer within the request deadline ({waited_ms} ms after the merge stream opened)"
    )]
    MergeDeadline {
        /// How long the merge stream had been open.
        waited_ms: u128,
    },
}

impl QueryError {
    /// The gRPC code a client gets for this error.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidRequest(_) => Code::InvalidArgument,
            Self::TooLarge { .. } | Self::Overloaded { .. } => Code::ResourceExhausted,
            Self::Coverage { code, .. } => *code,
            Self::MergeUnavailable { .. } => Code::Unavailable,
            Self::MergeFailed { .. } => Code::Internal,
            Self::MergeDeadline { .. } => Code::DeadlineExceeded,
        }
    }
}

impl From<QueryError> for Status {
    fn from(error: QueryError) -> Self {
        Status::new(error.code(), error.to_string())
    }
}
