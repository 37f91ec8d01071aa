//! Error bars on tail percentiles, from the order statistics: with n
//! samples, the number B of them below the true q-quantile is
//! Binomial(n, q), so the j-th and k-th smallest samples bracket the
//! quantile with probability P(j ≤ B < k) whatever the distribution. The
//! ranks are the binomial's 2.5 % and 97.5 % quantiles (for 95 %), found
//! exactly by summing the probability mass outward from the mode, and the
//! values are the recorded latencies at those ranks in the HdrHistogram.

use hdrhistogram::Histogram;
use serde::Serialize;

/// The confidence of every interval reported.
pub const CONFIDENCE: f64 = 0.95;

/// A confidence interval for one percentile, in µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Interval {
    /// The value at the lower rank.
    pub lo_us: u64,
    /// The value at the upper rank; `None` when that rank lies beyond the
    /// samples (too few of them to bound the percentile from above).
    pub hi_us: Option<u64>,
}

/// 1-based ranks `(j, k)` such that the j-th and k-th smallest of `n`
/// samples bracket the `q`-quantile with probability at least
/// `confidence`: j is the largest rank with P(B ≤ j − 1) ≤ α/2, k the
/// smallest with P(B ≤ k − 1) ≥ 1 − α/2, B ~ Binomial(n, q). `k` may be
/// `n + 1` (no upper bound from the data); `None` when `n` is zero.
pub fn ranks(n: u64, q: f64, confidence: f64) -> Option<(u64, u64)> {
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let tail = (1.0 - confidence) / 2.0;
    let cdf = BinomialCdf::new(n, q);
    // F(j − 1) ≤ tail: the count of B-values up to j − 1.
    let mut j = 1;
    while j < n && cdf.at(j) <= tail {
        j += 1;
    }
    let mut k = j;
    while k <= n && cdf.at(k - 1) < 1.0 - tail {
        k += 1;
    }
    Some((j, k))
}

/// The value at 1-based rank `rank` among the samples of `h` (the highest
/// value equivalent to it, as `value_at_quantile` reports); `None` past
/// the last sample.
pub fn value_at_rank(h: &Histogram<u64>, rank: u64) -> Option<u64> {
    if rank == 0 || rank > h.len() {
        return None;
    }
    let mut seen = 0;
    for v in h.iter_recorded() {
        seen += v.count_since_last_iteration();
        if seen >= rank {
            return Some(h.highest_equivalent(v.value_iterated_to()));
        }
    }
    None
}

/// The [`CONFIDENCE`] interval of the `q`-quantile of `h`'s samples
/// (`None` when it holds none).
pub fn interval(h: &Histogram<u64>, q: f64) -> Option<Interval> {
    let (j, k) = ranks(h.len(), q, CONFIDENCE)?;
    Some(Interval {
        lo_us: value_at_rank(h, j)?,
        hi_us: value_at_rank(h, k),
    })
}

/// The binomial CDF, from pmf values summed outward from the mode (each
/// step a ratio of neighbours, so n in the millions neither overflows nor
/// underflows where it matters).
struct BinomialCdf {
    /// `lo`'s index in `cumulative`, and F(i) for i in lo..lo + len.
    lo: u64,
    cumulative: Vec<f64>,
}

impl BinomialCdf {
    fn new(n: u64, q: f64) -> Self {
        if q <= 0.0 || q >= 1.0 {
            // Degenerate: all mass at 0 (q = 0) or at n (q = 1).
            let at = if q >= 1.0 { n } else { 0 };
            let cumulative = (0..=n).map(|i| if i >= at { 1.0 } else { 0.0 }).collect();
            return Self { lo: 0, cumulative };
        }
        let mode = (((n + 1) as f64) * q).floor().min(n as f64) as u64;
        let odds = q / (1.0 - q);
        // Unnormalised pmf, 1 at the mode, out to where it stops mattering.
        let negligible = 1e-18;
        let mut up = vec![1.0];
        let mut i = mode;
        while i < n && *up.last().unwrap_or(&0.0) > negligible {
            let next = up.last().unwrap_or(&0.0) * (n - i) as f64 / (i + 1) as f64 * odds;
            up.push(next);
            i += 1;
        }
        let mut down = Vec::new();
        let (mut i, mut w) = (mode, 1.0);
        while i > 0 && w > negligible {
            w *= i as f64 / (n - i + 1) as f64 / odds;
            down.push(w);
            i -= 1;
        }
        let lo = mode - down.len() as u64;
        let weights: Vec<f64> = down.into_iter().rev().chain(up).collect();
        let total: f64 = weights.iter().sum();
        let mut sum = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                sum += w / total;
                sum
            })
            .collect();
        Self { lo, cumulative }
    }

    /// P(B ≤ i).
    fn at(&self, i: u64) -> f64 {
        if i < self.lo {
            return 0.0;
        }
        let index = usize::try_from(i - self.lo).unwrap_or(usize::MAX);
        self.cumulative.get(index).copied().unwrap_or(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder;

    #[test]
    fn ranks_for_twenty_thousand_samples_at_p999_are_the_known_ones() {
        // n q = 19,980, sd = √(n q (1 − q)) = 4.47: the normal
        // approximation gives 19,980 ∓ 1.96 × 4.47 = 19,971.2 … 19,988.8;
        // the exact binomial ranks by the definition above (checked with
        // an independent sum of lgamma-based pmf terms; coverage 95.7 %).
        assert_eq!(ranks(20_000, 0.999, 0.95), Some((19_971, 19_989)));
        assert_eq!(ranks(20_000, 0.99, 0.95), Some((19_772, 19_828)));
    }

    #[test]
    fn the_ranks_cover_at_least_the_confidence_and_not_much_more() {
        for (n, q) in [(1_000u64, 0.99), (20_000, 0.999), (5_000, 0.5), (250, 0.9)] {
            let (j, k) = ranks(n, q, 0.95).unwrap();
            let cdf = BinomialCdf::new(n, q);
            let coverage = cdf.at(k - 1) - cdf.at(j - 1);
            assert!((0.95..0.99).contains(&coverage), "n {n} q {q}: {coverage}");
        }
    }

    #[test]
    fn too_few_samples_leave_the_interval_open_above() {
        // 100 samples cannot bound a p99.9 from above.
        let (j, k) = ranks(100, 0.999, 0.95).unwrap();
        assert!(j <= 100 && k == 101, "{j} {k}");
        assert_eq!(ranks(0, 0.99, 0.95), None);
    }

    #[test]
    fn the_interval_reads_the_recorded_values_at_its_ranks() {
        let mut h = recorder::histogram();
        for us in 1..=20_000u64 {
            h.record(us).unwrap();
        }
        let ci = interval(&h, 0.999).unwrap();
        let near = |got: u64, want: u64| got.abs_diff(want) <= want / 500 + 1;
        assert!(near(ci.lo_us, 19_971), "{ci:?}");
        assert!(near(ci.hi_us.unwrap(), 19_989), "{ci:?}");
        assert!(ci.lo_us <= h.value_at_quantile(0.999));
        assert_eq!(value_at_rank(&h, 20_001), None);
        assert!(near(value_at_rank(&h, 1).unwrap(), 1));
    }
}
