//! The management interface every Scatter process shares — root, leaves and
//! merges alike (the paper's single-container pattern):
//!
//! - gRPC `grpc.health.v1` ([`Health`]), server reflection (`v1` and
//!   `v1alpha`, listing only the services the process answers), and HTTP
//!   `/healthz`, `/readyz`, `/metrics`, `/status`, all on the same port as
//!   the process's gRPC services;
//! - a Prometheus [`metrics::Registry`] (on `prometheus-client`: OpenMetrics
//!   with exemplars, or the classic text format);
//! - a lifecycle ([`serve`]): on SIGTERM or ctrl-c the process reports
//!   NOT_SERVING, stops taking new work, lets in-flight calls finish within a
//!   grace period, and returns so `main` can exit 0;
//! - tracing ([`trace`]): W3C trace context from each caller to every
//!   call made for it, spans exported over OTLP with the `otlp` feature;
//! - shedding ([`InFlightCap`]): past `--max-in-flight` calls a leaf or merge
//!   refuses at once with `RESOURCE_EXHAUSTED`;
//! - TLS ([`ServerTls`], [`client_tls`]): the port served over TLS, mutual
//!   when a client CA is given, and the client side for calls to it.

mod admin;
mod deadline;
mod error;
mod flags;
mod health;
mod in_flight;
mod logging;
pub mod message_limit;
pub mod metrics;
mod ports;
mod probe;
mod reflection;
mod request_id;
mod serve;
mod signal;
mod tls;
pub mod trace;

pub use deadline::grpc_timeout;
pub use error::Error;
pub use flags::{Flag, Flags, SERVE_FLAGS};
pub use health::{Health, ServingStatus};
pub use in_flight::{InFlightCap, InFlightPermit, RETRY_PUSHBACK, RETRY_PUSHBACK_KEY};
pub use logging::{
    LOG_FILTER_ENV, LOG_FORMAT_ENV, LOG_FORMAT_FLAG, LogFormat, init_logging, init_logging_as,
};
pub use ports::loopback_ports;
pub use probe::{exit_with_health, is_serving, is_serving_at};
pub use request_id::{MAX_REQUEST_ID_BYTES, REQUEST_ID_HEADER, request_id, sent_request_id};
pub use serve::{Process, ServeOptions, bind, export_spans, serve};
pub use signal::shutdown_signal;
pub use tls::{
    ClientTlsFiles, PemFile, ServerTls, ServerTlsFiles, client_tls, error_chain,
    refused_after_handshake,
};
