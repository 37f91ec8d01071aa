//! Counts over the last few seconds, for `/status` and the status page:
//! how many requests reached a shard, how many it answered, how many it
//! hedged. Cumulative counters (on `/metrics`) say what happened since
//! start; an operator watching a live tree wants what is happening now.
//!
//! The window is a ring of time slots; a slot is reused (and cleared) once
//! its time has passed out of the window, so old counts fall away without
//! a timer, and a count costs one short uncontended lock.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// How many slots make the window: finer slots make the window's edge
/// smoother, at a little more memory per counter set.
const SLOTS: usize = 10;

/// `K` counts over roughly the last `span`.
pub struct RecentCounts<const K: usize> {
    ring: Mutex<Ring<K>>,
    origin: Instant,
    slot: Duration,
}

struct Ring<const K: usize> {
    /// Each slot's counts, and the tick (slot-lengths since `origin`)
    /// they belong to.
    counts: [[u64; K]; SLOTS],
    ticks: [u64; SLOTS],
}

/// The counts of a window, and how much time they cover (less than the
/// span while the window is younger than it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Totals<const K: usize> {
    /// The sum of each count over the window.
    pub counts: [u64; K],
    /// The time the counts cover.
    pub covered: Duration,
}

impl<const K: usize> RecentCounts<K> {
    /// An empty window of `span`, starting at `now`.
    pub fn new(span: Duration, now: Instant) -> Self {
        Self {
            ring: Mutex::new(Ring {
                counts: [[0; K]; SLOTS],
                ticks: [0; SLOTS],
            }),
            origin: now,
            slot: (span / SLOTS as u32).max(Duration::from_millis(1)),
        }
    }

    /// Adds `counts` at `now`.
    pub fn add(&self, counts: [u64; K], now: Instant) {
        let tick = self.tick(now);
        let index = (tick % SLOTS as u64) as usize;
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        if ring.ticks[index] != tick {
            ring.ticks[index] = tick;
            ring.counts[index] = [0; K];
        }
        for (sum, n) in ring.counts[index].iter_mut().zip(counts) {
            *sum += n;
        }
    }

    /// The counts of the window ending at `now`.
    pub fn totals(&self, now: Instant) -> Totals<K> {
        let tick = self.tick(now);
        let mut counts = [0; K];
        {
            let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            for (slot, &at) in ring.counts.iter().zip(&ring.ticks) {
                if at <= tick && tick - at < SLOTS as u64 {
                    for (sum, n) in counts.iter_mut().zip(slot) {
                        *sum += n;
                    }
                }
            }
        }
        // The current slot is partly over; the others are whole.
        let elapsed = now.saturating_duration_since(self.origin);
        let into_slot = Duration::from_nanos((elapsed.as_nanos() % self.slot.as_nanos()) as u64);
        let covered = (self.slot * (SLOTS as u32 - 1) + into_slot).min(elapsed);
        Totals { counts, covered }
    }

    fn tick(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.origin);
        u64::try_from(elapsed.as_nanos() / self.slot.as_nanos()).unwrap_or(u64::MAX)
    }
}

impl<const K: usize> Totals<K> {
    /// Count `i` per second over the covered time; 0 before any time passed.
    pub fn per_second(&self, i: usize) -> f64 {
        let seconds = self.covered.as_secs_f64();
        if seconds > 0.0 {
            self.counts[i] as f64 / seconds
        } else {
            0.0
        }
    }

    /// Count `part` as a fraction of count `whole`; `None` when `whole` is 0.
    pub fn ratio(&self, part: usize, whole: usize) -> Option<f64> {
        (self.counts[whole] > 0).then(|| self.counts[part] as f64 / self.counts[whole] as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPAN: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn counts_add_up_within_the_window_and_fall_away_after_it() {
        let start = Instant::now();
        let counts = RecentCounts::<2>::new(SPAN, start);
        counts.add([1, 0], start);
        tokio::time::advance(Duration::from_secs(4)).await;
        counts.add([3, 1], Instant::now());
        let totals = counts.totals(Instant::now());
        assert_eq!(totals.counts, [4, 1]);
        assert_eq!(
            totals.covered,
            Duration::from_secs(4),
            "younger than the span"
        );
        assert_eq!(totals.ratio(1, 0), Some(0.25));
        assert_eq!(totals.per_second(0), 1.0);

        // Past the span, the first count has left; the second is still in.
        tokio::time::advance(Duration::from_millis(6_500)).await;
        let totals = counts.totals(Instant::now());
        assert_eq!(totals.counts, [3, 1]);
        assert_eq!(totals.covered, Duration::from_millis(9_500));

        // Long idle: nothing is left, and no ratio can be made of nothing.
        tokio::time::advance(Duration::from_secs(60)).await;
        let totals = counts.totals(Instant::now());
        assert_eq!(totals.counts, [0, 0]);
        assert_eq!(totals.ratio(1, 0), None);
        assert_eq!(totals.per_second(0), 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_reused_after_a_lap_starts_from_zero() {
        let start = Instant::now();
        let counts = RecentCounts::<1>::new(SPAN, start);
        counts.add([5], start);
        // Exactly one lap later the same slot comes round again.
        tokio::time::advance(SPAN).await;
        counts.add([2], Instant::now());
        assert_eq!(counts.totals(Instant::now()).counts, [2]);
    }

    #[test]
    fn nothing_covered_at_the_start_gives_no_rate() {
        let now = Instant::now();
        let counts = RecentCounts::<1>::new(SPAN, now);
        counts.add([3], now);
        let totals = counts.totals(now);
        assert_eq!(totals.counts, [3]);
        assert_eq!(totals.per_second(0), 0.0);
    }
}
