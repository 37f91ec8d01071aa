//! The Scatter root: the process clients call. It fans each request out to
//! every shard under one deadline, hedges slow shards to another replica,
//! streams partials into the merge as they arrive, and answers with the
//! merged result and a per-shard coverage report — at once (`Query`) or
//! progressively (`QueryStream`).
//!
//! Modules in the order a request travels: [`config`] → [`discovery`] (where
//! leaves come from) → [`topology`] (the tree's shared state and the one
//! connection builder) → [`admission`] → [`fanout`] (per request: deadline,
//! one future per shard, the gather's events, coverage) → [`canary`] (new
//! payloads to one shard first, against queries of death) → [`merge`] →
//! [`engine`] (the driver, and [`Fanout`], the engine as a library) →
//! [`server`]; beside them [`metrics`], [`readiness`] and, with the `runtime` feature,
//! `runtime` (processes and containers that run the leaves).
//!
//! Embedded in a Rust service, with no root hop:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use scatter_root::{Fanout, config::RootConfig};
//! let fanout = Fanout::connect(RootConfig {
//!     shards: vec![vec!["127.0.0.1:7001".into()], vec!["127.0.0.1:7002".into()]],
//!     ..RootConfig::default()
//! })
//! .await?;
//! # let request = Default::default();
//! let answer = fanout.query(request, None).await?;
//! # Ok(())
//! # }
//! ```
//!
//! As a gRPC root:
//!
//! ```no_run
//! # async fn run() -> Result<(), scatter_root::StartError> {
//! use scatter_root::{Root, config::RootConfig};
//! let config = RootConfig {
//!     shards: vec![vec!["127.0.0.1:7001".into()], vec!["127.0.0.1:7002".into()]],
//!     ..RootConfig::default()
//! };
//! let root = Root::connect(config).await?;
//! let listener = scatter_management::bind(root.config().listen).await?;
//! root.serve(listener, Default::default()).await
//! # }
//! ```

pub mod admission;
mod call_status;
pub mod canary;
pub mod config;
pub mod discovery;
pub mod engine;
mod error;
pub mod fanout;
pub mod merge;
pub mod metrics;
pub mod readiness;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod server;
mod status;
pub mod topology;

use std::sync::Arc;

use scatter_management::{Process, ServeOptions};
use tokio::net::TcpListener;

pub use engine::Fanout;
pub use error::{QueryError, StartError};

use crate::config::RootConfig;
use crate::merge::MergeTarget;
use crate::readiness::Readiness;
use crate::server::RootService;
use crate::topology::{Connector, Topology};

/// A root ready to serve: leaves and merge connected.
pub struct Root {
    fanout: Fanout,
    process: Process,
    readiness: Arc<Readiness>,
}

impl Root {
    /// Validates `config`, connects to every leaf and to the merge it names.
    pub async fn connect(config: RootConfig) -> Result<Self, StartError> {
        config.validate()?;
        let connector = Connector::for_root(&config);
        let merge = MergeTarget::from_config(&config.merge, &connector).await?;
        Self::with_merge(config, merge).await
    }

    /// Like [`Root::connect`], merging with `merge` — e.g. a user's own
    /// [`scatter_merge::Merge`] linked into the root as
    /// `MergeTarget::Local(Arc::new(MyMerge))`.
    pub async fn with_merge(config: RootConfig, merge: MergeTarget) -> Result<Self, StartError> {
        let process = Process::new("root", &["scatter.v1.Root"]);
        let fanout = Fanout::with_merge(config, merge, &process.metrics).await?;
        let readiness = Arc::new(Readiness::new(fanout.engine()));
        let status = status::reporter(Arc::clone(fanout.engine()), Arc::clone(&readiness));
        let mut process = process.with_status(status).with_page(status::PAGE);
        // `serve` installs the exporter here when asked to export spans.
        process.spans = fanout.engine().spans.clone();
        Ok(Self {
            fanout,
            process,
            readiness,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &RootConfig {
        &self.fanout.engine().config
    }

    /// Health, metrics and the shutdown token of this root.
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// The live set of shards and replicas; runtimes and DNS discovery
    /// change it while the root serves.
    pub fn topology(&self) -> Arc<Topology> {
        self.fanout.topology()
    }

    /// The engine this root serves with, to embed beside the gRPC service.
    pub fn fanout(&self) -> &Fanout {
        &self.fanout
    }

    /// Serves clients on `listener` until SIGTERM, ctrl-c or
    /// `process().shutdown`, then drains. Health says SERVING only while
    /// the [`readiness`] checks find the merge and enough shards serving.
    /// Over TLS as the config's `[tls]` says, unless `options` brings its own.
    pub async fn serve(
        self,
        listener: TcpListener,
        mut options: ServeOptions,
    ) -> Result<(), StartError> {
        let metadata = self.config().limits.max_metadata_bytes;
        // Headers between the limit and twice it get the root's own
        // RESOURCE_EXHAUSTED; beyond, HTTP/2 refuses them unread.
        options.max_header_list_bytes = u32::try_from(metadata.saturating_mul(2)).ok();
        if options.tls.is_none() {
            options.tls = self.config().tls.load()?;
        }
        let checks = Arc::clone(&self.readiness)
            .spawn(self.process.health.clone(), self.process.shutdown.clone());
        let routes = RootService::new(self.fanout).routes();
        let served = scatter_management::serve(self.process, routes, listener, options).await;
        checks.abort();
        served?;
        Ok(())
    }
}
