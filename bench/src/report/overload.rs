//! `overload`'s own figures per mode and variant — goodput as a share of
//! capacity, the latency of admitted requests, sheds and how fast they
//! came back, success by priority class, and how goodput settled after a
//! step — and the section of the printed table that shows them, under how
//! capacity was found.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use scatter_proto::v1::Priority;
use serde::Serialize;

use super::goodput::StepSettle;
use super::{Percentiles, Report, ms, ratio};
use crate::capacity::CapacityProbe;
use crate::priority::{self, PriorityMix};
use crate::scenarios::BASELINE_LABEL;

/// One mode's overload figures in one variant.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OverloadFigures {
    /// The offered rate as a share of capacity (a step variant's mean).
    pub offered_share: f64,
    /// Successful answers within the deadline that completed during the
    /// schedule, per second of it.
    pub goodput_rps: f64,
    /// Goodput ÷ capacity.
    pub goodput_share: f64,
    /// Latency of every request that was not shed, failures included (µs).
    pub admitted: Percentiles,
    /// Admitted p99 ÷ the same mode's admitted p99 in the `50%` variant.
    pub admitted_p99_vs_50pct: Option<f64>,
    /// Requests shed (refused at once).
    pub sheds: u64,
    /// Time from send to refusal of shed requests (µs).
    pub shed_latency: Percentiles,
    /// Success (answered within the deadline) by priority class, when the
    /// variant mixes classes.
    pub by_priority: Vec<ClassSuccess>,
    /// How goodput followed each step (step variant only).
    pub steps: Vec<StepSettle>,
    /// Goodput per 250 ms bucket of completion time, in requests/s (step
    /// variant only).
    pub goodput_buckets_rps: Vec<f64>,
}

/// Success of one priority class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassSuccess {
    /// `high`, `normal` or `low`.
    pub priority: String,
    /// Requests of the class sent.
    pub requests: u64,
    /// Of them, answered successfully within the deadline.
    pub good: u64,
    /// `good ÷ requests`.
    pub success_ratio: f64,
}

/// Success by class of `requests` measured ids (`0..requests`) sent with
/// `mix`, from good answers by class; highest class first.
pub fn by_priority(
    mix: PriorityMix,
    requests: u64,
    good: &BTreeMap<Priority, u64>,
) -> Vec<ClassSuccess> {
    let mut sent: BTreeMap<Priority, u64> = BTreeMap::new();
    for id in 0..requests {
        *sent.entry(mix.of(id)).or_default() += 1;
    }
    sent.iter()
        .rev()
        .map(|(class, &n)| {
            let g = good.get(class).copied().unwrap_or(0);
            ClassSuccess {
                priority: priority::name(*class).into(),
                requests: n,
                good: g,
                success_ratio: ratio(g as f64, n as f64).unwrap_or(0.0),
            }
        })
        .collect()
}

impl Report {
    /// Fills each mode's admitted p99 against its own in the `50%` variant.
    pub(super) fn compare_overload(&mut self) {
        let baselines: BTreeMap<String, u64> = self
            .modes
            .iter()
            .filter(|m| m.variant == BASELINE_LABEL)
            .filter_map(|m| Some((m.mode.clone(), m.overload.as_ref()?.admitted.p99_us)))
            .collect();
        for m in &mut self.modes {
            let base = baselines.get(&m.mode).copied();
            if let (Some(o), Some(base)) = (m.overload.as_mut(), base) {
                o.admitted_p99_vs_50pct = ratio(o.admitted.p99_us as f64, base as f64);
            }
        }
    }
}

