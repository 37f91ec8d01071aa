//! DNS discovery: leaves found by name, as on a cluster where the engine
//! (Kubernetes, compose) schedules the leaves and Scatter only finds them.
//! A name such as a Kubernetes headless service resolves to one address per
//! ready leaf; each name is resolved again every few seconds, each address
//! seen for the first time is asked `Leaf.Info` for the shard it serves, and
//! the tree is replaced when the set changed — without restarting the root.
//! A shard left with no leaf stays in the tree with no replica, and requests
//! report it skipped in their coverage.
//!
//! ```no_run
//! # async fn run() -> Result<(), scatter_root::StartError> {
//! use scatter_root::discovery::dns::{DnsConfig, DnsDiscovery};
//! use scatter_root::{Root, config::RootConfig};
//! use scatter_root::topology::Connector;
//! let mut dns = DnsDiscovery::new(
//!     DnsConfig {
//!         names: vec!["leaf.search.svc.cluster.local:50051".into()],
//!         ..DnsConfig::default()
//!     },
//!     Connector::default(),
//! )?;
//! let shards = dns.until_complete().await;
//! let root = Root::connect(RootConfig { shards, ..RootConfig::default() }).await?;
//! tokio::spawn(dns.follow(root.topology(), root.process().shutdown.clone()));
//! # Ok(())
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use scatter_proto::v1::LeafInfoRequest;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::StartError;
use crate::topology::{Connector, Topology, normalise};

/// Which names to resolve and how often.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// `host:port` names; each may resolve to many leaves.
    pub names: Vec<String>,
    /// How often names are resolved again. Shorter notices joins and leaves
    /// sooner, at more DNS queries. Default 2 s.
    pub interval: Duration,
    /// The shard count the tree must have; `None` takes it from the leaves
    /// (the count most of them report). Leaves reporting another count are
    /// left out.
    pub shard_count: Option<u32>,
    /// How long a new leaf may take to answer `Leaf.Info`; one that does
    /// not is asked again next round. Default 1 s.
    pub info_timeout: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            names: Vec::new(),
            interval: Duration::from_secs(2),
            shard_count: None,
            info_timeout: Duration::from_secs(1),
        }
    }
}

/// Where a leaf said it belongs.
#[derive(Clone, Copy, Debug)]
struct Placed {
    shard: u32,
    shard_count: u32,
}

/// The leaves found so far and what they said about themselves.
pub struct DnsDiscovery {
    config: DnsConfig,
    answers: HashMap<String, Vec<SocketAddr>>,
    placed: HashMap<SocketAddr, Placed>,
    warned: HashSet<SocketAddr>,
    shard_count: Option<u32>,
    connector: Connector,
}

impl DnsDiscovery {
    /// Checks the names (each needs a port).
    pub fn new(config: DnsConfig, connector: Connector) -> Result<Self, StartError> {
        if config.names.is_empty() {
            return Err(StartError::Config(
                "DNS discovery needs at least one name".into(),
            ));
        }
        if let Some(bad) = config.names.iter().find(|n| !has_port(n)) {
            return Err(StartError::Config(format!(
                "DNS name {bad:?} has no port; write it as NAME:PORT"
            )));
        }
        Ok(Self {
            shard_count: config.shard_count,
            config,
            answers: HashMap::new(),
            placed: HashMap::new(),
            warned: HashSet::new(),
            connector,
        })
    }

    /// The shard count in force, once known.
    pub fn shard_count(&self) -> Option<u32> {
        self.shard_count
    }

    /// Resolves every name, asks new leaves their shard, and returns each
    /// shard's leaf addresses (empty until the shard count is known). A name
    /// that fails to resolve keeps its last answer: a DNS hiccup does not
    /// empty the tree.
    pub async fn refresh(&mut self) -> Vec<Vec<String>> {
        for name in &self.config.names {
            match tokio::net::lookup_host(name.as_str()).await {
                Ok(addrs) => {
                    self.answers.insert(name.clone(), addrs.collect());
                }
                Err(error) => {
                    tracing::debug!(%name, %error, "cannot resolve; keeping its last answer");
                }
            }
        }
        let seen: HashSet<SocketAddr> = self.answers.values().flatten().copied().collect();
        // An address that left may come back as another leaf: ask it again then.
        self.placed.retain(|addr, _| seen.contains(addr));
        self.warned.retain(|addr| seen.contains(addr));
        let new: Vec<SocketAddr> = seen
            .into_iter()
            .filter(|addr| !self.placed.contains_key(addr))
            .collect();
        let timeout = self.config.info_timeout;
        let connector = &self.connector;
        let answers = futures::future::join_all(
            new.into_iter()
                .map(|addr| async move { (addr, ask_info(connector, addr, timeout).await) }),
        )
        .await;
        for (addr, answer) in answers {
            match answer {
                Ok(placed) => {
                    self.placed.insert(addr, placed);
                }
                Err(error) => tracing::debug!(%addr, %error, "leaf not placed yet"),
            }
        }
        if self.shard_count.is_none() {
            self.shard_count = most_reported_count(self.placed.values());
        }
        self.shards()
    }

