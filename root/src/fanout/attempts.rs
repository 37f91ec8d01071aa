//! The attempts of one shard still out: at most a few (the first call, a
//! tied copy, a hedge, a retry), so a plain list polled in order is cheaper
//! than a `FuturesUnordered` per shard. Each is kept under its attempt
//! number, so one can be cancelled alone. Dropping the list cancels them all.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

/// A shard's outstanding attempts, by attempt number.
pub struct Attempts<F> {
    out: Vec<(u32, Pin<Box<F>>)>,
}

impl<F: Future> Attempts<F> {
    /// Room for `capacity` attempts without reallocating.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
        }
    }

    /// Sends one more attempt, numbered `attempt`.
    pub fn push(&mut self, attempt: u32, future: F) {
        self.out.push((attempt, Box::pin(future)));
    }

    /// Whether none is out.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Whether attempt `attempt` is still out.
    pub fn contains(&self, attempt: u32) -> bool {
        self.out.iter().any(|(n, _)| *n == attempt)
    }

    /// Cancels attempt `attempt` (drops it); `false` when it was not out.
    pub fn cancel(&mut self, attempt: u32) -> bool {
        let Some(i) = self.out.iter().position(|(n, _)| *n == attempt) else {
            return false;
        };
        drop(self.out.swap_remove(i));
        true
    }

    /// The next attempt to end, or `None` at once when none is out.
    pub async fn next(&mut self) -> Option<F::Output> {
        poll_fn(|cx| {
            if self.out.is_empty() {
                return Poll::Ready(None);
            }
            for i in 0..self.out.len() {
                if let Poll::Ready(output) = self.out[i].1.as_mut().poll(cx) {
                    drop(self.out.swap_remove(i));
                    return Poll::Ready(Some(output));
                }
            }
            Poll::Pending
        })
        .await
    }
}

impl<F: Future> Extend<(u32, F)> for Attempts<F> {
    fn extend<I: IntoIterator<Item = (u32, F)>>(&mut self, attempts: I) {
        for (attempt, future) in attempts {
            self.push(attempt, future);
        }
    }
}
