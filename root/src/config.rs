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
//! merge_reserve = "50ms"
//!
//! [limits]
//! max_request_bytes = 4194304
//! max_concurrent_requests = 1024
//!
//! [hedge]
//! enabled = true
//! percentile = 95.0
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::RootError;
pub use crate::fanout::HedgeConfig;
pub use crate::fanout::probation::ProbationConfig;

/// Everything the root needs to serve.
#[derive(Clone, Debug, Deserialize)]
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
    /// Hedged calls to a second replica of a slow shard.
    pub hedge: HedgeConfig,
    /// Taking replicas that stand out from their siblings out of rotation.
    pub probation: ProbationConfig,
    /// How connections to leaves and the merge are made.
    pub connect: ConnectConfig,
}

impl Default for RootConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50000)),
            shards: Vec::new(),
            merge: BUILTIN_CONCAT.to_owned(),
            deadline: DeadlineConfig::default(),
            limits: Limits::default(),
            hedge: HedgeConfig::default(),
            probation: ProbationConfig::default(),
            connect: ConnectConfig::default(),
        }
    }
}

/// The name of the built-in concatenating merge.
pub const BUILTIN_CONCAT: &str = "builtin:concat";

/// The deadline of one request.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineConfig {
    /// Used when the client sends no `grpc-timeout`. Longer waits for slower
    /// shards; shorter answers sooner with less coverage. Default 1 s.
    #[serde(with = "duration_text")]
    pub default: Duration,
    /// The most a client may ask for; longer asks are cut to it. Default 30 s.
    #[serde(with = "duration_text")]
    pub max: Duration,
    /// Time kept back from the leaves for the merge to fold and answer and
    /// for the answer to reach the client. It is at most a tenth of the
    /// request's deadline. Default 50 ms.
    #[serde(with = "duration_text")]
    pub merge_reserve: Duration,
}

impl Default for DeadlineConfig {
    fn default() -> Self {
        Self {
            default: Duration::from_secs(1),
            max: Duration::from_secs(30),
            merge_reserve: Duration::from_millis(50),
        }
    }
}

/// Protection against requests the root should not take.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request accepted, in bytes; larger ones get
    /// RESOURCE_EXHAUSTED. Every leaf receives the payload, so this bounds
    /// the memory one request can pin. Default 4 MiB.
    pub max_request_bytes: usize,
    /// Requests in progress at once; more get RESOURCE_EXHAUSTED at once
    /// rather than queueing. Default 1024.
    pub max_concurrent_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 4 << 20,
            max_concurrent_requests: 1024,
        }
    }
}

/// Connection settings for leaves and the merge.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectConfig {
    /// How long a connection attempt may take. Default 1 s.
    #[serde(with = "duration_text")]
    pub timeout: Duration,
    /// HTTP/2 keep-alive ping interval, which notices a dead peer without
    /// traffic. Default 10 s.
    #[serde(with = "duration_text")]
    pub keepalive: Duration,
}

impl Default for ConnectConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            keepalive: Duration::from_secs(10),
        }
    }
}

impl RootConfig {
    /// Reads a TOML file; unknown keys are errors, missing keys take defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self, RootError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            RootError::Config(format!("cannot read config file {}: {e}", path.display()))
        })?;
        toml::from_str(&text)
            .map_err(|e| RootError::Config(format!("config file {}: {e}", path.display())))
    }

    /// Checks what serde cannot: at least one shard, every shard with a
    /// replica, sane deadlines.
    pub fn validate(&self) -> Result<(), RootError> {
        let bad = |m: String| Err(RootError::Config(m));
        if self.shards.is_empty() {
            return bad("no shards configured: give each shard's replica addresses".into());
        }
        if let Some(i) = self.shards.iter().position(Vec::is_empty) {
            return bad(format!("shard {i} has no replica address"));
        }
        if self.deadline.default.is_zero() || self.deadline.max.is_zero() {
            return bad("deadlines must be above zero".into());
        }
        if self.deadline.default > self.deadline.max {
            return bad(format!(
                "the default deadline ({:?}) is above the maximum ({:?})",
                self.deadline.default, self.deadline.max
            ));
        }
        if self.limits.max_concurrent_requests == 0 || self.limits.max_request_bytes == 0 {
            return bad("limits must be above zero".into());
        }
        self.hedge.validate().map_err(RootError::Config)
    }
}

/// Durations written as text: `"250ms"`, `"1s"`, `"2m"`, `"1500us"`.
pub mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Parses `"<number><unit>"`, unit one of `us ms s m`.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(|| format!("duration {text:?} has no unit (use us, ms, s or m)"))?;
        let (number, unit) = text.split_at(split);
        let n: f64 = number
            .parse()
            .map_err(|_| format!("duration {text:?} does not start with a number"))?;
        let seconds = match unit {
            "us" => n / 1e6,
            "ms" => n / 1e3,
            "s" => n,
            "m" => n * 60.0,
            _ => {
                return Err(format!(
                    "duration {text:?}: unknown unit {unit:?} (use us, ms, s or m)"
                ));
            }
        };
        Duration::try_from_secs_f64(seconds).map_err(|e| format!("duration {text:?}: {e}"))
    }

    /// serde: a duration from text.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
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
    fn empty_shard_is_refused() {
        let config = RootConfig {
            shards: vec![vec!["127.0.0.1:1".into()], vec![]],
            ..RootConfig::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("shard 1 has no replica"), "{err}");
    }
}
