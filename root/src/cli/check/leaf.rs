//! The leaf battery: what the root relies on from every leaf, whatever its
//! language — health, shard identity, answers within the deadline, work
//! that stops when the caller goes away, clear refusals, robustness,
//! concurrency and a graceful drain.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::join_all;
use scatter_proto::v1::{LeafRequest, Payload};
use tonic::{Code, Status};

use super::report::{Outcome, Report};
use super::shared::{DEADLINE_SLACK, UNREADABLE};
use super::target::Target;
use super::{aftermath, drain, shared, wire};

/// The leaf checks, in the order they run (the drain ends the process, so
/// it comes last).
pub const CHECKS: [&str; 9] = [
    "health",
    "info",
    "answer",
    "deadline",
    "cancellation",
    "bad-payload",
    "garbage",
    "concurrency",
    "drain",
];

/// The in-flight gauge every leaf built on the SDK exports.
const IN_FLIGHT: &str = "scatter_leaf_in_flight";
/// The short deadline of the `deadline` check.
const SHORT_DEADLINE: Duration = Duration::from_millis(100);
/// How soon after a cancellation the work must stop.
const STOP_WITHIN: Duration = Duration::from_secs(1);
/// How long the leaf may take to finish earlier work before a cancellation
/// is tried.
const IDLE_WITHIN: Duration = Duration::from_secs(5);
/// Calls sent at once by the `concurrency` check.
const CONCURRENT: usize = 32;
/// Slow calls sent at once by the `concurrency` check.
const CONCURRENT_SLOW: usize = 4;

/// What the leaf battery sends, and its limits.
#[derive(Clone, Debug)]
pub struct LeafPlan {
    /// A request the leaf answers quickly.
    pub payload: Payload,
    /// A request the leaf takes a second or more over, if the user has one.
    pub slow: Option<Payload>,
    /// The shard to ask for when the leaf does not serve `Info`.
    pub shard: u32,
    /// The shard count to send when the leaf does not serve `Info`.
    pub shard_count: u32,
    /// The deadline of an ordinary call.
    pub deadline: Duration,
    /// The leaf's Prometheus endpoint.
    pub metrics: String,
    /// How long the leaf has to exit after SIGTERM.
    pub grace: Duration,
}

/// Runs every leaf check against `target`, in order, into `report`.
pub async fn run(target: &mut Target, mut plan: LeafPlan, report: &mut Report) {
    for check in CHECKS {
        let started = Instant::now();
        let outcome = match check {
            "health" => shared::health(target.uri(), "scatter.v1.Leaf").await,
            "info" => info(target.uri(), &mut plan).await,
            "answer" => answer(target.uri(), &plan).await,
            "deadline" => deadline(target.uri(), &plan).await,
            "cancellation" => cancellation(target.uri(), &plan).await,
            "bad-payload" => bad_payload(target.uri(), &plan).await,
            "garbage" => garbage(target.uri()).await,
            "concurrency" => concurrency(target.uri(), &plan).await,
            _ => drain(target, &plan).await,
        };
        let outcome = aftermath(target, check, outcome).await;
        report.record(check, outcome, started.elapsed());
    }
}

impl LeafPlan {
    fn request(&self, payload: &Payload) -> LeafRequest {
        LeafRequest {
            payload: Some(payload.clone()),
            shard: self.shard,
            shard_count: self.shard_count,
            request_id: 0x5ca7_7e12_c4ec_0000 | u64::from(std::process::id()),
            attempt: 0,
            report_start: false,
        }
    }

    /// The slow request, or the quick one.
    fn slow_or_quick(&self) -> &Payload {
        self.slow.as_ref().unwrap_or(&self.payload)
    }
}

/// Checks `Info` against what the leaf answers, and takes its shard into
/// `plan` for the checks after it.
async fn info(uri: &str, plan: &mut LeafPlan) -> Outcome {
    let info = match wire::info(wire::channel(uri)).await {
        Ok(info) => info,
        Err(status) if status.code() == Code::Unimplemented => {
            return Outcome::pass(format!(
                "not served (optional: such a leaf is placed by configuration); \
                 asking for shard {} of {}",
                plan.shard, plan.shard_count
            ));
        }
        Err(status) => {
            return Outcome::fail(
                "Leaf.Info answers, or UNIMPLEMENTED",
                wire::describe(&status),
            );
        }
    };
    if info.shard_count == 0 || info.shard >= info.shard_count {
        return Outcome::fail(
            "Info names a shard below its shard_count",
            format!("shard {} of {}", info.shard, info.shard_count),
        );
    }
    plan.shard = info.shard;
    plan.shard_count = info.shard_count;
    let own = format!("shard {} of {}", info.shard, info.shard_count);
    let ask = |shard| {
        let mut request = plan.request(&plan.payload);
        request.shard = shard;
        wire::answer(
            wire::channel(uri),
            request,
            Some(plan.deadline),
            plan.deadline + DEADLINE_SLACK,
        )
    };
    if let Err(status) = ask(info.shard).await
        && status.code() == Code::FailedPrecondition
    {
        return Outcome::fail(
            format!("Answer accepts the shard Info names ({own})"),
            wire::describe(&status),
        );
    }
    if info.shard_count < 2 {
        return Outcome::pass(own);
    }
    let other = (info.shard + 1) % info.shard_count;
    match ask(other).await {
        Err(status) if status.code() == Code::FailedPrecondition => Outcome::pass(format!(
            "{own}; a call for shard {other} is refused with FAILED_PRECONDITION"
        )),
        _ => Outcome::pass(format!("{own}; it answers calls for other shards too")),
    }
}

