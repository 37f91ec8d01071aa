//! `scatter`, `scatter-hedge`, `scatter-merge`: a query to a Scatter root
//! process, which fans out to the same leaves. Every shard is required
//! (`require_all_shards`), so a partial answer counts as an error, as it
//! does for the hand-written fan-outs.

use std::net::SocketAddr;

use scatter_proto::v1::root_client::RootClient;
use scatter_proto::v1::{Policy, QueryRequest};
use tonic::transport::Channel;

use super::{CallFuture, CallSettings, MAX_MESSAGE, Target, channel, describe};

/// A client of one root.
pub struct ScatterQuery {
    client: RootClient<Channel>,
    settings: CallSettings,
}

impl ScatterQuery {
    /// Connects to the root at `addr`.
    pub async fn connect(addr: SocketAddr, settings: CallSettings) -> anyhow::Result<Self> {
        Ok(Self {
            client: RootClient::new(channel(addr).await?)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            settings,
        })
    }
}

impl Target for ScatterQuery {
    fn call(&self, request: u64) -> CallFuture {
        let mut client = self.client.clone();
        let mut query = tonic::Request::new(QueryRequest {
            payload: Some(self.settings.payload(request)),
            policy: Some(Policy {
                require_all_shards: true,
                ..Policy::default()
            }),
        });
        query.set_timeout(self.settings.timeout);
        Box::pin(async move {
            let response = client.query(query).await.map_err(|s| describe(&s))?;
            let coverage = response.into_inner().coverage.unwrap_or_default();
            if coverage.answered != coverage.total {
                return Err(format!(
                    "partial answer: {}/{} shards",
                    coverage.answered, coverage.total
                ));
            }
            Ok(())
        })
    }
}
