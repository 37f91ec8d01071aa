//! The Docker runtime: the tree as containers. It creates a private bridge
//! network, starts shards × replicas leaf containers on it (shard and shard
//! count in their environment and labels), starts the merge in the root's
//! network namespace (the pod pattern: the root's container's, or the
//! host's when the root runs on the host) listening on loopback, waits until
//! all report SERVING, and then keeps the root's topology true while
//! containers die, stall, drain or leave the network. On
//! [`DockerRuntime::stop`] (or if the runtime is dropped, or the next start
//! finds its root gone) everything it created is removed.
//!
//! Files by role: `options` (what to run), [`labels`] (what marks our
//! objects, who owns them), `placement` (where the root runs), `spec` (what
//! each container is made of), `engine` (the Engine API calls), `health`
//! (leaf health watches), `reconcile` (restarts and discovery updates),
//! `sweep` (leftovers of dead runs).
//!
//! ```no_run
//! # async fn run() -> Result<(), scatter_root::StartError> {
//! use scatter_root::runtime::docker::{DockerOptions, DockerRuntime};
//! use scatter_root::{Root, config::RootConfig};
//! let mut runtime = DockerRuntime::start(DockerOptions::default()).await?;
//! let mut config = RootConfig { shards: runtime.shards(), ..RootConfig::default() };
//! if let Some(merge) = runtime.merge_addr() {
//!     config.merge = merge;
//! }
//! let root = Root::connect(config).await?;
//! runtime.watch(root.topology());
//! let listener = scatter_management::bind(root.config().listen).await?;
//! let served = root.serve(listener, Default::default()).await;
//! runtime.stop().await;
//! served
//! # }
//! ```

mod engine;
mod health;
pub mod labels;
mod options;
mod placement;
mod reconcile;
mod spec;
mod sweep;

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use labels::{Owner, RunId};
pub use options::{ContainerSpec, DockerOptions, Limits, TLS_MOUNT};
pub use placement::Placement;

use self::reconcile::Reconciler;
use self::spec::{MergeAt, Names};
use crate::error::StartError;
use crate::topology::Connector;
use crate::topology::Topology;

/// The port leaves listen on inside their containers.
pub const LEAF_PORT: u16 = 50051;
/// The port the merge listens on inside its container (or the root's).
pub const MERGE_PORT: u16 = 50050;

/// A tree of containers started by this root.
pub struct DockerRuntime {
    run: RunId,
    network: String,
    root_container: Option<String>,
    merge_addr: Option<String>,
    merge_container: Option<String>,
    shards: Vec<Vec<String>>,
    stop_grace: Duration,
    reconciler: Option<Reconciler>,
    watcher: Option<(CancellationToken, JoinHandle<()>)>,
    cleanup: Cleanup,
}

impl DockerRuntime {
    /// Removes the leftovers of dead runs, creates the network and the
    /// containers, and waits until every one reports SERVING. On failure,
    /// or if this future is dropped, what was created is removed.
    pub async fn start(options: DockerOptions) -> Result<Self, StartError> {
        if options.shards == 0 || options.replicas == 0 || options.leaf.image.is_empty() {
            return Err(StartError::Config(
                "the Docker runtime needs a leaf image and at least one shard and replica".into(),
            ));
        }
        let docker = engine::connect().await?;
        let root_container = options.placement.resolve(&docker).await?;
        // Each removed run is logged; a failed sweep must not stop the start.
        if let Err(error) = sweep::stale_runs(&docker).await {
            tracing::warn!(%error, "cannot sweep leftovers of dead runs");
        }
        let run = options
            .run_id
            .clone()
            .map_or_else(RunId::random, RunId::new);
        let owner = root_container
            .clone()
            .map_or_else(Owner::this_process, Owner::Container);
        let cleanup = Cleanup {
            run: run.clone(),
            armed: true,
        };
        let mut runtime = Self {
            network: Names {
                run: &run,
                owner: &owner,
            }
            .network(),
            run,
            root_container,
            merge_addr: None,
            merge_container: None,
            shards: Vec::new(),
            stop_grace: options.stop_grace,
            reconciler: None,
            watcher: None,
            cleanup,
        };
        match runtime.create(docker.clone(), owner, options).await {
            Ok(()) => Ok(runtime),
            Err(error) => {
                if engine::remove_run(&docker, &runtime.run).await.is_ok() {
                    runtime.cleanup.armed = false;
                }
                Err(error)
            }
        }
    }

    async fn create(
        &mut self,
        docker: bollard::Docker,
        owner: Owner,
        options: DockerOptions,
    ) -> Result<(), StartError> {
        let names = Names {
            run: &self.run,
            owner: &owner,
        };
        engine::create_network(&docker, &self.network, labels::for_run(&self.run, &owner)).await?;
        if let Some(root) = &self.root_container {
            engine::connect_network(&docker, &self.network, root).await?;
        }
        let leaves = (0..options.shards)
            .flat_map(|shard| (0..options.replicas).map(move |replica| (shard, replica)))
            .map(|(shard, replica)| {
                let body = spec::leaf(&options, &names, shard, replica);
                let name = names.leaf(shard, replica);
                let docker = docker.clone();
                async move { engine::run_container(&docker, &name, body).await }
            });
        futures::future::try_join_all(leaves).await?;

        let mut merge_at = None;
        if let Some(merge) = &options.merge {
            let (at, addr) = match &self.root_container {
                Some(root) => (
                    MergeAt::Sidecar { root: root.clone() },
                    format!("http://127.0.0.1:{MERGE_PORT}"),
                ),
                None => {
                    let port = free_loopback_port()?;
                    (
                        MergeAt::HostLoopback { port },
                        format!("http://127.0.0.1:{port}"),
                    )
                }
            };
            let name = names.merge();
            engine::run_container(&docker, &name, spec::merge(&options, merge, &names, &at))
                .await?;
            self.merge_addr = Some(addr);
            self.merge_container = Some(name);
            merge_at = Some(at);
        }

        let ready_timeout = options.ready_timeout;
        let connector = Connector::new(options.connect.clone());
        let mut reconciler = Reconciler::new(docker, self.run.clone(), owner, options, merge_at);
        self.shards = reconciler.wait_ready(ready_timeout).await?;
        if let Some(addr) = &self.merge_addr {
            wait_serving("the merge", addr, &connector, ready_timeout).await?;
        }
        self.reconciler = Some(reconciler);
        tracing::info!(run = %self.run, network = %self.network, "containers ready");
        Ok(())
    }

