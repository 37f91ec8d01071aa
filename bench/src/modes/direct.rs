//! `direct`: one leaf (shard 0, replica 0) called straight from the
//! harness — the floor any fan-out pays on top of.

use std::net::SocketAddr;

use anyhow::Context as _;
use scatter_proto::v1::LeafRequest;
use scatter_proto::v1::leaf_client::LeafClient;
use tonic::transport::Channel;

use crate::wire;

use super::{CallFuture, CallSettings, Milestones, Target, describe, leaf_clients, leaf_request};

/// A client of one leaf.
pub struct Direct {
    client: LeafClient<Channel>,
    shard_count: u32,
    settings: CallSettings,
}

impl Direct {
    /// Connects to the first replica of shard 0.
    pub async fn connect(
        leaves: &[Vec<SocketAddr>],
        settings: CallSettings,
    ) -> anyhow::Result<Self> {
        let first = leaves
            .first()
            .and_then(|r| r.first())
            .context("no leaves")?;
        let client = leaf_clients(&[vec![*first]]).await?.remove(0).remove(0);
        Ok(Self {
            client,
            shard_count: u32::try_from(leaves.len())?,
            settings,
        })
    }
}

impl Target for Direct {
    fn call(&self, request: u64) -> CallFuture {
        let mut client = self.client.clone();
        let call = leaf_request(
            LeafRequest {
                payload: Some(self.settings.payload(request)),
                shard: 0,
                shard_count: self.shard_count,
                request_id: request,
                attempt: 0,
                report_start: false,
            },
            self.settings.timeout,
        );
        Box::pin(async move {
            let response = client.answer(call).await.map_err(|s| describe(&s))?;
            let partial = response.into_inner().partial.unwrap_or_default();
            Ok(Milestones {
                leaf_busy: wire::partial_busy(&partial.body).unwrap_or_default(),
                ..Milestones::default()
            })
        })
    }
}