/// The overload section of the table: how capacity was found, then one
/// row per mode and variant, then success by class and settle times.
pub(super) fn write(out: &mut String, report: &Report) {
    if let Some(probe) = &report.capacity_probe {
        write_probe(out, probe);
    }
    let _ = writeln!(
        out,
        "overload: good/s = answers within the deadline completed during the schedule, per second; \
         good% = of capacity; adm = every request not shed, failures included; \
         ×50% = adm p99 ÷ the mode's at 50%; shed = refused at once, timed from send"
    );
    let _ = writeln!(
        out,
        "{:<8} {:<16} {:>8} {:>8} {:>7} {:>9} {:>9} {:>6} {:>6} {:>9} {:>9} {:>6}",
        "variant",
        "mode",
        "offered",
        "good/s",
        "good%",
        "adm p50",
        "adm p99",
        "×50%",
        "sheds",
        "shed p50",
        "shed p99",
        "errors"
    );
    for m in &report.modes {
        let Some(o) = &m.overload else { continue };
        let _ = writeln!(
            out,
            "{:<8} {:<16} {:>7.0}% {:>8.1} {:>6.1}% {:>9} {:>9} {:>6} {:>6} {:>9} {:>9} {:>6}",
            m.variant,
            m.mode,
            o.offered_share * 100.0,
            o.goodput_rps,
            o.goodput_share * 100.0,
            ms(o.admitted.p50_us),
            ms(o.admitted.p99_us),
            o.admitted_p99_vs_50pct
                .map_or_else(|| "-".into(), |r| format!("{r:.2}×")),
            o.sheds,
            ms(o.shed_latency.p50_us),
            ms(o.shed_latency.p99_us),
            m.errors,
        );
    }
    for m in &report.modes {
        let Some(o) = m.overload.as_ref().filter(|o| !o.by_priority.is_empty()) else {
            continue;
        };
        let classes: Vec<String> = o
            .by_priority
            .iter()
            .map(|c| {
                format!(
                    "{} {:.1} % ({}/{})",
                    c.priority,
                    c.success_ratio * 100.0,
                    c.good,
                    c.requests
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  {} {} success by priority: {}",
            m.variant,
            m.mode,
            classes.join(", ")
        );
    }
    for m in &report.modes {
        let Some(o) = m.overload.as_ref().filter(|o| !o.steps.is_empty()) else {
            continue;
        };
        let steps: Vec<String> = o
            .steps
            .iter()
            .map(|s| {
                format!(
                    "{:.0}→{:.0} rps at {:.1} s: {} at {:.0} good/s ({:.0} % of capacity)",
                    s.from_rps,
                    s.to_rps,
                    s.at_s,
                    s.settle_s
                        .map_or_else(|| "not settled".into(), |t| format!("settled in {t:.2} s")),
                    s.level_rps,
                    s.level_share * 100.0
                )
            })
            .collect();
        let _ = writeln!(out, "  {} {}: {}", m.variant, m.mode, steps.join("; "));
    }
}

fn write_probe(out: &mut String, probe: &CapacityProbe) {
    if probe.method != "search" {
        let _ = writeln!(
            out,
            "capacity {:.0} rps, given by {} (no probe)",
            probe.capacity_rps, probe.method
        );
        return;
    }
    let _ = writeln!(
        out,
        "capacity {:.0} rps: the highest rate tried where {}; {} s steps, bisecting below the leaves' ceiling of {:.0} rps:",
        probe.capacity_rps, probe.criterion, probe.step_s, probe.ceiling_rps
    );
    for s in &probe.steps {
        let _ = writeln!(
            out,
            "  {:>7.1} rps: {} ok of {}, {} errors, p99 {} — {}",
            s.rate_rps,
            s.ok,
            s.requests,
            s.errors,
            ms(s.p99_us),
            if s.passed { "within" } else { "beyond" }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_by_priority_divides_good_answers_by_each_class_sent() {
        let good = BTreeMap::from([(Priority::High, 40), (Priority::Low, 20)]);
        let classes = by_priority(PriorityMix::OVERLOAD, 200, &good);
        let names: Vec<&str> = classes.iter().map(|c| c.priority.as_str()).collect();
        assert_eq!(names, vec!["high", "normal", "low"]);
        assert_eq!((classes[0].requests, classes[0].good), (40, 40));
        assert_eq!(classes[0].success_ratio, 1.0);
        assert_eq!((classes[1].requests, classes[1].good), (80, 0));
        assert_eq!(classes[2].success_ratio, 0.25);
    }
}