    /// The run id in the names and `scatter.run` label of every object.
    pub fn run_id(&self) -> &RunId {
        &self.run
    }

    /// The name of the tree's network.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// Each shard's leaf addresses when the tree became ready.
    pub fn shards(&self) -> Vec<Vec<String>> {
        self.shards.clone()
    }

    /// The merge's address as the root reaches it, when a merge was started.
    pub fn merge_addr(&self) -> Option<String> {
        self.merge_addr.clone()
    }

    /// The container name of replica `replica` of shard `shard`.
    pub fn leaf_container(&self, shard: u32, replica: u32) -> String {
        format!("scatter-{}-leaf-{shard}-{replica}", self.run)
    }

    /// The merge's container name, when a merge was started.
    pub fn merge_container(&self) -> Option<&str> {
        self.merge_container.as_deref()
    }

    /// From now on keeps `topology` equal to the leaves that are up and
    /// SERVING, and restarts containers that stop. Once only.
    pub fn watch(&mut self, topology: Arc<Topology>) {
        let Some(mut reconciler) = self.reconciler.take() else {
            tracing::warn!("the Docker runtime is already watched");
            return;
        };
        reconciler.topology = Some(topology);
        let stopping = CancellationToken::new();
        let task = tokio::spawn(reconciler.run(stopping.clone()));
        self.watcher = Some((stopping, task));
    }

    /// Stops watching, sends every container SIGTERM and lets it drain (at
    /// most the stop grace), then removes the containers and the network.
    pub async fn stop(mut self) {
        if let Some((stopping, task)) = self.watcher.take() {
            stopping.cancel();
            let _ = task.await;
        }
        let docker = match engine::connect().await {
            Ok(docker) => docker,
            Err(error) => {
                tracing::error!(%error, "cannot remove the containers now; the next start sweeps them");
                return;
            }
        };
        let grace = i32::try_from(self.stop_grace.as_secs()).unwrap_or(i32::MAX);
        if let Ok(containers) =
            engine::containers_with(&docker, labels::RUN, self.run.as_str()).await
        {
            let stops = containers
                .iter()
                .filter_map(|c| c.id.as_deref())
                .map(|id| engine::stop_container(&docker, id, grace));
            futures::future::join_all(stops).await;
        }
        if let Some(root) = &self.root_container {
            engine::disconnect_network(&docker, &self.network, root).await;
        }
        match engine::remove_run(&docker, &self.run).await {
            Ok(()) => {
                self.cleanup.armed = false;
                tracing::info!(run = %self.run, "containers and network removed");
            }
            Err(error) => tracing::error!(%error, "cannot remove every container; retrying once"),
        }
    }
}

/// Removes the leftovers of runs whose root is gone; returns those runs.
pub async fn sweep_stale_runs() -> Result<Vec<RunId>, StartError> {
    let docker = engine::connect().await?;
    sweep::stale_runs(&docker).await
}

/// Removes every container and network of `run`, whoever owns it.
pub async fn remove_run(run: &RunId) -> Result<(), StartError> {
    let docker = engine::connect().await?;
    engine::remove_run(&docker, run).await
}

/// Removes a run's objects when the runtime is dropped without
/// [`DockerRuntime::stop`] (a panic, a cancelled start). Blocking is
/// acceptable there: it is the way out.
struct Cleanup {
    run: RunId,
    armed: bool,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let run = self.run.clone();
        let removal = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    StartError::runtime("cannot start a runtime to remove the containers", e)
                })?;
            runtime.block_on(remove_run(&run))
        });
        match removal.join() {
            Ok(Ok(())) => tracing::info!(run = %self.run, "containers and network removed"),
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot remove the run's containers; the next start sweeps them");
            }
            Err(_) => tracing::error!("the removal thread panicked"),
        }
    }
}

impl Drop for DockerRuntime {
    fn drop(&mut self) {
        if let Some((stopping, task)) = self.watcher.take() {
            stopping.cancel();
            task.abort();
        }
    }
}

/// A free loopback port for the merge's published port
/// ([`scatter_management::loopback_ports`]).
fn free_loopback_port() -> Result<u16, StartError> {
    scatter_management::loopback_ports(1)
        .map(|addrs| addrs[0].port())
        .map_err(|e| StartError::runtime("no free loopback port", e))
}

async fn wait_serving(
    what: &str,
    uri: &str,
    connector: &Connector,
    timeout: Duration,
) -> Result<(), StartError> {
    let deadline = tokio::time::Instant::now() + timeout;
    while !connector.is_serving(uri, Duration::from_millis(500)).await {
        if tokio::time::Instant::now() >= deadline {
            return Err(StartError::runtime_failed(format!(
                "{what} at {uri} did not report SERVING within {timeout:?}"
            )));
        }
        // Readiness is a condition we poll, not a delay we trust.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
