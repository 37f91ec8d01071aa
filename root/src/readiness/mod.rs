//! The root's readiness: whether it could answer a query now. A background
//! task asks the merge (when it is a process) and every replica for their
//! health each `readiness.interval`, keeps each replica's answer in its
//! statistics (for `/status`), and sets the process's health from the
//! [`verdict`]: `/readyz` and gRPC health say SERVING only while the merge
//! is serving and enough shards have a serving replica. A root that would
//! fail every query is taken out of a load balancer's rotation.

mod check;
mod verdict;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use futures::future::join_all;
use scatter_management::Health;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::config::ReadinessConfig;
use crate::engine::Engine;
use crate::merge::MergeTarget;
use crate::topology::{Checked, Connector, Topology};
use check::Checker;
pub use verdict::judge;

/// The root's readiness checks and their last outcome.
pub struct Readiness {
    topology: Arc<Topology>,
    /// The merge process's address; `None` for a merge in the root.
    merge: Option<String>,
    config: ReadinessConfig,
    checker: Checker,
    last: Mutex<Last>,
}

/// The outcome of the last round.
struct Last {
    merge: Option<Checked>,
    verdict: Result<(), String>,
}

impl Readiness {
    /// Checks for the tree and merge of `engine`.
    pub fn new<S>(engine: &Engine<S>) -> Self {
        let merge = match &engine.merge {
            MergeTarget::Remote(remote) => Some(remote.addr().to_owned()),
            MergeTarget::Concat | MergeTarget::Local(_) => None,
        };
        let config = engine.config.readiness.clone();
        Self {
            topology: Arc::clone(&engine.topology),
            merge,
            checker: Checker::new(
                Connector::new(engine.config.connect.clone()),
                config.timeout,
            ),
            config,
            last: Mutex::new(Last {
                merge: None,
                verdict: Err("not checked yet".into()),
            }),
        }
    }

    /// One round: checks the merge and every replica at once, keeps the
    /// answers, and returns the verdict.
    pub async fn check(&self) -> Result<(), String> {
        let snapshot = self.topology.snapshot();
        let replicas: Vec<_> = snapshot
            .shards
            .iter()
            .flat_map(|shard| shard.replicas.iter())
            .collect();
        let merge = async {
            match &self.merge {
                Some(addr) => Some(self.checker.check(addr).await),
                None => None,
            }
        };
        let (merge, answers) = tokio::join!(
            merge,
            join_all(replicas.iter().map(|r| self.checker.check(&r.addr)))
        );
        for (replica, answer) in replicas.iter().zip(answers) {
            replica.stats.health.set_checked(answer);
        }
        let mut keep: HashSet<&str> = replicas.iter().map(|r| r.addr.as_str()).collect();
        keep.extend(self.merge.as_deref());
        self.checker.retain(&keep);

        let live: Vec<bool> = snapshot
            .shards
            .iter()
            .map(|shard| {
                shard
                    .replicas
                    .iter()
                    .any(|r| r.stats.health.checked().is_some_and(|c| c.is_serving()))
            })
            .collect();
        let verdict = judge(
            self.merge.as_deref().zip(merge.as_ref()),
            &live,
            self.config.min_coverage,
        );
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.merge = merge;
        last.verdict.clone_from(&verdict);
        verdict
    }

    /// Checks every `readiness.interval` until `stop`, setting `health`
    /// from each verdict; not ready until the first round says so. Logs
    /// each change.
    pub fn spawn(self: Arc<Self>, health: Health, stop: CancellationToken) -> JoinHandle<()> {
        health.set_ready(false);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.config.interval);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut was_ready = None;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    () = stop.cancelled() => return,
                }
                let verdict = self.check().await;
                let ready = verdict.is_ok();
                health.set_ready(ready);
                if was_ready != Some(ready) {
                    match &verdict {
                        Ok(()) => tracing::info!("ready: the merge and enough shards are serving"),
                        Err(why) => tracing::warn!(%why, "not ready"),
                    }
                }
                was_ready = Some(ready);
            }
        })
    }

    /// The last round's outcome, for `/status`.
    pub fn status(&self) -> Value {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        json!({
            "ready": last.verdict.is_ok(),
            "not_ready_because": last.verdict.as_ref().err(),
            "min_coverage": self.config.min_coverage,
            "merge_health": last.merge.as_ref().map(Checked::word),
            "merge_health_detail": last.merge.as_ref().and_then(Checked::detail),
        })
    }
}
