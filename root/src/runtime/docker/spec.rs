//! What each container is created with: image, command, environment,
//! labels, network and resource limits — for leaves and for the merge.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, Mount, MountType, NetworkingConfig,
};

use super::labels::{self, Owner, RunId};
use super::{ContainerSpec, DockerOptions, LEAF_PORT, MERGE_PORT, TLS_MOUNT};

/// The objects of one run, named after it.
pub struct Names<'a> {
    /// The run.
    pub run: &'a RunId,
    /// Who owns it.
    pub owner: &'a Owner,
}

impl Names<'_> {
    /// The tree's private network.
    pub fn network(&self) -> String {
        format!("scatter-{}", self.run)
    }

    /// One leaf's container.
    pub fn leaf(&self, shard: u32, replica: u32) -> String {
        format!("scatter-{}-leaf-{shard}-{replica}", self.run)
    }

    /// The merge's container.
    pub fn merge(&self) -> String {
        format!("scatter-{}-merge", self.run)
    }
}

/// Where the merge listens: in the root's network namespace either way,
/// on its loopback, so only the root reaches it.
pub enum MergeAt {
    /// The root runs in a container: the merge joins its namespace.
    Sidecar {
        /// The root's container id.
        root: String,
    },
    /// The root runs on the host: the merge joins the host's namespace.
    /// (Not a published port: Docker's loopback proxy accepts connections
    /// before the merge listens, and a call made then hangs instead of
    /// failing fast while the merge restarts.)
    HostLoopback {
        /// The loopback port.
        port: u16,
    },
}

/// The container of replica `replica` of shard `shard`.
pub fn leaf(
    options: &DockerOptions,
    names: &Names<'_>,
    shard: u32,
    replica: u32,
) -> ContainerCreateBody {
    let mut labels = labels::for_run(names.run, names.owner);
    labels.insert(labels::ROLE.into(), labels::ROLE_LEAF.into());
    labels.insert(labels::SHARD.into(), shard.to_string());
    labels.insert(labels::REPLICA.into(), replica.to_string());
    let mut env = vec![
        format!("SCATTER_LISTEN=0.0.0.0:{LEAF_PORT}"),
        format!("SCATTER_SHARD={shard}"),
        format!("SCATTER_SHARD_COUNT={}", options.shards),
        format!(
            "SCATTER_DRAIN_DELAY_MS={}",
            options.leaf_drain_delay.as_millis()
        ),
        format!("SCATTER_GRACE_MS={}", options.stop_grace.as_millis()),
    ];
    env.extend(user_env(&options.leaf));
    let network = names.network();
    let endpoint = EndpointSettings {
        aliases: Some(vec![format!("leaf-{shard}-{replica}"), "leaves".to_owned()]),
        ..EndpointSettings::default()
    };
    ContainerCreateBody {
        image: Some(options.leaf.image.clone()),
        cmd: (!options.leaf.args.is_empty()).then(|| options.leaf.args.clone()),
        env: Some(env),
        hostname: Some(format!("leaf-{shard}-{replica}")),
        labels: Some(labels),
        stop_timeout: Some(stop_timeout(options)),
        host_config: Some(HostConfig {
            network_mode: Some(network.clone()),
            mounts: tls_mount(options),
            ..limits(&options.leaf)
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(network, endpoint)])),
        }),
        ..ContainerCreateBody::default()
    }
}

/// The merge's container, from `spec`.
pub fn merge(
    options: &DockerOptions,
    spec: &ContainerSpec,
    names: &Names<'_>,
    at: &MergeAt,
) -> ContainerCreateBody {
    let mut labels = labels::for_run(names.run, names.owner);
    labels.insert(labels::ROLE.into(), labels::ROLE_MERGE.into());
    let (listen, network_mode) = match at {
        MergeAt::Sidecar { root } => (
            format!("127.0.0.1:{MERGE_PORT}"),
            format!("container:{root}"),
        ),
        MergeAt::HostLoopback { port } => (format!("127.0.0.1:{port}"), "host".to_owned()),
    };
    let mut env = vec![
        format!("SCATTER_LISTEN={listen}"),
        format!("SCATTER_GRACE_MS={}", options.stop_grace.as_millis()),
    ];
    env.extend(user_env(spec));
    let host_config = HostConfig {
        network_mode: Some(network_mode),
        mounts: tls_mount(options),
        ..limits(spec)
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: (!spec.args.is_empty()).then(|| spec.args.clone()),
        env: Some(env),
        labels: Some(labels),
        stop_timeout: Some(stop_timeout(options)),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    }
}

fn user_env(spec: &ContainerSpec) -> impl Iterator<Item = String> + '_ {
    spec.env.iter().map(|(k, v)| format!("{k}={v}"))
}

/// The certificate directory, read-only at [`TLS_MOUNT`], when there is
/// one (a mount, not a `-v` string: a path may hold a colon).
fn tls_mount(options: &DockerOptions) -> Option<Vec<Mount>> {
    let dir = options.tls_dir.as_ref()?;
    Some(vec![Mount {
        target: Some(TLS_MOUNT.to_owned()),
        source: Some(dir.display().to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(true),
        ..Mount::default()
    }])
}

fn limits(spec: &ContainerSpec) -> HostConfig {
    HostConfig {
        nano_cpus: spec.limits.cpus.map(|cpus| (cpus * 1e9) as i64),
        memory: spec.limits.memory_bytes,
        ..HostConfig::default()
    }
}

/// Seconds `docker stop` waits before SIGKILL: the drain, then a second.
fn stop_timeout(options: &DockerOptions) -> i64 {
    let drain = options.stop_grace + options.leaf_drain_delay + Duration::from_secs(1);
    i64::try_from(drain.as_secs()).unwrap_or(i64::MAX)
}
