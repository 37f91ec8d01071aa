//! The root's request-level logs: when a request ends, one `debug` line
//! (request id, code, latency, coverage) and one `debug` line per shard
//! that did not answer (its outcome, last replica, attempts, code); a
//! `warn` line when the request took longer than the slow-request
//! threshold. All carry `request_id`, the label the client sent as
//! `x-request-id` or the root's number, so the root's lines join the
//! leaves' and the merge's, and the request lines its `trace_id`. With
//! spans exported, the request's own span ends here too.

use std::sync::Arc;
use std::time::Duration;

use scatter_management::trace::{AttributeValue, OpenSpan};
use tonic::Code;

use crate::error::QueryError;
use crate::fanout::{RequestId, ShardEnd, coverage};
use crate::topology::Snapshot;

/// What a request's shards did, filled in as they end.
#[derive(Default)]
pub struct ShardRecord {
    /// The tree the request went to (its shards in order).
    pub snapshot: Option<Arc<Snapshot>>,
    /// How each ended; `None` while it runs (or when the request stopped
    /// before it ended).
    pub ends: Vec<Option<ShardEnd>>,
}

/// Logs the end of request `id`, which took `latency`.
pub fn finished<T>(
    id: &RequestId,
    result: &Result<T, QueryError>,
    record: &ShardRecord,
    latency: Duration,
    slow: Option<Duration>,
) {
    let is_slow = slow.is_some_and(|threshold| latency > threshold);
    if !is_slow && !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let code = match result {
        Ok(_) => Code::Ok,
        Err(error) => error.code(),
    };
    let coverage = coverage::so_far(record.ends.iter().map(Option::as_ref));
    let latency_ms = latency.as_secs_f64() * 1e3;
    let error = result.as_ref().err().map(ToString::to_string);
    tracing::debug!(
        request_id = %id,
        trace_id = id.trace_id(),
        code = ?code,
        latency_ms,
        answered = coverage.answered,
        total = coverage.total,
        error,
        "request finished"
    );
    let shards = record.snapshot.iter().flat_map(|s| s.shards.iter());
    for (shard, end) in shards.map(|s| s.id).zip(&record.ends) {
        let Some((outcome, missing)) = end.as_ref().and_then(missing) else {
            continue;
        };
        tracing::debug!(
            request_id = %id,
            shard,
            outcome,
            replica = missing.replica,
            attempts = missing.attempts,
            code = ?missing.code,
            error = missing.message,
            "shard not answered"
        );
    }
    if is_slow {
        tracing::warn!(
            request_id = %id,
            trace_id = id.trace_id(),
            code = ?code,
            latency_ms,
            threshold_ms = slow.map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            answered = coverage.answered,
            total = coverage.total,
            "slow request"
        );
    }
}

/// Ends the request's exported span: its id, code, coverage and error.
pub fn span<T>(
    span: OpenSpan,
    id: &RequestId,
    result: &Result<T, QueryError>,
    record: &ShardRecord,
) {
    if !id.spans().enabled() {
        return;
    }
    let code = result.as_ref().err().map_or(Code::Ok, QueryError::code);
    let coverage = coverage::so_far(record.ends.iter().map(Option::as_ref));
    let attributes = vec![
        ("scatter.request_id", AttributeValue::from(id.label())),
        ("rpc.grpc.status_code", AttributeValue::Int(code as i64)),
        ("scatter.shards_answered", coverage.answered.into()),
        ("scatter.shards_total", coverage.total.into()),
    ];
    let error = result.as_ref().err().map(ToString::to_string);
    span.finish(id.spans(), attributes, error);
}

/// A shard's outcome and what is known of it, unless it answered.
fn missing(end: &ShardEnd) -> Option<(&'static str, &crate::fanout::Missing)> {
    match end {
        ShardEnd::Answered => None,
        ShardEnd::Failed(m) => Some(("failed", m)),
        ShardEnd::TimedOut(m) => Some(("timed_out", m)),
        ShardEnd::Skipped(m) => Some(("skipped", m)),
    }
}
