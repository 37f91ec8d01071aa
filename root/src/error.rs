//! The root library's errors: [`StartError`] for what stops a root (or an
//! embedded fan-out) from starting, and [`QueryError`] for what ends one
//! request, mapped to the gRPC status a client can act on.

use std::time::Duration;

use tonic::metadata::MetadataMap;
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
    /// The request's metadata is above the root's `limits.max_metadata_bytes`.
    #[error(
        "request metadata is {size} bytes (HTTP/2 header list size); this root accepts at most \
         {limit} (send fewer or shorter headers, or raise --max-metadata-bytes)"
    )]
    MetadataTooLarge {
        /// Bytes received, counted as HTTP/2 does.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// A message between the root and the merge was over a size limit: the
    /// merge's result over the root's `limits.max_result_bytes`, or the
    /// root's request or a partial over the merge's `--max-message-bytes`.
    #[error("{0}")]
    OverLimit(String),
    /// The answer for the client is above the root's `limits.max_response_bytes`.
    #[error(
        "the answer is {size} bytes; this root sends at most {limit} (raise --max-response-bytes, \
         or ask for less)"
    )]
    ResponseTooLarge {
        /// Bytes of the encoded answer.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The root is at its concurrency limit for the request's priority.
    #[error(
        "root overloaded: {running} requests running, at {which} of {cap}; retry after {} ms \
         (grpc-retry-pushback-ms), on another root, or with a higher priority",
        retry_after.as_millis().max(1)
    )]
    Overloaded {
        /// Admitted requests running when this one came.
        running: usize,
        /// The most this request's class may run at once now.
        cap: usize,
        /// Which limit was full.
        which: String,
        /// When a retry may find room: what requests take now.
        retry_after: Duration,
    },
    /// The request's deadline is shorter than requests take now.
    #[error(
        "refused at admission: the request's deadline of {} ms is below the {} ms requests \
         take now (the median of the last ones); send a longer deadline",
        deadline.as_millis(),
        needed.as_millis()
    )]
    DeadlineTooShort {
        /// The request's whole deadline.
        deadline: Duration,
        /// What requests take now.
        needed: Duration,
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
    /// The payload is quarantined as a query of death: its canary killed
    /// the leaf it went to.
    #[error(
        "payload {fingerprint} is quarantined as a query of death: its canary to shard {shard} \
         broke the connection of replica {replica} {:.1} s ago ({cause}); it was sent to no \
         other shard, and identical payloads are refused without calling any leaf for {:.1} s \
         more",
        ago.as_secs_f64(),
        remaining.as_secs_f64()
    )]
    Quarantined {
        /// The payload's fingerprint, as the client named it or as the
        /// root hashed it.
        fingerprint: String,
        /// The shard the canary went to.
        shard: u32,
        /// The replica whose leaf died.
        replica: String,
        /// What the root saw of the death.
        cause: String,
        /// How long ago the canary died.
        ago: Duration,
        /// How long identical payloads stay refused.
        remaining: Duration,
    },
    /// The request's deadline came while it waited for another request's
    /// canary of the same payload.
    #[error(
        "the request's deadline came while it waited for the canary of its payload \
         {fingerprint} (sent by an identical request); no leaf was called"
    )]
    CanaryWait {
        /// The payload's fingerprint.
        fingerprint: String,
    },
    /// The merge cannot be reached.
    #[error("merge at {addr} is unavailable: {message}")]
    MergeUnavailable {
        /// The merge's address.
        addr: String,
        /// What the transport said.
        message: String,
    },
    /// The merge refused the request: it is at its in-flight cap.
    #[error("merge at {addr} is overloaded: {message}; retry with backoff")]
    MergeOverloaded {
        /// The merge's address.
        addr: String,
        /// The merge's own message.
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
    /// Whether the request failed after spending the tree's time (too few
    /// shards answered, or the merge ran out of time), so its latency says
    /// how loaded the tree is; a malformed, refused or client-fault
    /// request says nothing of it.
    pub fn took_the_trees_time(&self) -> bool {
        match self {
            Self::Coverage { code, .. } => *code == Code::Unavailable,
            Self::MergeDeadline { .. } => true,
            _ => false,
        }
    }

    /// The gRPC code a client gets for this error.
    pub fn code(&self) -> Code {
        match self {
            Self::InvalidRequest(_) => Code::InvalidArgument,
            Self::TooLarge { .. }
            | Self::MetadataTooLarge { .. }
            | Self::OverLimit(_)
            | Self::ResponseTooLarge { .. }
            | Self::Overloaded { .. }
            | Self::MergeOverloaded { .. } => Code::ResourceExhausted,
            Self::Coverage { code, .. } => *code,
            Self::MergeUnavailable { .. } => Code::Unavailable,
            Self::MergeFailed { .. } => Code::Internal,
            Self::Quarantined { .. } => Code::FailedPrecondition,
            Self::MergeDeadline { .. }
            | Self::DeadlineTooShort { .. }
            | Self::CanaryWait { .. } => Code::DeadlineExceeded,
        }
    }
}

/// The gRPC metadata telling a client when to retry (gRFC A6).
pub const PUSHBACK_HEADER: &str = "grpc-retry-pushback-ms";

impl From<QueryError> for Status {
    fn from(error: QueryError) -> Self {
        let mut metadata = MetadataMap::new();
        if let QueryError::Overloaded { retry_after, .. } = &error {
            let ms = retry_after.as_millis().max(1).to_string();
            if let Ok(value) = ms.parse() {
                metadata.insert(PUSHBACK_HEADER, value);
            }
        }
        Status::with_metadata(error.code(), error.to_string(), metadata)
    }
}
