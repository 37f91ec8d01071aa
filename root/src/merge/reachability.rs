//! Whether requests reach a merge process, as their calls find it: the
//! first call that finds the merge down logs a warning, the first that
//! reaches it again logs that it is back — once per change, not once per
//! request, so an outage is two lines however long it lasts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A merge process's reachability.
#[derive(Debug)]
pub struct Reachability {
    addr: Arc<str>,
    down: AtomicBool,
}

impl Reachability {
    /// The merge at `addr`, taken as reachable until a call finds otherwise.
    pub fn new(addr: Arc<str>) -> Self {
        Self {
            addr,
            down: AtomicBool::new(false),
        }
    }

    /// A call reached the merge. Returns `true` when it had been down.
    pub fn reached(&self) -> bool {
        // Read first: the common case (up, and still up) writes nothing
        // to the line every request shares.
        let was_down =
            self.down.load(Ordering::Relaxed) && self.down.swap(false, Ordering::Relaxed);
        if was_down {
            tracing::info!(merge = %self.addr, "merge reachable again");
        }
        was_down
    }

    /// A call found the merge down (`why`, as the transport said). Returns
    /// `true` when it had been reachable.
    pub fn unreachable(&self, why: &str) -> bool {
        let was_up = !self.down.swap(true, Ordering::Relaxed);
        if was_up {
            tracing::warn!(merge = %self.addr, error = why, "merge unreachable");
        }
        was_up
    }

    /// Whether the last call found the merge down.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_once_when_it_starts_and_once_when_it_ends() {
        let merge = Reachability::new("http://m:1".into());
        assert!(!merge.reached(), "a merge never down is not back");
        assert!(merge.unreachable("connection refused"));
        assert!(!merge.unreachable("connection refused"), "said once");
        assert!(merge.is_down());
        assert!(merge.reached());
        assert!(!merge.reached(), "said once");
        assert!(!merge.is_down());
    }
}
