//! `scatter serve --leaves-dns NAME:PORT`: leaves found by DNS, as behind a
//! Kubernetes headless service or a compose network alias.

use std::time::Duration;

use clap::Args;
use scatter_root::config::RootConfig;
use scatter_root::discovery::dns::{DnsConfig, DnsDiscovery};
use scatter_root::topology::Connector;

use super::serve_root;

/// Flags of DNS discovery.
#[derive(Args, Debug)]
pub struct DnsFlags {
    /// Find the leaves by resolving NAME:PORT (repeatable); each leaf says
    /// which shard it serves (`Leaf.Info`). Joins and leaves change the tree
    /// without a restart; a shard with no leaf is reported skipped.
    #[arg(long = "leaves-dns", value_name = "NAME:PORT")]
    pub names: Vec<String>,
    /// How often the names are resolved again.
    #[arg(long, default_value_t = 2_000)]
    pub dns_interval_ms: u64,
    /// The tree's shard count (default: the count most leaves report).
    #[arg(long)]
    pub shard_count: Option<u32>,
}

/// Waits for a leaf of every shard, then serves and follows the names.
pub async fn serve(mut config: RootConfig, flags: &DnsFlags) -> anyhow::Result<()> {
    let mut dns = DnsDiscovery::new(
        DnsConfig {
            names: flags.names.clone(),
            interval: Duration::from_millis(flags.dns_interval_ms.max(100)),
            shard_count: flags.shard_count,
            ..DnsConfig::default()
        },
        Connector::for_root(&config),
    )?;
    eprintln!("resolving {:?} until every shard has a leaf", flags.names);
    config.shards = tokio::select! {
        shards = dns.until_complete() => shards,
        _ = scatter_management::shutdown_signal() => return Ok(()),
    };
    serve_root(config, |root| {
        tokio::spawn(dns.follow(root.topology(), root.process().shutdown.clone()));
    })
    .await
}
