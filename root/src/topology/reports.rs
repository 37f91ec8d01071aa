//! What a replica's leaf says of itself beyond its answers: the load it
//! reports with every answer (calls queued and running there, from every
//! root, not only this one), and whether it answers `Leaf/AnswerStream`.
//! A report is trusted for a short while only: a replica the root stops
//! calling because it reported a queue must not stay shunned forever on
//! that one word.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use scatter_proto::v1::LoadReport;
use tokio::time::Instant;

/// How long a load report counts. Reports come with every answer, so a
/// replica in use is always fresh; one left alone is judged on the root's
/// own count again after this.
const REPORT_LIFETIME: Duration = Duration::from_millis(250);

/// A replica's latest load report, and whether it streams answers.
#[derive(Debug)]
pub struct LeafReports {
    /// When these statistics were made; report times count from it.
    base: Instant,
    /// Micros after `base` of the latest report, plus one (0: none yet).
    at_us: AtomicU64,
    /// Calls at the leaf besides the one reporting.
    others: AtomicU32,
    /// Calls waiting at the leaf.
    queued: AtomicU32,
    /// Set when the leaf answered `AnswerStream` with UNIMPLEMENTED.
    no_stream: AtomicBool,
}

impl LeafReports {
    /// No report yet; streaming assumed until the leaf says otherwise.
    pub fn new(now: Instant) -> Self {
        Self {
            base: now,
            at_us: AtomicU64::new(0),
            others: AtomicU32::new(0),
            queued: AtomicU32::new(0),
            no_stream: AtomicBool::new(false),
        }
    }

    /// Keeps the load a leaf reported `now` (with its answer, or as a call
    /// started there).
    pub fn record(&self, load: &LoadReport, now: Instant) {
        self.others
            .store(load.in_flight.saturating_sub(1), Ordering::Relaxed);
        self.queued.store(load.queued, Ordering::Relaxed);
        let at = u64::try_from(now.saturating_duration_since(self.base).as_micros())
            .unwrap_or(u64::MAX - 1);
        self.at_us.store(at + 1, Ordering::Relaxed);
    }

    /// The latest report, `(calls running besides the reporting one, calls
    /// queued)`, while it is fresh.
    pub fn fresh(&self, now: Instant) -> Option<(u32, u32)> {
        let at = self.at_us.load(Ordering::Relaxed).checked_sub(1)?;
        let age = now
            .saturating_duration_since(self.base)
            .saturating_sub(Duration::from_micros(at));
        (age <= REPORT_LIFETIME).then(|| {
            (
                self.others.load(Ordering::Relaxed),
                self.queued.load(Ordering::Relaxed),
            )
        })
    }

    /// Whether the leaf may answer `AnswerStream` (it has not refused it).
    pub fn streams(&self) -> bool {
        !self.no_stream.load(Ordering::Relaxed)
    }

    /// Notes that the leaf answered `AnswerStream` with UNIMPLEMENTED: it
    /// is called with `Answer` from now on.
    pub fn stream_refused(&self) {
        self.no_stream.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_report_counts_for_a_while_and_leaves_out_the_reporting_call() {
        let reports = LeafReports::new(Instant::now());
        assert_eq!(reports.fresh(Instant::now()), None, "no report yet");
        reports.record(
            &LoadReport {
                in_flight: 3,
                queued: 5,
            },
            Instant::now(),
        );
        assert_eq!(reports.fresh(Instant::now()), Some((2, 5)));
        tokio::time::advance(REPORT_LIFETIME).await;
        assert_eq!(reports.fresh(Instant::now()), Some((2, 5)));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(reports.fresh(Instant::now()), None, "stale");
    }

    #[test]
    fn a_leaf_that_refuses_answer_stream_is_not_asked_again() {
        let reports = LeafReports::new(Instant::now());
        assert!(reports.streams());
        reports.stream_refused();
        assert!(!reports.streams());
    }
}
