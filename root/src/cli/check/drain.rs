//! The drain check, for leaves and merges alike: with a call in flight,
//! SIGTERM must turn health NOT_SERVING first (so the root stops sending
//! work), let the call complete, and end the process with code 0 within the
//! grace period.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tonic::{Code, Status};

use super::report::Outcome;
use super::target::Target;
use super::wire;

/// How long after SIGTERM health has to say NOT_SERVING.
const NOT_SERVING_WITHIN: Duration = Duration::from_secs(5);

/// A health watch opened before the signal: the only way to see
/// NOT_SERVING from a process that stops taking new connections at once.
/// `None` where the process serves `Check` but not `Watch`.
pub type Watch = Option<tonic::Streaming<tonic_health::pb::HealthCheckResponse>>;

/// Opens the health watch and reads its first status, which must be
/// SERVING.
///
/// # Errors
/// The skip to report for a process the checker did not start (it cannot
/// signal it), or the failure when the watch cannot open.
pub async fn prepare(target: &Target) -> Result<Watch, Outcome> {
    if !target.can_signal() {
        return Err(Outcome::skip(
            "needs --exec or --image: the checker signals only a process it started",
        ));
    }
    let expected = "health SERVING before SIGTERM";
    match wire::watch(wire::channel(target.uri()), "").await {
        Ok(mut stream) => match stream.message().await {
            Ok(Some(first)) if first.status == wire::SERVING => Ok(Some(stream)),
            Ok(Some(first)) => Err(Outcome::fail(expected, wire::status_name(first.status))),
            Ok(None) => Err(Outcome::fail(expected, "the health watch ended at once")),
            Err(status) => Err(Outcome::fail(expected, wire::describe(&status))),
        },
        Err(status) if status.code() == Code::Unimplemented => Ok(None),
        Err(status) => Err(Outcome::fail(expected, wire::describe(&status))),
    }
}

/// Waits until the process counts `call` in its gauge `name` at `metrics`
/// (above `base`, read before the call), or `call` has ended, for up to two
/// seconds; without the gauge, gives the call a moment to arrive.
pub async fn until_in_flight(
    metrics: &str,
    name: &str,
    base: Option<f64>,
    call: &JoinHandle<Result<(), Status>>,
) {
    let Some(base) = base else {
        tokio::time::sleep(Duration::from_millis(300)).await;
        return;
    };
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until && !call.is_finished() {
        if wire::gauge(metrics, name).await.is_ok_and(|v| v > base) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends SIGTERM to `target` while `call` is in flight and judges the
/// drain; `after_not_serving` runs once NOT_SERVING is seen (a merge check
/// sends the rest of its stream then).
pub async fn observe(
    target: &mut Target,
    watch: Watch,
    grace: Duration,
    call: JoinHandle<Result<(), Status>>,
    after_not_serving: impl FnOnce(),
) -> Outcome {
    let signalled = Instant::now();
    if let Err(e) = target.terminate().await {
        return Outcome::fail("SIGTERM delivered", format!("{e:#}"));
    }
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    match not_serving(target.uri(), watch).await {
        Ok(()) => seen.push(format!(
            "NOT_SERVING after {} ms",
            signalled.elapsed().as_millis()
        )),
        Err(problem) => problems.push(problem),
    }
    after_not_serving();
    match tokio::time::timeout(grace, call).await {
        Ok(Ok(Ok(()))) => seen.push("the call in flight completed".to_owned()),
        Ok(Ok(Err(status))) => problems.push(format!(
            "the call in flight ended with {}",
            wire::describe(&status)
        )),
        Ok(Err(e)) => problems.push(format!("the call in flight was lost: {e}")),
        Err(_) => problems.push(format!(
            "the call in flight still runs {grace:?} after SIGTERM"
        )),
    }
    let left = grace.saturating_sub(signalled.elapsed());
    match target.exit_within(left).await {
        Some(exit) if exit.code == Some(0) => seen.push(format!(
            "exited with code 0 after {} ms",
            signalled.elapsed().as_millis()
        )),
        Some(exit) => problems.push(format!("the process {exit}")),
        None => problems.push(format!(
            "still running {} ms after SIGTERM (the grace period)",
            grace.as_millis()
        )),
    }
    if problems.is_empty() {
        Outcome::pass(seen.join(", "))
    } else {
        Outcome::fail(
            format!(
                "on SIGTERM: health NOT_SERVING first, the call in flight completes, \
                 exit code 0 within {} ms",
                grace.as_millis()
            ),
            problems.join("; "),
        )
    }
}

/// Waits for NOT_SERVING on `watch`, or by polling `Check` without one.
async fn not_serving(uri: &str, watch: Watch) -> Result<(), String> {
    let wait = async {
        let Some(mut stream) = watch else {
            return poll_not_serving(uri).await;
        };
        loop {
            match stream.message().await {
                Ok(Some(update)) if update.status == wire::NOT_SERVING => return Ok(()),
                Ok(Some(_)) => {}
                Ok(None) => return Err("the health watch ended without NOT_SERVING".to_owned()),
                Err(status) => {
                    return Err(format!(
                        "the health watch ended with {} without NOT_SERVING",
                        wire::describe(&status)
                    ));
                }
            }
        }
    };
    tokio::time::timeout(NOT_SERVING_WITHIN, wait)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "health still SERVING {} s after SIGTERM",
                NOT_SERVING_WITHIN.as_secs()
            ))
        })
}

async fn poll_not_serving(uri: &str) -> Result<(), String> {
    loop {
        match wire::health(uri, "").await {
            Ok(status) if status == wire::NOT_SERVING => return Ok(()),
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(status) => {
                return Err(format!(
                    "health went from SERVING to {} without NOT_SERVING",
                    wire::describe(&status)
                ));
            }
        }
    }
}
