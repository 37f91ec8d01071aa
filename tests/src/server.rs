//! A child that serves gRPC with health and the admin endpoints on one port,
//! as every Scatter leaf, merge and root does.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::admin;
use crate::poll::POLL_INTERVAL;
use crate::process::ChildProcess;

/// How long a process may take to report SERVING.
pub const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A loopback address with a port nothing listens on (for a child to
/// take, or to stand for a process that is down): never the same port
/// twice in one test process, and outside the range outgoing connections
/// take their ports from ([`scatter_management::loopback_ports`]), so a
/// child given it finds it free.
pub fn free_port() -> SocketAddr {
    scatter_management::loopback_ports(1).expect("a free loopback port")[0]
}

/// A serving child process and its address.
pub struct Server {
    /// The process; dropping the server kills it.
    pub process: ChildProcess,
    addr: SocketAddr,
    /// How the test calls it when it serves over TLS.
    tls: Option<ClientTlsConfig>,
}

impl Server {
    /// Starts `program` with `args` and `--listen addr`, and returns once it
    /// reports SERVING on gRPC health.
    pub async fn start(name: &str, program: &Path, args: &[String], addr: SocketAddr) -> Self {
        let mut args = args.to_vec();
        args.extend(["--listen".to_owned(), addr.to_string()]);
        let process = ChildProcess::spawn(name, program, &args);
        Self::adopt(process, addr).await
    }

    /// Like [`Server::start`] for a process serving over TLS (its `args`
    /// carry `--tls-cert`...): waits, and later calls, with `tls`.
    pub async fn start_tls(
        name: &str,
        program: &Path,
        args: &[String],
        addr: SocketAddr,
        tls: ClientTlsConfig,
    ) -> Self {
        let mut args = args.to_vec();
        args.extend(["--listen".to_owned(), addr.to_string()]);
        let process = ChildProcess::spawn(name, program, &args);
        Self::adopt_listening(process, addr).over_tls(tls).await
    }

    /// Calls this process over TLS with `tls` from now on, and returns
    /// once it reports SERVING.
    pub async fn over_tls(mut self, tls: ClientTlsConfig) -> Self {
        self.tls = Some(tls);
        self.wait_serving().await;
        self
    }

    /// Takes over a process known to listen on `addr`, and returns once it
    /// reports SERVING.
    pub async fn adopt(process: ChildProcess, addr: SocketAddr) -> Self {
        let mut server = Self {
            process,
            addr,
            tls: None,
        };
        server.wait_serving().await;
        server
    }

    /// Takes over a process known to listen on `addr` without waiting for
    /// SERVING (a root whose merge or leaves are down never reports it).
    pub fn adopt_listening(process: ChildProcess, addr: SocketAddr) -> Self {
        Self {
            process,
            addr,
            tls: None,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, or `https://` over TLS.
    pub fn uri(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// An endpoint for it, with the test's TLS when it serves over TLS.
    pub fn endpoint(&self) -> Endpoint {
        let endpoint = Endpoint::from_shared(self.uri()).expect("a loopback URI is valid");
        match &self.tls {
            Some(tls) => endpoint
                .tls_config(tls.clone())
                .expect("the test's TLS settings are valid"),
            None => endpoint,
        }
    }

    /// A new gRPC channel to it.
    ///
    /// # Panics
    /// When it cannot be reached.
    pub async fn channel(&self) -> Channel {
        self.endpoint()
            .connect()
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.process.name()))
    }

    async fn wait_serving(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.process.exited() {
                panic!("{} exited before serving: {status}", self.process.name());
            }
            if scatter_management::is_serving_at(self.endpoint()).await {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not report SERVING on {} within {START_TIMEOUT:?}",
                self.process.name(),
                self.addr
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The text of its `/metrics`.
    ///
    /// # Panics
    /// When `/metrics` cannot be read.
    pub async fn metrics(&self) -> String {
        match admin::get(self.addr, "/metrics").await {
            Ok((200, body)) => body,
            other => panic!("GET /metrics of {}: {other:?}", self.process.name()),
        }
    }

    /// The value of one series of its `/metrics`, e.g.
    /// `scatter_leaf_calls_total{outcome="cancelled"}`.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        admin::series_value(&self.metrics().await, series)
    }

    /// Returns once `series` reads `value`.
    ///
    /// # Panics
    /// When it does not within `timeout`, with the last value read.
    pub async fn wait_metric(&self, series: &str, value: f64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.metric(series).await;
            if last == Some(value) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} {series}: wanted {value}, still {last:?} after {timeout:?}",
                self.process.name()
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

pub use scatter_management::is_serving;
