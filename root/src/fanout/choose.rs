//! Choosing a replica for each attempt: adaptive, in the manner of C3 and
//! power-of-two-choices. An attempt goes to the better of two random
//! candidates by the replica's score (latency EWMA weighed by the calls in
//! flight on it), never to a replica this request already tried for the
//! shard while another is available. Replicas on probation are left out,
//! but for an occasional probe; replicas whose health says NOT_SERVING
//! (draining, not ready) are left out altogether.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::time::Instant;

use crate::topology::Replica;

/// Picks the replica index for the next attempt of a shard, or `None` when
/// every replica was already tried. `tried` lists replicas this request
/// already called for the shard. A replica on probation is chosen only as
/// its due probe, or when nothing else is left; one that does not take work
/// (health NOT_SERVING) never is.
pub fn choose(replicas: &[Arc<Replica>], tried: &[usize], now: Instant) -> Option<usize> {
    // One replica: nothing to choose, and the last replica of a shard is
    // never on probation.
    if replicas.len() == 1 {
        return tried.is_empty().then_some(0);
    }
    let untried = || {
        (0..replicas.len()).filter(|i| !tried.contains(i) && replicas[*i].stats.health.takes_work())
    };
    let mut active = [usize::MAX; 2];
    let mut seen = 0usize;
    for i in untried() {
        let mut probation = replicas[i].stats.probation();
        if probation.on_probation() {
            if probation.take_probe(now) {
                return Some(i);
            }
            continue;
        }
        drop(probation);
        // Reservoir-sample two active candidates in one pass.
        if seen < 2 {
            active[seen] = i;
        } else {
            let j = (random() % (seen as u64 + 1)) as usize;
            if j < 2 {
                active[j] = i;
            }
        }
        seen += 1;
    }
    match seen {
        0 => untried().min_by(|a, b| {
            replicas[*a]
                .stats
                .score_at(now)
                .total_cmp(&replicas[*b].stats.score_at(now))
        }),
        1 => Some(active[0]),
        _ => {
            let (a, b) = (active[0], active[1]);
            let better = if replicas[a].stats.score_at(now) <= replicas[b].stats.score_at(now) {
                a
            } else {
                b
            };
            Some(better)
        }
    }
}

/// A cheap, thread-safe pseudo-random number (splitmix64 over a counter):
/// enough to break ties between replicas, not for anything secret.
fn random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let mut z = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