async fn answer(uri: &str, plan: &LeafPlan) -> Outcome {
    let expected = format!(
        "OK with a partial within the {} ms deadline",
        plan.deadline.as_millis()
    );
    let started = Instant::now();
    let request = plan.request(&plan.payload);
    let answered = wire::answer(
        wire::channel(uri),
        request,
        Some(plan.deadline),
        plan.deadline + DEADLINE_SLACK,
    )
    .await;
    let took = started.elapsed();
    match answered {
        Ok(_) if took > plan.deadline => {
            Outcome::fail(expected, format!("answered after {} ms", took.as_millis()))
        }
        Ok(response) => match response.partial {
            Some(partial) => Outcome::pass(format!(
                "{} bytes of {:?} in {} ms",
                partial.body.len(),
                partial.content_type,
                took.as_millis()
            )),
            None => Outcome::fail(expected, "OK with no partial in the LeafResponse"),
        },
        Err(status) => Outcome::fail(expected, wire::describe(&status)),
    }
}

async fn deadline(uri: &str, plan: &LeafPlan) -> Outcome {
    let started = Instant::now();
    let request = plan.request(plan.slow_or_quick());
    let wait = SHORT_DEADLINE + DEADLINE_SLACK + Duration::from_secs(1);
    let answered = wire::answer(wire::channel(uri), request, Some(SHORT_DEADLINE), wait).await;
    let took = started.elapsed();
    let ended = match &answered {
        Ok(_) => "OK".to_owned(),
        Err(status) => wire::describe(status),
    };
    let which = if plan.slow.is_some() {
        "the slow request"
    } else {
        "the quick request (--slow-payload tries one that outlives the deadline)"
    };
    if took <= SHORT_DEADLINE + DEADLINE_SLACK {
        Outcome::pass(format!(
            "{which} with a {} ms deadline ended after {} ms: {ended}",
            SHORT_DEADLINE.as_millis(),
            took.as_millis()
        ))
    } else {
        Outcome::fail(
            format!(
                "an answer or DEADLINE_EXCEEDED within {} ms of a {} ms deadline",
                DEADLINE_SLACK.as_millis(),
                SHORT_DEADLINE.as_millis()
            ),
            format!("{which} ended after {} ms: {ended}", took.as_millis()),
        )
    }
}

/// Cancels a slow call mid-way and watches the leaf's in-flight gauge: the
/// work must stop, not run on for nobody.
async fn cancellation(uri: &str, plan: &LeafPlan) -> Outcome {
    let Some(slow) = &plan.slow else {
        return Outcome::skip(
            "needs --slow-payload: a request this leaf takes a second or more to answer",
        );
    };
    // Work left over from earlier checks (a deadline-check call whose work
    // outlived its deadline) must end first, or its end would pass for the
    // cancelled call's.
    let base = match wire::poll_gauge(&plan.metrics, IN_FLIGHT, IDLE_WITHIN, |v| v <= 0.0).await {
        Ok(idle) => idle,
        Err(Ok(busy)) => {
            return Outcome::skip(format!(
                "the leaf is not idle: {IN_FLIGHT} still {busy} after {} s",
                IDLE_WITHIN.as_secs()
            ));
        }
        Err(Err(why)) => {
            return Outcome::skip(format!(
                "cannot see the leaf's work: {why} (point --metrics at its Prometheus \
                 endpoint with the gauge {IN_FLIGHT})"
            ));
        }
    };
    let request = plan.request(slow);
    let started = Instant::now();
    let call = tokio::spawn(wire::answer(
        wire::channel(uri),
        request,
        None,
        Duration::from_secs(120),
    ));
    let counted = wire::poll_gauge(&plan.metrics, IN_FLIGHT, Duration::from_secs(2), |v| {
        v > base
    })
    .await;
    if call.is_finished() {
        return Outcome::skip(format!(
            "the --slow-payload call ended after {} ms, too soon to cancel it",
            started.elapsed().as_millis()
        ));
    }
    if let Err(last) = counted {
        call.abort();
        return Outcome::fail(
            format!("the slow call counted in {IN_FLIGHT} while it runs"),
            match last {
                Ok(value) => format!("{IN_FLIGHT} stayed at {value} for 2 s"),
                Err(why) => why,
            },
        );
    }
    // Dropping the call resets its HTTP/2 stream: the leaf sees CANCELLED.
    call.abort();
    let cancelled = Instant::now();
    match wire::poll_gauge(&plan.metrics, IN_FLIGHT, STOP_WITHIN, |v| v <= base).await {
        Ok(_) => Outcome::pass(format!(
            "the work stopped {} ms after the caller cancelled",
            cancelled.elapsed().as_millis()
        )),
        Err(last) => Outcome::fail(
            format!(
                "the call's work stops within {} ms of the caller cancelling it \
                 ({IN_FLIGHT} back to {base})",
                STOP_WITHIN.as_millis()
            ),
            match last {
                Ok(value) => format!(
                    "{IN_FLIGHT} still {value} after {} ms: the work goes on for nobody",
                    STOP_WITHIN.as_millis()
                ),
                Err(why) => why,
            },
        ),
    }
}

