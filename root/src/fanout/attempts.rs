//! The attempts of one shard still out: at most a few (the first call, a
//! hedge, a retry), so a plain list polled in order is cheaper than a
//! `FuturesUnordered` per shard. Dropping the list cancels them all.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

/// A shard's outstanding attempts.
pub struct Attempts<F> {
    out: Vec<Pin<Box<F>>>,
}

impl<F: Future> Attempts<F> {
    /// Room for `capacity` attempts without reallocating.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            out: Vec::with_capacity(capacity),
        }
    }

    /// Sends one more attempt.
    pub fn push(&mut self, attempt: F) {
        self.out.push(Box::pin(attempt));
    }

    /// Whether none is out.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// The next attempt to end, or `None` at once when none is out.
    pub async fn next(&mut self) -> Option<F::Output> {
        poll_fn(|cx| {
            if self.out.is_empty() {
                return Poll::Ready(None);
            }
            for i in 0..self.out.len() {
                if let Poll::Ready(output) = self.out[i].as_mut().poll(cx) {
                    drop(self.out.swap_remove(i));
                    return Poll::Ready(Some(output));
                }
            }
            Poll::Pending
        })
        .await
    }
}

impl<F: Future> Extend<F> for Attempts<F> {
    fn extend<I: IntoIterator<Item = F>>(&mut self, attempts: I) {
        for attempt in attempts {
            self.push(attempt);
        }
    }
}
