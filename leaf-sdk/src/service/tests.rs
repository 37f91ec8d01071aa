//! The leaf service called directly (no network): at its in-flight cap a
//! call is refused at once, before the user's leaf runs, and the slot comes
//! back when a call ends or is cancelled; `AnswerStream` says when a call
//! starts (past `--max-concurrency`, once a slot frees) and what the leaf
//! hints, then answers with the leaf's load.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::{FutureExt as _, StreamExt as _};
use scatter_management::RETRY_PUSHBACK_KEY;
use scatter_proto::v1::leaf_server::Leaf as _;
use scatter_proto::v1::leaf_update::Kind;
use scatter_proto::v1::{LeafInfoRequest, LeafRequest, LeafResponse, LeafUpdate, LoadReport};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tonic::{Code, Request, Response, Status};

use super::LeafService;
use crate::{Leaf, LeafOptions, Payload, Process, ShardRequest};

/// Answers at once, except a request whose body is `hold`: that one says it
/// has started, then waits for a release permit.
struct Holding {
    started: Notify,
    release: Semaphore,
    calls: AtomicUsize,
}

impl Leaf for Arc<Holding> {
    async fn answer(&self, request: ShardRequest) -> Result<Payload, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if request.payload.body.as_ref() == b"hold" {
            self.started.notify_one();
            self.release.acquire().await.expect("never closed").forget();
        }
        Ok(Payload::new("text/plain", "done"))
    }
}

struct Fixture {
    leaf: Arc<Holding>,
    service: Arc<LeafService<Arc<Holding>>>,
    process: Process,
}

fn capped_at(max_in_flight: usize) -> Fixture {
    let mut options = LeafOptions::default();
    options.serve.max_in_flight = NonZeroUsize::new(max_in_flight);
    fixture(&options)
}

/// The holding leaf served with `options`.
fn fixture(options: &LeafOptions) -> Fixture {
    let process = Process::new("leaf", &[]);
    let leaf = Arc::new(Holding {
        started: Notify::new(),
        release: Semaphore::new(0),
        calls: AtomicUsize::new(0),
    });
    let service = Arc::new(LeafService::new(Arc::clone(&leaf), options, &process));
    Fixture {
        leaf,
        service,
        process,
    }
}

fn call(body: &'static str) -> Request<LeafRequest> {
    Request::new(LeafRequest {
        shard: 0,
        shard_count: 1,
        payload: Some(Payload::new("text/plain", body)),
        ..LeafRequest::default()
    })
}

impl Fixture {
    /// Starts a call that stays in flight until released; returns once the
    /// leaf runs it.
    async fn hold_one(&self) -> JoinHandle<Result<Response<LeafResponse>, Status>> {
        let service = Arc::clone(&self.service);
        let held = tokio::spawn(async move { service.answer(call("hold")).await });
        self.leaf.started.notified().await;
        held
    }

    fn calls(&self, outcome: &str) -> u64 {
        let m = &self.process.metrics;
        m.counter("scatter_leaf_calls_total", "", &[("outcome", outcome)])
            .get()
    }
}

#[tokio::test]
async fn a_call_past_the_cap_is_refused_at_once_without_reaching_the_leaf() {
    let f = capped_at(1);
    let held = f.hold_one().await;

    let refused = f
        .service
        .answer(call("quick"))
        .await
        .expect_err("at the cap");
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        refused
            .message()
            .starts_with("leaf at its in-flight cap: 1 call running (--max-in-flight 1)"),
        "{refused:?}"
    );
    assert!(
        refused.metadata().get(RETRY_PUSHBACK_KEY).is_some(),
        "{refused:?}"
    );
    assert_eq!(
        f.leaf.calls.load(Ordering::SeqCst),
        1,
        "only the held call ran"
    );
    assert_eq!(
        (f.calls("refused"), f.calls("error"), f.calls("cancelled")),
        (1, 0, 0),
        "a refusal is counted as refused, not as an error or a cancel"
    );

    f.leaf.release.add_permits(1);
    held.await
        .expect("the held call ran")
        .expect("and answered");
    f.service
        .answer(call("quick"))
        .await
        .expect("the slot is free again");
    assert_eq!(f.calls("ok"), 2);
}

#[tokio::test]
async fn a_cancelled_call_gives_its_slot_back() {
    let f = capped_at(1);
    let held = f.hold_one().await;
    held.abort();
    assert!(held.await.expect_err("aborted").is_cancelled());

    f.service
        .answer(call("quick"))
        .await
        .expect("the cancelled call's slot is free");
    assert_eq!((f.calls("cancelled"), f.calls("refused")), (1, 0));
}

#[tokio::test]
async fn info_is_answered_at_the_cap() {
    let f = capped_at(1);
    let held = f.hold_one().await;
    let info = f
        .service
        .info(Request::new(LeafInfoRequest::default()))
        .await
        .expect("info is not capped")
        .into_inner();
    assert_eq!((info.shard, info.shard_count), (0, 1));
    f.leaf.release.add_permits(1);
    held.await.expect("ran").expect("answered");
}

