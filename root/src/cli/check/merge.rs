//! The merge battery: what the root relies on from every merge — health,
//! one answer for partials in any order and for shards that never answer,
//! the deadline, clear refusals, robustness, concurrency and a graceful
//! drain.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::join_all;
use scatter_proto::v1::merge_message::Kind;
use scatter_proto::v1::{MergeBegin, MergeMessage, Payload, ShardPartial};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Code;

use super::report::{Outcome, Report};
use super::shared::{DEADLINE_SLACK, UNREADABLE};
use super::target::Target;
use super::{aftermath, drain, shared, wire};

/// The merge checks, in the order they run.
pub const CHECKS: [&str; 8] = [
    "health",
    "any-order",
    "missing-shards",
    "deadline",
    "bad-partial",
    "garbage",
    "concurrency",
    "drain",
];

/// The in-flight gauge every merge built on the SDK exports.
const IN_FLIGHT: &str = "scatter_merge_in_flight";
/// The deadline of the `deadline` check.
const SHORT_DEADLINE: Duration = Duration::from_millis(200);
/// The deadline of an ordinary merge.
const DEADLINE: Duration = Duration::from_secs(5);
/// Merges run at once by the `concurrency` check.
const CONCURRENT: usize = 16;

/// What the merge battery sends, and its limits.
#[derive(Clone, Debug)]
pub struct MergePlan {
    /// The client request, as the merge's `begin` carries it.
    pub request: Payload,
    /// Partials the merge can read, one per shard, in shard order.
    pub partials: Vec<Payload>,
    /// The merge's Prometheus endpoint.
    pub metrics: String,
    /// How long the merge has to exit after SIGTERM.
    pub grace: Duration,
}

/// Runs every merge check against `target`, in order, into `report`.
pub async fn run(target: &mut Target, plan: MergePlan, report: &mut Report) {
    for check in CHECKS {
        let started = Instant::now();
        let outcome = match check {
            "health" => shared::health(target.uri(), "scatter.v1.Merge").await,
            "any-order" => any_order(target.uri(), &plan).await,
            "missing-shards" => missing_shards(target.uri(), &plan).await,
            "deadline" => deadline(target.uri(), &plan).await,
            "bad-partial" => bad_partial(target.uri(), &plan).await,
            "garbage" => shared::survives_garbage(target.uri(), "/scatter.v1.Merge/Merge").await,
            "concurrency" => concurrency(target.uri(), &plan).await,
            _ => drain(target, &plan).await,
        };
        let outcome = aftermath(target, check, outcome).await;
        report.record(check, outcome, started.elapsed());
    }
}

impl MergePlan {
    /// The `begin` of a stream for `shard_count` shards.
    fn begin(&self, shard_count: usize, deadline: Duration) -> MergeMessage {
        MergeMessage {
            kind: Some(Kind::Begin(MergeBegin {
                request: Some(self.request.clone()),
                shard_count: u32::try_from(shard_count).unwrap_or(u32::MAX),
                request_id: 0x5ca7_7e12_c4ec_0000 | u64::from(std::process::id()),
                deadline_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
            })),
        }
    }

    /// Shard `shard`'s partial as a stream message.
    fn partial(&self, shard: usize) -> MergeMessage {
        partial(shard, self.partials[shard].clone())
    }

    /// A whole stream: `begin` for `shard_count` shards, then the partials
    /// of `shards` in that order.
    fn stream(&self, shard_count: usize, shards: &[usize]) -> Vec<MergeMessage> {
        let mut messages = vec![self.begin(shard_count, DEADLINE)];
        messages.extend(shards.iter().map(|&s| self.partial(s)));
        messages
    }
}

fn partial(shard: usize, payload: Payload) -> MergeMessage {
    MergeMessage {
        kind: Some(Kind::Partial(ShardPartial {
            shard: u32::try_from(shard).unwrap_or(u32::MAX),
            partial: Some(payload),
        })),
    }
}

/// One merge of `messages`, sent and half-closed.
async fn merge_all(uri: &str, messages: Vec<MergeMessage>) -> wire::MergeOutcome {
    let stream = tokio_stream::iter(messages);
    wire::merge(
        wire::channel(uri),
        stream,
        Some(DEADLINE),
        DEADLINE + DEADLINE_SLACK,
    )
    .await
}

