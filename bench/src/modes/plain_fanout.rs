//! `plain-fanout`: what a user writes by hand with tonic — call every shard
//! at once (replica by round-robin on the request id), wait for all, fail
//! on the first error, concatenate the partials. The payload is built once
//! and shared (`Bytes`), as Scatter does; no hedging, no retries.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::try_join_all;
use prost::Message as _;
use scatter_proto::v1::leaf_client::LeafClient;
use scatter_proto::v1::{ConcatResult, LeafRequest, ShardPartial};
use tonic::transport::Channel;

use super::{CallFuture, CallSettings, Target, describe, leaf_clients, leaf_request};

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
        let payload = self.settings.payload(request);
        let shard_count = self.shards.len() as u32;
        let calls: Vec<_> = self
            .shards
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
                    },
                    self.settings.timeout,
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
        Box::pin(async move {
            let partials = try_join_all(calls).await.map_err(|s| describe(&s))?;
            let merged = ConcatResult { partials }.encode_to_vec();
            std::hint::black_box(merged);
            Ok(())
        })
    }
}
