//! The lifecycle of a Scatter process: serve gRPC plus the admin endpoints
//! until told to stop, then drain.
//!
//! The drain, in order: health NOT_SERVING (gRPC and `/readyz`); keep
//! answering for `drain_delay` so callers that watch health move away; stop
//! accepting connections and streams; let in-flight calls finish, at most
//! `grace`; return.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::metrics::{Gauge, Registry};
use crate::reflection::add_reflection;
use crate::trace::Spans;
use crate::{Error, Health, ServerTls, ServingStatus, shutdown_signal};

/// How a process admits calls and drains.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// How long in-flight calls may run after the drain starts. Longer keeps
    /// slow calls alive; shorter stops a stuck process sooner. Default 10 s.
    pub grace: Duration,
    /// How long to keep answering after reporting NOT_SERVING, so that
    /// callers which watch health (or a Kubernetes endpoint controller) stop
    /// sending first. Default 0: callers that watch health react at once.
    pub drain_delay: Duration,
    /// Also stop on SIGTERM and ctrl-c (on by default; off for processes
    /// embedded in tests, which use [`Process::shutdown`]).
    pub handle_signals: bool,
    /// The most calls a leaf or merge runs at once (`--max-in-flight`);
    /// past it a call is refused at once with `RESOURCE_EXHAUSTED`, so the
    /// caller can try another replica instead of queueing here. A cap keeps
    /// an overloaded replica fast to refuse, at the price of refusing bursts
    /// it could have absorbed. Default `None`: no cap. The root does not
    /// read it; it admits with its own `--max-concurrent`.
    pub max_in_flight: Option<NonZeroUsize>,
    /// Where spans are exported (`--otlp-endpoint`, an OTLP/gRPC collector
    /// such as `http://127.0.0.1:4317`). Default `None`: spans are not
    /// recorded at all; trace context is still passed on.
    pub otlp_endpoint: Option<String>,
    /// The most request-header bytes (HTTP/2 header list size) a call may
    /// carry; HTTP/2 refuses larger header blocks before they are held,
    /// and the client sees HTTP 431 rather than a gRPC status. Default
    /// `None`: hyper's 16 KiB. The root sets twice its
    /// `--max-metadata-bytes`, and answers calls between the two with a
    /// status of its own.
    pub max_header_list_bytes: Option<u32>,
    /// The largest message a leaf or merge accepts (`--max-message-bytes`):
    /// a request, or one message of a merge stream. Larger ones are refused
    /// with RESOURCE_EXHAUSTED as their length prefix arrives. Keep it above
    /// the root's `--max-request-bytes` (leaves) and `--max-partial-bytes`
    /// (merges), plus a little for framing. Default 64 MiB + 64 KiB. The
    /// root does not read it; it has a limit per kind of message.
    pub max_message_bytes: usize,
    /// Serve over TLS (`--tls-cert`, `--tls-key`), requiring callers'
    /// certificates when it has a client CA (`--tls-client-ca`). TLS costs
    /// a handshake per connection and makes the admin endpoints HTTPS.
    /// Default `None`: plaintext, for a trusted network.
    pub tls: Option<ServerTls>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(10),
            drain_delay: Duration::ZERO,
            handle_signals: true,
            max_in_flight: None,
            otlp_endpoint: None,
            max_header_list_bytes: None,
            max_message_bytes: crate::message_limit::DEFAULT_MAX_MESSAGE_BYTES,
            tls: None,
        }
    }
}

type StatusFn = dyn Fn() -> serde_json::Value + Send + Sync;

/// One Scatter process: its health, metrics and `/status` view, and the
/// token that stops it.
#[derive(Clone)]
pub struct Process {
    /// "root", "leaf" or "merge".
    pub role: &'static str,
    /// gRPC health, also behind `/readyz`.
    pub health: Health,
    /// Everything behind `/metrics`.
    pub metrics: Registry,
    /// Cancel to start the drain, as SIGTERM does.
    pub shutdown: CancellationToken,
    /// `scatter_draining`: 1 from the start of the drain until exit.
    draining: Gauge,
    /// Where the process's spans go; exported once [`serve`] starts with
    /// an OTLP endpoint.
    pub spans: Spans,
    started: Instant,
    status: Arc<StatusFn>,
    page: Option<&'static str>,
}

