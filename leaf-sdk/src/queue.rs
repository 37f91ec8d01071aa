//! The leaf's work queue: with `--max-concurrency N`, N calls run the
//! leaf's method at once and the rest wait in arrival order. Waiting and
//! running calls are counted for the load report every answer carries; a
//! call cancelled while it waits leaves the queue having cost nothing.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use scatter_management::metrics::Gauge;
use scatter_proto::v1::LoadReport;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

/// Slots for the leaf's work, and the counts of calls waiting and running.
#[derive(Debug)]
pub(crate) struct WorkQueue {
    slots: Option<Arc<Semaphore>>,
    queued: AtomicU32,
    running: AtomicU32,
}

/// A call at work: holds its slot, and counts as running until dropped.
pub(crate) struct Working<'q> {
    queue: &'q WorkQueue,
    _slot: Option<OwnedSemaphorePermit>,
}

impl WorkQueue {
    /// A queue of `max_concurrency` slots; `None`: every call starts at once.
    pub(crate) fn new(max_concurrency: Option<NonZeroUsize>) -> Self {
        Self {
            slots: max_concurrency.map(|n| Arc::new(Semaphore::new(n.get()))),
            queued: AtomicU32::new(0),
            running: AtomicU32::new(0),
        }
    }

    /// Waits for a slot, in arrival order (tokio's semaphore is fair),
    /// counted in `gauge` while it waits.
    pub(crate) async fn start(&self, gauge: &Gauge) -> Result<Working<'_>, Status> {
        let slot = match &self.slots {
            None => None,
            Some(slots) => {
                self.queued.fetch_add(1, Ordering::Relaxed);
                gauge.add(1);
                let _waiting = Waiting(&self.queued, gauge);
                let permit = Arc::clone(slots)
                    .acquire_owned()
                    .await
                    .map_err(|_| Status::unavailable("the leaf is closing"))?;
                Some(permit)
            }
        };
        self.running.fetch_add(1, Ordering::Relaxed);
        Ok(Working {
            queue: self,
            _slot: slot,
        })
    }

    /// Calls waiting and running now.
    pub(crate) fn load(&self) -> LoadReport {
        LoadReport {
            in_flight: self.running.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Working<'_> {
    fn drop(&mut self) {
        self.queue.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Takes a call off the queue's counts when dropped, whether its wait
/// ended or was cancelled.
struct Waiting<'a>(&'a AtomicU32, &'a Gauge);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        self.1.add(-1);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use scatter_management::Process;

    fn gauge() -> Gauge {
        Process::new("leaf", &[])
            .metrics
            .gauge("queued", "Waiting.", &[])
    }

    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn calls_past_the_slots_wait_in_order_and_are_counted_as_queued() {
        let (queue, g) = (WorkQueue::new(NonZeroUsize::new(1)), gauge());
        let Poll::Ready(Ok(first)) = poll_once(pin!(queue.start(&g))) else {
            panic!("the first call waited");
        };
        let mut second = pin!(queue.start(&g));
        assert!(poll_once(second.as_mut()).is_pending());
        let mut third = pin!(queue.start(&g));
        assert!(poll_once(third.as_mut()).is_pending());
        assert_eq!(
            queue.load(),
            LoadReport {
                in_flight: 1,
                queued: 2
            }
        );
        assert_eq!(g.get(), 2, "the gauge counts the waiting calls");
        drop(first);
        assert!(
            poll_once(third.as_mut()).is_pending(),
            "the third overtook the second"
        );
        let Poll::Ready(Ok(_second)) = poll_once(second.as_mut()) else {
            panic!("the second call did not start when the slot came free");
        };
        assert_eq!(
            queue.load(),
            LoadReport {
                in_flight: 1,
                queued: 1
            }
        );
    }

    #[test]
    fn a_call_cancelled_while_waiting_leaves_the_queue() {
        let (queue, g) = (WorkQueue::new(NonZeroUsize::new(1)), gauge());
        let Poll::Ready(Ok(_first)) = poll_once(pin!(queue.start(&g))) else {
            panic!("the first call waited");
        };
        {
            let mut waiting = pin!(queue.start(&g));
            assert!(poll_once(waiting.as_mut()).is_pending());
            assert_eq!(queue.load().queued, 1);
        }
        assert_eq!(
            queue.load(),
            LoadReport {
                in_flight: 1,
                queued: 0
            }
        );
        assert_eq!(g.get(), 0);
    }

    #[test]
    fn without_slots_every_call_starts_at_once() {
        let (queue, g) = (WorkQueue::new(None), gauge());
        let calls: Vec<_> = (0..3)
            .map(|_| match poll_once(pin!(queue.start(&g))) {
                Poll::Ready(Ok(working)) => working,
                _ => panic!("a call waited without a concurrency limit"),
            })
            .collect();
        assert_eq!(
            queue.load(),
            LoadReport {
                in_flight: 3,
                queued: 0
            }
        );
        drop(calls);
        assert_eq!(queue.load().in_flight, 0);
    }
}
