//! What a leaf may tell the root while a call is still running: that it
//! will be slow. The root hears it only when it called `AnswerStream`
//! (it asked for hints); otherwise telling costs nothing and goes nowhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use scatter_proto::v1::{LeafUpdate, SlowHint, leaf_update};
use tokio::sync::mpsc::UnboundedSender;

/// A call's line back to the root, for early hints. Cheap to clone; every
/// clone speaks for the same call.
#[derive(Clone, Debug, Default)]
pub struct Hints {
    line: Option<Line>,
}

#[derive(Clone, Debug)]
struct Line {
    updates: UnboundedSender<LeafUpdate>,
    said_slow: Arc<AtomicBool>,
}

impl Hints {
    /// Hints that go nowhere: for a call made with `Answer`, and for tests
    /// that build a [`ShardRequest`](crate::ShardRequest) by hand.
    pub fn none() -> Self {
        Self::default()
    }

    /// Hints sent to `updates` as `AnswerStream` updates: what the SDK
    /// gives a call of `AnswerStream`, and what a test gives a leaf to read
    /// what it says.
    pub fn to(updates: UnboundedSender<LeafUpdate>) -> Self {
        Self {
            line: Some(Line {
                updates,
                said_slow: Arc::default(),
            }),
        }
    }

    /// Whether the root listens: it called `AnswerStream`. A leaf may skip
    /// the work of estimating its cost when nobody hears the answer.
    pub fn heard(&self) -> bool {
        self.line.is_some()
    }

    /// Tells the root now that this call will be slow — cold data, a long
    /// posting list, a deep queue — so it may send the shard to another
    /// replica at once instead of after its usual delay. `expected` is the
    /// whole call's expected time, from its arrival, when the leaf can
    /// estimate it (the root ignores a hint whose call would end before it
    /// hedged anyway); `reason` is for logs. Say it as soon as you know, and
    /// only when you know: a leaf that calls every request slow spends the
    /// root's hedge budget for nothing. Only the first hint of a call is sent.
    pub fn slow(&self, expected: Option<Duration>, reason: &str) {
        let Some(line) = &self.line else { return };
        if line.said_slow.swap(true, Ordering::Relaxed) {
            return;
        }
        let expected_ms = expected.map_or(0, |d| {
            u32::try_from(d.as_millis()).unwrap_or(u32::MAX).max(1)
        });
        // The root may have gone (the call was cancelled): nothing to tell.
        let _ = line.updates.send(LeafUpdate {
            kind: Some(leaf_update::Kind::Slow(SlowHint {
                expected_ms,
                reason: reason.to_owned(),
            })),
        });
    }

    /// Sends another update of the call (the SDK's own: started).
    pub(crate) fn send(&self, update: leaf_update::Kind) {
        if let Some(line) = &self.line {
            let _ = line.updates.send(LeafUpdate { kind: Some(update) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_slow_hint_is_sent_and_a_known_time_is_at_least_a_millisecond() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let hints = Hints::to(tx);
        assert!(hints.heard());
        let clone = hints.clone();
        hints.slow(Some(Duration::from_micros(300)), "cold");
        clone.slow(None, "again, from a clone");
        let Some(LeafUpdate {
            kind: Some(leaf_update::Kind::Slow(hint)),
        }) = rx.try_recv().ok()
        else {
            panic!("no slow hint sent");
        };
        assert_eq!((hint.expected_ms, hint.reason.as_str()), (1, "cold"));
        assert!(rx.try_recv().is_err(), "a second hint was sent");
    }

    #[test]
    fn hints_nobody_hears_go_nowhere() {
        let hints = Hints::none();
        assert!(!hints.heard());
        hints.slow(None, "unheard");
    }
}
