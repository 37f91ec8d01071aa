//! `query-of-death`'s load: among the measured requests, [`DEADLY_REQUESTS`]
//! carry the deadly marker ([`crate::wire::deadly_request_body`]), which
//! makes every bench leaf that receives one exit; the rest are normal. Each
//! query says its fingerprint (`Policy.fingerprint`): `"deadly"` for the
//! deadly ones, one of [`TEMPLATES`] query templates (`q{id % 200}`) for the
//! others, so a root with canaries has seen a normal template after its
//! first canary.

use serde::Serialize;

/// Deadly requests mixed into a run's measured requests.
pub const DEADLY_REQUESTS: u64 = 1_000;
/// Distinct fingerprints of normal requests.
pub const TEMPLATES: u64 = 200;
/// The fingerprint every deadly request carries.
pub const DEADLY_FINGERPRINT: &str = "deadly";

/// Which of a phase's request ids are deadly: evenly spread, one every
/// `stride` ids (at the middle of each stride), at most [`DEADLY_REQUESTS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DeadlyMix {
    /// One deadly request every this many ids.
    pub stride: u64,
    /// How many in all.
    pub count: u64,
}

impl DeadlyMix {
    /// [`DEADLY_REQUESTS`] spread over `requests` ids (0..requests), or a
    /// tenth of them when fewer than ten times as many are sent, so a
    /// short run still has normal requests to measure.
    pub fn over(requests: u64) -> Self {
        let stride = (requests / DEADLY_REQUESTS).max(10);
        Self {
            stride,
            count: (requests / stride).min(DEADLY_REQUESTS),
        }
    }

    /// Whether request `id` is deadly.
    pub fn is_deadly(&self, id: u64) -> bool {
        id % self.stride == self.stride / 2 && id / self.stride < self.count
    }
}

/// The fingerprint request `id` says, deadly or not.
pub fn fingerprint(id: u64, deadly: bool) -> String {
    if deadly {
        DEADLY_FINGERPRINT.to_owned()
    } else {
        format!("q{}", id % TEMPLATES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_deadly_requests_spread_evenly_over_the_run() {
        let mix = DeadlyMix::over(20_000);
        assert_eq!(
            mix,
            DeadlyMix {
                stride: 20,
                count: 1_000
            }
        );
        let deadly: Vec<u64> = (0..20_000).filter(|&id| mix.is_deadly(id)).collect();
        assert_eq!(deadly.len(), 1_000);
        assert_eq!(&deadly[..3], &[10, 30, 50]);
        assert!(deadly.windows(2).all(|w| w[1] - w[0] == 20));
    }

    #[test]
    fn a_short_run_keeps_nine_normal_requests_in_ten() {
        let mix = DeadlyMix::over(40);
        assert_eq!((0..40).filter(|&id| mix.is_deadly(id)).count(), 4);
        assert!(!mix.is_deadly(1 << 40), "warm-up ids are never deadly");
    }

    #[test]
    fn fingerprints_are_deadly_or_one_of_two_hundred_templates() {
        assert_eq!(fingerprint(5, true), "deadly");
        assert_eq!(fingerprint(5, false), "q5");
        assert_eq!(fingerprint(205, false), "q5");
        let distinct: std::collections::HashSet<_> =
            (0..10_000).map(|id| fingerprint(id, false)).collect();
        assert_eq!(distinct.len(), 200);
    }
}
