//! `grpc.health.v1` for every Scatter process.
//!
//! tonic-health's own service keeps `Watch` streams open until its reporter is
//! dropped, which would hold a graceful drain open until the grace period
//! runs out. This one ends every `Watch` stream (after sending NOT_SERVING)
//! when the process stops, so a drain finishes as soon as real work does.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use futures::Stream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus as PbStatus;
use tonic_health::pb::health_server::{self, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

/// Whether a process takes new work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServingStatus {
    /// Ready for new work.
    Serving,
    /// Starting, draining, or without what it needs to answer.
    NotServing,
}

impl ServingStatus {
    fn to_pb(self) -> PbStatus {
        match self {
            Self::Serving => PbStatus::Serving,
            Self::NotServing => PbStatus::NotServing,
        }
    }
}

/// The health state of one process: one status shared by the overall service
/// name `""` and every gRPC service the process registers.
///
/// Two things make it: the lifecycle ([`Health::set`]: SERVING once the
/// process serves, NOT_SERVING from the drain on) and whether the process
/// can answer ([`Health::set_ready`]: a root whose merge or leaves are all
/// down cannot). It is SERVING only when both say so.
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

struct Inner {
    services: Vec<String>,
    /// The effective status: what health checks and `/readyz` report.
    status: watch::Sender<ServingStatus>,
    /// The two inputs to it: the lifecycle, and whether the process can answer.
    parts: Mutex<(ServingStatus, bool)>,
    stopped: CancellationToken,
}

impl Health {
    /// Health for a process serving the named gRPC services (fully qualified,
    /// e.g. `scatter.v1.Leaf`). Starts NOT_SERVING: a process says SERVING
    /// once it can answer.
    pub fn new(services: &[&str]) -> Self {
        let mut names: Vec<String> = vec![String::new()];
        names.extend(services.iter().map(|s| (*s).to_owned()));
        let (status, _) = watch::channel(ServingStatus::NotServing);
        Self {
            inner: Arc::new(Inner {
                services: names,
                status,
                parts: Mutex::new((ServingStatus::NotServing, true)),
                stopped: CancellationToken::new(),
            }),
        }
    }

    /// Sets the lifecycle status of the process and all its services.
    pub fn set(&self, status: ServingStatus) {
        self.update(|parts| parts.0 = status);
    }

    /// Says whether the process has what it needs to answer (the root: a
    /// merge and enough leaves). While it has not, health is NOT_SERVING
    /// even though the process serves. Processes that never call it are
    /// always able.
    pub fn set_ready(&self, ready: bool) {
        self.update(|parts| parts.1 = ready);
    }

    fn update(&self, change: impl FnOnce(&mut (ServingStatus, bool))) {
        let mut parts = self
            .inner
            .parts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        change(&mut parts);
        let status = match *parts {
            (ServingStatus::Serving, true) => ServingStatus::Serving,
            _ => ServingStatus::NotServing,
        };
        // Watchers hear of changes only, not of every re-evaluation.
        self.inner.status.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }

    /// The current status.
    pub fn status(&self) -> ServingStatus {
        *self.inner.status.borrow()
    }

    /// Ends every `Watch` stream; called once the process stops serving.
    pub(crate) fn close_watches(&self) {
        self.set(ServingStatus::NotServing);
        self.inner.stopped.cancel();
    }

    /// The gRPC services this process answers besides health, by name.
    pub(crate) fn services(&self) -> impl Iterator<Item = &str> + Clone {
        self.inner
            .services
            .iter()
            .map(String::as_str)
            .filter(|name| !name.is_empty())
    }

    /// The tonic service to add to a server.
    pub fn service(&self) -> HealthServer<Self> {
        HealthServer::new(self.clone())
    }

    fn check_known(&self, service: &str) -> Result<(), Status> {
        if self.inner.services.iter().any(|s| s == service) {
            Ok(())
        } else {
            Err(Status::not_found(format!("unknown service {service:?}")))
        }
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status.to_pb() as i32,
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl health_server::Health for Health {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        self.check_known(&request.get_ref().service)?;
        Ok(Response::new(response(self.status())))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        self.check_known(&request.get_ref().service)?;
        let mut rx = self.inner.status.subscribe();
        let stopped = self.inner.stopped.clone();
        // The first item is the current status; then one item per change,
        // until the process stops.
        let first = *rx.borrow_and_update();
        let stream = futures::stream::unfold(
            (Some(first), rx, stopped),
            |(pending, mut rx, stopped)| async move {
                if let Some(status) = pending {
                    return Some((Ok(response(status)), (None, rx, stopped)));
                }
                if stopped.is_cancelled() {
                    return None;
                }
                tokio::select! {
                    changed = rx.changed() => {
                        changed.ok()?;
                        let status = *rx.borrow_and_update();
                        Some((Ok(response(status)), (None, rx, stopped)))
                    }
                    () = stopped.cancelled() => {
                        Some((Ok(response(ServingStatus::NotServing)), (None, rx, stopped)))
                    }
                }
            },
        );
        Ok(Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_only_while_both_the_lifecycle_and_readiness_say_so() {
        let health = Health::new(&["scatter.v1.Root"]);
        let mut watch = health.inner.status.subscribe();
        assert_eq!(health.status(), ServingStatus::NotServing, "starting");
        health.set_ready(false);
        health.set(ServingStatus::Serving);
        assert_eq!(health.status(), ServingStatus::NotServing, "cannot answer");
        assert!(!watch.has_changed().unwrap(), "no change to report yet");
        health.set_ready(true);
        assert_eq!(health.status(), ServingStatus::Serving);
        assert!(watch.has_changed().unwrap());
        watch.borrow_and_update();
        health.set_ready(true);
        assert!(!watch.has_changed().unwrap(), "a repeat is not a change");
        health.set(ServingStatus::NotServing);
        health.set_ready(true);
        assert_eq!(health.status(), ServingStatus::NotServing, "draining wins");
    }
}
