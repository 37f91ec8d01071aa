//! Queries at a bounded rate: a few clients, each sending one query per
//! period on its own kept-open connection, every outcome recorded — so a
//! test can say of every query sent while a service was replaced what
//! became of it, without the load itself being what strains the host.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use scatter_proto::v1::Coverage;
use scatter_proto::v1::root_client::RootClient;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::{Code, Status};

use crate::Query;

/// What became of one query.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// When it was sent.
    pub sent: Instant,
    /// How long the answer took.
    pub latency: Duration,
    /// The coverage of the answer, or the status it failed with.
    pub result: Result<Coverage, Status>,
}

impl Outcome {
    /// Whether every one of `total` shards answered.
    pub fn full(&self, total: u32) -> bool {
        self.result
            .as_ref()
            .is_ok_and(|c| c.total == total && c.answered == total && c.missing.is_empty())
    }
}

/// Clients sending a query each period until stopped.
pub struct PacedLoad {
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    stopped: Arc<AtomicBool>,
    clients: Vec<JoinHandle<()>>,
}

impl PacedLoad {
    /// Starts `clients` clients of the root at `addr`, each sending `query`
    /// once per `period`: at most `clients / period` queries a second.
    pub fn start(addr: SocketAddr, clients: usize, period: Duration, query: &Query) -> Self {
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|_| {
                tokio::spawn(client(
                    addr,
                    period,
                    query.clone(),
                    Arc::clone(&outcomes),
                    Arc::clone(&stopped),
                ))
            })
            .collect();
        Self {
            outcomes,
            stopped,
            clients,
        }
    }

    /// The outcomes of queries sent at or after `since`, in order sent.
    pub fn since(&self, since: Instant) -> Vec<Outcome> {
        let mut outcomes: Vec<Outcome> = self
            .outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|o| o.sent >= since)
            .cloned()
            .collect();
        outcomes.sort_by_key(|o| o.sent);
        outcomes
    }

    /// Stops the clients, waiting for the queries in flight, and returns
    /// every outcome in order sent.
    pub async fn stop(self) -> Vec<Outcome> {
        self.stopped.store(true, Ordering::Relaxed);
        for client in self.clients {
            let _ = client.await;
        }
        let mut outcomes =
            std::mem::take(&mut *self.outcomes.lock().unwrap_or_else(PoisonError::into_inner));
        outcomes.sort_by_key(|o| o.sent);
        outcomes
    }
}

async fn client(
    addr: SocketAddr,
    period: Duration,
    query: Query,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    stopped: Arc<AtomicBool>,
) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("a valid address")
        .connect_lazy();
    let mut root = RootClient::new(channel);
    let mut next = Instant::now();
    while !stopped.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let result = root
            .query(query.request())
            .await
            .map(|r| r.into_inner().coverage.unwrap_or_default());
        let result = match result {
            // The client's own deadline fired first: the root did not answer in time.
            Err(status)
                if status.code() == Code::Cancelled
                    && query.timeout().is_some_and(|d| sent.elapsed() >= d) =>
            {
                Err(Status::deadline_exceeded(status.message()))
            }
            other => other,
        };
        outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Outcome {
                sent,
                latency: sent.elapsed(),
                result,
            });
        // Pacing, not synchronisation: the next query leaves on schedule,
        // never sooner, so the rate stays bounded after a slow answer too.
        // After a slow answer the schedule restarts from now: no burst.
        next = (next + period).max(Instant::now());
        tokio::time::sleep_until(next).await;
    }
}