impl Process {
    /// A process of `role` serving the named gRPC services (fully
    /// qualified, from `scatter.v1`): health reports on them and reflection
    /// lists them.
    pub fn new(role: &'static str, services: &[&str]) -> Self {
        let metrics = Registry::default();
        let draining = metrics.gauge(
            "scatter_draining",
            "1 while the process drains (NOT_SERVING, finishing in-flight calls), else 0.",
            &[],
        );
        Self {
            role,
            health: Health::new(services),
            metrics,
            draining,
            shutdown: CancellationToken::new(),
            spans: Spans::default(),
            started: Instant::now(),
            status: Arc::new(|| serde_json::Value::Null),
            page: None,
        }
    }

    /// Adds role-specific fields (shard, tree shape...) to `/status`.
    pub fn with_status(
        mut self,
        status: impl Fn() -> serde_json::Value + Send + Sync + 'static,
    ) -> Self {
        self.status = Arc::new(status);
        self
    }

    /// Serves `html` at `/`: a page for people, built on the process's own
    /// endpoints (the root's status page reads `/status`). Without one, `/`
    /// answers 404 and names the endpoints there are.
    #[must_use]
    pub fn with_page(mut self, html: &'static str) -> Self {
        self.page = Some(html);
        self
    }

    pub(crate) fn page(&self) -> Option<&'static str> {
        self.page
    }

    pub(crate) fn status_json(&self) -> serde_json::Value {
        serde_json::json!({
            "role": self.role,
            "serving": self.health.status() == ServingStatus::Serving,
            "draining": self.shutdown.is_cancelled(),
            "uptime_seconds": self.started.elapsed().as_secs_f64(),
            "details": (self.status)(),
        })
    }
}

/// Binds `addr`, with a clear error naming it when that fails.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|source| Error::Bind {
        addr: addr.to_string(),
        source,
    })
}

/// Serves `routes` (the process's own gRPC services) with health, server
/// reflection (listing the services `process` was made with) and the admin
/// endpoints on `listener`, reports SERVING, and returns once drained.
pub async fn serve(
    process: Process,
    routes: Routes,
    listener: TcpListener,
    options: ServeOptions,
) -> Result<(), Error> {
    if let Some(endpoint) = &options.otlp_endpoint {
        export_spans(&process, endpoint)?;
    }
    let routes = add_reflection(routes, process.health.services());
    let axum = routes
        .add_service(process.health.service())
        .prepare()
        .into_axum_router()
        .merge(crate::admin::router(process.clone()));

    let incoming = crate::tls::incoming(listener, options.tls.as_ref().map(ServerTls::rustls));

    let drained = CancellationToken::new();
    let drain = drain_sequence(process.clone(), options.clone(), drained.clone());
    process.health.set(ServingStatus::Serving);
    let server = tonic::transport::Server::builder()
        .accept_http1(true)
        .http2_max_header_list_size(options.max_header_list_bytes)
        .add_routes(Routes::from(axum))
        .serve_with_incoming_shutdown(incoming, drain);

    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result?,
        () = async { drained.cancelled().await; tokio::time::sleep(options.grace).await } => {
            tracing::warn!(grace = ?options.grace, "grace period over: abandoning in-flight calls");
        }
    }
    Ok(())
}

/// Exports `process`'s spans to `endpoint` as `OTEL_SERVICE_NAME`, else
/// `scatter-<role>`.
pub fn export_spans(process: &Process, endpoint: &str) -> Result<(), Error> {
    let service = std::env::var("OTEL_SERVICE_NAME")
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| format!("scatter-{}", process.role));
    crate::trace::export_to(&process.spans, endpoint, &service).map_err(|reason| Error::Flag {
        flag: "--otlp-endpoint / SCATTER_OTLP_ENDPOINT".to_owned(),
        value: endpoint.to_owned(),
        reason,
    })
}

async fn drain_sequence(process: Process, options: ServeOptions, drained: CancellationToken) {
    if options.handle_signals {
        tokio::select! {
            result = shutdown_signal() => {
                if let Err(error) = result {
                    tracing::error!(%error, "no signal handler; stop with the shutdown token");
                    process.shutdown.cancelled().await;
                }
            }
            () = process.shutdown.cancelled() => {}
        }
    } else {
        process.shutdown.cancelled().await;
    }
    process.shutdown.cancel();
    process.draining.set(1);
    process.health.set(ServingStatus::NotServing);
    if !options.drain_delay.is_zero() {
        tokio::time::sleep(options.drain_delay).await;
    }
    process.health.close_watches();
    drained.cancel();
}
