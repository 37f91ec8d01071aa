//! Whether a root with this merge and these shards could answer a query:
//! the pure rule behind `/readyz`, apart from the checks that feed it.

use crate::topology::Checked;

/// `Ok` when the root can answer; otherwise why not, in words for logs and
/// `/status`. `merge` is the remote merge's address and last check (`None`
/// for a merge in the root, always there); `live` says, per shard, whether
/// one of its replicas is serving; at least `min_coverage` of the shards,
/// and never fewer than one, must be.
pub fn judge(
    merge: Option<(&str, &Checked)>,
    live: &[bool],
    min_coverage: f64,
) -> Result<(), String> {
    if let Some((addr, checked)) = merge {
        match checked {
            Checked::Serving => {}
            Checked::NotServing => return Err(format!("the merge at {addr} is not serving")),
            Checked::Unreachable(why) => {
                return Err(format!("the merge at {addr} is unreachable ({why})"));
            }
        }
    }
    let total = live.len();
    let serving = live.iter().filter(|l| **l).count();
    let needed = needed(total, min_coverage);
    if serving >= needed {
        return Ok(());
    }
    let down: Vec<String> = live
        .iter()
        .enumerate()
        .filter(|(_, l)| !**l)
        .map(|(shard, _)| shard.to_string())
        .collect();
    Err(format!(
        "{serving} of {total} shards have a serving replica, {needed} needed \
         (readiness.min_coverage {min_coverage}); none serving for shard {}",
        down.join(", ")
    ))
}

/// Shards that must be live out of `total`: the fraction rounded up, at
/// least one.
fn needed(total: usize, min_coverage: f64) -> usize {
    // In [0, total] for a fraction in [0, 1]: the cast does not truncate.
    let fraction = (min_coverage * total as f64 - 1e-9).ceil().max(0.0) as usize;
    fraction.clamp(1, total.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_with_one_live_shard_by_default_and_never_with_none() {
        assert!(judge(None, &[false, true, false], 0.0).is_ok());
        let why = judge(None, &[false, false], 0.0).unwrap_err();
        assert!(
            why.contains("0 of 2") && why.contains("shard 0, 1"),
            "{why}"
        );
        assert!(judge(None, &[], 0.0).is_err(), "no shard at all");
    }

    #[test]
    fn min_coverage_counts_shards_rounding_up() {
        let live = [true, true, true, false];
        assert!(judge(None, &live, 0.75).is_ok());
        let why = judge(None, &live, 0.8).unwrap_err();
        assert!(why.contains("3 of 4") && why.contains("4 needed"), "{why}");
        assert!(judge(None, &live, 1.0).is_err());
        assert!(judge(None, &[true; 4], 1.0).is_ok());
    }

    #[test]
    fn a_remote_merge_must_be_serving() {
        let live = [true];
        assert!(judge(Some(("http://m:1", &Checked::Serving)), &live, 0.0).is_ok());
        let down = Checked::Unreachable("Unavailable: refused".into());
        let why = judge(Some(("http://m:1", &down)), &live, 0.0).unwrap_err();
        assert!(
            why.contains("http://m:1") && why.contains("refused"),
            "{why}"
        );
        let why = judge(Some(("http://m:1", &Checked::NotServing)), &live, 0.0).unwrap_err();
        assert!(why.contains("not serving"), "{why}");
    }
}
