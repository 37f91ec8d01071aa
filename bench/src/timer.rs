//! A sub-millisecond timer for async code.
//!
//! tokio's timer wheel ticks in whole milliseconds and rounds every deadline
//! up to the next tick, so `sleep(5.3 ms)` wakes after about 6 ms: fine for
//! timeouts, too coarse for a latency model whose detail is below a
//! millisecond, and too coarse for an open-loop sender whose send times must
//! be kept to within tens of microseconds. Spinning would be precise but
//! burns a core per waiter, which a 2-core machine cannot spare.
//!
//! So one thread per process keeps a heap of deadlines and waits on a
//! condition variable with the earliest as its timeout: that is a futex wait
//! on a high-resolution kernel timer, accurate to the thread's timer slack
//! (set to 1 µs here; the Linux default is 50 µs) plus a wake-up, typically
//! 10–80 µs on an idle core. Each waiter gets a oneshot that the thread
//! completes at its deadline; a dropped waiter costs nothing but its heap
//! entry until the deadline passes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// A handle to the timer thread; clone freely.
#[derive(Clone)]
pub struct PreciseTimer {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Reverse<Entry>>,
    next_seq: u64,
    closed: bool,
}

struct Entry {
    at: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl PreciseTimer {
    /// Starts the timer thread. It ends when the last handle is dropped.
    pub fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        });
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("precise-timer".into())
            .spawn(move || {
                // 1 µs of slack instead of the default 50 µs; harmless if refused.
                let _ = nix::sys::prctl::set_timerslack(1_000);
                run(&worker);
            })?;
        Ok(Self { shared })
    }

    /// Completes at `at` (at once if it has passed).
    pub async fn sleep_until(&self, at: Instant) {
        if at <= Instant::now() {
            return;
        }
        let (wake, woken) = oneshot::channel();
        {
            let mut state = self.lock();
            let seq = state.next_seq;
            state.next_seq += 1;
            let earliest = state.heap.peek().is_none_or(|Reverse(e)| at < e.at);
            state.heap.push(Reverse(Entry { at, seq, wake }));
            if earliest {
                self.shared.changed.notify_one();
            }
        }
        let _ = woken.await;
    }

    /// Completes after `duration`.
    pub async fn sleep(&self, duration: Duration) {
        if !duration.is_zero() {
            self.sleep_until(Instant::now() + duration).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for PreciseTimer {
    fn drop(&mut self) {
        // The thread holds one reference; the last handle closes it.
        if Arc::strong_count(&self.shared) == 2 {
            self.lock().closed = true;
            self.shared.changed.notify_one();
        }
    }
}

fn run(shared: &Shared) {
    let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if state.closed {
            return;
        }
        let now = Instant::now();
        while state.heap.peek().is_some_and(|Reverse(e)| e.at <= now) {
            if let Some(Reverse(entry)) = state.heap.pop() {
                let _ = entry.wake.send(());
            }
        }
        state = match state.heap.peek().map(|Reverse(e)| e.at - now) {
            Some(wait) => {
                shared
                    .changed
                    .wait_timeout(state, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
            None => shared
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_every_waiter_and_never_before_its_deadline() {
        let timer = PreciseTimer::start().unwrap();
        let start = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (label, us) in [(2, 3_000u64), (0, 1_000), (1, 2_000)] {
            let (timer, tx) = (timer.clone(), tx.clone());
            tokio::spawn(async move {
                let at = start + Duration::from_micros(us);
                timer.sleep_until(at).await;
                let _ = tx.send((label, Instant::now() >= at));
            });
        }
        drop(tx);
        let mut woken = Vec::new();
        while let Some((label, on_time)) = rx.recv().await {
            assert!(on_time, "waiter {label} woke before its deadline");
            woken.push(label);
        }
        woken.sort_unstable();
        assert_eq!(woken, vec![0, 1, 2]);
    }
}
