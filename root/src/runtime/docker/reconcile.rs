//! Keeping the tree as configured and the root's view of it true: on every
//! engine event about the run (and once a second regardless) the runtime
//! lists the run's containers, starts again the ones that stopped, creates
//! again the ones that were removed, and gives the root's topology exactly
//! the leaves that are up, on the network, and SERVING.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use bollard::models::ContainerSummary;
use futures::StreamExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::health::HealthWatches;
use super::labels::{self, Owner, RunId};
use super::spec::{self, MergeAt, Names};
use super::{DockerOptions, LEAF_PORT, engine};
use crate::error::StartError;
use crate::topology::{Connector, Topology};

/// The longest pause between two restarts of a container that keeps dying.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A container that ran this long before dying restarts without delay.
const STABLE_RUN: Duration = Duration::from_secs(10);

/// The state of one run as the runtime keeps it.
pub struct Reconciler {
    docker: Docker,
    run: RunId,
    owner: Owner,
    options: DockerOptions,
    merge_at: Option<MergeAt>,
    /// The root's discovery, kept up to date once set (by `watch`).
    pub topology: Option<Arc<Topology>>,
    health: HealthWatches,
    restarts: HashMap<String, Restart>,
    published: Vec<Vec<String>>,
}

/// When a container may be started again.
struct Restart {
    last: Instant,
    delay: Duration,
}

impl Reconciler {
    /// The state of a run just created.
    pub fn new(
        docker: Docker,
        run: RunId,
        owner: Owner,
        options: DockerOptions,
        merge_at: Option<MergeAt>,
    ) -> Self {
        let health = HealthWatches::new(Connector::new(options.connect.clone()));
        Self {
            docker,
            run,
            owner,
            options,
            merge_at,
            topology: None,
            health,
            restarts: HashMap::new(),
            published: Vec::new(),
        }
    }

