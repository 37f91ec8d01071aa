//! Priority classes: what share of the concurrency limit each may fill.
//! Low priority is admitted while fewer than half the limit's requests
//! run, normal while fewer than four fifths; high priority is held, on its
//! own count, to twice the limit, whatever else runs. So as load rises, low
//! priority is shed first, then normal, and a root saturated with lower
//! classes still admits high priority (the limit then shrinks, which
//! squeezes the lower classes further).

use scatter_proto::v1::Priority;

/// A request's class under overload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Shed first.
    Low,
    /// The default.
    Normal,
    /// Shed last.
    High,
}

impl Class {
    /// Every class, lowest first.
    pub const ALL: [Self; 3] = [Self::Low, Self::Normal, Self::High];

    /// The class of a request's `policy.priority` (an unknown number is
    /// taken as normal, so newer clients work with older roots).
    pub fn of(priority: i32) -> Self {
        match Priority::try_from(priority) {
            Ok(Priority::Low) => Self::Low,
            Ok(Priority::High) => Self::High,
            Ok(Priority::Normal | Priority::Unspecified) | Err(_) => Self::Normal,
        }
    }

    /// The share of the limit requests of this class may fill.
    pub fn share(self) -> f64 {
        match self {
            Self::Low => 0.5,
            Self::Normal => 0.8,
            Self::High => 2.0,
        }
    }

    /// The requests of this class that may run at once under `limit`:
    /// its share, rounded down, and at least one.
    pub fn cap(self, limit: f64) -> usize {
        ((limit * self.share()).floor() as usize).max(1)
    }

    /// Its name in messages and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_classes_fill_less_of_the_limit() {
        assert_eq!(Class::Low.cap(10.0), 5);
        assert_eq!(Class::Normal.cap(10.0), 8);
        assert_eq!(Class::High.cap(10.0), 20);
        assert_eq!(Class::Low.cap(1.0), 1, "every class may run one request");
    }

    #[test]
    fn unset_and_unknown_priorities_are_normal() {
        assert_eq!(Class::of(0), Class::Normal);
        assert_eq!(Class::of(Priority::Low as i32), Class::Low);
        assert_eq!(Class::of(Priority::High as i32), Class::High);
        assert_eq!(Class::of(42), Class::Normal);
    }
}
