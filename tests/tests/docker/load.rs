//! Steady load through a root: a few clients, each sending one query every
//! few milliseconds with a deadline, recording every outcome — so a test can
//! say of every request sent while it broke something what became of it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use scatter_proto::v1::root_client::RootClient;
use scatter_proto::v1::{Coverage, Payload};
use scatter_tests::Query;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tonic::{Code, Status};

/// How often each client sends: the load is paced, not as fast as possible,
/// so the hedge budget (a share of first attempts) is what it is in service.
const PACE: Duration = Duration::from_millis(20);
/// Time beyond its deadline an answer may take to reach the client on a
/// busy two-core machine.
pub const SLACK: Duration = Duration::from_millis(250);

/// What became of one request.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// When it was sent.
    pub sent: Instant,
    /// How long the answer took.
    pub latency: Duration,
    /// The coverage of the answer, or the error.
    pub result: Result<Coverage, Status>,
}

impl Outcome {
    /// Whether every one of `total` shards answered.
    pub fn full(&self, total: u32) -> bool {
        self.result
            .as_ref()
            .is_ok_and(|c| c.total == total && c.answered == total)
    }
}

/// Clients sending queries until stopped.
pub struct Load {
    deadline: Duration,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    stopped: Arc<AtomicBool>,
    clients: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts `clients` clients of the root at `addr`, each request with
    /// `deadline`.
    pub fn start(addr: SocketAddr, clients: usize, deadline: Duration) -> Self {
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let clients = (0..clients)
            .map(|_| {
                tokio::spawn(client(
                    addr,
                    deadline,
                    Arc::clone(&outcomes),
                    Arc::clone(&stopped),
                ))
            })
            .collect();
        Self {
            deadline,
            outcomes,
            stopped,
            clients,
        }
    }

    /// The outcomes of requests sent at or after `since`.
    pub fn since(&self, since: Instant) -> Vec<Outcome> {
        self.outcomes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|o| o.sent >= since)
            .cloned()
            .collect()
    }

    /// Waits until `check` holds for the outcomes sent since `since`.
    ///
    /// # Panics
    /// When it does not within `timeout`, naming `what`.
    pub async fn until(
        &self,
        what: &str,
        since: Instant,
        timeout: Duration,
        check: impl Fn(&[Outcome]) -> bool,
    ) {
        scatter_tests::eventually(what, timeout, async || check(&self.since(since))).await;
    }

    /// Asserts every request sent since `since` was answered, within its
    /// deadline, with coverage passing `coverage_ok`.
    ///
    /// # Panics
    /// On the first request that was not, showing it.
    pub fn assert_all_answered(&self, since: Instant, coverage_ok: impl Fn(&Coverage) -> bool) {
        let outcomes = self.since(since);
        assert!(!outcomes.is_empty(), "no request was sent in this phase");
        for outcome in &outcomes {
            match &outcome.result {
                Ok(coverage) => assert!(coverage_ok(coverage), "unexpected coverage {coverage:?}"),
                Err(status) => panic!(
                    "a request sent {:?} into the phase failed after {:?}: {:?} {}",
                    outcome.sent.duration_since(since),
                    outcome.latency,
                    status.code(),
                    status.message()
                ),
            }
            assert!(
                outcome.latency <= self.deadline + SLACK,
                "an answer took {:?}, past its deadline of {:?}",
                outcome.latency,
                self.deadline
            );
        }
    }

    /// Stops the clients, waiting for requests in flight.
    pub async fn stop(self) {
        self.stopped.store(true, Ordering::Relaxed);
        for client in self.clients {
            let _ = client.await;
        }
    }
}

async fn client(
    addr: SocketAddr,
    deadline: Duration,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    stopped: Arc<AtomicBool>,
) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("a valid address")
        .connect_lazy();
    let mut root = RootClient::new(channel);
    let query = Query::new(Payload::new("text/plain", "hello world")).deadline(deadline);
    while !stopped.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let result = root
            .query(query.request())
            .await
            .map(|r| r.into_inner().coverage.unwrap_or_default());
        let result = match result {
            // The client's own deadline fired first: the root did not answer in time.
            Err(status) if status.code() == Code::Cancelled && sent.elapsed() >= deadline => {
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
        // Pacing, not synchronisation: the next request leaves on schedule.
        tokio::time::sleep_until(sent + PACE).await;
    }
}
