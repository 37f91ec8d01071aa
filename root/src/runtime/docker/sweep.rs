//! Removing what roots that died without cleaning up left behind: the
//! containers and networks of every run whose owner is certainly gone.
//! Objects without a readable owner (a compose project started by hand) and
//! owners this process cannot judge (another pid namespace) are left alone.

use std::collections::HashMap;

use bollard::Docker;

use super::engine;
use super::labels::{self, Owner, RunId};
use crate::error::StartError;

/// Removes the objects of stale runs; returns the runs removed.
pub async fn stale_runs(docker: &Docker) -> Result<Vec<RunId>, StartError> {
    let containers = engine::containers_with(docker, labels::MANAGED, "true").await?;
    let networks = engine::networks_with(docker, labels::MANAGED, "true").await?;
    let mut owners: HashMap<String, String> = HashMap::new();
    let all_labels = containers
        .iter()
        .filter_map(|c| c.labels.as_ref())
        .chain(networks.iter().map(|(_, labels)| labels));
    for object in all_labels {
        if let (Some(run), Some(owner)) = (object.get(labels::RUN), object.get(labels::OWNER)) {
            owners.entry(run.clone()).or_insert_with(|| owner.clone());
        }
    }
    let mut removed = Vec::new();
    for (run, owner) in owners {
        if owner_gone(docker, &owner).await {
            let run = RunId::new(run);
            tracing::info!(%run, %owner, "removing the containers and network of a run whose root is gone");
            engine::remove_run(docker, &run).await?;
            removed.push(run);
        }
    }
    Ok(removed)
}

async fn owner_gone(docker: &Docker, label: &str) -> bool {
    match Owner::parse(label) {
        None => false,
        Some(Owner::Container(id)) => match docker.inspect_container(&id, None).await {
            Ok(container) => container.state.and_then(|s| s.running) != Some(true),
            Err(error) => engine::is_not_found(&error),
        },
        Some(process) => process.process_gone() == Some(true),
    }
}
