//! Coverage: how each shard ended for one request, the report the client
//! gets, and the per-request policy that decides whether partial coverage
//! is an answer or an error.

use scatter_proto::v1::{Coverage, MissingShard, Policy, ShardOutcome};
use tonic::Code;

pub use super::event::{Missing, ShardEnd};
use crate::error::QueryError;

/// The coverage report for shards ended as `ends` (indexed by shard id).
pub fn report(ends: &[ShardEnd]) -> Coverage {
    so_far(ends.iter().map(Some))
}

/// The coverage of a request still in progress: shards not yet ended
/// (`None`) count in `total` and in no outcome.
pub fn so_far<'a>(ends: impl ExactSizeIterator<Item = Option<&'a ShardEnd>>) -> Coverage {
    let mut coverage = Coverage {
        total: u32::try_from(ends.len()).unwrap_or(u32::MAX),
        ..Coverage::default()
    };
    for (shard, end) in ends.enumerate() {
        let (outcome, missing) = match end {
            None => continue,
            Some(ShardEnd::Answered) => {
                coverage.answered += 1;
                continue;
            }
            Some(ShardEnd::Failed(m)) => {
                coverage.failed += 1;
                (ShardOutcome::Failed, m)
            }
            Some(ShardEnd::TimedOut(m)) => {
                coverage.timed_out += 1;
                (ShardOutcome::TimedOut, m)
            }
            Some(ShardEnd::Skipped(m)) => {
                coverage.skipped += 1;
                (ShardOutcome::Skipped, m)
            }
        };
        coverage.missing.push(MissingShard {
            shard: u32::try_from(shard).unwrap_or(u32::MAX),
            outcome: outcome as i32,
            code: missing.code as i32,
            message: missing.message.clone(),
            replica: missing.replica.clone(),
            attempts: missing.attempts,
        });
    }
    coverage
}

/// Checks the request's policy fields; a malformed policy is the client's fault.
pub fn validate(policy: &Policy) -> Result<(), QueryError> {
    if !(0.0..=1.0).contains(&policy.min_coverage) {
        return Err(QueryError::InvalidRequest(format!(
            "policy.min_coverage is {}; it must be a fraction in [0, 1]",
            policy.min_coverage
        )));
    }
    if let Some(hedge) = &policy.hedge
        && hedge.percentile != 0.0
        && !(hedge.percentile > 0.0 && hedge.percentile < 100.0)
    {
        return Err(QueryError::InvalidRequest(format!(
            "policy.hedge.percentile is {}; it must be in (0, 100), or 0 for the default",
            hedge.percentile
        )));
    }
    Ok(())
}

/// `Ok` when `coverage` satisfies `policy`; otherwise the error the client
/// gets, naming every missing shard.
pub fn enforce(policy: &Policy, coverage: &Coverage) -> Result<(), QueryError> {
    let total = coverage.total.max(1);
    let (ok, wanted) = if policy.require_all_shards {
        (
            coverage.answered == coverage.total,
            "all shards required".to_owned(),
        )
    } else if policy.min_coverage > 0.0 {
        let fraction = f64::from(coverage.answered) / f64::from(total);
        (
            fraction + 1e-9 >= policy.min_coverage,
            format!(
                "at least {:.0}% of shards required",
                policy.min_coverage * 100.0
            ),
        )
    } else {
        (coverage.answered > 0, "no shard answered".to_owned())
    };
    if ok {
        return Ok(());
    }
    Err(QueryError::Coverage {
        code: shared_client_fault(coverage).unwrap_or(Code::Unavailable),
        policy: wanted,
        coverage: describe(coverage),
    })
}

/// When every missing shard refused the request with the same client-fault
/// code (e.g. every leaf said INVALID_ARGUMENT), that code is the honest
/// answer, not UNAVAILABLE.
fn shared_client_fault(coverage: &Coverage) -> Option<Code> {
    let first = coverage.missing.first()?;
    let code = Code::from(first.code);
    let client_fault = matches!(
        code,
        Code::InvalidArgument
            | Code::OutOfRange
            | Code::FailedPrecondition
            | Code::PermissionDenied
            | Code::Unauthenticated
    );
    (client_fault
        && coverage.answered == 0
        && coverage.missing.iter().all(|m| m.code == first.code))
    .then_some(code)
}

/// One line for people: `1/4 answered; shard 2 timed out (DEADLINE_EXCEEDED ...)`.
pub fn describe(coverage: &Coverage) -> String {
    let mut text = format!("{}/{} shards answered", coverage.answered, coverage.total);
    for m in &coverage.missing {
        let outcome = match ShardOutcome::try_from(m.outcome) {
            Ok(ShardOutcome::Failed) => "failed",
            Ok(ShardOutcome::TimedOut) => "timed out",
            Ok(ShardOutcome::Skipped) => "skipped",
            _ => "missing",
        };
        text.push_str(&format!(
            "; shard {} {outcome} ({:?}: {})",
            m.shard,
            Code::from(m.code),
            m.message
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missing(code: Code, message: &str) -> Missing {
        Missing {
            code,
            message: message.into(),
            replica: "http://127.0.0.1:1".into(),
            attempts: 1,
        }
    }

    #[test]
    fn report_counts_and_lists_missing_shards_in_order() {
        let ends = [
            ShardEnd::Answered,
            ShardEnd::TimedOut(missing(Code::DeadlineExceeded, "slow")),
            ShardEnd::Failed(missing(Code::Unavailable, "down")),
            ShardEnd::Answered,
        ];
        let c = report(&ends);
        assert_eq!(
            (c.total, c.answered, c.failed, c.timed_out, c.skipped),
            (4, 2, 1, 1, 0)
        );
        assert_eq!(
            c.missing.iter().map(|m| m.shard).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(c.missing[1].code, Code::Unavailable as i32);
    }

    #[test]
    fn policy_decides_whether_partial_coverage_is_an_error() {
        let c = report(&[
            ShardEnd::Answered,
            ShardEnd::Failed(missing(Code::Unavailable, "down")),
        ]);
        assert!(enforce(&Policy::default(), &c).is_ok());
        let all = Policy {
            require_all_shards: true,
            ..Policy::default()
        };
        let err = enforce(&all, &c).unwrap_err().to_string();
        assert!(
            err.contains("shard 1 failed") && err.contains("down"),
            "{err}"
        );
        let most = Policy {
            min_coverage: 0.5,
            ..Policy::default()
        };
        assert!(enforce(&most, &c).is_ok());
        let more = Policy {
            min_coverage: 0.75,
            ..Policy::default()
        };
        assert!(enforce(&more, &c).is_err());
    }

    #[test]
    fn every_shard_refusing_the_request_passes_the_code_through() {
        let c = report(&[
            ShardEnd::Failed(missing(Code::InvalidArgument, "bad query")),
            ShardEnd::Failed(missing(Code::InvalidArgument, "bad query")),
        ]);
        let status = tonic::Status::from(enforce(&Policy::default(), &c).unwrap_err());
        assert_eq!(status.code(), Code::InvalidArgument);
    }
}
