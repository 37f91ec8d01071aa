//! `tower-hedge`: the plain fan-out with tower's stock `hedge` middleware
//! in front of each shard — the alternative a tower user reaches for.
//!
//! Per shard, a `tower::hedge::Hedge` wraps a service that sends attempt
//! `a` of a request to replica `(request id + a) mod replicas`, so the hedge
//! (attempt 1) goes to the other replica, as Scatter's does. Its settings:
//! hedge after the shard's latency percentile (the same percentile Scatter
//! is given), once at least 10 latencies are recorded, over a rotating
//! 2 s histogram. tower reads the percentile from the *previous* period
//! only, so it hedges nothing until one period has passed: 2 s (rather than
//! Scatter's 10 s window) lets the default 3 s warm-up cover that. tower
//! has no hedge budget, and returns the first attempt to *complete*, even
//! when that is an error.
//!
//! `Hedge` is not `Clone` and its `call` takes `&mut self`, so each shard's
//! sits behind a mutex held only for the synchronous `poll_ready` + `call`
//! (every layer under it is always ready), never across an await.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{BoxFuture, try_join_all};
use prost::Message as _;
use scatter_proto::v1::leaf_client::LeafClient;
use scatter_proto::v1::{ConcatResult, LeafRequest, LeafResponse, ShardPartial};
use tonic::transport::Channel;
use tower::hedge::{Hedge, Policy};
use tower::{BoxError, Service};

use crate::work;

use super::{CallFuture, CallSettings, Failure, Milestones, Target, leaf_clients, leaf_request};

/// Minimum latencies recorded before tower hedges.
const MIN_DATA_POINTS: u64 = 10;
/// tower's rotating histogram period (see the module doc).
const PERIOD: Duration = Duration::from_secs(2);

/// One tower `Hedge` per shard.
pub struct TowerHedge {
    shards: Arc<Vec<Mutex<Hedge<ReplicaSet, HedgeOnce>>>>,
    settings: CallSettings,
}

impl TowerHedge {
    /// Connects to every leaf; hedges after `percentile` (in (0, 100)).
    pub async fn connect(
        leaves: &[Vec<SocketAddr>],
        settings: CallSettings,
        percentile: f64,
    ) -> anyhow::Result<Self> {
        let shards = leaf_clients(leaves)
            .await?
            .into_iter()
            .map(|replicas| {
                let set = ReplicaSet {
                    replicas: replicas.into(),
                };
                let policy = HedgeOnce {
                    replicas: set.replicas.len(),
                };
                Mutex::new(Hedge::new(
                    set,
                    policy,
                    MIN_DATA_POINTS,
                    (percentile / 100.0) as f32,
                    PERIOD,
                ))
            })
            .collect();
        Ok(Self {
            shards: Arc::new(shards),
            settings,
        })
    }
}

/// One attempt of one shard.
#[derive(Clone)]
struct ShardCall {
    request: LeafRequest,
    timeout: Duration,
}

/// The replicas of one shard as one tower service.
#[derive(Clone)]
struct ReplicaSet {
    replicas: Arc<[LeafClient<Channel>]>,
}

impl Service<ShardCall> for ReplicaSet {
    type Response = LeafResponse;
    type Error = tonic::Status;
    type Future = BoxFuture<'static, Result<LeafResponse, tonic::Status>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Channels buffer; a tonic client is always ready to take a call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, call: ShardCall) -> Self::Future {
        let index = (call.request.request_id as usize + call.request.attempt as usize)
            % self.replicas.len();
        let mut client = self.replicas[index].clone();
        let request = leaf_request(call.request, call.timeout);
        Box::pin(async move { Ok(client.answer(request).await?.into_inner()) })
    }
}

/// Hedge every request once, to the next replica; never with one replica.
#[derive(Clone)]
struct HedgeOnce {
    replicas: usize,
}

impl Policy<ShardCall> for HedgeOnce {
    fn clone_request(&self, call: &ShardCall) -> Option<ShardCall> {
        (self.replicas > 1).then(|| {
            let mut hedge = call.clone();
            hedge.request.attempt += 1;
            hedge
        })
    }

    fn can_retry(&self, _: &ShardCall) -> bool {
        true
    }
}

impl Target for TowerHedge {
    fn call(&self, request: u64) -> CallFuture {
        let payload = self.settings.payload(request);
        let shard_count = self.shards.len() as u32;
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut calls = Vec::with_capacity(self.shards.len());
        for (shard, hedge) in self.shards.iter().enumerate() {
            let call = ShardCall {
                request: LeafRequest {
                    payload: Some(payload.clone()),
                    shard: shard as u32,
                    shard_count,
                    request_id: request,
                    attempt: 0,
                    report_start: false,
                },
                timeout: self.settings.timeout,
            };
            let mut hedge = hedge.lock().unwrap_or_else(PoisonError::into_inner);
            match hedge.poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => {
                    let e = Failure::from(e.to_string());
                    return Box::pin(async move { Err(e) });
                }
                Poll::Pending => {
                    return Box::pin(async { Err("tower hedge was not ready".into()) });
                }
            }
            let future = hedge.call(call);
            drop(hedge);
            calls.push(async move {
                let response = future.await?;
                Ok::<_, BoxError>(ShardPartial {
                    shard: shard as u32,
                    partial: response.partial,
                })
            });
        }
        Box::pin(async move {
            let partials = try_join_all(calls).await.map_err(|e| describe_boxed(&*e))?;
            let merged = ConcatResult { partials };
            let leaf_busy = work::used_by_concat(&merged);
            std::hint::black_box(merged.encode_to_vec());
            Ok(Milestones {
                leaf_busy,
                ..Milestones::default()
            })
        })
    }
}

fn describe_boxed(error: &(dyn std::error::Error + Send + Sync + 'static)) -> Failure {
    match error.downcast_ref::<tonic::Status>() {
        Some(status) => super::describe(status),
        None => error.to_string().into(),
    }
}
