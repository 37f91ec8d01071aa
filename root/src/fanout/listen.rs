//! What a leaf says about a call before it answers, passed from the leaf
//! call to the shard's future: the call started work at the leaf (for tied
//! calls), or the leaf expects it to be slow (a hint to hedge now). The
//! shard's future makes one channel for all its attempts, only when the
//! request listens (hints or ties on), and gives each attempt a
//! [`Listener`] that names it.

use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// What a leaf said about one of a shard's attempts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Heard {
    /// The attempt's number within the shard (0 first, then 1, ...).
    pub attempt: u32,
    /// What it said.
    pub news: News,
}

/// What a leaf may say before it answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum News {
    /// Work on the call began at the leaf.
    Started,
    /// The leaf expects the call to be slow: to take `expected` in all,
    /// from when it arrived, when it could tell.
    Slow {
        /// The whole call's expected time, if the leaf gave one.
        expected: Option<Duration>,
    },
}

/// One attempt's line to its shard's future.
#[derive(Clone, Debug)]
pub struct Listener {
    heard: UnboundedSender<Heard>,
    attempt: u32,
    report_start: bool,
}

impl Listener {
    /// A listener for `attempt`, and whether its leaf should say when it
    /// starts (the call is tied).
    pub fn new(heard: UnboundedSender<Heard>, attempt: u32, report_start: bool) -> Self {
        Self {
            heard,
            attempt,
            report_start,
        }
    }

    /// Whether the leaf is asked to say when the call starts.
    pub fn report_start(&self) -> bool {
        self.report_start
    }

    /// Passes on what the leaf said; nothing when the shard has ended.
    pub fn hear(&self, news: News) {
        let _ = self.heard.send(Heard {
            attempt: self.attempt,
            news,
        });
    }
}

/// A shard's channel for what its attempts' leaves say.
pub fn channel() -> (UnboundedSender<Heard>, UnboundedReceiver<Heard>) {
    unbounded_channel()
}
