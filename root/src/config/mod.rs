//! The root's configuration: plain structs with defaults, read from a TOML
//! file or built by the `scatter` binary from its flags.
//!
//! ```toml
//! listen = "127.0.0.1:50000"
//! merge = "builtin:concat"            # or "http://127.0.0.1:50050"
//! shards = [["127.0.0.1:7001", "127.0.0.1:7002"], ["127.0.0.1:7003"]]
//!
//! [deadline]
//! default = "1s"
//! max = "30s"
//! merge_reserve = "20ms"           # until the merge has a history
//! merge_reserve_floor = "5ms"      # then its p99 finish plus this
//!
//! [limits]
//! max_request_bytes = 4194304      # the client's payload
//! max_response_bytes = 67108864    # one answer to a client
//! max_partial_bytes = 67108864     # one leaf's answer
//! max_result_bytes = 67108864      # the merge's answer
//! max_shards = 1024
//! max_metadata_bytes = 8192        # request headers
//! max_concurrent_requests = 1024
//!
//! [admission]
//! adaptive = true
//! tolerance = 2.0
//!
//! [hedge]
//! enabled = true
//! percentile = 95.0
//!
//! [canary]                         # queries of death: one shard first
//! enabled = false                  # true: canary payloads not seen recently
//! timeout = "100ms"                # then fan out anyway: slow is not dead
//! seen_for = "10m"
//! quarantine = "5m"                # a payload that killed its canary leaf
//! max_fingerprints = 10000
//!
//! [readiness]
//! min_coverage = 0.0               # 0: at least one shard with a serving replica
//! interval = "1s"
//!
//! [lifecycle]
//! grace = "10s"
//! drain_delay = "0s"
//!
//! [traces]
//! otlp_endpoint = "http://127.0.0.1:4317"
//!
//! [tls]                            # see `ListenTlsConfig`; [connect.tls] for leaves
//! ```
//!
//! `scatter config print` shows the configuration in force, in this form,
//! with where each value came from.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::StartError;

mod admission;
mod canary;
pub mod duration_text;
mod hedge;
mod lifecycle;
mod limits;
mod logs;
mod readiness;
mod tls;
mod traces;

pub use admission::AdmissionConfig;
pub use canary::CanaryConfig;
pub use hedge::{HedgeConfig, ProbationConfig};
pub use lifecycle::LifecycleConfig;
pub use limits::Limits;
pub use logs::LogConfig;
pub use readiness::ReadinessConfig;
pub use tls::{ListenTlsConfig, UpstreamTlsConfig};
pub use traces::TraceConfig;

/// Everything the root needs to serve.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RootConfig {
    /// Where clients connect (gRPC, plus `/healthz` `/readyz` `/metrics` `/status`).
    pub listen: SocketAddr,
    /// The shards in order; each is a list of replica addresses
    /// (`host:port` or `http://host:port`).
    pub shards: Vec<Vec<String>>,
    /// Where partials are merged: `builtin:concat`, or a merge's address.
    pub merge: String,
    /// The per-request time budget.
    pub deadline: DeadlineConfig,
    /// What the root refuses, to protect itself.
    pub limits: Limits,
    /// The adaptive concurrency limit, priorities and deadline checks.
    pub admission: AdmissionConfig,
    /// Hedged calls to a second replica of a slow shard.
    pub hedge: HedgeConfig,
    /// Taking replicas that stand out from their siblings out of rotation.
    pub probation: ProbationConfig,
    /// Canary requests: new payloads to one shard first, so a query of
    /// death costs one leaf, not the fleet.
    pub canary: CanaryConfig,
    /// How connections to leaves and the merge are made.
    pub connect: ConnectConfig,
    /// What the root logs about requests.
    pub logs: LogConfig,
    /// When the root reports itself ready, and how often it checks.
    pub readiness: ReadinessConfig,
    /// How the root drains on SIGTERM.
    pub lifecycle: LifecycleConfig,
    /// Where spans are exported.
    pub traces: TraceConfig,
    /// TLS on the port clients call; off by default.
    pub tls: ListenTlsConfig,
}

impl Default for RootConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50000)),
            shards: Vec::new(),
            merge: BUILTIN_CONCAT.to_owned(),
            deadline: DeadlineConfig::default(),
            limits: Limits::default(),
            admission: AdmissionConfig::default(),
            hedge: HedgeConfig::default(),
            probation: ProbationConfig::default(),
            canary: CanaryConfig::default(),
            connect: ConnectConfig::default(),
            logs: LogConfig::default(),
            readiness: ReadinessConfig::default(),
            lifecycle: LifecycleConfig::default(),
            traces: TraceConfig::default(),
            tls: ListenTlsConfig::default(),
        }
    }
}

