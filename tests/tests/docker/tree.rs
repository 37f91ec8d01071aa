//! A tree of containers started by the Docker runtime, behind a root served
//! in the test process — the root on the host, as `scatter serve --runtime
//! docker` runs it — and what a test reads of it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use scatter_management::{Process, ServeOptions};
use scatter_root::config::RootConfig;
use scatter_root::runtime::docker::{ContainerSpec, DockerOptions, DockerRuntime, Placement};
use scatter_root::topology::ReplicaCounters;
use scatter_root::topology::Topology;
use scatter_root::{Root, StartError};
use tokio::task::JoinHandle;

use crate::engine::{self, LEAF_IMAGE, MERGE_IMAGE, RunGuard};

/// Documents in the whole corpus: small, so leaves index it at once.
const DOCS: &str = "2000";

/// Leaf and merge containers and a root over them.
pub struct ContainerTree {
    /// The root's address.
    pub addr: SocketAddr,
    /// The root's live view of the leaves.
    pub discovery: Arc<Topology>,
    runtime: Option<DockerRuntime>,
    process: Process,
    served: Option<JoinHandle<Result<(), StartError>>>,
    guard: RunGuard,
}

impl ContainerTree {
    /// Starts `shards` × `replicas` leaves and a merge, and a root over them.
    ///
    /// # Panics
    /// When the containers or the root cannot start.
    pub async fn start(test: &str, shards: u32, replicas: u32) -> Self {
        Box::pin(Self::start_with(test, shards, replicas, |_| {})).await
    }

    /// Like [`ContainerTree::start`], with `tune` applied to the runtime's
    /// options; the root calls the containers as `options.connect` says.
    ///
    /// # Panics
    /// When the containers or the root cannot start.
    pub async fn start_with(
        test: &str,
        shards: u32,
        replicas: u32,
        tune: impl FnOnce(&mut DockerOptions),
    ) -> Self {
        let guard = RunGuard::new(engine::run_id(test));
        let mut options = DockerOptions {
            leaf: ContainerSpec {
                args: vec!["--docs".into(), DOCS.into()],
                ..ContainerSpec::image(LEAF_IMAGE)
            },
            merge: Some(ContainerSpec::image(MERGE_IMAGE)),
            shards,
            replicas,
            placement: Placement::Host,
            run_id: Some(guard.run.to_string()),
            stop_grace: Duration::from_secs(5),
            ..DockerOptions::default()
        };
        tune(&mut options);
        let connect = options.connect.clone();
        let mut runtime = DockerRuntime::start(options)
            .await
            .unwrap_or_else(|e| panic!("the Docker runtime did not start: {e}"));
        let mut config = RootConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            shards: runtime.shards(),
            merge: runtime.merge_addr().expect("a merge container"),
            connect,
            ..RootConfig::default()
        };
        // Answers that wait for the deadline (a hung shard) leave at least
        // this much (at most a tenth of it) for the merge and the reply: a
        // reserve measured on a quiet moment is too little on a busy
        // two-core machine running a debug root beside the containers of
        // another test.
        config.deadline.merge_reserve = Duration::from_millis(100);
        config.deadline.merge_reserve_floor = Duration::from_millis(100);
        let root = Root::connect(config).await.expect("the root connects");
        runtime.watch(root.topology());
        let listener = scatter_management::bind(root.config().listen)
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("an address");
        let process = root.process().clone();
        let discovery = root.topology();
        let options = ServeOptions {
            grace: Duration::from_secs(2),
            handle_signals: false,
            ..ServeOptions::default()
        };
        let served = tokio::spawn(root.serve(listener, options));
        Self {
            addr,
            discovery,
            runtime: Some(runtime),
            process,
            served: Some(served),
            guard,
        }
    }

    /// The tree's network.
    pub fn network(&self) -> String {
        format!("scatter-{}", self.guard.run)
    }

    /// The container of replica `replica` of shard `shard`.
    pub fn leaf(&self, shard: u32, replica: u32) -> String {
        format!("scatter-{}-leaf-{shard}-{replica}", self.guard.run)
    }

    /// The merge's container.
    pub fn merge(&self) -> String {
        format!("scatter-{}-merge", self.guard.run)
    }

    /// The address of a leaf container as the root calls it, or `None`
    /// when it has none on the network.
    pub fn leaf_uri(&self, shard: u32, replica: u32) -> Option<String> {
        let ip = engine::ip_on(&self.leaf(shard, replica), &self.network());
        (!ip.is_empty())
            .then(|| format!("http://{ip}:{}", scatter_root::runtime::docker::LEAF_PORT))
    }

    /// The replica addresses of `shard` now in the root's rotation.
    pub fn in_rotation(&self, shard: u32) -> Vec<String> {
        self.discovery.snapshot().shards[shard as usize]
            .replicas
            .iter()
            .map(|r| r.addr.clone())
            .collect()
    }

    /// First attempts the root has sent to the replica at `uri`.
    pub fn calls_to(&self, uri: &str) -> u64 {
        self.replica_counter(uri, |c| c.first_attempts.get())
    }

    /// Hedges sent to the replica at `uri` that answered first.
    pub fn hedges_won(&self, uri: &str) -> u64 {
        self.replica_counter(uri, |c| c.hedges_won.get())
    }

    /// One of the root's counters for the replica at `uri`, 0 if unknown.
    fn replica_counter(&self, uri: &str, read: impl Fn(&ReplicaCounters) -> u64) -> u64 {
        self.discovery
            .snapshot()
            .shards
            .iter()
            .flat_map(|s| s.replicas.iter())
            .find(|r| r.addr == uri)
            .map_or(0, |r| read(&r.stats.counters))
    }

    /// Drains the root, stops the runtime (which removes its containers and
    /// network) and checks nothing of the run is left.
    ///
    /// # Panics
    /// When the root fails or objects of the run remain.
    pub async fn stop(mut self) {
        self.process.shutdown.cancel();
        if let Some(served) = self.served.take() {
            served
                .await
                .expect("the root task")
                .expect("the root served");
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.stop().await;
        }
        self.guard.assert_gone();
    }
}

impl Drop for ContainerTree {
    fn drop(&mut self) {
        self.process.shutdown.cancel();
        // Dropping the runtime removes its containers; the guard then
        // removes whatever is left.
        drop(self.runtime.take());
    }
}
