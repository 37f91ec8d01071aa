//! Shedding at a leaf or merge: a per-process cap on calls in flight.
//!
//! Past the cap a call is refused at once with `RESOURCE_EXHAUSTED`, before
//! any work starts, so an overloaded replica answers in microseconds and the
//! caller can go to another replica while its deadline still has room. The
//! cap never queues and never blocks: a queue would only turn overload into
//! latency that the caller's deadline pays for.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tonic::Status;
use tonic::metadata::MetadataValue;

/// How long a refused caller is asked to wait before it retries this same
/// process (`grpc-retry-pushback-ms`). A slot frees as soon as any running
/// call ends, so a few milliseconds are enough for the cap not to refuse an
/// immediate retry again, and stay far inside a typical deadline. A caller
/// with another replica should try that one instead, at once.
pub const RETRY_PUSHBACK: Duration = Duration::from_millis(5);

/// The gRPC metadata key for [`RETRY_PUSHBACK`], as gRPC retry policies
/// read it.
pub const RETRY_PUSHBACK_KEY: &str = "grpc-retry-pushback-ms";

/// A cap on the calls one process runs at once. Cheap to clone; clones share
/// the count.
#[derive(Clone, Debug)]
pub struct InFlightCap {
    role: &'static str,
    limit: Option<NonZeroUsize>,
    running: Arc<AtomicUsize>,
}

impl InFlightCap {
    /// A cap of `limit` calls for a process of `role` ("leaf", "merge"),
    /// which the refusal names; `None` admits every call.
    pub fn new(role: &'static str, limit: Option<NonZeroUsize>) -> Self {
        Self {
            role,
            limit,
            running: Arc::default(),
        }
    }

    /// Admits one call, or refuses it at once with `RESOURCE_EXHAUSTED` and
    /// [`RETRY_PUSHBACK`] when `limit` calls are already running. The call
    /// counts until the permit is dropped: when it ends, fails, or is
    /// cancelled.
    pub fn try_enter(&self) -> Result<InFlightPermit, Status> {
        let admitted = match self.limit {
            None => Ok(self.running.fetch_add(1, Ordering::AcqRel)),
            Some(limit) => {
                self.running
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |running| {
                        (running < limit.get()).then_some(running + 1)
                    })
            }
        };
        match admitted {
            Ok(_) => Ok(InFlightPermit {
                running: Arc::clone(&self.running),
            }),
            Err(running) => Err(self.refusal(running)),
        }
    }

    /// The calls admitted and not yet finished.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    fn refusal(&self, running: usize) -> Status {
        let limit = self.limit.map_or(0, NonZeroUsize::get);
        let calls = if running == 1 { "call" } else { "calls" };
        let mut status = Status::resource_exhausted(format!(
            "{} at its in-flight cap: {running} {calls} running (--max-in-flight {limit}); \
             retry on another replica, or raise --max-in-flight if this process has room",
            self.role
        ));
        let pushback = u64::try_from(RETRY_PUSHBACK.as_millis()).unwrap_or(u64::MAX);
        status
            .metadata_mut()
            .insert(RETRY_PUSHBACK_KEY, MetadataValue::from(pushback));
        status
    }
}

/// One admitted call; dropping it gives the slot back.
#[derive(Debug)]
#[must_use = "the call counts against the cap only while the permit lives"]
pub struct InFlightPermit {
    running: Arc<AtomicUsize>,
}

impl Drop for InFlightPermit {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn cap(limit: usize) -> InFlightCap {
        InFlightCap::new("leaf", NonZeroUsize::new(limit))
    }

    #[test]
    fn admits_up_to_the_cap_and_refuses_the_next_call_with_pushback() {
        let cap = cap(2);
        let _first = cap.try_enter().expect("first call admitted");
        let _second = cap.try_enter().expect("second call admitted");
        let refused = cap.try_enter().expect_err("third call refused");
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(
            refused
                .message()
                .starts_with("leaf at its in-flight cap: 2 calls running (--max-in-flight 2)"),
            "{refused:?}"
        );
        assert!(
            refused.message().contains("retry on another replica"),
            "{refused:?}"
        );
        let pushback = refused.metadata().get(RETRY_PUSHBACK_KEY);
        assert_eq!(
            pushback.and_then(|v| v.to_str().ok()),
            Some("5"),
            "{refused:?}"
        );
        assert_eq!(cap.running(), 2, "a refusal takes no slot");
    }

    #[test]
    fn a_dropped_permit_gives_its_slot_back() {
        let cap = cap(1);
        let permit = cap.try_enter().expect("admitted");
        assert!(cap.try_enter().is_err(), "at the cap");
        drop(permit);
        assert_eq!(cap.running(), 0);
        let _again = cap.try_enter().expect("admitted once the first call ended");
    }

    #[test]
    fn clones_share_one_count() {
        let cap = cap(1);
        let clone = cap.clone();
        let _permit = clone.try_enter().expect("admitted");
        assert!(cap.try_enter().is_err(), "the clone's call counts");
    }

    #[test]
    fn without_a_limit_every_call_is_admitted_and_still_counted() {
        let cap = InFlightCap::new("merge", None);
        let permits: Vec<_> = (0..1000)
            .map(|_| cap.try_enter().expect("no cap"))
            .collect();
        assert_eq!(cap.running(), 1000);
        drop(permits);
        assert_eq!(cap.running(), 0);
    }
}
