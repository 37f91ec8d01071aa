//! Asking another Scatter process whether it takes work: the client side of
//! the health interface, used by runtimes waiting for a child and by tests.

use std::time::Duration;

use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Whether the process at `uri` (`http://host:port`) answers gRPC health
/// with SERVING; `false` when it is unreachable or says anything else.
pub async fn is_serving(uri: &str) -> bool {
    match Endpoint::from_shared(uri.to_owned()) {
        Ok(endpoint) => is_serving_at(endpoint).await,
        Err(_) => false,
    }
}

/// Like [`is_serving`], over an endpoint the caller built (e.g. an
/// `https://` one with [`crate::client_tls`]).
pub async fn is_serving_at(endpoint: Endpoint) -> bool {
    let Ok(channel) = endpoint
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
    else {
        return false;
    };
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
}