    fn names(&self) -> Names<'_> {
        Names {
            run: &self.run,
            owner: &self.owner,
        }
    }

    /// Waits until every leaf says SERVING; returns the shards' addresses.
    /// A leaf that stops before it is ready fails the start, with its logs.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<Vec<Vec<String>>, StartError> {
        let deadline = Instant::now() + timeout;
        let changed = self.health.changed();
        let expected = (self.options.shards * self.options.replicas) as usize;
        loop {
            let containers =
                engine::containers_with(&self.docker, labels::RUN, self.run.as_str()).await?;
            if let Some(down) = containers.iter().find(|c| engine::is_down(c)) {
                let name = display_name(down);
                let logs = self.last_logs(down).await;
                return Err(StartError::runtime_failed(format!(
                    "container {name} stopped before it was ready ({}); its last output:\n{logs}",
                    down.status.as_deref().unwrap_or("stopped")
                )));
            }
            let shards = self.serving_leaves(&containers);
            let ready: usize = shards.iter().map(Vec::len).sum();
            if ready == expected {
                self.published.clone_from(&shards);
                return Ok(shards);
            }
            if Instant::now() >= deadline {
                return Err(StartError::runtime_failed(format!(
                    "{ready} of {expected} leaf containers reported SERVING within {timeout:?}; \
                     see `docker logs` of the others (label {}={})",
                    labels::RUN,
                    self.run
                )));
            }
            // A health change, or a moment for containers still starting.
            let _ = tokio::time::timeout(Duration::from_millis(100), changed.notified()).await;
        }
    }

    /// Reconciles on every event and every `interval` until `stopping`.
    pub async fn run(mut self, stopping: CancellationToken) {
        let network = self.names().network();
        let mut events = Some(engine::run_events(&self.docker, &self.run, &network));
        let changed = self.health.changed();
        let mut tick = tokio::time::interval(self.options.reconcile_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                _ = tick.tick() => {
                    if events.is_none() {
                        events = Some(engine::run_events(&self.docker, &self.run, &network));
                    }
                }
                event = next_event(&mut events) => {
                    if event.is_none() {
                        tracing::warn!("the engine's event stream ended; polling until it is back");
                        events = None;
                    }
                }
                () = changed.notified() => {}
            }
            if let Err(error) = self.reconcile().await {
                tracing::warn!(%error, "cannot reconcile the containers now; retrying");
            }
        }
    }

    /// One pass: restart or recreate what is missing, publish the leaves
    /// in rotation.
    async fn reconcile(&mut self) -> Result<(), StartError> {
        let containers =
            engine::containers_with(&self.docker, labels::RUN, self.run.as_str()).await?;
        for container in containers.iter().filter(|c| engine::is_down(c)) {
            self.restart(container).await;
        }
        self.recreate_missing(&containers).await;
        let shards = self.serving_leaves(&containers);
        if shards != self.published
            && let Some(topology) = &self.topology
        {
            topology.replace_all(&shards).await?;
            let sizes: Vec<usize> = shards.iter().map(Vec::len).collect();
            tracing::info!(replicas_per_shard = ?sizes, "leaves in rotation changed");
            self.published = shards;
        }
        Ok(())
    }

    /// The leaves that are up, on the network and SERVING, by shard; starts
    /// watching the health of new ones.
    fn serving_leaves(&mut self, containers: &[ContainerSummary]) -> Vec<Vec<String>> {
        let network = self.names().network();
        let candidates: Vec<(usize, String)> = containers
            .iter()
            .filter(|c| role(c) == Some(labels::ROLE_LEAF) && engine::is_up(c))
            .filter_map(|c| {
                let shard = c.labels.as_ref()?.get(labels::SHARD)?.parse().ok()?;
                let ip = engine::address_on(c, &network)?;
                Some((shard, format!("http://{ip}:{LEAF_PORT}")))
            })
            .collect();
        self.health
            .track(candidates.iter().map(|(_, uri)| uri.as_str()));
        let mut shards = vec![Vec::new(); self.options.shards as usize];
        for (shard, uri) in candidates {
            if self.health.is_serving(&uri)
                && let Some(replicas) = shards.get_mut(shard)
            {
                replicas.push(uri);
            }
        }
        for replicas in &mut shards {
            replicas.sort();
        }
        shards
    }

    /// Starts a stopped container again, backing off if it keeps dying.
    async fn restart(&mut self, container: &ContainerSummary) {
        let Some(id) = container.id.clone() else {
            return;
        };
        let now = Instant::now();
        match self.restarts.get_mut(&id) {
            Some(restart) if now.duration_since(restart.last) < STABLE_RUN => {
                if now.duration_since(restart.last) < restart.delay {
                    return; // a later pass starts it
                }
                restart.last = now;
                restart.delay = (restart.delay * 2).min(MAX_BACKOFF);
            }
            _ => {
                let delay = self.options.restart_backoff;
                self.restarts
                    .insert(id.clone(), Restart { last: now, delay });
            }
        }
        let name = display_name(container);
        tracing::warn!(%name, status = container.status.as_deref().unwrap_or(""), "container stopped; starting it again");
        if let Err(error) = self.docker.start_container(&id, None).await {
            tracing::warn!(%name, %error, "cannot start it again yet");
        }
    }

    /// Creates again the leaves (and the merge) someone removed.
    async fn recreate_missing(&mut self, containers: &[ContainerSummary]) {
        let names = self.names();
        let exists = |name: &str| {
            containers.iter().any(|c| {
                c.names
                    .iter()
                    .flatten()
                    .any(|n| n.trim_start_matches('/') == name)
            })
        };
        let mut missing = Vec::new();
        for shard in 0..self.options.shards {
            for replica in 0..self.options.replicas {
                let name = names.leaf(shard, replica);
                if !exists(&name) {
                    missing.push((name, spec::leaf(&self.options, &names, shard, replica)));
                }
            }
        }
        if let (Some(merge), Some(at)) = (&self.options.merge, &self.merge_at) {
            let name = names.merge();
            if !exists(&name) {
                missing.push((name, spec::merge(&self.options, merge, &names, at)));
            }
        }
        for (name, body) in missing {
            tracing::warn!(%name, "container removed; creating it again");
            if let Err(error) = engine::run_container(&self.docker, &name, body).await {
                tracing::warn!(%name, %error, "cannot create it again yet");
            }
        }
    }

    async fn last_logs(&self, container: &ContainerSummary) -> String {
        let Some(id) = &container.id else {
            return String::new();
        };
        let options = bollard::query_parameters::LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail("20")
            .build();
        self.docker
            .logs(id, Some(options))
            .filter_map(|chunk| std::future::ready(chunk.ok().map(|c| c.to_string())))
            .collect::<String>()
            .await
    }
}

async fn next_event<S: futures::Stream + Unpin>(events: &mut Option<S>) -> Option<S::Item> {
    match events {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

fn role(container: &ContainerSummary) -> Option<&str> {
    container
        .labels
        .as_ref()?
        .get(labels::ROLE)
        .map(String::as_str)
}

fn display_name(container: &ContainerSummary) -> String {
    container
        .names
        .as_ref()
        .and_then(|n| n.first())
        .map_or_else(
            || container.id.clone().unwrap_or_default(),
            |n| n.trim_start_matches('/').to_owned(),
        )
}
