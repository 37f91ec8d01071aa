//! The merge service at its in-flight cap, served on loopback: a merge past
//! the cap is refused at once, before its `begin` is read, on both `Merge`
//! and `MergeProgressive`, and the slot comes back when a merge ends.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use scatter_management::RETRY_PUSHBACK_KEY;
use scatter_proto::v1::merge_client::MergeClient;
use scatter_proto::v1::merge_message::Kind;
use scatter_proto::v1::{MergeMessage, ShardPartial};
use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::{Fold, Merge, MergeBegin, MergeOptions, Payload, Process, ServeOptions};

/// Says when a merge has begun, and counts begins and partials.
#[derive(Clone, Default)]
struct Watched {
    begun: Arc<Notify>,
    begins: Arc<AtomicUsize>,
}

struct Shards(Vec<u32>);

impl Merge for Watched {
    type Fold = Shards;
    fn begin(&self, _: &MergeBegin) -> Result<Shards, Status> {
        self.begins.fetch_add(1, Ordering::SeqCst);
        self.begun.notify_one();
        Ok(Shards(Vec::new()))
    }
}

impl Fold for Shards {
    fn accept(&mut self, shard: u32, _: Payload) -> Result<(), Status> {
        self.0.push(shard);
        Ok(())
    }
    fn finish(self) -> Result<Payload, Status> {
        Ok(Payload::new("text/plain", format!("{:?}", self.0)))
    }
}

struct Fixture {
    merge: Watched,
    client: MergeClient<Channel>,
    process: Process,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.process.shutdown.cancel();
    }
}

async fn merge_capped_at(max_in_flight: usize) -> Fixture {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("an address");
    let options = MergeOptions {
        listen: addr,
        serve: ServeOptions {
            handle_signals: false,
            max_in_flight: NonZeroUsize::new(max_in_flight),
            ..ServeOptions::default()
        },
    };
    let merge = Watched::default();
    let process = Process::new("merge", &[]);
    tokio::spawn(crate::serve_on(
        merge.clone(),
        options,
        listener,
        process.clone(),
    ));
    let client = MergeClient::connect(format!("http://{addr}"))
        .await
        .expect("the merge accepts connections");
    Fixture {
        merge,
        client,
        process,
    }
}

fn begin() -> MergeMessage {
    MergeMessage {
        kind: Some(Kind::Begin(MergeBegin {
            shard_count: 2,
            ..MergeBegin::default()
        })),
    }
}

fn partial(shard: u32) -> MergeMessage {
    MergeMessage {
        kind: Some(Kind::Partial(ShardPartial {
            shard,
            partial: Some(Payload::new("text/plain", "p")),
        })),
    }
}

/// A whole merge stream: begin, two partials, end.
fn whole() -> impl tokio_stream::Stream<Item = MergeMessage> {
    tokio_stream::iter([begin(), partial(0), partial(1)])
}

impl Fixture {
    /// Opens a merge that has begun and stays open until the returned
    /// sender is dropped.
    async fn hold_one(&self) -> (mpsc::Sender<MergeMessage>, tokio::task::JoinHandle<()>) {
        let (sender, messages) = mpsc::channel(4);
        sender.send(begin()).await.expect("the channel is open");
        let mut client = self.client.clone();
        let held = tokio::spawn(async move {
            client
                .merge(ReceiverStream::new(messages))
                .await
                .expect("the held merge answers once its stream ends");
        });
        self.merge.begun.notified().await;
        (sender, held)
    }

    fn merges(&self, outcome: &str) -> u64 {
        let m = &self.process.metrics;
        m.counter("scatter_merge_requests_total", "", &[("outcome", outcome)])
            .get()
    }

    fn partials(&self) -> u64 {
        let m = &self.process.metrics;
        m.counter("scatter_merge_partials_total", "", &[]).get()
    }
}

fn assert_refused_at_cap(status: &Status) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("merge at its in-flight cap: 1 call running (--max-in-flight 1)"),
        "{status:?}"
    );
    assert!(
        status.metadata().get(RETRY_PUSHBACK_KEY).is_some(),
        "the refusal carries pushback: {status:?}"
    );
}

#[tokio::test]
async fn a_merge_past_the_cap_is_refused_before_its_partials_are_read() {
    let f = merge_capped_at(1).await;
    let (sender, held) = f.hold_one().await;

    let unary = f
        .client
        .clone()
        .merge(whole())
        .await
        .expect_err("at the cap");
    assert_refused_at_cap(&unary);
    let progressive = f
        .client
        .clone()
        .merge_progressive(whole())
        .await
        .expect_err("at the cap");
    assert_refused_at_cap(&progressive);
    assert_eq!(
        f.merge.begins.load(Ordering::SeqCst),
        1,
        "only the held merge began"
    );
    assert_eq!(f.partials(), 0, "no refused partial was folded");
    assert_eq!((f.merges("refused"), f.merges("error")), (2, 0));

    drop(sender);
    held.await.expect("the held merge ended");
    let answer = f
        .client
        .clone()
        .merge(whole())
        .await
        .expect("the slot is free again")
        .into_inner();
    assert_eq!(answer.result.expect("a result").body.as_ref(), b"[0, 1]");
}

#[tokio::test]
async fn a_progressive_merge_gives_its_slot_back_when_it_ends() {
    let f = merge_capped_at(1).await;
    let mut updates = f
        .client
        .clone()
        .merge_progressive(whole())
        .await
        .expect("admitted")
        .into_inner();
    let mut last = None;
    while let Some(update) = updates.message().await.expect("a good stream") {
        last = update.kind;
    }
    assert!(last.is_some(), "the stream ends with its result");

    f.client
        .clone()
        .merge(whole())
        .await
        .expect("the progressive merge gave its slot back");
    assert_eq!((f.merges("ok"), f.merges("refused")), (2, 0));
}

#[tokio::test]
async fn without_a_cap_merges_run_side_by_side() {
    let f = merge_capped_at(0).await;
    let (sender, held) = f.hold_one().await;
    f.client
        .clone()
        .merge(whole())
        .await
        .expect("no cap, no refusal");
    drop(sender);
    held.await.expect("the held merge ended");
    assert_eq!(f.merges("refused"), 0);
}

#[tokio::test]
async fn a_running_merge_shows_in_flight_until_it_ends() {
    let fixture = merge_capped_at(4).await;
    let in_flight = fixture
        .process
        .metrics
        .gauge("scatter_merge_in_flight", "", &[]);
    let (sender, held) = fixture.hold_one().await;
    assert_eq!(in_flight.get(), 1, "the held merge runs");
    drop(sender);
    held.await.expect("the held merge answers");
    assert_eq!(in_flight.get(), 0);
    assert_eq!(fixture.merges("ok"), 1);
    assert_eq!(fixture.merges("cancelled"), 0);
}
