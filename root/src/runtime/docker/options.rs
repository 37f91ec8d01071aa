//! What the Docker runtime runs — images, arguments, environment, limits,
//! shards and replicas — and how it watches them: plain structs with
//! defaults that run the example search.

use std::path::PathBuf;
use std::time::Duration;

use super::Placement;
use crate::config::ConnectConfig;

/// Per-container resource limits; `None` is unlimited.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// CPUs, e.g. `0.5`.
    pub cpus: Option<f64>,
    /// Memory in bytes.
    pub memory_bytes: Option<i64>,
}

/// One kind of container: its image and what it is given.
#[derive(Clone, Debug, Default)]
pub struct ContainerSpec {
    /// The image, built locally (`deploy/build-images.sh`); never pulled here.
    pub image: String,
    /// Arguments after the image's entrypoint (e.g. `--docs 2000`).
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Resource limits.
    pub limits: Limits,
}

impl ContainerSpec {
    /// `image` with no arguments, environment or limits.
    pub fn image(image: impl Into<String>) -> Self {
        Self {
            image: image.into(),
            ..Self::default()
        }
    }
}

/// What the Docker runtime runs and how it watches it.
#[derive(Clone, Debug)]
pub struct DockerOptions {
    /// The leaf containers. Default: the example search leaf image.
    pub leaf: ContainerSpec,
    /// The merge container; `None` when the root merges by itself
    /// (`builtin:concat`) or with a merge it reaches on its own.
    /// Default: the example search merge image.
    pub merge: Option<ContainerSpec>,
    /// Shards. Default 2.
    pub shards: u32,
    /// Leaf containers per shard. Default 2.
    pub replicas: u32,
    /// Where the root runs, which decides where the merge goes.
    pub placement: Placement,
    /// Names the run's objects; random when `None`. Set it to find them later.
    pub run_id: Option<String>,
    /// How long every container may take to report SERVING. Default 60 s.
    pub ready_timeout: Duration,
    /// How long a container may drain after SIGTERM before it is killed;
    /// given to the SDK as `SCATTER_GRACE_MS`. Default 10 s.
    pub stop_grace: Duration,
    /// How long a leaf keeps answering after it reports NOT_SERVING, so the
    /// root takes it out of rotation before it stops taking calls
    /// (`SCATTER_DRAIN_DELAY_MS`). Longer is safer; it delays every stop.
    /// Default 300 ms.
    pub leaf_drain_delay: Duration,
    /// How often the containers are listed even without engine events.
    /// Default 1 s.
    pub reconcile_interval: Duration,
    /// Pause before starting again a container that died soon after its
    /// last start; doubles per quick death, up to 5 s. Default 200 ms.
    pub restart_backoff: Duration,
    /// A host directory of certificates, bind-mounted read-only at
    /// [`TLS_MOUNT`] in every leaf and merge container; point their
    /// `SCATTER_TLS_*` variables at files under it. Default `None`.
    pub tls_dir: Option<PathBuf>,
    /// How the runtime dials the containers to watch their health: the
    /// root's `[connect]`, so with `[connect.tls]` it watches over TLS as
    /// the root calls. Default: plaintext.
    pub connect: ConnectConfig,
}

/// Where [`DockerOptions::tls_dir`] appears inside the containers.
pub const TLS_MOUNT: &str = "/etc/scatter/tls";

impl Default for DockerOptions {
    fn default() -> Self {
        Self {
            leaf: ContainerSpec::image("scatter-search-leaf:dev"),
            merge: Some(ContainerSpec::image("scatter-search-merge:dev")),
            shards: 2,
            replicas: 2,
            placement: Placement::Auto,
            run_id: None,
            ready_timeout: Duration::from_secs(60),
            stop_grace: Duration::from_secs(10),
            leaf_drain_delay: Duration::from_millis(300),
            reconcile_interval: Duration::from_secs(1),
            restart_backoff: Duration::from_millis(200),
            tls_dir: None,
            connect: ConnectConfig::default(),
        }
    }
}
