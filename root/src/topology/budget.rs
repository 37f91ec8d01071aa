//! The hedge budget: extra attempts (hedges and retries) may be at most a
//! share of first attempts, as a token bucket in the manner of gRPC's retry
//! throttling (A6) and Finagle's backup-request budget. Each first attempt
//! deposits `ratio` of a token, each extra attempt withdraws one, and the
//! bucket holds at most `burst` tokens. A fifth of the bucket is kept for
//! fast retries: a hedge is an optimisation, a retry may be the only way a
//! shard gets answered, so hedges alone cannot spend the budget that
//! retries need. When a shard is slow because the
//! whole cluster is overloaded, the bucket empties and hedging stops adding
//! load. Each shard also has a bucket of its own (see `ShardStats`), so
//! one hot shard cannot spend what every other shard's hedges need.

use std::sync::atomic::{AtomicI64, Ordering};

/// Tokens are counted in thousandths.
const SCALE: f64 = 1000.0;

/// A shared token bucket for extra attempts.
pub struct HedgeBudget {
    milli_tokens: AtomicI64,
    deposit: i64,
    cap: i64,
    retry_reserve: i64,
}

impl HedgeBudget {
    /// A full bucket allowing `ratio` extra attempts per first attempt,
    /// with up to `burst` extra attempts saved up.
    pub fn new(ratio: f64, burst: f64) -> Self {
        let cap = (burst.max(1.0) * SCALE) as i64;
        Self {
            milli_tokens: AtomicI64::new(cap),
            deposit: (ratio.max(0.0) * SCALE) as i64,
            cap,
            retry_reserve: cap / 5,
        }
    }

    /// Credits one first attempt.
    pub fn deposit(&self) {
        let _ = self
            .milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(self.deposit).min(self.cap))
            });
    }

    /// Takes one token for a fast retry; `false` when the budget is spent.
    pub fn try_withdraw_retry(&self) -> bool {
        self.withdraw_above(0)
    }

    /// Takes one token, the reserve included: for a bucket that pays for
    /// one kind of attempt only (a shard's own, for its hedges).
    pub fn try_withdraw(&self) -> bool {
        self.withdraw_above(0)
    }

    /// Takes one token for a hedge, leaving the retry reserve untouched;
    /// `false` when only the reserve is left.
    pub fn try_withdraw_hedge(&self) -> bool {
        self.withdraw_above(self.retry_reserve)
    }

    /// Gives back a token taken for an attempt that was not sent after all
    /// (another budget refused it).
    pub fn refund(&self) {
        let _ = self
            .milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(SCALE as i64).min(self.cap))
            });
    }

    /// Keeps `factor` (in [0, 1]) of the saved tokens: when the admission
    /// limit shrinks, the tree is overloaded and the extra attempts saved
    /// for quieter times shrink with it.
    pub fn shrink(&self, factor: f64) {
        let factor = factor.clamp(0.0, 1.0);
        let _ = self
            .milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some((t as f64 * factor) as i64)
            });
    }

    fn withdraw_above(&self, floor: i64) -> bool {
        let one = SCALE as i64;
        self.milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                (t - one >= floor).then_some(t - one)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_attempts_are_a_share_of_first_attempts() {
        let budget = HedgeBudget::new(0.05, 1.0);
        assert!(budget.try_withdraw_retry(), "starts with its burst");
        assert!(!budget.try_withdraw_retry(), "spent");
        for _ in 0..19 {
            budget.deposit();
        }
        assert!(
            !budget.try_withdraw_retry(),
            "19 first attempts earn less than one token"
        );
        budget.deposit();
        assert!(budget.try_withdraw_retry(), "20 first attempts earn one");
        for _ in 0..1000 {
            budget.deposit();
        }
        assert!(budget.try_withdraw_retry());
        assert!(
            !budget.try_withdraw_retry(),
            "the bucket holds at most its burst"
        );
    }

    #[test]
    fn a_refund_gives_back_a_token_within_the_cap() {
        let budget = HedgeBudget::new(0.0, 1.0);
        assert!(budget.try_withdraw_retry());
        budget.refund();
        budget.refund();
        assert!(budget.try_withdraw_retry(), "the token came back");
        assert!(!budget.try_withdraw_retry(), "but no more than the cap");
    }

    #[test]
    fn shrinking_keeps_a_share_of_the_saved_tokens() {
        let budget = HedgeBudget::new(0.0, 10.0);
        budget.shrink(0.5);
        let spent = std::iter::repeat_with(|| budget.try_withdraw_retry())
            .take_while(|sent| *sent)
            .count();
        assert_eq!(spent, 5);
    }

    #[test]
    fn hedges_leave_a_fifth_of_the_bucket_to_retries() {
        let budget = HedgeBudget::new(0.0, 10.0);
        let hedges = std::iter::repeat_with(|| budget.try_withdraw_hedge())
            .take_while(|sent| *sent)
            .count();
        assert_eq!(hedges, 8);
        assert!(budget.try_withdraw_retry());
        assert!(budget.try_withdraw_retry());
        assert!(!budget.try_withdraw_retry());
    }
}
