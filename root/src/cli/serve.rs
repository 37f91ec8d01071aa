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
use scatter_root::Root;
use scatter_root::config::RootConfig;

/// Flags of `scatter serve`; each overrides the same setting of `--config`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A TOML file with the root's configuration (see `scatter_root::config`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    // Boxed, as the Docker flags: they would make every `Command` large.
    #[command(flatten)]
    pub root: Box<RootFlags>,
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
    /// Time kept back from the leaves for the merge until it has a history
    /// of finish times; then the reserve is their p99 plus
    /// --merge-reserve-floor-ms. Never more than a tenth of the deadline.
    #[arg(long)]
    pub merge_reserve_ms: Option<u64>,
    /// Kept back beyond the merge's measured finish time, for what the root
    /// cannot measure: the request's trip in and the answer's trip out (a
    /// port proxy, a network hop). When a shard hangs, the answer leaves
    /// this much before the client's deadline. Default 5.
    #[arg(long)]
    pub merge_reserve_floor_ms: Option<u64>,
    /// Largest request payload accepted.
    #[arg(long)]
    pub max_request_bytes: Option<usize>,
    /// Largest answer sent to a client (one message: result and coverage).
    #[arg(long)]
    pub max_response_bytes: Option<usize>,
    /// Largest partial accepted from a leaf; over it that shard fails.
    #[arg(long)]
    pub max_partial_bytes: Option<usize>,
    /// Largest result accepted from the merge.
    #[arg(long)]
    pub max_result_bytes: Option<usize>,
    /// Most shards a tree may have (every request goes to every shard).
    #[arg(long)]
    pub max_shards: Option<usize>,
    /// Largest request metadata (HTTP/2 headers) accepted.
    #[arg(long)]
    pub max_metadata_bytes: Option<usize>,
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
    /// Each shard's own share of extra attempts (0.1 = 10 % of its first
    /// attempts), so one hot shard cannot spend the whole budget.
    #[arg(long)]
    pub shard_hedge_budget: Option<f64>,
    /// Attempts per shard at most, counting the first.
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Hear leaves' early hints (`Leaf/AnswerStream`): a call its leaf says
    /// will be slow is hedged at once: `on` or `off`.
    #[arg(long, value_parser = ["on", "off"])]
    pub hints: Option<String>,
    /// Tie leaf calls: a call not started at its leaf after this delay gets
    /// a copy at another replica, and the first to start cancels the other
    /// (milliseconds, fractions allowed).
    #[arg(long, value_parser = delay_ms)]
    pub tied_delay_ms: Option<Duration>,
    /// Take replicas that stand out from their siblings out of rotation: `on` or `off`.
    #[arg(long, value_parser = ["on", "off"])]
    pub probation: Option<String>,
    /// Send payloads not seen recently to one shard first and quarantine
    /// those that kill their leaf (queries of death): `on` or `off`
    /// [default: off].
    #[arg(long, value_parser = ["on", "off"])]
    pub canary: Option<String>,
    /// Log a request taking longer than this as slow (`warn`); 0 turns the
    /// line off [default: 1000].
    #[arg(long)]
    pub slow_request_ms: Option<u64>,
    /// How long in-flight requests may finish after SIGTERM [default: 10000].
    #[arg(long)]
    pub grace_ms: Option<u64>,
    /// After SIGTERM, how long to keep answering while reporting NOT_SERVING
    /// (`/readyz` 503), so load balancers move away before the listener
    /// closes. 0 (default) closes at once, right for clients that watch
    /// health; on Kubernetes use a few seconds (or a preStop pause).
    #[arg(long)]
    pub drain_delay_ms: Option<u64>,
    /// The fraction of shards that must have a serving replica for the root
    /// to report ready; 0 means at least one.
    #[arg(long)]
    pub ready_min_coverage: Option<f64>,
    /// Export request and call spans to this OpenTelemetry collector
    /// (OTLP/gRPC, e.g. http://127.0.0.1:4317); off when not given.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
    #[command(flatten, next_help_heading = "TLS")]
    pub tls: TlsFlags,
}

