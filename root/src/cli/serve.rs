//! `scatter serve`: a root against leaves found one of three ways — the
//! addresses given (`--shard`, `--config`), DNS names resolved again and
//! again (`--leaves-dns`, as on Kubernetes), or containers this root starts
//! itself (`--runtime docker`).

mod dns;
mod docker;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};
use scatter_management::ServeOptions;
use scatter_root::Root;
use scatter_root::config::RootConfig;

/// Flags of `scatter serve`; each overrides the same setting of `--config`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A TOML file with the root's configuration (see `scatter_root::config`).
    #[arg(long)]
    config: Option<PathBuf>,
    // Boxed, as the Docker flags: they would make every `Command` large.
    #[command(flatten)]
    root: Box<RootFlags>,
    /// Where the leaves come from: `static` (the addresses of `--shard`,
    /// `--config` or `--leaves-dns`) or `docker` (containers this root starts,
    /// watches and removes on exit).
    #[arg(long, value_enum, default_value_t = RuntimeKind::Static)]
    runtime: RuntimeKind,
    #[command(flatten, next_help_heading = "DNS discovery")]
    dns: dns::DnsFlags,
    #[command(flatten, next_help_heading = "Docker runtime (--runtime docker)")]
    docker: Box<docker::DockerFlags>,
}

/// Where the leaves come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RuntimeKind {
    /// Leaves you run: by address or by DNS name.
    Static,
    /// Leaf and merge containers on a private Docker network.
    Docker,
}

/// Root settings shared by `serve` and `demo`.
#[derive(Args, Debug, Default)]
pub struct RootFlags {
    /// Where clients connect (port 0 picks a free one).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// The replicas of one shard, comma-separated; repeat once per shard, in shard order.
    #[arg(long = "shard", value_name = "ADDR[,ADDR...]")]
    pub shards: Vec<String>,
    /// `builtin:concat`, or the address of a merge process.
    #[arg(long)]
    pub merge: Option<String>,
    /// Deadline for requests that carry none.
    #[arg(long)]
    pub default_deadline_ms: Option<u64>,
    /// Longest deadline a client may ask for.
    #[arg(long)]
    pub max_deadline_ms: Option<u64>,
    /// Time kept back from the leaves for the merge (at most a tenth of the deadline).
    #[arg(long)]
    pub merge_reserve_ms: Option<u64>,
    /// Largest request payload accepted.
    #[arg(long)]
    pub max_request_bytes: Option<usize>,
    /// Requests in progress at once, however the adaptive limit moves; more
    /// are refused with RESOURCE_EXHAUSTED.
    #[arg(long)]
    pub max_concurrent: Option<usize>,
    /// The concurrency limit: `adaptive` (follows the latency the root
    /// observes) or `fixed` (the --max-concurrent ceiling).
    #[arg(long, value_parser = ["adaptive", "fixed"])]
    pub admission: Option<String>,
    /// How much slower than unloaded requests may get before the adaptive
    /// limit shrinks (2.0 = twice as slow).
    #[arg(long)]
    pub admission_tolerance: Option<f64>,
    /// The adaptive limit never goes below this many requests.
    #[arg(long)]
    pub min_concurrent: Option<usize>,
    /// Hedge slow shards to another replica: `on` or `off`.
    #[arg(long, value_parser = ["on", "off"])]
    pub hedge: Option<String>,
    /// Hedge after this percentile of a shard's recent latencies.
    #[arg(long)]
    pub hedge_percentile: Option<f64>,
    /// Hedge after this fixed delay instead of a percentile (milliseconds,
    /// fractions allowed).
    #[arg(long, value_parser = delay_ms)]
    pub hedge_delay_ms: Option<Duration>,
    /// Extra attempts allowed per first attempt (0.05 = 5 %).
    #[arg(long)]
    pub hedge_budget: Option<f64>,
    /// Attempts per shard at most, counting the first.
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Take replicas that stand out from their siblings out of rotation: `on` or `off`.
    #[arg(long, value_parser = ["on", "off"])]
    pub probation: Option<String>,
    /// Log a request taking longer than this as slow (`warn`); 0 turns the
    /// line off [default: 1000].
    #[arg(long)]
    pub slow_request_ms: Option<u64>,
    /// How long in-flight requests may finish after SIGTERM.
    #[arg(long, default_value_t = 10_000)]
    pub grace_ms: u64,
    /// After SIGTERM, how long to keep answering while reporting NOT_SERVING
    /// (`/readyz` 503), so load balancers move away before the listener
    /// closes. 0 (default) closes at once, right for clients that watch
    /// health; on Kubernetes use a few seconds (or a preStop pause).
    #[arg(long, default_value_t = 0)]
    pub drain_delay_ms: u64,
    /// The fraction of shards that must have a serving replica for the root
    /// to report ready; 0 means at least one.
    #[arg(long)]
    pub ready_min_coverage: Option<f64>,
}

