//! HTTP endpoints for operators and orchestrators, served on the same port as
//! gRPC (HTTP/1.1 is detected per connection):
//! `/healthz` (alive), `/readyz` (takes new work), `/metrics` (Prometheus),
//! `/status` (JSON for people), and at `/` the process's page, if it has
//! one (the root's status page).

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use crate::{Process, ServingStatus};

const NO_PAGE: &str = "no page here: see /status, /metrics, /healthz and /readyz\n";

pub(crate) fn router(process: Process) -> Router {
    // Without a page `/` says so; otherwise gRPC's fallback would answer an
    // empty 200 with `grpc-status: 12`, which a browser shows as blank.
    let page = match process.page() {
        Some(html) => get(move || async move { Html(html) }),
        None => get(|| async { (StatusCode::NOT_FOUND, NO_PAGE) }),
    };
    Router::new()
        .route("/", page)
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