/// TLS on the root's port and on its calls to leaves and the merge; each
/// overrides the same key of `--config` (`[tls]`, `[connect.tls]`).
#[derive(Args, Debug, Default)]
pub struct TlsFlags {
    /// Serve clients over TLS with this certificate chain (PEM); needs
    /// --tls-key. The admin endpoints then speak HTTPS.
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Require clients to present a certificate this CA signed (mutual TLS).
    #[arg(long, value_name = "PEM")]
    pub tls_client_ca: Option<PathBuf>,
    /// Dial leaves and the merge over TLS, trusting certificates this CA signed.
    #[arg(long, value_name = "PEM")]
    pub upstream_tls_ca: Option<PathBuf>,
    /// The root's certificate (PEM), for leaves and merges that require one.
    #[arg(long, value_name = "PEM")]
    pub upstream_tls_cert: Option<PathBuf>,
    /// The private key of --upstream-tls-cert (PEM).
    #[arg(long, value_name = "PEM")]
    pub upstream_tls_key: Option<PathBuf>,
    /// The name leaf and merge certificates must carry, when not the host dialled.
    #[arg(long, value_name = "NAME")]
    pub upstream_tls_server_name: Option<String>,
}

impl TlsFlags {
    fn apply(&self, config: &mut RootConfig) {
        let set = |value: &Option<PathBuf>, slot: &mut Option<PathBuf>| {
            if value.is_some() {
                slot.clone_from(value);
            }
        };
        set(&self.tls_cert, &mut config.tls.cert);
        set(&self.tls_key, &mut config.tls.key);
        set(&self.tls_client_ca, &mut config.tls.client_ca);
        let upstream = &mut config.connect.tls;
        set(&self.upstream_tls_ca, &mut upstream.ca);
        set(&self.upstream_tls_cert, &mut upstream.cert);
        set(&self.upstream_tls_key, &mut upstream.key);
        if self.upstream_tls_server_name.is_some() {
            upstream
                .server_name
                .clone_from(&self.upstream_tls_server_name);
        }
    }
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
        if let Some(v) = self.merge_reserve_floor_ms {
            config.deadline.merge_reserve_floor = ms(v);
        }
        let limits = &mut config.limits;
        for (flag, limit) in [
            (self.max_request_bytes, &mut limits.max_request_bytes),
            (self.max_response_bytes, &mut limits.max_response_bytes),
            (self.max_partial_bytes, &mut limits.max_partial_bytes),
            (self.max_result_bytes, &mut limits.max_result_bytes),
            (self.max_shards, &mut limits.max_shards),
            (self.max_metadata_bytes, &mut limits.max_metadata_bytes),
        ] {
            if let Some(v) = flag {
                *limit = v;
            }
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
        if let Some(v) = self.shard_hedge_budget {
            config.hedge.shard_budget_ratio = v;
        }
        if let Some(v) = self.max_attempts {
            config.hedge.max_attempts = v;
        }
        if let Some(v) = &self.hints {
            config.hedge.hints = v == "on";
        }
        if let Some(delay) = self.tied_delay_ms {
            config.hedge.tied_delay = Some(delay);
        }
        if let Some(v) = &self.probation {
            config.probation.enabled = v == "on";
        }
        if let Some(v) = &self.canary {
            config.canary.enabled = v == "on";
        }
        if let Some(ms) = self.slow_request_ms {
            config.logs.slow_request = Duration::from_millis(ms);
        }
        if let Some(v) = self.ready_min_coverage {
            config.readiness.min_coverage = v;
        }
        if let Some(v) = self.grace_ms {
            config.lifecycle.grace = ms(v);
        }
        if let Some(v) = self.drain_delay_ms {
            config.lifecycle.drain_delay = ms(v);
        }
        if let Some(v) = &self.otlp_endpoint {
            config.traces.otlp_endpoint = Some(v.clone());
        }
        self.tls.apply(config);
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
        RuntimeKind::Docker => Box::pin(docker::serve(config, &args.root, &args.docker)).await?,
        RuntimeKind::Static if by_dns && !args.root.shards.is_empty() => {
            bail!("give the leaves either by address (--shard) or by name (--leaves-dns), not both")
        }
        RuntimeKind::Static if by_dns => dns::serve(config, &args.dns).await?,
        RuntimeKind::Static => serve_root(config, |_| {}).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Connects the root, lets `on_connected` hook its discovery up, and serves
/// until SIGTERM or ctrl-c.
async fn serve_root(config: RootConfig, on_connected: impl FnOnce(&Root)) -> anyhow::Result<()> {
    let root = Root::connect(config).await?;
    on_connected(&root);
    let listener = scatter_management::bind(root.config().listen).await?;
    let addr = listener.local_addr()?;
    let scheme = if root.config().tls.cert.is_some() {
        "https"
    } else {
        "http"
    };
    println!("scatter root ready on {scheme}://{addr}");
    let options = root.config().serve_options();
    root.serve(listener, options).await?;
    Ok(())
}