impl RootFlags {
    /// Applies the flags given over `config`.
    pub fn apply(&self, config: &mut RootConfig) {
        let ms = Duration::from_millis;
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if !self.shards.is_empty() {
            config.shards = self
                .shards
                .iter()
                .map(|s| {
                    s.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(String::from)
                        .collect()
                })
                .collect();
        }
        if let Some(merge) = &self.merge {
            config.merge.clone_from(merge);
        }
        if let Some(v) = self.default_deadline_ms {
            config.deadline.default = ms(v);
        }
        if let Some(v) = self.max_deadline_ms {
            config.deadline.max = ms(v);
        }
        if let Some(v) = self.merge_reserve_ms {
            config.deadline.merge_reserve = ms(v);
        }
        if let Some(v) = self.max_request_bytes {
            config.limits.max_request_bytes = v;
        }
        if let Some(v) = self.max_concurrent {
            config.limits.max_concurrent_requests = v;
        }
        if let Some(v) = &self.admission {
            config.admission.adaptive = v == "adaptive";
        }
        if let Some(v) = self.admission_tolerance {
            config.admission.tolerance = v;
        }
        if let Some(v) = self.min_concurrent {
            config.admission.min_limit = v;
        }
        if let Some(v) = &self.hedge {
            config.hedge.enabled = v == "on";
        }
        if let Some(v) = self.hedge_percentile {
            config.hedge.percentile = v;
        }
        if let Some(delay) = self.hedge_delay_ms {
            config.hedge.fixed_delay = Some(delay);
        }
        if let Some(v) = self.hedge_budget {
            config.hedge.budget_ratio = v;
        }
        if let Some(v) = self.max_attempts {
            config.hedge.max_attempts = v;
        }
        if let Some(v) = &self.probation {
            config.probation.enabled = v == "on";
        }
        if let Some(ms) = self.slow_request_ms {
            config.logs.slow_request = Duration::from_millis(ms);
        }
        if let Some(v) = self.ready_min_coverage {
            config.readiness.min_coverage = v;
        }
    }

    /// The drain settings.
    pub fn serve_options(&self) -> ServeOptions {
        ServeOptions {
            grace: Duration::from_millis(self.grace_ms),
            drain_delay: Duration::from_millis(self.drain_delay_ms),
            ..ServeOptions::default()
        }
    }
}

/// A delay in milliseconds, fractions allowed: refused when it is not a
/// number, negative, or too large for a duration (`inf`, `1e300`), instead
/// of panicking on the conversion later.
fn delay_ms(text: &str) -> Result<Duration, String> {
    let ms: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of milliseconds"))?;
    if ms.is_sign_negative() {
        return Err(format!("{text} ms is negative"));
    }
    Duration::try_from_secs_f64(ms / 1e3).map_err(|_| format!("{text} ms is not a usable delay"))
}

/// Runs `scatter serve`.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => RootConfig::from_toml_file(path)?,
        None => RootConfig::default(),
    };
    args.root.apply(&mut config);
    let by_dns = !args.dns.names.is_empty();
    match args.runtime {
        RuntimeKind::Docker if by_dns || !args.root.shards.is_empty() => {
            bail!("--runtime docker starts its own leaves: drop --shard and --leaves-dns")
        }
        RuntimeKind::Docker => docker::serve(config, &args.root, &args.docker).await?,
        RuntimeKind::Static if by_dns && !args.root.shards.is_empty() => {
            bail!("give the leaves either by address (--shard) or by name (--leaves-dns), not both")
        }
        RuntimeKind::Static if by_dns => dns::serve(config, &args.root, &args.dns).await?,
        RuntimeKind::Static => serve_root(config, &args.root, |_| {}).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Connects the root, lets `on_connected` hook its discovery up, and serves
/// until SIGTERM or ctrl-c.
async fn serve_root(
    config: RootConfig,
    flags: &RootFlags,
    on_connected: impl FnOnce(&Root),
) -> anyhow::Result<()> {
    let root = Root::connect(config).await?;
    on_connected(&root);
    let listener = scatter_management::bind(root.config().listen).await?;
    let addr = listener.local_addr()?;
    println!("scatter root ready on http://{addr}");
    root.serve(listener, flags.serve_options()).await?;
    Ok(())
}
