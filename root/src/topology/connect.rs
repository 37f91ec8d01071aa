//! The one place that dials a leaf or a merge. Every connection the root
//! makes — to a configured or discovered leaf, to the merge, to a leaf asked
//! which shard it serves or watched for health — is built here, so a
//! transport setting (keep-alive, decoding limits, TLS) is added once. With
//! TLS configured (`[connect.tls]`) every address is dialled as `https://`,
//! trusting the configured CA and presenting the root's certificate when it
//! has one. Connections gather the writes of one runtime turn unless
//! configured not to ([`coalesce`](super::coalesce)).

use std::time::Duration;

use scatter_proto::v1::leaf_client::LeafClient;
use scatter_proto::v1::merge_client::MergeClient;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::coalesce::Gathering;
use crate::config::{ConnectConfig, Limits, RootConfig};
use crate::error::StartError;

/// Builds channels to leaves and merges with one set of transport settings.
#[derive(Clone, Debug)]
pub struct Connector {
    config: ConnectConfig,
    limits: Limits,
    /// The loaded `[connect.tls]`, or why its files could not be used:
    /// kept, and returned by every [`Connector::endpoint`], so a root with
    /// a bad file stops at start naming it.
    tls: Result<Option<ClientTlsConfig>, String>,
}

impl Default for Connector {
    fn default() -> Self {
        Self::new(ConnectConfig::default())
    }
}

impl Connector {
    /// A connector with `config`'s timeouts, keep-alive and TLS, and the
    /// default limits.
    pub fn new(config: ConnectConfig) -> Self {
        let tls = match config.tls.files() {
            Ok(Some(files)) => scatter_management::client_tls(&files)
                .map(Some)
                .map_err(|e| e.to_string()),
            Ok(None) => Ok(None),
            Err(e) => Err(e.to_string()),
        };
        Self {
            config,
            limits: Limits::default(),
            tls,
        }
    }

    /// The connector of a root configured by `config`: its connection
    /// settings and its limits on what leaves and the merge may send.
    pub fn for_root(config: &RootConfig) -> Self {
        Self {
            limits: config.limits.clone(),
            ..Self::new(config.connect.clone())
        }
    }

    /// The limits in force (partials, results, shards).
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The endpoint for `addr` (`host:port` or a URI), not yet connected;
    /// refused when it is not a URI or its port is not one a peer can
    /// listen on, so a typo stops the root at start.
    pub fn endpoint(&self, addr: &str) -> Result<Endpoint, StartError> {
        let bad = |reason: String| {
            StartError::Config(format!(
                "bad address {addr:?}: {reason} (write it as host:port or http://host:port)"
            ))
        };
        let tls = self.tls.clone().map_err(StartError::Config)?;
        let mut uri = normalise(addr);
        if tls.is_some() {
            if let Some(host) = uri.strip_prefix("http://") {
                uri = format!("https://{host}");
            }
        } else if uri.starts_with("https://") {
            return Err(bad(
                "https:// needs the CA that signed the peer's certificate \
                 (connect.tls.ca / --upstream-tls-ca)"
                    .into(),
            ));
        }
        let mut endpoint = Endpoint::from_shared(uri).map_err(|e| bad(e.to_string()))?;
        if let Some(authority) = endpoint.uri().authority() {
            check_port(authority.as_str()).map_err(bad)?;
        }
        if let Some(tls) = tls {
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| bad(scatter_management::error_chain(&e)))?;
        }
        Ok(endpoint
            .connect_timeout(self.config.timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(self.config.keepalive)
            .keep_alive_while_idle(true))
    }

    /// A kept-open channel to `addr`, connected now when possible so the
    /// first request pays no handshake; when the peer is down it connects on
    /// first use and reconnects by itself after the peer restarts.
    pub async fn channel(&self, addr: &str) -> Result<Channel, StartError> {
        let endpoint = self.endpoint(addr)?;
        match self.connect(&endpoint).await {
            Ok(channel) => Ok(channel),
            Err(error) => {
                let error = scatter_management::error_chain(&error);
                tracing::warn!(%addr, %error, "not reachable yet; will connect on first use");
                Ok(self.connect_lazy(&endpoint))
            }
        }
    }

    /// `endpoint` as a channel that connects on first use, its writes
    /// gathered when so configured.
    fn connect_lazy(&self, endpoint: &Endpoint) -> Channel {
        if self.config.gather_writes {
            endpoint.connect_with_connector_lazy(Gathering::tcp())
        } else {
            endpoint.connect_lazy()
        }
    }

    /// `endpoint` connected now, its writes gathered when so configured.
    async fn connect(&self, endpoint: &Endpoint) -> Result<Channel, tonic::transport::Error> {
        if self.config.gather_writes {
            endpoint.connect_with_connector(Gathering::tcp()).await
        } else {
            endpoint.connect().await
        }
    }