/// The name of the built-in concatenating merge.
pub const BUILTIN_CONCAT: &str = "builtin:concat";

/// The deadline of one request.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineConfig {
    /// Used when the client sends no `grpc-timeout`. Longer waits for slower
    /// shards; shorter answers sooner with less coverage. Default 1 s.
    #[serde(with = "duration_text")]
    pub default: Duration,
    /// The most a client may ask for; longer asks are cut to it. Default 30 s.
    #[serde(with = "duration_text")]
    pub max: Duration,
    /// Time kept back from the leaves for the merge to finish and the
    /// answer to reach the client, until the merge has a history; then the
    /// reserve follows the merge's measured finish time. Never more than a
    /// tenth of a request's deadline. Default 20 ms.
    #[serde(with = "duration_text")]
    pub merge_reserve: Duration,
    /// Added to the measured finish time, for what the root cannot measure:
    /// the request's trip to it and the answer's trip back to the client
    /// (a port proxy, a network hop). Larger is safer against a slow path
    /// or a merge that slows down suddenly; smaller gives leaves more time.
    /// Default 5 ms.
    #[serde(with = "duration_text")]
    pub merge_reserve_floor: Duration,
    /// The percentile of recent finish times the reserve covers. Default 99.
    pub merge_reserve_percentile: f64,
}

impl Default for DeadlineConfig {
    fn default() -> Self {
        Self {
            default: Duration::from_secs(1),
            max: Duration::from_secs(30),
            merge_reserve: Duration::from_millis(20),
            merge_reserve_floor: Duration::from_millis(5),
            merge_reserve_percentile: 99.0,
        }
    }
}

/// Connection settings for leaves and the merge.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectConfig {
    /// How long a connection attempt may take. Default 1 s.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// HTTP/2 keep-alive ping interval, which notices a dead peer without
    /// traffic. Default 10 s.
    #[serde(with = "duration_text")]
    pub keepalive: Duration,
    /// TLS to leaves and the merge; off by default.
    pub tls: UpstreamTlsConfig,
    /// Gather the writes of one runtime turn on each connection, so a
    /// unary call's HEADERS and DATA leave in one write instead of two
    /// (see `topology::coalesce`). Default on.
    pub gather_writes: bool,
}

impl Default for ConnectConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            keepalive: Duration::from_secs(10),
            tls: UpstreamTlsConfig::default(),
            gather_writes: true,
        }
    }
}

