//! `plain-fanout`: what a user writes by hand with tonic — call every shard
//! at once (replica by round-robin on the request id), wait for all, fail
//! on the first error, concatenate the partials. The payload is built once
//! and shared (`Bytes`), as Scatter does; no hedging, no retries.
//!
//! [`concat_all`] is that fan-out; the `plain-root` mode's hand-written
//! root process runs the same function behind its `Root` service.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::try_join_all;
use prost::Message as _;
use scatter_proto::v1::leaf_client::LeafClient;
use scatter_proto::v1::{ConcatResult, LeafRequest, Payload, ShardPartial};
use tonic::transport::Channel;

use crate::work;

use super::{CallFuture, CallSettings, Milestones, Target, describe, leaf_clients, leaf_request};

/// Clients of every leaf.
pub struct PlainFanout {
    shards: Arc<Vec<Vec<LeafClient<Channel>>>>,
    settings: CallSettings,
}

impl PlainFanout {
    /// Connects to every leaf.
    pub async fn connect(
        leaves: &[Vec<SocketAddr>],
        settings: CallSettings,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            shards: Arc::new(leaf_clients(leaves).await?),
            settings,
        })
    }
}

impl Target for PlainFanout {
    fn call(&self, request: u64) -> CallFuture {
        let gather = concat_all(
            &self.shards,
            &self.settings.payload(request),
            request,
            self.settings.timeout,
        );
        Box::pin(async move {
            let merged = gather.await.map_err(|s| describe(&s))?;
            let leaf_busy = work::used_by_concat(&merged);
            std::hint::black_box(merged.encode_to_vec());
            Ok(Milestones {
                leaf_busy,
                ..Milestones::default()
            })
        })
    }
}

/// Calls every shard at once — replica `request mod replicas`, with
/// `timeout` as each call's `grpc-timeout` — and gathers the partials in
/// shard order; the first error fails the whole. The calls are built now
/// (the payload's body shared, not copied), so the future owns nothing
/// borrowed.
pub fn concat_all(
    shards: &[Vec<LeafClient<Channel>>],
    payload: &Payload,
    request: u64,
    timeout: Duration,
) -> impl Future<Output = Result<ConcatResult, tonic::Status>> + Send + 'static {
    let shard_count = shards.len() as u32;
    let calls: Vec<_> = shards
        .iter()
        .enumerate()
        .map(|(shard, replicas)| {
            let mut client = replicas[request as usize % replicas.len()].clone();
            let call = leaf_request(
                LeafRequest {
                    payload: Some(payload.clone()),
                    shard: shard as u32,
                    shard_count,
                    request_id: request,
                    attempt: 0,
                    report_start: false,
                },
                timeout,
            );
            async move {
                let response = client.answer(call).await?;
                Ok::<_, tonic::Status>(ShardPartial {
                    shard: shard as u32,
                    partial: response.into_inner().partial,
                })
            }
        })
        .collect();
    async move {
        Ok(ConcatResult {
            partials: try_join_all(calls).await?,
        })
    }
}
