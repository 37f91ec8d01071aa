//! What the root knows of a replica besides its latencies: the answer to
//! its last health check (kept by the root's readiness checks) and the last
//! error one of its calls ended with — so `/status` can tell a dead replica
//! from a healthy one, and say why.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::task::AbortHandle;

use tokio::time::Instant;
use tonic::{Code, Status};

/// The answer to one `grpc.health.v1` check of a leaf or the merge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checked {
    /// It answered SERVING (or answered but has no health service: it is
    /// up, and that is all it can say).
    Serving,
    /// It answered, and said it takes no work (starting or draining).
    NotServing,
    /// It did not answer in time, or could not be reached: why.
    Unreachable(String),
}

impl Checked {
    /// Whether calls sent there can be answered.
    pub fn is_serving(&self) -> bool {
        matches!(self, Self::Serving)
    }

    /// One word for `/status`.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Serving => "serving",
            Self::NotServing => "not_serving",
            Self::Unreachable(_) => "unreachable",
        }
    }

    /// Why it is not serving, when it is unreachable.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Unreachable(why) => Some(why),
            Self::Serving | Self::NotServing => None,
        }
    }
}

/// The last error a call to a replica ended with.
#[derive(Clone, Debug)]
pub struct LastError {
    /// Its gRPC code.
    pub code: Code,
    /// Its message.
    pub message: String,
    /// When it came.
    pub at: Instant,
}

/// The health half of a replica's statistics.
#[derive(Debug, Default)]
pub struct ReplicaHealth {
    checked: Mutex<Option<Checked>>,
    last_error: Mutex<Option<LastError>>,
    /// Set while the replica's health watch last said NOT_SERVING.
    declined: AtomicBool,
    /// The task watching its health, ended with the replica.
    watch: Mutex<Option<AbortHandle>>,
}

impl Drop for ReplicaHealth {
    fn drop(&mut self) {
        if let Some(watch) = self.watch.get_mut().unwrap_or_else(PoisonError::into_inner) {
            watch.abort();
        }
    }
}

impl ReplicaHealth {
    /// Whether new calls may go here: false while the replica's health
    /// watch says NOT_SERVING (it drains, or is not ready); true when it
    /// says SERVING, and for a replica that is not watched.
    pub fn takes_work(&self) -> bool {
        !self.declined.load(Ordering::Relaxed)
    }

    /// Takes what the replica's health watch said.
    pub fn set_takes_work(&self, serving: bool) {
        self.declined.store(!serving, Ordering::Relaxed);
    }

    /// Keeps the task that watches this replica, to end it with the replica.
    pub(crate) fn hold_watch(&self, task: AbortHandle) {
        *self.watch.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
    }

    /// The last health check's answer; `None` before the first.
    pub fn checked(&self) -> Option<Checked> {
        self.checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps the answer of a health check.
    pub fn set_checked(&self, checked: Checked) {
        *self.checked.lock().unwrap_or_else(PoisonError::into_inner) = Some(checked);
    }

    /// Keeps the error a call ended with.
    pub fn record_error(&self, status: &Status) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(LastError {
            code: status.code(),
            message: status.message().to_owned(),
            at: Instant::now(),
        });
    }

    /// The last error a call ended with; `None` while none has failed.
    pub fn last_error(&self) -> Option<LastError> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
