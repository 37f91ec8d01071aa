//! HTTP endpoints for operators and orchestrators, served on the same port as
//! gRPC (HTTP/1.1 is detected per connection):
//! `/healthz` (alive), `/readyz` (takes new work), `/metrics` (Prometheus),
//! `/status` (JSON for people).

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::{Process, ServingStatus};

pub(crate) fn router(process: Process) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(process)
}

async fn readyz(axum::extract::State(process): axum::extract::State<Process>) -> impl IntoResponse {
    match process.health.status() {
        ServingStatus::Serving => (StatusCode::OK, "ready\n"),
        ServingStatus::NotServing => (StatusCode::SERVICE_UNAVAILABLE, "not serving\n"),
    }
}

async fn metrics(
    axum::extract::State(process): axum::extract::State<Process>,
) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        process.metrics.render(),
    )
}

async fn status(axum::extract::State(process): axum::extract::State<Process>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        process.status_json().to_string(),
    )
}