#[tokio::test]
async fn without_a_cap_no_call_is_refused() {
    let f = capped_at(0);
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(f.hold_one().await);
    }
    f.service
        .answer(call("quick"))
        .await
        .expect("no cap, no refusal");
    f.leaf.release.add_permits(held.len());
    for h in held {
        h.await.expect("ran").expect("answered");
    }
    assert_eq!(f.calls("refused"), 0);
}

/// A fixture whose leaf works on `slots` calls at once; more wait.
fn queueing(slots: usize) -> Fixture {
    fixture(&LeafOptions {
        max_concurrency: NonZeroUsize::new(slots),
        ..LeafOptions::default()
    })
}

fn tied(body: &'static str) -> Request<LeafRequest> {
    let mut request = call(body);
    request.get_mut().report_start = true;
    request
}

/// Says at once that `"slow"` calls will take 40 ms, then answers.
struct Hinting;

impl Leaf for Hinting {
    async fn answer(&self, request: ShardRequest) -> Result<Payload, Status> {
        if request.payload.body.as_ref() == b"slow" {
            request
                .hints
                .slow(Some(std::time::Duration::from_millis(40)), "cold shard");
        }
        Ok(Payload::new("text/plain", "done"))
    }
}

async fn updates(service: &LeafService<impl Leaf>, request: Request<LeafRequest>) -> Vec<Kind> {
    let stream = service
        .answer_stream(request)
        .await
        .expect("a stream")
        .into_inner();
    stream
        .map(|update| update.expect("no failure").kind.expect("a kind"))
        .collect()
        .await
}

#[tokio::test]
async fn answer_stream_says_it_started_when_asked_then_the_hint_then_the_answer_with_the_load() {
    let process = Process::new("leaf", &[]);
    let service = LeafService::new(Hinting, &LeafOptions::default(), &process);
    let alone = LoadReport {
        in_flight: 1,
        queued: 0,
    };
    let said = updates(&service, tied("slow")).await;
    let [
        Kind::Started(started),
        Kind::Slow(hint),
        Kind::Answer(answer),
    ] = &said[..]
    else {
        panic!("not started, hint, answer: {said:?}");
    };
    assert_eq!(started.load, Some(alone));
    assert_eq!((hint.expected_ms, hint.reason.as_str()), (40, "cold shard"));
    assert_eq!(answer.load, Some(alone));
    assert_eq!(
        answer.partial.as_ref().map(|p| &p.body[..]),
        Some(&b"done"[..])
    );

    let said = updates(&service, call("quick")).await;
    assert!(
        matches!(&said[..], [Kind::Answer(_)]),
        "an untied call with nothing to say is its answer alone: {said:?}"
    );
}

#[tokio::test]
async fn a_call_past_max_concurrency_waits_reported_as_queued_and_starts_when_a_slot_frees() {
    let f = queueing(1);
    let held = f.hold_one().await;
    let service = Arc::clone(&f.service);
    let mut waiting = Box::pin(async move { service.answer_stream(tied("quick")).await });
    assert!(
        (&mut waiting).now_or_never().is_none(),
        "nothing is said, not even the response's start, while the call waits for the only slot"
    );
    let queued = f
        .process
        .metrics
        .gauge("scatter_leaf_queued", "", &[])
        .get();
    assert_eq!(queued, 1, "the waiting call is counted as queued");

    f.leaf.release.add_permits(1);
    let held = held.await.expect("ran").expect("answered").into_inner();
    assert_eq!(
        held.load,
        Some(LoadReport {
            in_flight: 1,
            queued: 1
        }),
        "the held call's answer reports the call waiting behind it"
    );
    let mut waiting = waiting.await.expect("a stream").into_inner();
    let Some(Ok(LeafUpdate {
        kind: Some(Kind::Started(_)),
    })) = waiting.next().await
    else {
        panic!("the waiting call did not say it started");
    };
    let Some(Ok(LeafUpdate {
        kind: Some(Kind::Answer(_)),
    })) = waiting.next().await
    else {
        panic!("the waiting call did not answer");
    };
}

#[tokio::test]
async fn a_call_for_another_shard_fails_with_the_leafs_message_as_answer_would() {
    let f = queueing(1);
    let mut request = tied("quick");
    request.get_mut().shard = 3;
    request.get_mut().shard_count = 4;
    let Err(status) = f.service.answer_stream(request).await else {
        panic!("a stream, for a call that failed before it said anything");
    };
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        status.message().contains("serves shard 0 of 1"),
        "{status:?}"
    );
}

#[tokio::test]
async fn answer_stream_begins_its_response_only_with_the_answer_when_it_has_nothing_earlier() {
    let f = capped_at(0);
    let service = Arc::clone(&f.service);
    let mut response = Box::pin(async move { service.answer_stream(call("hold")).await });
    assert!((&mut response).now_or_never().is_none());
    f.leaf.started.notified().await;
    assert!(
        (&mut response).now_or_never().is_none(),
        "the response began while the leaf was still working, with nothing to say"
    );

    f.leaf.release.add_permits(1);
    let said: Vec<Kind> = response
        .await
        .expect("a stream")
        .into_inner()
        .map(|update| update.expect("no failure").kind.expect("a kind"))
        .collect()
        .await;
    assert!(matches!(&said[..], [Kind::Answer(_)]), "{said:?}");
}