    /// A channel to `addr` connected now, or the reason it is not, within
    /// `timeout` (for one-off questions such as `Leaf.Info` or health).
    pub async fn connect_now(&self, addr: &str, timeout: Duration) -> Result<Channel, String> {
        let endpoint = self
            .endpoint(addr)
            .map_err(|e| e.to_string())?
            .connect_timeout(timeout);
        match tokio::time::timeout(timeout, self.connect(&endpoint)).await {
            Ok(Ok(channel)) => Ok(channel),
            Ok(Err(error)) => Err(format!(
                "cannot connect to {addr}: {}",
                scatter_management::error_chain(&error)
            )),
            Err(_) => Err(format!("cannot connect to {addr} within {timeout:?}")),
        }
    }

    /// Whether the process at `addr` answers gRPC health with SERVING
    /// within `timeout`; `false` when it is unreachable or says anything
    /// else (how a runtime waits for a leaf or merge it started).
    pub async fn is_serving(&self, addr: &str, timeout: Duration) -> bool {
        let Ok(channel) = self.connect_now(addr, timeout).await else {
            return false;
        };
        let mut client = HealthClient::new(channel);
        let check = client.check(HealthCheckRequest::default());
        matches!(
            tokio::time::timeout(timeout, check).await,
            Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32
        )
    }

    /// A `Leaf` client on `channel`, accepting partials up to
    /// `limits.max_partial_bytes`: tonic refuses a larger one when its
    /// length prefix arrives, before buffering any of it.
    pub fn leaf_client(&self, channel: Channel) -> LeafClient<Channel> {
        LeafClient::new(channel).max_decoding_message_size(self.limits.max_partial_bytes)
    }

    /// A `Merge` client on `channel`, accepting results and snapshots up
    /// to `limits.max_result_bytes` (refused as for partials).
    pub fn merge_client(&self, channel: Channel) -> MergeClient<Channel> {
        MergeClient::new(channel)
            .max_decoding_message_size(self.limits.max_result_bytes)
            .max_encoding_message_size(usize::MAX)
    }
}

/// `host:port` → `http://host:port`; full URIs are kept.
pub fn normalise(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    }
}

/// A port given in `authority` (`host:port`, `[v6]:port`) must be in
/// 1..=65535: the URI parser accepts any digits, and the dial would fail
/// only later, on every request.
fn check_port(authority: &str) -> Result<(), String> {
    let Some((_, port)) = authority.rsplit_once(':').filter(|(_, p)| !p.contains(']')) else {
        return Ok(());
    };
    match port.parse::<u16>() {
        Ok(1..) => Ok(()),
        _ => Err(format!("port {port} is not in 1..=65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::test_peer::health_server;

    #[tokio::test]
    async fn channels_reach_a_peer_with_writes_gathered_or_not() {
        let addr = health_server().await.to_string();
        for gather_writes in [true, false] {
            let connector = Connector::new(ConnectConfig {
                gather_writes,
                ..ConnectConfig::default()
            });
            let serving = connector.is_serving(&addr, Duration::from_secs(5)).await;
            assert!(serving, "gather_writes = {gather_writes}");
            let channel = connector.channel(&addr).await.unwrap();
            HealthClient::new(channel)
                .check(HealthCheckRequest::default())
                .await
                .unwrap_or_else(|e| panic!("gather_writes = {gather_writes}: {e}"));
            // A peer that is down gives a channel that connects on first use.
            connector.channel("127.0.0.1:1").await.unwrap();
        }
    }

    #[test]
    fn port_out_of_range_is_refused_naming_the_address() {
        for addr in [
            "notahost:99999",
            "http://127.0.0.1:0",
            "[::1]:70000",
            "leaf:",
        ] {
            let err = Connector::default().endpoint(addr).unwrap_err().to_string();
            assert!(err.contains(addr) && err.contains("1..=65535"), "{err}");
        }
    }

    #[test]
    fn https_address_without_a_trusted_ca_is_refused_naming_the_setting() {
        let err = Connector::default()
            .endpoint("https://leaf-0:50051")
            .unwrap_err()
            .to_string();
        assert!(err.contains("--upstream-tls-ca"), "{err}");
    }

    #[test]
    fn a_bad_upstream_tls_file_is_returned_by_every_endpoint() {
        let mut config = ConnectConfig::default();
        config.tls.ca = Some("/nonexistent/scatter/ca.pem".into());
        let connector = Connector::new(config);
        for addr in ["leaf-0:50051", "http://127.0.0.1:7001"] {
            let err = connector.endpoint(addr).unwrap_err().to_string();
            assert!(err.contains("/nonexistent/scatter/ca.pem"), "{addr}: {err}");
        }
    }

    #[test]
    fn host_port_uri_and_ipv6_are_accepted() {
        for addr in [
            "leaf-0:50051",
            "http://127.0.0.1:1",
            "[::1]:65535",
            "[::1]",
            "leaf",
        ] {
            Connector::default()
                .endpoint(addr)
                .unwrap_or_else(|e| panic!("{addr}: {e}"));
        }
    }
}
