//! Where the leaves are: the shards, each with its replicas and a kept-open
//! channel per replica.
//!
//! A [`Topology`] is an immutable snapshot; [`Discovery`] holds the current
//! one and swaps it when replicas join or leave (static config, the process
//! or Docker runtime, or DNS re-resolution). A request takes one snapshot at
//! its start and keeps it, so no lock is held while it runs. Replicas keep
//! their statistics across swaps, keyed by address.

pub mod dns;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use scatter_management::metrics::Registry;
use scatter_proto::v1::leaf_client::LeafClient;
use tonic::transport::{Channel, Endpoint};

use crate::RootError;
use crate::config::ConnectConfig;
use crate::fanout::{ReplicaStats, ShardStats};

/// One leaf process serving one shard.
pub struct Replica {
    /// Its address, as configured or discovered (`http://host:port`).
    pub addr: String,
    /// The kept-open channel; clone per call (cheap).
    pub client: LeafClient<Channel>,
    /// Latency, load and outcome statistics used to choose replicas.
    pub stats: Arc<ReplicaStats>,
}

/// One shard: its id and its current replicas.
pub struct Shard {
    /// 0-based.
    pub id: u32,
    /// The replicas now in the tree; may be empty (the shard is then
    /// reported skipped).
    pub replicas: Vec<Arc<Replica>>,
    /// The shard's recent latencies, which set its hedge delay.
    pub stats: Arc<ShardStats>,
}

/// The whole tree at one moment.
pub struct Topology {
    /// Indexed by shard id.
    pub shards: Vec<Shard>,
}

impl Topology {
    /// How many shards make the whole.
    pub fn shard_count(&self) -> u32 {
        u32::try_from(self.shards.len()).unwrap_or(u32::MAX)
    }
}

/// The current topology, and how to build the next one.
pub struct Discovery {
    current: RwLock<Arc<Topology>>,
    connect: ConnectConfig,
    metrics: Registry,
}

impl Discovery {
    /// Connects to every replica of `shards` (failures are logged and the
    /// channel retries lazily, so one leaf down does not stop the root).
    pub async fn connect(
        shards: &[Vec<String>],
        connect: ConnectConfig,
        metrics: Registry,
    ) -> Result<Self, RootError> {
        let discovery = Self {
            current: RwLock::new(Arc::new(Topology { shards: Vec::new() })),
            connect,
            metrics,
        };
        discovery.replace_all(shards).await?;
        Ok(discovery)
    }

    /// The topology to use for one request.
    pub fn snapshot(&self) -> Arc<Topology> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `shards` the tree: replicas already known keep their channel
    /// and statistics, new ones are connected, missing ones are dropped.
    pub async fn replace_all(&self, shards: &[Vec<String>]) -> Result<(), RootError> {
        let old = self.snapshot();
        let known: HashMap<&str, &Arc<Replica>> = old
            .shards
            .iter()
            .flat_map(|s| s.replicas.iter())
            .map(|r| (r.addr.as_str(), r))
            .collect();
        let mut next = Vec::with_capacity(shards.len());
        for (id, addrs) in shards.iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| RootError::Config("too many shards".into()))?;
            let mut replicas = Vec::with_capacity(addrs.len());
            for addr in addrs {
                let addr = normalise(addr);
                let replica = match known.get(addr.as_str()) {
                    Some(existing) => Arc::clone(existing),
                    None => Arc::new(self.connect_replica(id, addr).await?),
                };
                replicas.push(replica);
            }
            let stats = old.shards.get(id as usize).map_or_else(
                || Arc::new(ShardStats::new(&self.metrics, id)),
                |s| s.stats.clone(),
            );
            next.push(Shard {
                id,
                replicas,
                stats,
            });
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(Topology { shards: next });
        Ok(())
    }

    async fn connect_replica(&self, shard: u32, addr: String) -> Result<Replica, RootError> {
        let channel = connect_channel(&addr, &self.connect).await?;
        let stats = Arc::new(ReplicaStats::new(&self.metrics, shard, &addr));
        Ok(Replica {
            client: LeafClient::new(channel).max_decoding_message_size(MAX_PARTIAL_BYTES),
            addr,
            stats,
        })
    }
}

/// Partials up to 64 MiB are accepted from a leaf.
const MAX_PARTIAL_BYTES: usize = 64 << 20;

/// `host:port` → `http://host:port`; full URIs are kept.
pub fn normalise(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    }
}

/// A channel to `addr`, connected now when possible so the first request
/// pays no handshake; when the peer is down it connects on first use and
/// reconnects by itself after the peer restarts.
pub async fn connect_channel(addr: &str, connect: &ConnectConfig) -> Result<Channel, RootError> {
    let endpoint = Endpoint::from_shared(addr.to_owned())
        .map_err(|e| RootError::Config(format!("bad address {addr:?}: {e}")))?
        .connect_timeout(connect.timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(connect.keepalive)
        .keep_alive_while_idle(true);
    match endpoint.connect().await {
        Ok(channel) => Ok(channel),
        Err(error) => {
            tracing::warn!(%addr, %error, "not reachable yet; will connect on first use");
            Ok(endpoint.connect_lazy())
        }
    }
}
