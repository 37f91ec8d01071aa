//! A merge call the merge cannot take (UNAVAILABLE — its connection was
//! refused or broke, as when a merge task is replaced in a rolling update)
//! is opened again by the root, replaying the partials already sent, so the
//! client never sees the blip; a merge that stays unavailable fails the
//! request after a bounded number of calls, naming it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::Stream;
use futures::future::join_all;
use scatter_merge::{Concat, MergeService, Process};
use scatter_proto::v1::merge_server::{self, MergeServer};
use scatter_proto::v1::{ConcatResult, MergeMessage, MergeResponse, MergeUpdate};
use scatter_tests::root::coverage;
use scatter_tests::{LeafFlags, Query, Root, Script};
use tonic::{Code, Request, Response, Status, Streaming};

const DEADLINE: Duration = Duration::from_secs(5);

/// The SDK's concat merge, refusing calls as UNAVAILABLE: every other one
/// (`refuse_every` 2), or all of them (1).
struct Refusing {
    merge: MergeService<Concat>,
    calls: Arc<AtomicUsize>,
    refuse_every: usize,
}

type Updates = Pin<Box<dyn Stream<Item = Result<MergeUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl merge_server::Merge for Refusing {
    async fn merge(
        &self,
        request: Request<Streaming<MergeMessage>>,
    ) -> Result<Response<MergeResponse>, Status> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call.is_multiple_of(self.refuse_every) {
            return Err(Status::unavailable("this merge task is being replaced"));
        }
        merge_server::Merge::merge(&self.merge, request).await
    }

    type MergeProgressiveStream = Updates;

    async fn merge_progressive(
        &self,
        _: Request<Streaming<MergeMessage>>,
    ) -> Result<Response<Updates>, Status> {
        Err(Status::unimplemented("Merge only"))
    }
}

/// Serves a [`Refusing`] merge on loopback; its address and call count.
async fn refusing_merge(refuse_every: usize) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("an address");
    let calls = Arc::new(AtomicUsize::new(0));
    let service = Refusing {
        merge: MergeService::new(Concat, &Process::new("merge", &[])),
        calls: Arc::clone(&calls),
        refuse_every,
    };
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MergeServer::new(service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (format!("http://{addr}"), calls)
}

#[tokio::test]
async fn a_merge_call_refused_as_unavailable_is_opened_again_with_every_partial_replayed() {
    let (merge, calls) = refusing_merge(2).await;
    let leaves = join_all((0..3).map(|shard| LeafFlags::new(shard, 3).start())).await;
    let shards: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    let root = Root::start(&shards, &merge, &[]).await;
    // Shard 2 answers late: its partial goes to the second call, after the
    // replay of the first two.
    let query = Query::script(&Script::new().delay(2, 200)).deadline(DEADLINE);
    for _ in 0..5 {
        let response = root
            .query(query.clone())
            .await
            .expect("every query answered");
        assert_eq!(coverage(&response).answered, 3);
        let result = response.result.expect("a result");
        let merged: ConcatResult = prost::Message::decode(result.body).expect("a concat result");
        let shards: Vec<u32> = merged.partials.iter().map(|p| p.shard).collect();
        assert_eq!(shards, [0, 1, 2], "every partial reached the merge");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 10, "two calls per query");
}

#[tokio::test]
async fn a_merge_that_stays_unavailable_fails_the_request_after_a_bounded_number_of_calls() {
    let (merge, calls) = refusing_merge(1).await;
    let leaves = join_all((0..2).map(|shard| LeafFlags::new(shard, 2).start())).await;
    let shards: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    let root = Root::start(&shards, &merge, &[]).await;
    let status = root
        .query(Query::script(&Script::new()).deadline(DEADLINE))
        .await
        .expect_err("no merge takes the call");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains(&merge) && status.message().contains("being replaced"),
        "{status:?}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "the first call and two retries"
    );
}