async fn bad_payload(uri: &str, plan: &LeafPlan) -> Outcome {
    let payload = Payload {
        content_type: plan.payload.content_type.clone(),
        body: Bytes::from_static(UNREADABLE),
    };
    let expected = "INVALID_ARGUMENT with a message saying what is wrong with the payload";
    let request = plan.request(&payload);
    match wire::answer(
        wire::channel(uri),
        request,
        Some(plan.deadline),
        plan.deadline + DEADLINE_SLACK,
    )
    .await
    {
        Err(status) if status.code() == Code::InvalidArgument && !status.message().is_empty() => {
            Outcome::pass(wire::describe(&status))
        }
        Err(status) => Outcome::fail(expected, wire::describe(&status)),
        Ok(_) => Outcome::fail(expected, "OK: it answered a payload it cannot have read"),
    }
}

/// Garbage on the wire at three depths; the leaf must serve on after them.
async fn garbage(uri: &str) -> Outcome {
    shared::survives_garbage(uri, "/scatter.v1.Leaf/Answer").await
}

async fn concurrency(uri: &str, plan: &LeafPlan) -> Outcome {
    let channel = wire::channel(uri);
    let call = |payload: &Payload| {
        let request = plan.request(payload);
        let channel = channel.clone();
        async move {
            let started = Instant::now();
            let answered = wire::answer(
                channel,
                request,
                Some(Duration::from_secs(10)),
                Duration::from_secs(11),
            )
            .await;
            (started.elapsed(), answered)
        }
    };
    let calls = join_all((0..CONCURRENT).map(|_| call(&plan.payload))).await;
    let expected = format!("{CONCURRENT} calls at once all answered OK");
    if let Some(problem) = first_failure(&calls) {
        return Outcome::fail(expected, problem);
    }
    let slowest = calls
        .iter()
        .map(|(took, _)| *took)
        .max()
        .unwrap_or_default();
    let mut seen = format!(
        "{CONCURRENT} calls at once, the slowest in {} ms",
        slowest.as_millis()
    );
    if let Some(slow) = &plan.slow {
        let (alone, answered) = call(slow).await;
        if let Err(status) = answered {
            return Outcome::fail(
                "the --slow-payload call answered OK",
                wire::describe(&status),
            );
        }
        let together = join_all((0..CONCURRENT_SLOW).map(|_| call(slow))).await;
        if let Some(problem) = first_failure(&together) {
            return Outcome::fail(
                format!("{CONCURRENT_SLOW} slow calls at once answered OK"),
                problem,
            );
        }
        let longest = together
            .iter()
            .map(|(took, _)| *took)
            .max()
            .unwrap_or_default();
        let bound = alone * 2 + Duration::from_millis(500);
        if longest > bound {
            return Outcome::fail(
                format!(
                    "{CONCURRENT_SLOW} slow calls at once take about as long as one ({} ms)",
                    alone.as_millis()
                ),
                format!("{} ms: the calls wait for each other", longest.as_millis()),
            );
        }
        seen.push_str(&format!(
            "; {CONCURRENT_SLOW} slow calls at once in {} ms (one alone: {} ms)",
            longest.as_millis(),
            alone.as_millis()
        ));
    }
    Outcome::pass(seen)
}

fn first_failure<T>(calls: &[(Duration, Result<T, Status>)]) -> Option<String> {
    let failed: Vec<&Status> = calls.iter().filter_map(|(_, r)| r.as_ref().err()).collect();
    let first = failed.first()?;
    Some(format!(
        "{} of {} failed, the first with {}",
        failed.len(),
        calls.len(),
        wire::describe(first)
    ))
}

async fn drain(target: &mut Target, plan: &LeafPlan) -> Outcome {
    let watch = match drain::prepare(target).await {
        Ok(watch) => watch,
        Err(outcome) => return outcome,
    };
    let base = wire::gauge(&plan.metrics, IN_FLIGHT).await.ok();
    let request = plan.request(plan.slow_or_quick());
    let channel = wire::channel(target.uri());
    let call = tokio::spawn(async move {
        wire::answer(
            channel,
            request,
            Some(Duration::from_secs(60)),
            Duration::from_secs(90),
        )
        .await
        .map(drop)
    });
    drain::until_in_flight(&plan.metrics, IN_FLIGHT, base, &call).await;
    drain::observe(target, watch, plan.grace, call, || {}).await
}
