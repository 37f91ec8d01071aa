//! A merge linked into the root (`MergeTarget::Local`) folds on a task of
//! its own: a fold that blocks in `accept` does not hold the answer past
//! the client's deadline, and a fold that fails on `accept` fails the
//! request at once with INTERNAL and the merge's own message.
//!
//! The roots here are served in the test process (the merges are Rust
//! types), on a multi-threaded runtime as a root binary runs; the leaves
//! are real test-leaf processes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use scatter_management::ServeOptions;
use scatter_merge::{Fold, Merge, MergeBegin, Payload, Status};
use scatter_proto::v1::root_client::RootClient;
use scatter_root::Root;
use scatter_root::config::RootConfig;
use scatter_root::merge::MergeTarget;
use scatter_tests::root::StreamEnd;
use scatter_tests::{LeafFlags, Query, Script, Server, eventually};
use tonic::Code;

const LEAF_OK: &str = r#"scatter_leaf_calls_total{outcome="ok"}"#;
const IN_FLIGHT: &str = "scatter_leaf_in_flight";

/// How long [`SlowFold::accept`] blocks its thread, per partial.
const SLOW_ACCEPT: Duration = Duration::from_secs(2);
/// The deadline of the requests to the slow fold.
const DEADLINE: Duration = Duration::from_millis(500);
/// How late past the deadline an answer may come on a busy machine.
const MARGIN: Duration = Duration::from_millis(1_500);

/// A merge whose fold blocks its thread in every `accept`, as a CPU-heavy
/// fold does.
struct SlowMerge;

/// The shards folded so far.
struct SlowFold(Vec<u32>);

impl Merge for SlowMerge {
    type Fold = SlowFold;

    fn begin(&self, _: &MergeBegin) -> Result<SlowFold, Status> {
        Ok(SlowFold(Vec::new()))
    }
}

impl Fold for SlowFold {
    fn accept(&mut self, shard: u32, _: Payload) -> Result<(), Status> {
        std::thread::sleep(SLOW_ACCEPT);
        self.0.push(shard);
        Ok(())
    }

    fn finish(self) -> Result<Payload, Status> {
        Ok(Payload::new("text/plain", format!("{:?}", self.0)))
    }

    fn snapshot(&self) -> Option<Payload> {
        Some(Payload::new("text/plain", format!("{:?}", self.0)))
    }
}

/// A merge whose fold refuses every partial.
struct RefusingMerge;

/// Refuses every partial.
struct RefusingFold;

/// What [`RefusingFold`] says.
const REFUSAL: &str = "the partial is not a number";

impl Merge for RefusingMerge {
    type Fold = RefusingFold;

    fn begin(&self, _: &MergeBegin) -> Result<RefusingFold, Status> {
        Ok(RefusingFold)
    }
}

impl Fold for RefusingFold {
    fn accept(&mut self, shard: u32, _: Payload) -> Result<(), Status> {
        Err(Status::internal(format!("shard {shard}: {REFUSAL}")))
    }

    fn finish(self) -> Result<Payload, Status> {
        Ok(Payload::default())
    }
}

/// `shards` test leaves and a root served in this process over them,
/// merging with `merge`; requests without a deadline of their own get
/// `default_deadline`.
struct InProcessTree {
    leaves: Vec<Server>,
    addr: SocketAddr,
}