/// The orders `any-order` sends `n` partials in: as numbered, reversed,
/// and the odd shards before the even ones.
fn orders(n: usize) -> Vec<Vec<usize>> {
    let ascending: Vec<usize> = (0..n).collect();
    let mut orders = vec![ascending.clone()];
    if n > 1 {
        orders.push(ascending.iter().rev().copied().collect());
    }
    if n > 2 {
        let (odd, even): (Vec<usize>, Vec<usize>) = ascending.iter().partition(|&&s| s % 2 == 1);
        orders.push(odd.into_iter().chain(even).collect());
    }
    orders
}

async fn any_order(uri: &str, plan: &MergePlan) -> Outcome {
    let n = plan.partials.len();
    if n == 0 {
        return Outcome::skip(
            "needs partials the merge can read: --leaf ADDR (one per shard) or --partial FILE",
        );
    }
    let mut results: Vec<(Vec<usize>, Payload)> = Vec::new();
    for order in orders(n) {
        match merge_all(uri, plan.stream(n, &order)).await.single() {
            Ok(response) => results.push((order, response.result.unwrap_or_default())),
            Err(got) => {
                return Outcome::fail(
                    format!(
                        "one answer, then OK, for the partials of shards {order:?} in that order"
                    ),
                    got,
                );
            }
        }
    }
    let (first_order, first) = &results[0];
    if let Some((order, other)) = results.iter().find(|(_, r)| r != first) {
        return Outcome::fail(
            "the same result whatever order the partials arrive in",
            format!(
                "order {first_order:?} gave {} bytes of {:?}, order {order:?} gave {} bytes of {:?}",
                first.body.len(),
                first.content_type,
                other.body.len(),
                other.content_type
            ),
        );
    }
    Outcome::pass(format!(
        "one answer for each of {} orders of {n} partials, all the same ({} bytes)",
        results.len(),
        first.body.len()
    ))
}

async fn missing_shards(uri: &str, plan: &MergePlan) -> Outcome {
    let n = plan.partials.len();
    let all: Vec<usize> = (0..n).collect();
    let cases = [
        (
            format!("{n} partials of {} shards", n + 1),
            plan.stream(n + 1, &all),
        ),
        (
            format!("no partial of {} shards", n.max(1)),
            plan.stream(n.max(1), &[]),
        ),
    ];
    for (case, messages) in cases {
        if let Err(got) = merge_all(uri, messages).await.single() {
            return Outcome::fail(format!("one answer, then OK, for {case}"), got);
        }
    }
    Outcome::pass(format!(
        "answered {n} partials of {} shards, and none",
        n + 1
    ))
}

async fn deadline(uri: &str, plan: &MergePlan) -> Outcome {
    let (send, receive) = mpsc::unbounded_channel();
    let shard_count = plan.partials.len().max(1) + 1;
    let _ = send.send(plan.begin(shard_count, SHORT_DEADLINE));
    if !plan.partials.is_empty() {
        let _ = send.send(plan.partial(0));
    }
    let started = Instant::now();
    // The stream stays open (`send` lives): the merge waits for partials
    // that never come, as when the root's shards are slow.
    let stream = UnboundedReceiverStream::new(receive);
    let wait = SHORT_DEADLINE + DEADLINE_SLACK + Duration::from_secs(1);
    let outcome = wire::merge(wire::channel(uri), stream, Some(SHORT_DEADLINE), wait).await;
    let took = started.elapsed();
    drop(send);
    let ended = match &outcome.status {
        Ok(()) => format!("OK with {} answer(s)", outcome.responses.len()),
        Err(status) => wire::describe(status),
    };
    if took <= SHORT_DEADLINE + DEADLINE_SLACK {
        Outcome::pass(format!(
            "a stream left open under a {} ms deadline ended after {} ms: {ended}",
            SHORT_DEADLINE.as_millis(),
            took.as_millis()
        ))
    } else {
        Outcome::fail(
            format!(
                "a stream left open ends within {} ms of its {} ms deadline",
                DEADLINE_SLACK.as_millis(),
                SHORT_DEADLINE.as_millis()
            ),
            format!("ended after {} ms: {ended}", took.as_millis()),
        )
    }
}

