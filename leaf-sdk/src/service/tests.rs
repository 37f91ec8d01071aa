//! The leaf service at its in-flight cap, called directly (no network): a
//! call past the cap is refused at once, before the user's leaf runs, and
//! the slot comes back when a call ends or is cancelled.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use scatter_management::RETRY_PUSHBACK_KEY;
use scatter_proto::v1::leaf_server::Leaf as _;
use scatter_proto::v1::{LeafInfoRequest, LeafRequest, LeafResponse};
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
    let process = Process::new("leaf", &[]);
    let leaf = Arc::new(Holding {
        started: Notify::new(),
        release: Semaphore::new(0),
        calls: AtomicUsize::new(0),
    });
    let service = Arc::new(LeafService::new(Arc::clone(&leaf), &options, &process));
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
