//! `scatter serve --runtime docker`: the root starts the leaf and merge
//! containers itself, keeps its discovery in step with them, and removes
//! them when it exits.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use scatter_root::config::RootConfig;
use scatter_root::runtime::docker::{
    ContainerSpec, DockerOptions, DockerRuntime, Limits, Placement,
};

use super::{RootFlags, serve_root};

/// Flags of the Docker runtime.
#[derive(Args, Debug)]
pub struct DockerFlags {
    /// The leaf image (build the example's with deploy/build-images.sh).
    #[arg(long, default_value = "scatter-search-leaf:dev")]
    leaf_image: String,
    /// The merge image, run beside the root; `none` (or `--merge`) for no
    /// merge container.
    #[arg(long, default_value = "scatter-search-merge:dev")]
    merge_image: String,
    /// How many shards: one leaf container per shard and replica.
    #[arg(
        id = "docker_shards",
        long = "shards",
        value_name = "N",
        default_value_t = 2
    )]
    shards: u32,
    /// Leaf containers per shard.
    #[arg(
        id = "docker_replicas",
        long = "replicas",
        value_name = "N",
        default_value_t = 2
    )]
    replicas: u32,
    /// An argument for every leaf container after its entrypoint;
    /// repeat for more, e.g. `--leaf-arg=--docs --leaf-arg=2000`.
    #[arg(long = "leaf-arg", value_name = "ARG", allow_hyphen_values = true)]
    leaf_args: Vec<String>,
    /// An environment variable for every leaf container (repeatable).
    #[arg(long = "leaf-env", value_name = "KEY=VALUE")]
    leaf_env: Vec<String>,
    /// An argument for the merge container (repeatable).
    #[arg(long = "merge-arg", value_name = "ARG", allow_hyphen_values = true)]
    merge_args: Vec<String>,
    /// An environment variable for the merge container (repeatable).
    #[arg(long = "merge-env", value_name = "KEY=VALUE")]
    merge_env: Vec<String>,
    /// CPUs each leaf container may use, e.g. 0.5 (default: no limit).
    #[arg(long)]
    leaf_cpus: Option<f64>,
    /// Memory each leaf container may use, e.g. 256m (default: no limit).
    #[arg(long, value_parser = parse_bytes)]
    leaf_memory: Option<i64>,
    /// CPUs the merge container may use.
    #[arg(long)]
    merge_cpus: Option<f64>,
    /// Memory the merge container may use, e.g. 128m.
    #[arg(long, value_parser = parse_bytes)]
    merge_memory: Option<i64>,
    /// The container this root runs in: `auto` (detect), `none` (the host),
    /// or its id or name. In a container the merge shares its network
    /// namespace; on the host it shares the host's, on a loopback port.
    #[arg(long, default_value = "auto")]
    root_container: String,
    /// Names the network and containers (`scatter-ID-...`) and labels them
    /// `scatter.run=ID`; random by default.
    #[arg(long)]
    run_id: Option<String>,
    /// How long the containers may take to report SERVING.
    #[arg(long, default_value_t = 60_000)]
    ready_timeout_ms: u64,
    /// A directory of certificates to mount read-only at /etc/scatter/tls in
    /// every leaf and merge container; point their TLS variables at it,
    /// e.g. --leaf-env SCATTER_TLS_CERT=/etc/scatter/tls/leaf.pem.
    #[arg(long, value_name = "DIR")]
    tls_dir: Option<std::path::PathBuf>,
}