impl InProcessTree {
    async fn start(shards: u32, merge: MergeTarget, default_deadline: Duration) -> Self {
        let leaves = join_all((0..shards).map(|s| LeafFlags::new(s, shards).start())).await;
        let mut config = RootConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            shards: leaves.iter().map(|l| vec![l.addr().to_string()]).collect(),
            ..RootConfig::default()
        };
        config.deadline.default = default_deadline;
        let root = Root::with_merge(config, merge)
            .await
            .expect("the root connects");
        let listener = scatter_management::bind(root.config().listen)
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("an address");
        let options = ServeOptions {
            handle_signals: false,
            ..ServeOptions::default()
        };
        tokio::spawn(root.serve(listener, options));
        Self { leaves, addr }
    }

    /// Checks that leaf 2, scripted to answer after 5 s, has not answered
    /// (the request did not wait for it) and has no call left running.
    async fn no_call_left_at_the_slow_leaf(&self) {
        let slow = &self.leaves[2];
        assert_eq!(slow.metric(LEAF_OK).await.unwrap_or(0.0), 0.0);
        eventually(
            "no call left running at the slow leaf",
            Duration::from_secs(3),
            async || slow.metric(IN_FLIGHT).await.unwrap_or(0.0) == 0.0,
        )
        .await;
    }

    async fn client(&self) -> RootClient<tonic::transport::Channel> {
        RootClient::connect(format!("http://{}", self.addr))
            .await
            .expect("the root accepts connections")
    }
}

// In these tests the client sends no deadline of its own (so that no
// client-side timer answers for the root): the root's default deadline is
// the client's. Two workers, as the root binary has on a 2-core machine.

/// Asserts that an answer that took `took` came by the deadline.
fn assert_by_the_deadline(took: Duration, what: &str) {
    assert!(
        took <= DEADLINE + MARGIN,
        "{what} {took:?} after a {DEADLINE:?} deadline; folding every partial takes {:?}",
        SLOW_ACCEPT * 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fold_blocking_in_accept_does_not_hold_the_answer_past_the_deadline() {
    let tree = InProcessTree::start(2, MergeTarget::Local(Arc::new(SlowMerge)), DEADLINE).await;
    let mut client = tree.client().await;

    let started = Instant::now();
    let status = client
        .query(Query::script(&Script::new()).request())
        .await
        .expect_err("the fold needs 2 s per partial");
    assert_by_the_deadline(started.elapsed(), "answered");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fold_blocking_in_accept_does_not_hold_a_stream_past_the_deadline() {
    let tree = InProcessTree::start(2, MergeTarget::Local(Arc::new(SlowMerge)), DEADLINE).await;
    let mut client = tree.client().await;

    let started = Instant::now();
    let updates = client
        .query_stream(Query::script(&Script::new()).request())
        .await
        .expect("the stream opens")
        .into_inner();
    let stream = StreamEnd::read(updates).await;
    assert_by_the_deadline(started.elapsed(), "the stream ended");
    let status = stream.end.expect_err("the fold needs 2 s per partial");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_whose_folds_block_each_answer_by_the_deadline() {
    let tree = InProcessTree::start(2, MergeTarget::Local(Arc::new(SlowMerge)), DEADLINE).await;
    let client = tree.client().await;

    let started = Instant::now();
    let answers = join_all((0..2).map(|_| {
        let mut client = client.clone();
        async move { client.query(Query::script(&Script::new()).request()).await }
    }))
    .await;
    assert_by_the_deadline(started.elapsed(), "both answered");
    for answer in answers {
        let status = answer.expect_err("the fold needs 2 s per partial");
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fold_failing_on_accept_fails_the_request_at_once_with_internal_and_its_message() {
    let tree = InProcessTree::start(
        3,
        MergeTarget::Local(Arc::new(RefusingMerge)),
        Duration::from_secs(10),
    )
    .await;
    let mut client = tree.client().await;
    // Shard 2 would answer after 5 s; the request must not wait for it.
    let query = Query::script(&Script::new().delay(2, 5_000));

    let status = client
        .query(query.request())
        .await
        .expect_err("the merge refused a partial");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains(REFUSAL), "{status:?}");
    tree.no_call_left_at_the_slow_leaf().await;

    let updates = client
        .query_stream(query.request())
        .await
        .expect("the stream opens")
        .into_inner();
    let stream = StreamEnd::read(updates).await;
    let status = stream.end.expect_err("the merge refused a partial");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains(REFUSAL), "{status:?}");
    tree.no_call_left_at_the_slow_leaf().await;
}
