//! The hand-written root of the `plain-root` mode: what a user writes
//! instead of running Scatter as a service. A tonic `scatter.v1.Root` whose
//! `Query` calls every shard at once — the very fan-out of `plain-fanout`
//! ([`concat_all`]), replica by round-robin on a counter — with the
//! client's `grpc-timeout` as every leaf call's timeout, and answers with
//! the partials concatenated into a `ConcatResult`. No hedging, no
//! retries, no policy, no `QueryStream`: any shard's error fails the query.
//! Channels to the leaves are connected before it serves and kept; accepted
//! connections get `TCP_NODELAY`, as Scatter's root does. The
//! `scatter-bench-plain-root` binary serves it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message as _;
use scatter_proto::v1::leaf_client::LeafClient;
use scatter_proto::v1::root_server::{Root, RootServer};
use scatter_proto::v1::{Coverage, Payload, QueryRequest, QueryResponse, QueryUpdate};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};

use crate::modes::{MAX_MESSAGE, concat_all, leaf_clients};

/// The line printed on stdout once the root serves, followed by its address.
pub const READY_LINE: &str = "plain root ready on http://";

/// A hand-written root over connected leaves.
pub struct PlainRoot {
    shards: Arc<Vec<Vec<LeafClient<Channel>>>>,
    next_request: AtomicU64,
    default_timeout: Duration,
}

impl PlainRoot {
    /// Connects to every leaf (by shard, then replica). `default_timeout`
    /// bounds the leaf calls of a query that carries no `grpc-timeout`.
    pub async fn connect(
        leaves: &[Vec<SocketAddr>],
        default_timeout: Duration,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !leaves.is_empty() && leaves.iter().all(|r| !r.is_empty()),
            "every shard needs at least one replica"
        );
        Ok(Self {
            shards: Arc::new(leaf_clients(leaves).await?),
            next_request: AtomicU64::new(0),
            default_timeout,
        })
    }

    /// Serves `Root` on `listener` until `shutdown` completes, then lets
    /// the queries in flight finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let service = RootServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
        Ok(())
    }
}

#[tonic::async_trait]
impl Root for PlainRoot {
    type QueryStreamStream = futures::stream::Empty<Result<QueryUpdate, Status>>;

    /// Not written: a hand-written unary root would not have it.
    async fn query_stream(
        &self,
        _request: Request<QueryRequest>,
    ) -> Result<Response<Self::QueryStreamStream>, Status> {
        Err(Status::unimplemented("the plain root answers Query only"))
    }

    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<QueryResponse>, Status> {
        let timeout =
            scatter_management::grpc_timeout(request.metadata()).unwrap_or(self.default_timeout);
        let payload = request
            .into_inner()
            .payload
            .ok_or_else(|| Status::invalid_argument("the query has no payload"))?;
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let merged = concat_all(&self.shards, &payload, id, timeout).await?;
        let shards = self.shards.len() as u32;
        Ok(Response::new(QueryResponse {
            result: Some(Payload::new(
                scatter_merge::CONCAT_CONTENT_TYPE,
                merged.encode_to_vec(),
            )),
            coverage: Some(Coverage {
                total: shards,
                answered: shards,
                ..Coverage::default()
            }),
            request_id: id,
            trace_id: String::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use scatter_leaf::{Leaf, LeafOptions, Process, ServeOptions, ShardRequest};
    use scatter_proto::v1::ConcatResult;
    use scatter_proto::v1::root_client::RootClient;

    use super::*;
    use crate::modes::channel;

    /// A leaf that answers with the milliseconds its caller would still
    /// wait (8 bytes, little-endian), or fails when told to.
    struct Probe {
        fail: bool,
    }

    impl Leaf for Probe {
        async fn answer(&self, request: ShardRequest) -> Result<Payload, Status> {
            if self.fail {
                return Err(Status::unavailable("probe: failing on purpose"));
            }
            let left = request.deadline.map_or(u64::MAX, |d| {
                d.saturating_duration_since(Instant::now()).as_millis() as u64
            });
            Ok(Payload::new("test/left-ms", left.to_le_bytes().to_vec()))
        }
    }

    async fn probe(shard: u32, shard_count: u32, fail: bool) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let options = LeafOptions {
            listen: listener.local_addr().unwrap(),
            shard,
            shard_count,
            serve: ServeOptions {
                handle_signals: false,
                ..ServeOptions::default()
            },
            max_concurrency: None,
        };
        let addr = options.listen;
        let process = Process::new("leaf", &["scatter.v1.Leaf"]);
        tokio::spawn(scatter_leaf::serve_on(
            Probe { fail },
            options,
            listener,
            process,
        ));
        addr
    }

    /// A plain root over one probe leaf per entry of `failing`, and a client of it.
    async fn plain_root(failing: &[bool]) -> RootClient<Channel> {
        let shard_count = failing.len() as u32;
        let mut leaves = Vec::new();
        for (shard, &fail) in failing.iter().enumerate() {
            leaves.push(vec![probe(shard as u32, shard_count, fail).await]);
        }
        let root = PlainRoot::connect(&leaves, Duration::from_secs(1))
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(root.serve(listener, std::future::pending()));
        RootClient::new(channel(addr).await.unwrap())
    }

    fn query(timeout: Option<Duration>) -> Request<QueryRequest> {
        let mut request = Request::new(QueryRequest {
            payload: Some(Payload::new("test/query", b"q".to_vec())),
            policy: None,
        });
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        request
    }

    /// The milliseconds each shard's leaf was given, in shard order.
    fn left_ms(response: &QueryResponse) -> Vec<(u32, u64)> {
        let result = response.result.as_ref().unwrap();
        assert_eq!(result.content_type, scatter_merge::CONCAT_CONTENT_TYPE);
        ConcatResult::decode(result.body.clone())
            .unwrap()
            .partials
            .into_iter()
            .map(|p| {
                let body = p.partial.unwrap().body;
                (p.shard, u64::from_le_bytes(body[..8].try_into().unwrap()))
            })
            .collect()
    }

    #[tokio::test]
    async fn answers_with_every_shards_partial_in_shard_order_and_full_coverage() {
        let mut client = plain_root(&[false, false, false]).await;
        let response = client.query(query(None)).await.unwrap().into_inner();
        let shards: Vec<u32> = left_ms(&response).iter().map(|(s, _)| *s).collect();
        assert_eq!(shards, vec![0, 1, 2]);
        let coverage = response.coverage.unwrap();
        assert_eq!((coverage.total, coverage.answered), (3, 3));
    }

    #[tokio::test]
    async fn one_failing_shard_fails_the_whole_query() {
        let mut client = plain_root(&[false, true, false]).await;
        let status = client.query(query(None)).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
        assert!(
            status.message().contains("failing on purpose"),
            "{status:?}"
        );
    }

    #[tokio::test]
    async fn the_clients_deadline_bounds_every_leaf_call_else_the_default() {
        let mut client = plain_root(&[false, false]).await;
        let given = client
            .query(query(Some(Duration::from_millis(300))))
            .await
            .unwrap()
            .into_inner();
        for (shard, left) in left_ms(&given) {
            assert!(left > 0 && left <= 300, "shard {shard}: {left} ms");
        }
        let default = client.query(query(None)).await.unwrap().into_inner();
        for (shard, left) in left_ms(&default) {
            assert!(left > 300 && left <= 1000, "shard {shard}: {left} ms");
        }
    }
}
