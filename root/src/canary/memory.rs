//! What the root remembers of fingerprints: those seen (their canary
//! answered), those quarantined (their canary killed its leaf), each for a
//! while and each bounded in size, and the canaries out now, so that a
//! burst of one new payload sends one canary while the rest wait for it.
//!
//! One mutex, held for a map lookup or insert and never across an await.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Where a canary out now stands, as requests waiting for it see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No answer yet.
    Running,
    /// The canary took longer than the timeout: its request fanned out,
    /// and so may the waiters.
    Slow,
    /// The canary answered: the fingerprint is seen.
    Passed,
    /// The canary killed its leaf: the fingerprint is quarantined.
    Killed,
}

/// A quarantined fingerprint: what its canary did, and until when.
#[derive(Clone, Debug)]
pub struct Quarantine {
    /// How the fingerprint reads in messages.
    pub fingerprint: String,
    /// The shard the canary went to.
    pub shard: u32,
    /// The replica whose leaf died.
    pub replica: String,
    /// What the root saw of the death.
    pub cause: String,
    /// When the canary died.
    pub since: Instant,
    /// When identical payloads are accepted again.
    pub until: Instant,
}

/// What a request finds for its fingerprint.
pub enum Look {
    /// Refuse it: the fingerprint is quarantined.
    Refused(Quarantine),
    /// Fan it out at once.
    FanOut,
    /// Another request's canary of the fingerprint is out: wait for it.
    Wait(watch::Receiver<Phase>),
    /// Send the canary: this request holds the fingerprint's canary `id`.
    Canary(u64),
}

/// The fingerprints the root remembers.
pub struct Memory {
    state: Mutex<State>,
    /// Quarantined entries, expired or not: zero lets a request the canary
    /// policy does not cover skip the lock and the payload's hash.
    quarantined: AtomicUsize,
}

struct State {
    seen: Aged<Instant>,
    quarantined: Aged<Quarantine>,
    /// The canaries out now, by key: their id and their waiters' channel.
    pending: HashMap<u64, (u64, watch::Sender<Phase>)>,
    next_id: u64,
}

impl Memory {
    /// A memory of at most `max` seen and `max` quarantined fingerprints.
    pub fn new(max: usize) -> Self {
        Self {
            state: Mutex::new(State {
                seen: Aged::new(max),
                quarantined: Aged::new(max),
                pending: HashMap::new(),
                next_id: 0,
            }),
            quarantined: AtomicUsize::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether no fingerprint is quarantined (expired ones may still count).
    pub fn nothing_quarantined(&self) -> bool {
        self.quarantined.load(Ordering::Relaxed) == 0
    }

    /// What a request with fingerprint `key` does now: refused when
    /// quarantined; else, unless it `wants` a canary, fanned out; else it
    /// waits for a canary already out, or fans out when seen (unless it
    /// wants a canary `always`), or sends the canary itself.
    pub fn look(&self, key: u64, wants: bool, always: bool, now: Instant) -> Look {
        let mut state = self.state();
        if let Some(quarantine) = state.quarantined.get(key) {
            if quarantine.until > now {
                return Look::Refused(quarantine.clone());
            }
            state.quarantined.remove(key);
            self.quarantined
                .store(state.quarantined.len(), Ordering::Relaxed);
        }
        if !wants {
            return Look::FanOut;
        }
        if !always && state.seen.get(key).is_some_and(|until| *until > now) {
            return Look::FanOut;
        }
        if let Some((_, phase)) = state.pending.get(&key) {
            return Look::Wait(phase.subscribe());
        }
        state.next_id += 1;
        let id = state.next_id;
        state
            .pending
            .insert(key, (id, watch::channel(Phase::Running).0));
        Look::Canary(id)
    }

    /// Tells the requests waiting for canary `id` of `key` where it stands.
    pub fn publish(&self, key: u64, id: u64, phase: Phase) {
        if let Some((_, sender)) = self.state().pending.get(&key).filter(|(i, _)| *i == id) {
            sender.send_replace(phase);
        }
    }

    /// Ends canary `id` of `key`: its waiters learn `phase` (after the
    /// memory holds what it means), and the next request decides afresh.
    pub fn end(&self, key: u64, id: u64, phase: Phase) {
        let mut state = self.state();
        if state.pending.get(&key).is_some_and(|(i, _)| *i == id)
            && let Some((_, sender)) = state.pending.remove(&key)
        {
            sender.send_replace(phase);
        }
    }

    /// Remembers `key` as seen for `period` from `now`.
    pub fn seen(&self, key: u64, now: Instant, period: Duration) {
        self.state().seen.insert(key, now + period);
    }

    /// Quarantines `key` as `quarantine` says.
    pub fn quarantine(&self, key: u64, quarantine: Quarantine) {
        let mut state = self.state();
        state.seen.remove(key);
        state.quarantined.insert(key, quarantine);
        self.quarantined
            .store(state.quarantined.len(), Ordering::Relaxed);
    }

    /// Fingerprints quarantined at `now`.
    pub fn quarantined(&self, now: Instant) -> usize {
        let state = self.state();
        state.quarantined.values().filter(|q| q.until > now).count()
    }

    /// Fingerprints remembered as seen (expired ones until they are
    /// looked up or pushed out).
    #[cfg(test)]
    pub fn seen_len(&self) -> usize {
        self.state().seen.len()
    }
}

/// A map of at most `max` entries that forgets the oldest insertion first.
/// `order` may hold stale keys (removed or inserted again since); they are
/// skipped when met and swept when they outnumber the live ones.
struct Aged<V> {
    entries: HashMap<u64, (u64, V)>,
    order: VecDeque<(u64, u64)>,
    max: usize,
    next_stamp: u64,
}

impl<V> Aged<V> {
    fn new(max: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            max,
            next_stamp: 0,
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn get(&self, key: u64) -> Option<&V> {
        self.entries.get(&key).map(|(_, v)| v)
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.values().map(|(_, v)| v)
    }

    fn remove(&mut self, key: u64) {
        self.entries.remove(&key);
    }

    fn insert(&mut self, key: u64, value: V) {
        self.next_stamp += 1;
        let stamp = self.next_stamp;
        self.entries.insert(key, (stamp, value));
        self.order.push_back((key, stamp));
        while self.entries.len() > self.max {
            let Some((old, at)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&old).is_some_and(|(s, _)| *s == at) {
                self.entries.remove(&old);
            }
        }
        if self.order.len() > 2 * self.max + 16 {
            let entries = &self.entries;
            self.order
                .retain(|(k, s)| entries.get(k).is_some_and(|(live, _)| live == s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_insertion_is_forgotten_first_and_a_refresh_makes_it_young() {
        let mut aged = Aged::new(2);
        aged.insert(1, "a");
        aged.insert(2, "b");
        aged.insert(1, "a again");
        aged.insert(3, "c");
        assert_eq!(aged.get(2), None, "2 was the oldest");
        assert_eq!((aged.get(1), aged.get(3)), (Some(&"a again"), Some(&"c")));
        for key in 10..1000 {
            aged.insert(key, "flood");
        }
        assert_eq!(aged.len(), 2);
        assert!(aged.order.len() <= 2 * 2 + 16, "{}", aged.order.len());
    }
}
