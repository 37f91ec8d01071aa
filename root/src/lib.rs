//! The Scatter root: the process clients call. It fans each request out to
//! every shard under one deadline, hedges slow shards to another replica,
//! streams partials into the merge as they arrive, and answers with the
//! merged result and a per-shard coverage report.
//!
//! Modules in the order a request travels: [`config`] → [`discovery`] →
//! [`admission`] → [`fanout`] (select, hedge, deadline, coverage) →
//! [`merge`] → [`server`]; beside them [`metrics`] and [`runtime`] (where
//! leaves come from: processes, containers).
//!
//! ```no_run
//! # async fn run() -> Result<(), scatter_root::RootError> {
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
pub mod config;
pub mod discovery;
mod error;
pub mod fanout;
pub mod merge;
pub mod metrics;
pub mod runtime;
pub mod server;
mod status;

use std::sync::Arc;

use scatter_management::{Process, ServeOptions};
use tokio::net::TcpListener;

pub use error::RootError;

use crate::config::RootConfig;
use crate::discovery::Discovery;
use crate::fanout::Engine;
use crate::merge::MergeTarget;
use crate::metrics::RootMetrics;
use crate::server::RootService;

/// A root ready to serve: leaves and merge connected.
pub struct Root {
    engine: Arc<Engine>,
    process: Process,
}

impl Root {
    /// Validates `config`, connects to every leaf and to the merge it names.
    pub async fn connect(config: RootConfig) -> Result<Self, RootError> {
        config.validate()?;
        let merge = MergeTarget::from_config(&config.merge, &config.connect).await?;
        Self::with_merge(config, merge).await
    }

    /// Like [`Root::connect`], merging with `merge` — e.g. a user's own
    /// [`scatter_merge::Merge`] linked into the root as
    /// `MergeTarget::Local(Arc::new(MyMerge))`.
    pub async fn with_merge(config: RootConfig, merge: MergeTarget) -> Result<Self, RootError> {
        config.validate()?;
        let process = Process::new("root", &["scatter.v1.Root"]);
        let discovery = Arc::new(
            Discovery::connect(
                &config.shards,
                config.connect.clone(),
                process.metrics.clone(),
            )
            .await?,
        );
        let metrics = RootMetrics::new(&process.metrics);
        let engine = Arc::new(Engine::new(config, discovery, merge, metrics));
        let process = process.with_status(status::reporter(Arc::clone(&engine)));
        Ok(Self { engine, process })
    }

    /// The configuration in force.
    pub fn config(&self) -> &RootConfig {
        &self.engine.config
    }

    /// Health, metrics and the shutdown token of this root.
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// The live set of shards and replicas; runtimes and DNS discovery
    /// change it while the root serves.
    pub fn discovery(&self) -> Arc<Discovery> {
        Arc::clone(&self.engine.discovery)
    }

    /// Serves clients on `listener` until SIGTERM, ctrl-c or
    /// `process().shutdown`, then drains.
    pub async fn serve(
        self,
        listener: TcpListener,
        options: ServeOptions,
    ) -> Result<(), RootError> {
        let routes = RootService::new(Arc::clone(&self.engine)).routes();
        scatter_management::serve(self.process, routes, listener, options).await?;
        Ok(())
    }
}
