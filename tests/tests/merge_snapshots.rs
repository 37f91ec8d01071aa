//! Snapshots from a merge process: a merge built with the SDK whose fold
//! gives `snapshot` answers `MergeProgressive`, so `QueryStream` clients see
//! the merged answer grow; a merge written against the first contract (no
//! `MergeProgressive`) still serves every stream, with coverage only, and
//! the same final answer; a merge that refuses or is down ends the stream
//! with the status the unary call would get.

use std::pin::Pin;
use std::time::Duration;

use futures::Stream;
use futures::future::join_all;
use scatter_example_search::{Query as SearchQuery, Results};
use scatter_merge::{Concat, MergeService, Process};
use scatter_proto::v1::merge_server::{self, MergeServer};
use scatter_proto::v1::{MergeMessage, MergeResponse, MergeUpdate, QueryProgress};
use scatter_tests::root::{StreamEnd, coverage, done, progress};
use scatter_tests::tree::{search_leaf, search_merge};
use scatter_tests::{LeafFlags, Query, Root, Script, Tree, free_port};
use tonic::{Code, Request, Response, Status, Streaming};

const DEADLINE: Duration = Duration::from_secs(5);

fn updates(stream: &StreamEnd) -> Vec<&QueryProgress> {
    assert!(stream.end.is_ok(), "the stream failed: {stream:?}");
    stream.updates.iter().filter_map(progress).collect()
}

#[tokio::test]
async fn a_merge_process_with_snapshots_streams_the_merged_answer_as_it_grows() {
    let (leaves, merge) = tokio::join!(
        join_all((0..3).map(|shard| search_leaf(shard, 3, 7, 2000))),
        search_merge()
    );
    let shards: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    let root = Root::start(&shards, &merge.uri(), &[]).await;
    let query = Query::new(SearchQuery::new("hello world", 5).to_payload()).deadline(DEADLINE);

    let stream = root.query_stream_to_end(query.clone()).await;
    let progress = updates(&stream);
    assert_eq!(progress.len(), 3, "one update per shard: {stream:?}");
    let totals: Vec<u64> = progress
        .iter()
        .map(|p| {
            let snapshot = p
                .snapshot
                .as_ref()
                .expect("the search merge gives snapshots");
            Results::from_payload(snapshot)
                .expect("a search result")
                .total_hits
        })
        .collect();
    assert!(
        totals.windows(2).all(|w| w[0] <= w[1]),
        "each snapshot holds the hits of more shards: {totals:?}"
    );
    let last = stream
        .updates
        .last()
        .and_then(done)
        .expect("ends with done");
    let unary = root.query(query).await.expect("the unary answer");
    assert_eq!(last.result, unary.result, "done is the unary answer");
    let final_total = Results::from_payload(last.result.as_ref().unwrap())
        .unwrap()
        .total_hits;
    assert_eq!(
        totals.last(),
        Some(&final_total),
        "the last snapshot is the answer"
    );
}

/// A merge written against the first version of the contract: `Merge`
/// only (the SDK's concat), `MergeProgressive` unimplemented.
struct FirstContractMerge(MergeService<Concat>);

type Updates = Pin<Box<dyn Stream<Item = Result<MergeUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl merge_server::Merge for FirstContractMerge {
    async fn merge(
        &self,
        request: Request<Streaming<MergeMessage>>,
    ) -> Result<Response<MergeResponse>, Status> {
        merge_server::Merge::merge(&self.0, request).await
    }

    type MergeProgressiveStream = Updates;

    async fn merge_progressive(
        &self,
        _: Request<Streaming<MergeMessage>>,
    ) -> Result<Response<Updates>, Status> {
        Err(Status::unimplemented(
            "this merge predates MergeProgressive",
        ))
    }
}

#[tokio::test]
async fn a_merge_without_merge_progressive_still_serves_streams_with_coverage_only() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("an address");
    let service = FirstContractMerge(MergeService::new(Concat, &Process::new("merge", &[])));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(MergeServer::new(service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let leaves = join_all((0..3).map(|shard| LeafFlags::new(shard, 3).start())).await;
    let shards: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    let root = Root::start(&shards, &format!("http://{addr}"), &[]).await;
    // Shard 2 answers late, so its partial reaches the merge after the root
    // has fallen back to `Merge` and replayed the first ones.
    let query = Query::script(&Script::new().delay(2, 300)).deadline(DEADLINE);

    let stream = root.query_stream_to_end(query.clone()).await;
    let progress = updates(&stream);
    assert_eq!(progress.len(), 3, "one update per shard: {stream:?}");
    assert!(
        progress.iter().all(|p| p.snapshot.is_none()),
        "{progress:?}"
    );
    let last = stream
        .updates
        .last()
        .and_then(done)
        .expect("ends with done");
    assert_eq!(coverage(last).answered, 3, "{last:?}");
    let unary = root.query(query).await.expect("the unary answer");
    assert_eq!(last.result, unary.result, "every partial reached the merge");
}

#[tokio::test]
async fn a_merge_process_that_refuses_the_request_ends_the_stream_with_its_status() {
    let tree = Tree::start(2, &[]).await;
    let query = Query::script(&Script::new().merge_fail("boom: no fold today")).deadline(DEADLINE);
    let stream = tree.root.query_stream_to_end(query).await;
    let status = stream.end.as_ref().expect_err("the merge refused");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(
        status.message().contains("boom: no fold today"),
        "{status:?}"
    );
    assert!(
        stream.updates.iter().all(|u| done(u).is_none()),
        "{stream:?}"
    );
}

#[tokio::test]
async fn a_stream_whose_merge_is_down_ends_unavailable_naming_the_merge() {
    let leaves = join_all((0..2).map(|shard| LeafFlags::new(shard, 2).start())).await;
    let shards: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    let nobody = format!("http://{}", free_port());
    let root = Root::start_listening(&shards, &nobody, &[]).await;
    // Not ready without its merge, but it still answers, with the reason.
    let stream = root
        .query_stream_to_end(Query::script(&Script::new()).deadline(DEADLINE))
        .await;
    let status = stream.end.as_ref().expect_err("no merge to answer");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains(&nobody), "{status:?}");
}
