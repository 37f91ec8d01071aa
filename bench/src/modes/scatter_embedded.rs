//! `scatter-embedded`: Scatter as a library in the client — a
//! [`scatter_root::Fanout`] called in process, with no root hop. It is
//! configured as the `scatter` mode's root is (`scatter serve --hedge off`:
//! the built-in concat merge, probation and fast retries at their defaults)
//! and given the same deadline, so `scatter-embedded ÷ plain-fanout` is like
//! for like: both fan out from the harness's client threads, where their CPU
//! is counted.

use std::net::SocketAddr;

use scatter_root::Fanout;
use scatter_root::config::{BUILTIN_CONCAT, RootConfig};

use super::scatter::{answered_in_full, query};
use super::{CallFuture, CallSettings, Target};

/// Scatter's fan-out over every leaf, in process.
pub struct ScatterEmbedded {
    fanout: Fanout,
    settings: CallSettings,
}

impl ScatterEmbedded {
    /// Connects to every leaf. Call it on the runtime that will run the
    /// queries: the fan-out's connections and tasks live there.
    pub async fn connect(
        leaves: &[Vec<SocketAddr>],
        settings: CallSettings,
    ) -> anyhow::Result<Self> {
        let mut config = RootConfig {
            shards: leaves
                .iter()
                .map(|replicas| replicas.iter().map(ToString::to_string).collect())
                .collect(),
            merge: BUILTIN_CONCAT.to_owned(),
            ..RootConfig::default()
        };
        config.hedge.enabled = false;
        Ok(Self {
            fanout: Fanout::connect(config).await?,
            settings,
        })
    }
}

impl Target for ScatterEmbedded {
    fn call(&self, request: u64) -> CallFuture {
        let fanout = self.fanout.clone();
        let query = query(&self.settings, request);
        let timeout = self.settings.timeout;
        Box::pin(async move {
            let response = fanout
                .query(query, Some(timeout))
                .await
                .map_err(|e| super::describe(&e.into()))?;
            answered_in_full(&response)
        })
    }
}
