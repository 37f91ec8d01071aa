//! Progressive answers (`scatter-stream`): how soon a streaming client had
//! half the shards, every shard but one, and the full answer, each from
//! the request's due time; and the time to all but one against the full
//! answer's tail, in the same mode and in `scatter-hedge` (issue 8's
//! target: the first update with N−1 of N shards at ≤ 0.5× the full p99).

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{ModeReport, Percentiles, Report, ms, percentiles, ratio};

/// The mode whose full answers `scatter-stream`'s are compared with.
const UNARY: &str = "scatter-hedge";

/// A streaming mode's times to k of N shards, successful requests only.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Progressive {
    /// To the first update with at least half the shards answered.
    pub half: Percentiles,
    /// To the first update with every shard but one answered (N−1 of N).
    pub all_but_one: Percentiles,
    /// To the final answer: the mode's main latency.
    pub full: Percentiles,
    /// `all_but_one` p99 ÷ `full` p99.
    pub all_but_one_p99_vs_full_p99: Option<f64>,
    /// `all_but_one` p99 ÷ `scatter-hedge`'s p99 in the same variant, when it ran.
    pub all_but_one_p99_vs_scatter_hedge_p99: Option<f64>,
}

impl Progressive {
    /// The figures of the three histograms (µs from due time).
    pub fn new(half: &Histogram<u64>, all_but_one: &Histogram<u64>, full: &Histogram<u64>) -> Self {
        let (half, all_but_one, full) = (
            percentiles(half),
            percentiles(all_but_one),
            percentiles(full),
        );
        Self {
            all_but_one_p99_vs_full_p99: p99_ratio(&all_but_one, &full),
            half,
            all_but_one,
            full,
            all_but_one_p99_vs_scatter_hedge_p99: None,
        }
    }
}

fn p99_ratio(a: &Percentiles, b: &Percentiles) -> Option<f64> {
    ratio(a.p99_us as f64, b.p99_us as f64)
}

impl Report {
    /// Divides each streaming mode's time to all but one by the unary
    /// mode's full answer in the same variant.
    pub(super) fn compare_progressive(&mut self) {
        let unary: Vec<Option<Percentiles>> = self
            .modes
            .iter()
            .map(|m| {
                self.modes
                    .iter()
                    .find(|u| u.mode == UNARY && u.variant == m.variant)
                    .map(|u| u.latency)
            })
            .collect();
        for (m, unary) in self.modes.iter_mut().zip(unary) {
            if let (Some(p), Some(unary)) = (&mut m.progressive, unary) {
                p.all_but_one_p99_vs_scatter_hedge_p99 = p99_ratio(&p.all_but_one, &unary);
            }
        }
    }
}

/// The lines of one streaming mode under the table; `shards` is N.
pub(super) fn write(out: &mut String, m: &ModeReport, p: &Progressive, shards: Option<u32>) {
    let n = shards.map_or_else(|| "N".to_owned(), |n| n.to_string());
    let (half, all_but_one) = match shards {
        Some(n) => (
            format!("{}/{n}", n.div_ceil(2)),
            format!("{}/{n}", n.saturating_sub(1)),
        ),
        None => ("N/2".to_owned(), "N−1".to_owned()),
    };
    let _ = writeln!(
        out,
        "progressive {} {}: from due time to the first update with k of {n} shards answered",
        m.variant, m.mode
    );
    for (what, q) in [
        (format!("half ({half})"), &p.half),
        (format!("all but one ({all_but_one})"), &p.all_but_one),
        ("full answer".to_owned(), &p.full),
    ] {
        let _ = writeln!(
            out,
            "  {what:<22} p50 {:>9} p90 {:>9} p99 {:>9} p99.9 {:>9}",
            ms(q.p50_us),
            ms(q.p90_us),
            ms(q.p99_us),
            ms(q.p999_us)
        );
    }
    let times = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}×"));
    let _ = writeln!(
        out,
        "  all-but-one p99 ÷ full p99 {}; ÷ {UNARY} full p99 {}",
        times(p.all_but_one_p99_vs_full_p99),
        times(p.all_but_one_p99_vs_scatter_hedge_p99)
    );
}