async fn bad_partial(uri: &str, plan: &MergePlan) -> Outcome {
    let expected = "INVALID_ARGUMENT with a message saying what is wrong";
    let content_type = plan
        .partials
        .first()
        .map_or_else(|| "application/json".to_owned(), |p| p.content_type.clone());
    let garbage = Payload {
        content_type,
        body: Bytes::from_static(UNREADABLE),
    };
    let unreadable = merge_all(uri, vec![plan.begin(2, DEADLINE), partial(0, garbage)]).await;
    let first = match &unreadable.status {
        Err(status) if refused_clearly(status) => {
            format!("an unreadable partial: {}", wire::describe(status))
        }
        Ok(()) => "an unreadable partial was merged (fine only for a merge that reads any bytes)"
            .to_owned(),
        Err(status) => {
            return Outcome::fail(
                format!("{expected} (an unreadable partial)"),
                wire::describe(status),
            );
        }
    };
    let before_begin = merge_all(uri, vec![partial(0, Payload::default())]).await;
    match &before_begin.status {
        Err(status) if refused_clearly(status) => Outcome::pass(format!(
            "{first}; a partial before `begin`: {}",
            wire::describe(status)
        )),
        Err(status) => Outcome::fail(
            format!("{expected} (a partial before `begin`)"),
            wire::describe(status),
        ),
        Ok(()) => Outcome::fail(
            format!("{expected} (a partial before `begin`)"),
            "OK: it merged a stream with no `begin`",
        ),
    }
}

fn refused_clearly(status: &tonic::Status) -> bool {
    status.code() == Code::InvalidArgument && !status.message().is_empty()
}

async fn concurrency(uri: &str, plan: &MergePlan) -> Outcome {
    let n = plan.partials.len();
    let all: Vec<usize> = (0..n).collect();
    let merges = (0..CONCURRENT).map(|_| merge_all(uri, plan.stream(n.max(1), &all)));
    let started = Instant::now();
    let outcomes = join_all(merges).await;
    let took = started.elapsed();
    let failed: Vec<String> = outcomes
        .into_iter()
        .filter_map(|o| o.single().err())
        .collect();
    match failed.first() {
        None => Outcome::pass(format!(
            "{CONCURRENT} merges at once of {n} partials each, all in {} ms",
            took.as_millis()
        )),
        Some(first) => Outcome::fail(
            format!("{CONCURRENT} merges at once each answered once, OK"),
            format!("{} failed, the first: {first}", failed.len()),
        ),
    }
}

/// SIGTERM with a merge stream half sent: NOT_SERVING first, then the rest
/// of the stream is sent and must be answered.
async fn drain(target: &mut Target, plan: &MergePlan) -> Outcome {
    let watch = match drain::prepare(target).await {
        Ok(watch) => watch,
        Err(outcome) => return outcome,
    };
    let n = plan.partials.len();
    let (send, receive) = mpsc::unbounded_channel();
    let _ = send.send(plan.begin(n.max(1), Duration::from_secs(60)));
    if n > 0 {
        let _ = send.send(plan.partial(0));
    }
    let base = wire::gauge(&plan.metrics, IN_FLIGHT).await.ok();
    let channel = wire::channel(target.uri());
    let stream = UnboundedReceiverStream::new(receive);
    let call = tokio::spawn(async move {
        let outcome = wire::merge(
            channel,
            stream,
            Some(Duration::from_secs(60)),
            Duration::from_secs(90),
        )
        .await;
        match (outcome.status, outcome.responses.len()) {
            (Ok(()), 1) => Ok(()),
            (Ok(()), count) => Err(tonic::Status::internal(format!(
                "{count} responses on one stream"
            ))),
            (Err(status), _) => Err(status),
        }
    });
    drain::until_in_flight(&plan.metrics, IN_FLIGHT, base, &call).await;
    let rest: Vec<MergeMessage> = (1..n).map(|s| plan.partial(s)).collect();
    drain::observe(target, watch, plan.grace, call, move || {
        for message in rest {
            let _ = send.send(message);
        }
        drop(send);
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_go_in_several_orders_each_holding_every_shard() {
        assert_eq!(orders(1), vec![vec![0]]);
        assert_eq!(orders(2), vec![vec![0, 1], vec![1, 0]]);
        assert_eq!(
            orders(4),
            vec![vec![0, 1, 2, 3], vec![3, 2, 1, 0], vec![1, 3, 0, 2]]
        );
    }
}
