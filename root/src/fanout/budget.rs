//! The hedge budget: extra attempts (hedges and retries) may be at most a
//! share of first attempts, as a token bucket in the manner of gRPC's retry
//! throttling (A6) and Finagle's backup-request budget. Each first attempt
//! deposits `ratio` of a token, each extra attempt withdraws one, and the
//! bucket holds at most `burst` tokens. When a shard is slow because the
//! whole cluster is overloaded, the bucket empties and hedging stops adding
//! load.

use std::sync::atomic::{AtomicI64, Ordering};

/// Tokens are counted in thousandths.
const SCALE: f64 = 1000.0;

/// A shared token bucket for extra attempts.
pub struct HedgeBudget {
    milli_tokens: AtomicI64,
    deposit: i64,
    cap: i64,
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
        }
    }

    /// Credits one first attempt.
    pub fn deposit(&self) {
        let _ = self
            .milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some((t + self.deposit).min(self.cap))
            });
    }

    /// Takes one token for an extra attempt; `false` when the budget is spent.
    pub fn try_withdraw(&self) -> bool {
        self.milli_tokens
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                (t >= SCALE as i64).then_some(t - SCALE as i64)
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
        assert!(budget.try_withdraw(), "starts with its burst");
        assert!(!budget.try_withdraw(), "spent");
        for _ in 0..19 {
            budget.deposit();
        }
        assert!(
            !budget.try_withdraw(),
            "19 first attempts earn less than one token"
        );
        budget.deposit();
        assert!(budget.try_withdraw(), "20 first attempts earn one");
        for _ in 0..1000 {
            budget.deposit();
        }
        assert!(budget.try_withdraw());
        assert!(!budget.try_withdraw(), "the bucket holds at most its burst");
    }
}
