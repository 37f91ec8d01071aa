//! Each leaf container's gRPC health, followed over one open `Watch` stream
//! per leaf. A leaf is in rotation while it says SERVING: it leaves the
//! moment it starts draining (SIGTERM, `docker stop`), when its stream
//! breaks (it died), or when HTTP/2 keep-alive finds it hung (paused), and
//! comes back when a new stream says SERVING again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::topology::Connector;

/// How long connecting and the first health answer may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);
/// Keep-alive pings on the watch stream; a leaf that does not answer one
/// within the same time (frozen, unreachable) is out of rotation.
const KEEPALIVE: Duration = Duration::from_secs(2);
/// Pause before watching again after a stream ended.
const RETRY: Duration = Duration::from_millis(200);

/// The health watches of the leaves now known.
pub struct HealthWatches {
    watches: HashMap<String, Watch>,
    changed: Arc<Notify>,
    connector: Connector,
}

struct Watch {
    serving: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl HealthWatches {
    /// No watches yet; leaves will be dialled with `connector`.
    pub fn new(connector: Connector) -> Self {
        Self {
            watches: HashMap::new(),
            changed: Arc::new(Notify::new()),
            connector,
        }
    }

    /// Notified whenever a leaf starts or stops serving.
    pub fn changed(&self) -> Arc<Notify> {
        Arc::clone(&self.changed)
    }

    /// Watches exactly `uris`: new ones start unserving until their leaf
    /// says SERVING; watches of the others end.
    pub fn track<'a>(&mut self, uris: impl IntoIterator<Item = &'a str>) {
        let wanted: Vec<&str> = uris.into_iter().collect();
        self.watches.retain(|uri, watch| {
            let keep = wanted.contains(&uri.as_str());
            if !keep {
                watch.task.abort();
            }
            keep
        });
        for uri in wanted {
            if !self.watches.contains_key(uri) {
                let serving = Arc::new(AtomicBool::new(false));
                let task = tokio::spawn(follow(
                    self.connector.clone(),
                    uri.to_owned(),
                    Arc::clone(&serving),
                    Arc::clone(&self.changed),
                ));
                self.watches.insert(uri.to_owned(), Watch { serving, task });
            }
        }
    }

    /// Whether the leaf at `uri` last said SERVING.
    pub fn is_serving(&self, uri: &str) -> bool {
        self.watches
            .get(uri)
            .is_some_and(|w| w.serving.load(Ordering::Relaxed))
    }
}

impl Drop for HealthWatches {
    fn drop(&mut self) {
        for watch in self.watches.values() {
            watch.task.abort();
        }
    }
}

/// Follows one leaf's health until aborted.
async fn follow(connector: Connector, uri: String, serving: Arc<AtomicBool>, changed: Arc<Notify>) {
    let set = |value: bool| {
        if serving.swap(value, Ordering::Relaxed) != value {
            changed.notify_one();
        }
    };
    let Ok(endpoint) = connector.endpoint(&uri) else {
        tracing::error!(%uri, "not a valid address; never in rotation");
        return;
    };
    let endpoint = endpoint
        .connect_timeout(ANSWER_TIMEOUT)
        .http2_keep_alive_interval(KEEPALIVE)
        .keep_alive_timeout(KEEPALIVE)
        .keep_alive_while_idle(true);
    loop {
        let opened = tokio::time::timeout(ANSWER_TIMEOUT, async {
            let channel = endpoint.connect().await.ok()?;
            let response = HealthClient::new(channel)
                .watch(HealthCheckRequest::default())
                .await
                .ok()?;
            Some(response.into_inner())
        })
        .await;
        if let Ok(Some(mut stream)) = opened {
            while let Ok(Some(message)) = stream.message().await {
                set(message.status == ServingStatus::Serving as i32);
            }
        }
        set(false);
        tokio::time::sleep(RETRY).await;
    }
}
