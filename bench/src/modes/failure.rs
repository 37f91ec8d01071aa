//! What a request that did not succeed ran into: a shed (the system
//! refused it at once, by its own admission control) or an error (a
//! timeout, a failed shard, a partial answer...). Reports count the two
//! apart: a shed is a system protecting itself, an error is a request it
//! took on and then let down.

use std::fmt;

/// The start of the message of a DEADLINE_EXCEEDED that Scatter's root
/// answers at admission (the request's deadline is below what the tree
/// currently needs), as opposed to one that ran out of time.
const REFUSED_AT_ADMISSION: &str = "refused at admission";
/// The metadata (gRFC A6) a root's overload refusal carries: when to retry.
const PUSHBACK: &str = "grpc-retry-pushback-ms";

/// Why a request did not succeed; each carries a short description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Refused at once by admission control: RESOURCE_EXHAUSTED with
    /// `grpc-retry-pushback-ms`, or DEADLINE_EXCEEDED whose message starts
    /// "refused at admission". A RESOURCE_EXHAUSTED without pushback (an
    /// HTTP/2 stream refused, a payload too large) is an error.
    Shed(String),
    /// Anything else: a timeout, a failed or missing shard, a broken stream.
    Error(String),
}

impl Failure {
    /// Classifies a status: sheds by their code (and message), the rest as errors.
    pub fn from_status(status: &tonic::Status) -> Self {
        let description = format!("{:?}: {}", status.code(), status.message());
        let shed = match status.code() {
            tonic::Code::ResourceExhausted => status.metadata().get(PUSHBACK).is_some(),
            tonic::Code::DeadlineExceeded => status.message().starts_with(REFUSED_AT_ADMISSION),
            _ => false,
        };
        if shed {
            Self::Shed(description)
        } else {
            Self::Error(description)
        }
    }

    /// Whether the request was refused at once.
    pub fn is_shed(&self) -> bool {
        matches!(self, Self::Shed(_))
    }

    /// The description.
    pub fn message(&self) -> &str {
        match self {
            Self::Shed(m) | Self::Error(m) => m,
        }
    }
}

/// A description of something that went wrong client-side is an error.
impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::Error(message)
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Self::Error(message.to_owned())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use tonic::{Code, Status};

    use super::*;

    /// A RESOURCE_EXHAUSTED with pushback, as the root refuses beyond its limit.
    fn pushed_back(message: &str) -> Status {
        let mut metadata = tonic::metadata::MetadataMap::new();
        metadata.insert(PUSHBACK, "40".parse().unwrap());
        Status::with_metadata(Code::ResourceExhausted, message, metadata)
    }

    #[test]
    fn pushed_back_and_admission_refusals_are_sheds() {
        let limited = Failure::from_status(&pushed_back("over the limit"));
        assert_eq!(
            limited,
            Failure::Shed("ResourceExhausted: over the limit".into())
        );
        let refused = Failure::from_status(&Status::deadline_exceeded(
            "refused at admission: the tree needs 40 ms, the request has 10 ms",
        ));
        assert!(refused.is_shed(), "{refused}");
    }

    #[test]
    fn deadlines_that_ran_out_and_other_codes_are_errors() {
        for status in [
            Status::resource_exhausted("h2 protocol error: http2 error"),
            Status::deadline_exceeded("no answer before the request deadline"),
            Status::new(Code::Cancelled, "Timeout expired"),
            Status::unavailable("all shards required: 15/16 shards answered"),
        ] {
            let failure = Failure::from_status(&status);
            assert!(!failure.is_shed(), "{failure}");
            assert!(failure.message().contains(status.message()));
        }
        assert!(!Failure::from("partial answer: 15/16 shards").is_shed());
    }
}