impl RootConfig {
    /// Reads a TOML file; unknown keys are errors, missing keys take defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self, StartError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            StartError::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        toml::from_str(&text)
            .map_err(|e| StartError::Config(format!("config file {}: {e}", path.display())))
    }

    /// How the process drains and exports spans, for
    /// [`Root::serve`](crate::Root::serve).
    pub fn serve_options(&self) -> scatter_management::ServeOptions {
        scatter_management::ServeOptions {
            grace: self.lifecycle.grace,
            drain_delay: self.lifecycle.drain_delay,
            otlp_endpoint: self.traces.otlp_endpoint.clone(),
            ..scatter_management::ServeOptions::default()
        }
    }

    /// Checks what serde cannot: at least one shard, every shard with a
    /// replica, sane deadlines, TLS files that exist and parse.
    pub fn validate(&self) -> Result<(), StartError> {
        self.tls.load()?;
        if let Some(files) = self.connect.tls.files()? {
            scatter_management::client_tls(&files)?;
        }
        let bad = |m: String| Err(StartError::Config(m));
        if self.shards.is_empty() {
            return bad("no shards configured: give each shard's replica addresses".into());
        }
        if let Some(i) = self.shards.iter().position(Vec::is_empty) {
            return bad(format!("shard {i} has no replica address"));
        }
        // Each message names the key to change, as the file spells it.
        if self.deadline.default.is_zero() {
            return bad("deadline.default must be above zero".into());
        }
        if self.deadline.max.is_zero() {
            return bad("deadline.max must be above zero".into());
        }
        if self.deadline.default > self.deadline.max {
            return bad(format!(
                "deadline.default ({:?}) is above deadline.max ({:?})",
                self.deadline.default, self.deadline.max
            ));
        }
        self.limits
            .validate(self.shards.len())
            .map_err(StartError::Config)?;
        if !(self.deadline.merge_reserve_percentile > 0.0
            && self.deadline.merge_reserve_percentile < 100.0)
        {
            return bad(format!(
                "deadline.merge_reserve_percentile {} is not in (0, 100)",
                self.deadline.merge_reserve_percentile
            ));
        }
        if self.connect.timeout.is_zero() || self.connect.keepalive.is_zero() {
            return bad("connect.timeout and connect.keepalive must be above zero".into());
        }
        self.admission.validate().map_err(StartError::Config)?;
        self.readiness.validate().map_err(StartError::Config)?;
        self.probation.validate().map_err(StartError::Config)?;
        self.canary.validate().map_err(StartError::Config)?;
        self.hedge.validate().map_err(StartError::Config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_with_defaults_and_text_durations() {
        let config: RootConfig = toml::from_str(
            r#"
            shards = [["127.0.0.1:1", "127.0.0.1:2"], ["127.0.0.1:3"]]
            [deadline]
            default = "250ms"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.shards.len(), 2);
        assert_eq!(config.deadline.default, Duration::from_millis(250));
        assert_eq!(config.deadline.max, Duration::from_secs(30));
        assert_eq!(config.merge, BUILTIN_CONCAT);
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_named() {
        let err = toml::from_str::<RootConfig>("shardz = []")
            .unwrap_err()
            .to_string();
        assert!(err.contains("shardz"), "{err}");
        let err = duration_text::parse("10 parsecs").unwrap_err();
        assert!(err.contains("unknown unit"), "{err}");
    }

    #[test]
    fn bad_admission_settings_are_named() {
        let config = |admission| RootConfig {
            shards: vec![vec!["127.0.0.1:1".into()]],
            admission,
            ..RootConfig::default()
        };
        let tolerance = AdmissionConfig {
            tolerance: 0.5,
            ..AdmissionConfig::default()
        };
        let err = config(tolerance).validate().unwrap_err().to_string();
        assert!(err.contains("admission.tolerance 0.5"), "{err}");
        let floor = AdmissionConfig {
            min_limit: 0,
            ..AdmissionConfig::default()
        };
        let err = config(floor).validate().unwrap_err().to_string();
        assert!(err.contains("admission.min_limit"), "{err}");
    }

    #[test]
    fn a_config_written_as_toml_reads_back_the_same() {
        let mut config = RootConfig {
            shards: vec![vec!["127.0.0.1:1".into(), "127.0.0.1:2".into()]],
            ..RootConfig::default()
        };
        config.hedge.fixed_delay = Some(Duration::from_micros(1500));
        config.deadline.default = Duration::from_millis(250);
        config.traces.otlp_endpoint = Some("http://127.0.0.1:4317".into());
        let text = toml::to_string(&config).unwrap();
        assert!(text.contains("fixed_delay = \"1500us\""), "{text}");
        assert!(text.contains("default = \"250ms\""), "{text}");
        let back: RootConfig = toml::from_str(&text).unwrap();
        assert_eq!(format!("{back:?}"), format!("{config:?}"));
    }

    #[test]
    fn canary_settings_read_from_toml_and_bad_ones_are_named() {
        let config: RootConfig = toml::from_str(
            r#"
            shards = [["127.0.0.1:1"]]
            [canary]
            enabled = true
            timeout = "50ms"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert!(config.canary.enabled);
        assert_eq!(config.canary.timeout, Duration::from_millis(50));
        assert_eq!(config.canary.quarantine, Duration::from_secs(300));
        let bad = |canary| RootConfig {
            canary,
            ..config.clone()
        };
        let zero = CanaryConfig {
            timeout: Duration::ZERO,
            ..CanaryConfig::default()
        };
        let err = bad(zero).validate().unwrap_err().to_string();
        assert!(err.contains("canary.timeout"), "{err}");
        let none = CanaryConfig {
            max_fingerprints: 0,
            ..CanaryConfig::default()
        };
        let err = bad(none).validate().unwrap_err().to_string();
        assert!(err.contains("canary.max_fingerprints"), "{err}");
        let forever = CanaryConfig {
            quarantine: Duration::ZERO,
            ..CanaryConfig::default()
        };
        let err = bad(forever).validate().unwrap_err().to_string();
        assert!(err.contains("canary.quarantine"), "{err}");
    }

    #[test]
    fn empty_shard_is_refused() {
        let config = RootConfig {
            shards: vec![vec!["127.0.0.1:1".into()], vec![]],
            ..RootConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("shard 1 has no replica"), "{err}");
    }
}

#[cfg(test)]
mod fuzz;
