//! The mixed-priority load of `overload`: which requests carry which
//! `Policy.priority`, fixed by the request id so every mode meets the same
//! classes. Scatter's root sheds low before normal before high; the
//! hand-written fan-outs ignore the field (they are reported anyway).

use scatter_proto::v1::Priority;
use serde::Serialize;

/// Shares of high- and normal-priority requests (percent); the rest are low.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PriorityMix {
    /// Percent of requests sent as `PRIORITY_HIGH`.
    pub high_pct: u8,
    /// Percent sent as `PRIORITY_NORMAL`; the remainder is `PRIORITY_LOW`.
    pub normal_pct: u8,
}

impl PriorityMix {
    /// 20 % high, 40 % normal, 40 % low: a small protected class beside
    /// as much normal as sheddable work.
    pub const OVERLOAD: Self = Self {
        high_pct: 20,
        normal_pct: 40,
    };

    /// The class of request `request`: by `request mod 100`, so each
    /// hundred consecutive ids holds exactly the shares (ids are sent in
    /// order, so every stretch of the run does too).
    pub fn of(self, request: u64) -> Priority {
        let slot = request % 100;
        if slot < u64::from(self.high_pct) {
            Priority::High
        } else if slot < u64::from(self.high_pct) + u64::from(self.normal_pct) {
            Priority::Normal
        } else {
            Priority::Low
        }
    }
}

/// The short name of a class in reports.
pub fn name(priority: Priority) -> &'static str {
    match priority {
        Priority::Unspecified => "unspecified",
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hundred_ids_hold_exactly_the_shares() {
        let mix = PriorityMix::OVERLOAD;
        for start in [0, 1_000, 1 << 40] {
            let count = |p: Priority| (start..start + 100).filter(|&id| mix.of(id) == p).count();
            assert_eq!(count(Priority::High), 20);
            assert_eq!(count(Priority::Normal), 40);
            assert_eq!(count(Priority::Low), 40);
        }
    }

    #[test]
    fn a_mix_without_high_or_normal_sends_everything_low() {
        let mix = PriorityMix {
            high_pct: 0,
            normal_pct: 0,
        };
        assert!((0..300).all(|id| mix.of(id) == Priority::Low));
    }
}
