//! HTTP endpoints for operators and orchestrators, served on the same port as
//! gRPC (HTTP/1.1 is detected per connection):
//! `/healthz` (alive), `/readyz` (takes new work), `/metrics` (Prometheus:
//! OpenMetrics with exemplars when the scraper's `Accept` asks for it, the
//! classic text format 0.0.4 otherwise), `/status` (JSON for people), and at
//! `/` the process's page, if it has one (the root's status page).

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use crate::metrics::{OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};
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
    headers: HeaderMap,
) -> impl IntoResponse {
    // Prometheus asks for OpenMetrics first when it wants exemplars; curl,
    // promtool and older scrapers get the classic text they parse.
    if wants_openmetrics(&headers) {
        (
            [(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)],
            process.metrics.render_openmetrics(),
        )
    } else {
        (
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            process.metrics.render(),
        )
    }
}

/// Whether `Accept` lists OpenMetrics text (with any parameters) at a
/// non-zero quality.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            media.eq_ignore_ascii_case("application/openmetrics-text") && !refused
        })
}

async fn status(axum::extract::State(process): axum::extract::State<Process>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        process.status_json().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().expect("valid header"));
        headers
    }

    #[test]
    fn prometheus_scrapers_asking_for_openmetrics_get_it() {
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,\
                          application/openmetrics-text;version=0.0.1;q=0.4,\
                          text/plain;version=0.0.4;q=0.3,*/*;q=0.1";
        assert!(wants_openmetrics(&accept(prometheus)));
    }

    #[test]
    fn other_clients_get_the_classic_text_format() {
        assert!(!wants_openmetrics(&HeaderMap::new()));
        assert!(!wants_openmetrics(&accept("*/*")));
        assert!(!wants_openmetrics(&accept("text/plain;version=0.0.4")));
        assert!(!wants_openmetrics(&accept(
            "application/openmetrics-text;q=0,text/plain"
        )));
    }
}
