//! Steady load through a root: a few clients, each sending one query every
//! few milliseconds with a deadline, recording every outcome — so a test can
//! say of every request sent while it broke something what became of it.

use std::net::SocketAddr;
use std::time::Duration;

use scatter_proto::v1::{Coverage, Payload};
use scatter_tests::Query;
pub use scatter_tests::paced::Outcome;
use scatter_tests::paced::PacedLoad;
use tokio::time::Instant;

/// How often each client sends: the load is paced, not as fast as possible,
/// so the hedge budget (a share of first attempts) is what it is in service.
const PACE: Duration = Duration::from_millis(20);
/// Time beyond its deadline an answer may take to reach the client on a
/// busy two-core machine.
pub const SLACK: Duration = Duration::from_millis(250);

/// Clients sending queries until stopped.
pub struct Load {
    deadline: Duration,
    paced: PacedLoad,
}

impl Load {
    /// Starts `clients` clients of the root at `addr`, each request with
    /// `deadline`.
    pub fn start(addr: SocketAddr, clients: usize, deadline: Duration) -> Self {
        let query = Query::new(Payload::new("text/plain", "hello world")).deadline(deadline);
        Self {
            deadline,
            paced: PacedLoad::start(addr, clients, PACE, &query),
        }
    }

    /// The outcomes of requests sent at or after `since`.
    pub fn since(&self, since: Instant) -> Vec<Outcome> {
        self.paced.since(since)
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
        self.paced.stop().await;
    }
}