    fn shards(&mut self) -> Vec<Vec<String>> {
        let Some(count) = self.shard_count else {
            return Vec::new();
        };
        let mut shards = vec![Vec::new(); count as usize];
        for (addr, placed) in &self.placed {
            if placed.shard_count == count && placed.shard < count {
                shards[placed.shard as usize].push(normalise(&addr.to_string()));
            } else if self.warned.insert(*addr) {
                tracing::warn!(
                    %addr, shard = placed.shard, shard_count = placed.shard_count, tree = count,
                    "leaf serves another shard count than the tree; left out"
                );
            }
        }
        for replicas in &mut shards {
            replicas.sort();
        }
        shards
    }

    /// Refreshes until every shard has a leaf (a root needs the whole tree
    /// to start); says every few seconds what it is still waiting for.
    pub async fn until_complete(&mut self) -> Vec<Vec<String>> {
        let mut next_report = Instant::now() + Duration::from_secs(5);
        loop {
            let shards = self.refresh().await;
            if !shards.is_empty() && shards.iter().all(|s| !s.is_empty()) {
                return shards;
            }
            if Instant::now() >= next_report {
                let missing: Vec<usize> = (0..shards.len())
                    .filter(|&s| shards[s].is_empty())
                    .collect();
                tracing::info!(
                    names = ?self.config.names, leaves = self.placed.len(), shard_count = ?self.shard_count,
                    ?missing, "waiting for a leaf of every shard"
                );
                next_report = Instant::now() + Duration::from_secs(5);
            }
            // A new round soon: leaves are probably still starting.
            tokio::time::sleep(self.config.interval.min(Duration::from_millis(500))).await;
        }
    }

    /// Keeps `topology` equal to what the names resolve to, every
    /// interval, until `stop`.
    pub async fn follow(mut self, topology: Arc<Topology>, stop: CancellationToken) {
        let mut published = self.shards();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.config.interval) => {}
            }
            let shards = self.refresh().await;
            if shards.is_empty() || shards == published {
                continue;
            }
            match topology.replace_all(&shards).await {
                Ok(()) => {
                    let sizes: Vec<usize> = shards.iter().map(Vec::len).collect();
                    tracing::info!(replicas_per_shard = ?sizes, "leaves found by DNS changed");
                    published = shards;
                }
                Err(error) => tracing::warn!(%error, "cannot apply the leaves found by DNS"),
            }
        }
    }
}

/// Asks the leaf at `addr` which shard it serves.
async fn ask_info(
    connector: &Connector,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Placed, String> {
    let asked = tokio::time::timeout(timeout, async {
        let channel = connector.connect_now(&addr.to_string(), timeout).await?;
        let info = connector
            .leaf_client(channel)
            .info(LeafInfoRequest {})
            .await
            .map_err(|status| match status.code() {
                tonic::Code::Unimplemented => {
                    "the leaf does not implement Leaf.Info, so DNS discovery cannot place it"
                        .to_owned()
                }
                _ => status.to_string(),
            })?
            .into_inner();
        // Checked before the count sizes the tree: a leaf that claims
        // billions of shards must not make the root allocate for them.
        connector
            .limits()
            .check_shards(info.shard_count as usize)
            .map_err(|e| {
                format!(
                    "the leaf reports a shard count of {}: {e}",
                    info.shard_count
                )
            })?;
        Ok(Placed {
            shard: info.shard,
            shard_count: info.shard_count,
        })
    })
    .await;
    asked.unwrap_or_else(|_| Err(format!("no answer to Leaf.Info within {timeout:?}")))
}

/// The shard count most leaves report; the larger on a tie.
fn most_reported_count<'a>(placed: impl Iterator<Item = &'a Placed>) -> Option<u32> {
    let mut votes: HashMap<u32, usize> = HashMap::new();
    for p in placed.filter(|p| p.shard_count > 0) {
        *votes.entry(p.shard_count).or_default() += 1;
    }
    votes
        .into_iter()
        .max_by_key(|&(count, n)| (n, count))
        .map(|(count, _)| count)
}

fn has_port(name: &str) -> bool {
    name.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_need_a_port() {
        let bad = DnsDiscovery::new(
            DnsConfig {
                names: vec!["leaves".into()],
                ..DnsConfig::default()
            },
            Connector::default(),
        );
        assert!(bad.err().unwrap().to_string().contains("NAME:PORT"));
        assert!(has_port("leaf.search.svc:50051"));
    }

    #[test]
    fn the_count_most_leaves_report_wins() {
        let p = |shard_count| Placed {
            shard: 0,
            shard_count,
        };
        let placed = [p(4), p(4), p(2)];
        assert_eq!(most_reported_count(placed.iter()), Some(4));
        assert_eq!(most_reported_count([].iter()), None);
    }
}
