//! Admission: at most `max_concurrent_requests` requests run at once; the
//! next one is refused at once with RESOURCE_EXHAUSTED instead of waiting
//! in a queue that grows without bound.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::QueryError;

/// Permits for requests in progress.
#[derive(Clone)]
pub struct Admission {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl Admission {
    /// Admits up to `limit` concurrent requests.
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// A permit held for the life of one request, or `Overloaded`.
    pub fn admit(&self) -> Result<OwnedSemaphorePermit, QueryError> {
        Arc::clone(&self.permits)
            .try_acquire_owned()
            .map_err(|_| QueryError::Overloaded { limit: self.limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheds_beyond_the_limit_and_recovers_when_a_request_ends() {
        let admission = Admission::new(1);
        let held = admission.admit().unwrap();
        let refused = admission.admit().unwrap_err();
        assert!(matches!(refused, QueryError::Overloaded { limit: 1 }));
        drop(held);
        assert!(admission.admit().is_ok());
    }
}
