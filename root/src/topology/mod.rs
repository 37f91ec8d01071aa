//! The tree's state, shared by every request: the shards, their replicas
//! with kept-open channels, and what the root has learnt of each across
//! requests (latency windows, EWMAs, probation, recent counts) and from
//! each replica's own health stream (whether it takes work).
//!
//! A [`Snapshot`] is immutable; [`Topology`] holds the current one and
//! swaps it when replicas join or leave (static config, a runtime, DNS). A
//! request takes one snapshot at its start and keeps it, so no lock is held
//! while it runs. Replicas keep their channel and statistics across swaps,
//! keyed by address.

mod budget;
mod coalesce;
mod connect;
mod health;
pub mod probation;
mod recent;
mod replica;
mod reports;
mod shard;
mod starts;
#[cfg(test)]
mod test_peer;
mod watch;
mod window;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use scatter_management::metrics::Registry;

pub use budget::HedgeBudget;
pub use connect::{Connector, normalise};
pub use health::{Checked, LastError, ReplicaHealth};
pub use recent::{RecentCounts, Totals};
pub use replica::{Replica, ReplicaCounters, ReplicaStats};
pub use reports::LeafReports;
pub use shard::{Shard, ShardRecent, ShardStats};
pub use starts::StartTimes;
pub use window::{AtomicDuration, LatencyWindow};

use crate::error::StartError;

/// The whole tree at one moment.
pub struct Snapshot {
    /// Indexed by shard id.
    pub shards: Vec<Shard>,
}

impl Snapshot {
    /// How many shards make the whole.
    pub fn shard_count(&self) -> u32 {
        u32::try_from(self.shards.len()).unwrap_or(u32::MAX)
    }
}

/// The current snapshot, and how to build the next one.
pub struct Topology {
    current: RwLock<Arc<Snapshot>>,
    connector: Connector,
    metrics: Registry,
}

impl Topology {
    /// Connects to every replica of `shards` (an unreachable leaf is
    /// connected lazily, so one leaf down does not stop the root).
    pub async fn connect(
        shards: &[Vec<String>],
        connector: Connector,
        metrics: Registry,
    ) -> Result<Self, StartError> {
        let topology = Self {
            current: RwLock::new(Arc::new(Snapshot { shards: Vec::new() })),
            connector,
            metrics,
        };
        topology.replace_all(shards).await?;
        Ok(topology)
    }

    /// A topology of `shards` made elsewhere, e.g. replicas whose calls go
    /// to in-memory leaves in tests: no connection made, no health watched.
    pub fn of_shards(shards: Vec<Shard>, connector: Connector, metrics: Registry) -> Self {
        Self {
            current: RwLock::new(Arc::new(Snapshot { shards })),
            connector,
            metrics,
        }
    }

    /// The snapshot to use for one request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes `shards` the tree: replicas already known keep their channel
    /// and statistics, new ones are connected, missing ones are dropped.
    /// A tree above `limits.max_shards` is refused and the old one kept.
    pub async fn replace_all(&self, shards: &[Vec<String>]) -> Result<(), StartError> {
        self.connector
            .limits()
            .check_shards(shards.len())
            .map_err(StartError::Config)?;
        let old = self.snapshot();
        let known: HashMap<&str, &Arc<Replica>> = old
            .shards
            .iter()
            .flat_map(|s| s.replicas.iter())
            .map(|r| (r.addr.as_str(), r))
            .collect();
        let mut next = Vec::with_capacity(shards.len());
        for (id, addrs) in shards.iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| StartError::Config("too many shards".into()))?;
            let mut replicas = Vec::with_capacity(addrs.len());
            for addr in addrs {
                let addr = normalise(addr);
                let replica = match known.get(addr.as_str()) {
                    Some(existing) => Arc::clone(existing),
                    None => self.connect_replica(id, addr).await?,
                };
                replicas.push(replica);
            }
            let stats = old.shards.get(id as usize).map_or_else(
                || Arc::new(ShardStats::new(&self.metrics, id)),
                |s| Arc::clone(&s.stats),
            );
            next.push(Shard {
                id,
                replicas,
                stats,
            });
        }
        *self.current.write().unwrap_or_else(PoisonError::into_inner) =
            Arc::new(Snapshot { shards: next });
        Ok(())
    }

    /// Connects to a new replica and starts watching its health.
    async fn connect_replica(&self, shard: u32, addr: String) -> Result<Arc<Replica>, StartError> {
        let channel = self.connector.channel(&addr).await?;
        let replica = Arc::new(Replica {
            client: self.connector.leaf_client(channel.clone()),
            stats: ReplicaStats::new(&self.metrics, shard, &addr),
            addr,
        });
        watch::start(&replica, channel);
        Ok(replica)
    }
}