impl DockerFlags {
    fn options(&self, merge_given: bool) -> anyhow::Result<DockerOptions> {
        let tls_dir = match &self.tls_dir {
            // Docker takes only absolute paths for a bind mount.
            Some(dir) => Some(
                std::fs::canonicalize(dir)
                    .map_err(|e| anyhow::anyhow!("--tls-dir {}: {e}", dir.display()))?,
            ),
            None => None,
        };
        let merge = if merge_given || self.merge_image == "none" {
            None
        } else {
            Some(ContainerSpec {
                image: self.merge_image.clone(),
                args: self.merge_args.clone(),
                env: parse_env(&self.merge_env)?,
                limits: Limits {
                    cpus: self.merge_cpus,
                    memory_bytes: self.merge_memory,
                },
            })
        };
        Ok(DockerOptions {
            leaf: ContainerSpec {
                image: self.leaf_image.clone(),
                args: self.leaf_args.clone(),
                env: parse_env(&self.leaf_env)?,
                limits: Limits {
                    cpus: self.leaf_cpus,
                    memory_bytes: self.leaf_memory,
                },
            },
            merge,
            shards: self.shards,
            replicas: self.replicas,
            placement: match self.root_container.as_str() {
                "auto" => Placement::Auto,
                "none" => Placement::Host,
                id => Placement::Container(id.to_owned()),
            },
            run_id: self.run_id.clone(),
            ready_timeout: Duration::from_millis(self.ready_timeout_ms),
            tls_dir,
            ..DockerOptions::default()
        })
    }
}

/// Starts the containers, serves, and removes the containers on the way out.
pub async fn serve(
    mut config: RootConfig,
    root: &RootFlags,
    flags: &DockerFlags,
) -> anyhow::Result<()> {
    let mut options = flags.options(root.merge.is_some())?;
    // The runtime watches its containers as the root will call them.
    options.connect = config.connect.clone();
    if options
        .merge
        .as_ref()
        .is_some_and(|m| m.env.iter().any(|(k, _)| k == "SCATTER_LISTEN"))
    {
        bail!("the runtime sets the merge's SCATTER_LISTEN itself");
    }
    eprintln!(
        "starting {} × {} leaf containers of {}",
        options.shards, options.replicas, options.leaf.image
    );
    // Dropping the start (on SIGTERM) removes what it had created.
    let mut runtime = tokio::select! {
        started = DockerRuntime::start(options) => started?,
        _ = scatter_management::shutdown_signal() => {
            eprintln!("stopped before the containers were ready; they are removed");
            return Ok(());
        }
    };
    config.shards = runtime.shards();
    if let Some(merge) = runtime.merge_addr() {
        config.merge = merge;
    }
    let served = serve_root(config, |root| runtime.watch(root.topology())).await;
    runtime.stop().await;
    eprintln!("every container of the run has been removed");
    served
}

fn parse_env(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("{pair:?} is not KEY=VALUE"))?;
            Ok((key.to_owned(), value.to_owned()))
        })
        .collect()
}

/// `256m`, `1g`, `512k` or a number of bytes.
fn parse_bytes(text: &str) -> Result<i64, String> {
    let text = text.trim().to_ascii_lowercase();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text.as_str(), ""),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 256m"))?;
    let scale = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(format!("{text:?}: unknown unit (use k, m or g)")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Serve {
        #[command(flatten)]
        args: super::super::ServeArgs,
    }

    #[test]
    fn docker_flags_parse_beside_the_root_flags() {
        let serve = Serve::try_parse_from([
            "serve",
            "--runtime",
            "docker",
            "--shards",
            "3",
            "--shard",
            "127.0.0.1:1",
            "--leaf-arg=--docs",
            "--leaf-arg",
            "2000",
            "--leaf-memory",
            "64m",
        ])
        .unwrap();
        let options = serve.args.docker.options(false).unwrap();
        assert_eq!(options.shards, 3);
        assert_eq!(options.leaf.args, ["--docs", "2000"]);
        assert_eq!(options.leaf.limits.memory_bytes, Some(64 << 20));
        assert_eq!(serve.args.root.shards, ["127.0.0.1:1"]);
        assert!(serve.args.docker.options(true).unwrap().merge.is_none());
    }

    #[test]
    fn sizes_read_like_dockers() {
        assert_eq!(parse_bytes("256m"), Ok(256 << 20));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert!(parse_bytes("3 parsecs").is_err());
    }
}
