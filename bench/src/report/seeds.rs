//! One scenario over several seeds (`--seeds 1,2,3`): each seed's run is a
//! report of its own; this folds them into, per variant and mode, the
//! median and the spread (min–max) of each figure a target reads — tail
//! latencies, the ratios against plain fan-out, tower's hedge, the oracle
//! and the baseline variant, extra leaf calls and extra leaf work, leaf
//! processes lost and normal success against the clean run — as a table
//! and as `summary.json`.

use std::fmt::Write as _;

use serde::Serialize;

use super::table::label;
use super::{ModeReport, Report};

/// A figure over the seeds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    /// The median (of an even count, the mean of the middle two).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// Each seed's value, in the order of `Summary::seeds` (`None` where
    /// that seed had no value, e.g. no reference mode).
    pub per_seed: Vec<Option<f64>>,
}

impl Spread {
    /// The spread of the values present; `None` when there are none.
    pub fn of(values: Vec<Option<f64>>) -> Option<Self> {
        let mut present: Vec<f64> = values.iter().flatten().copied().collect();
        if present.is_empty() {
            return None;
        }
        present.sort_by(f64::total_cmp);
        let n = present.len();
        let median = if n % 2 == 1 {
            present[n / 2]
        } else {
            f64::midpoint(present[n / 2 - 1], present[n / 2])
        };
        Some(Self {
            median,
            min: present[0],
            max: present[n - 1],
            per_seed: values,
        })
    }
}

/// How one figure is read off one mode of one run.
type Figure = fn(&ModeReport) -> Option<f64>;

/// What a target reads off one mode of one run, by name.
const FIGURES: [(&str, Figure); 11] = [
    ("p99_ms", |m| Some(m.latency.p99_us as f64 / 1e3)),
    ("p999_ms", |m| Some(m.latency.p999_us as f64 / 1e3)),
    ("p999_vs_plain_fanout", |m| m.vs_plain_fanout.p999),
    ("p999_vs_tower_hedge", |m| m.vs_tower_hedge.p999),
    ("p99_vs_oracle", |m| m.vs_oracle.p99),
    ("p999_vs_oracle", |m| m.vs_oracle.p999),
    ("p999_vs_baseline_variant", |m| m.vs_baseline_variant.p999),
    ("extra_leaf_calls_pct", |m| Some(m.extra_leaf_calls_pct)),
    ("extra_leaf_work_pct", |m| m.extra_leaf_work_pct),
    ("leaf_processes_lost", |m| {
        m.query_of_death
            .as_ref()
            .map(|q| q.leaf_processes_lost as f64)
    }),
    ("normal_success_vs_clean", |m| {
        m.query_of_death
            .as_ref()
            .and_then(|q| q.normal_success_vs_clean)
    }),
];

/// One mode of one variant over the seeds.
#[derive(Clone, Debug, Serialize)]
pub struct ModeSummary {
    /// The variant's label.
    pub variant: String,
    /// The mode's name.
    pub mode: String,
    /// Requests per seed (the smallest, if they differ).
    pub requests: u64,
    /// Failed requests, summed over the seeds.
    pub errors: u64,
    /// Each figure of [`FIGURES`] by name, where some seed had it.
    pub figures: Vec<(String, Spread)>,
}

/// `summary.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The scenario.
    pub scenario: String,
    /// The seeds, in the order run.
    pub seeds: Vec<u64>,
    /// Where each seed's report went, relative to the summary.
    pub reports: Vec<String>,
    /// Every variant and mode that ran in the first seed.
    pub modes: Vec<ModeSummary>,
}

impl Summary {
    /// Folds the reports of `runs` (seed, report, its folder's name).
    pub fn of(runs: &[(u64, Report, String)]) -> Self {
        let first = runs.first().map(|(_, r, _)| r);
        let modes = first
            .map(|r| r.modes.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let same: Vec<Option<&ModeReport>> = runs
                    .iter()
                    .map(|(_, r, _)| {
                        r.modes
                            .iter()
                            .find(|o| o.mode == m.mode && o.variant == m.variant)
                    })
                    .collect();
                let figures = FIGURES
                    .iter()
                    .filter_map(|(name, read)| {
                        let values = same.iter().map(|m| m.and_then(read)).collect();
                        Spread::of(values).map(|s| ((*name).to_owned(), s))
                    })
                    .collect();
                ModeSummary {
                    variant: m.variant.clone(),
                    mode: m.mode.clone(),
                    requests: same.iter().flatten().map(|m| m.requests).min().unwrap_or(0),
                    errors: same.iter().flatten().map(|m| m.errors).sum(),
                    figures,
                }
            })
            .collect();
        Self {
            scenario: first.map(|r| r.scenario.clone()).unwrap_or_default(),
            seeds: runs.iter().map(|(s, _, _)| *s).collect(),
            reports: runs.iter().map(|(_, _, dir)| dir.clone()).collect(),
            modes,
        }
    }

    /// The summary as text: one line per variant and mode, each figure as
    /// `median (min–max)`.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let _ = writeln!(
            out,
            "\n{} over seeds {}: median (min–max) of each figure",
            self.scenario,
            seeds.join(", ")
        );
        for m in &self.modes {
            let _ = writeln!(
                out,
                "{:<8} {:<16} {} requests per seed, {} errors in all",
                label(&m.variant),
                m.mode,
                m.requests,
                m.errors
            );
            for (name, s) in &m.figures {
                let _ = writeln!(
                    out,
                    "    {name:<26} {:>9.3} ({:.3}–{:.3})",
                    s.median, s.min, s.max
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Percentiles, Ratios};

    fn run(seed: u64, p999_us: u64, vs_plain: f64) -> (u64, Report, String) {
        let mut report = crate::report::tests::empty_report();
        report.modes = vec![ModeReport {
            mode: "scatter-hedge".into(),
            requests: 20_000,
            errors: 1,
            latency: Percentiles {
                p999_us,
                ..Percentiles::default()
            },
            vs_plain_fanout: Ratios {
                p999: Some(vs_plain),
                ..Ratios::default()
            },
            extra_leaf_calls_pct: 2.0,
            ..ModeReport::default()
        }];
        (seed, report, format!("seed-{seed}"))
    }

    #[test]
    fn median_and_spread_of_each_figure_over_the_seeds() {
        let s = Summary::of(&[
            run(1, 30_000, 0.05),
            run(2, 40_000, 0.04),
            run(3, 35_000, 0.06),
        ]);
        assert_eq!(s.seeds, vec![1, 2, 3]);
        let m = &s.modes[0];
        assert_eq!((m.requests, m.errors), (20_000, 3));
        let figure = |name: &str| &m.figures.iter().find(|(n, _)| n == name).unwrap().1;
        let p999 = figure("p999_ms");
        assert_eq!((p999.median, p999.min, p999.max), (35.0, 30.0, 40.0));
        let plain = figure("p999_vs_plain_fanout");
        assert_eq!((plain.median, plain.min, plain.max), (0.05, 0.04, 0.06));
        assert!(
            !m.figures.iter().any(|(n, _)| n == "p999_vs_oracle"),
            "no seed had an oracle ratio"
        );
        assert!(
            s.table().contains("35.000 (30.000–40.000)"),
            "{}",
            s.table()
        );
    }

    #[test]
    fn an_even_count_takes_the_middle_two_and_gaps_are_skipped() {
        let s = Spread::of(vec![Some(1.0), None, Some(3.0), Some(2.0), Some(10.0)]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert_eq!(s.per_seed.len(), 5);
        assert_eq!(Spread::of(vec![None]), None);
    }
}
