//! The report as the text table printed at the end of a run, then each
//! mode against its hand-written counterpart (like for like), then a
//! streaming mode's times to k of N shards, then `overload`'s section,
//! then the root's counters per mode (every replica is in `report.json`;
//! the table shows only those that stood out).

use std::fmt::Write as _;

use super::{Interval, ModeReport, Report, overload, progressive, query_of_death, ratio};
use crate::counters::RootCounters;

impl Report {
    /// The results as a text table, then the like-for-like ratios, then
    /// the progressive figures, then the root's counters.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n{} — {} s per mode after {} s warm-up, {:?} arrivals, deadline {} ms; {} (load average at start {}){}",
            self.scenario,
            self.duration_s,
            self.warmup_s,
            self.arrivals,
            self.timeout_ms,
            self.machine.note,
            self.machine.loadavg_at_start,
            if self.quick_look {
                " — QUICK LOOK: fewer than 20,000 requests per mode, tail figures are indicative"
            } else {
                ""
            }
        );
        for v in &self.variants {
            let _ = writeln!(
                out,
                "  variant {:<8} {:>3} shards × {} replicas, {:.0} rps, request {} B, partial {} B; oracle p50 {} p99 {} p99.9 {}",
                label(&v.label),
                v.shape.shards,
                v.shape.replicas,
                v.rate_rps,
                v.request_bytes,
                v.leaf.partial_bytes,
                ms(v.oracle.p50_us),
                ms(v.oracle.p99_us),
                ms(v.oracle.p999_us),
            );
            if let Some(b) = &v.bound {
                let oracle = |us: u64| times(ratio(us as f64, v.oracle.p999_us as f64));
                let _ = writeln!(
                    out,
                    "           hedging bound (the model with no overhead, one hedge per shard after the calls' p{} = {}): p99.9 {} ({} the oracle) at {:.2} % extra calls; with hints {} ({}) at {:.2} %",
                    self.hedge_percentile,
                    ms(b.at.delay_us),
                    ms(b.at.delay_only.p999_us),
                    oracle(b.at.delay_only.p999_us),
                    b.at.delay_only.extra_calls_pct,
                    ms(b.at.with_hints.p999_us),
                    oracle(b.at.with_hints.p999_us),
                    b.at.with_hints.extra_calls_pct,
                );
                let swept: Vec<String> = b
                    .by_percentile
                    .iter()
                    .map(|p| {
                        format!(
                            "p{} {} / {} at {:.2} %",
                            p.percentile,
                            oracle(p.delay_only.p999_us),
                            oracle(p.with_hints.p999_us),
                            p.delay_only.extra_calls_pct
                        )
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "           the bound's p99.9 ÷ the oracle by hedge percentile, delay only / with hints, at extra calls: {}",
                    swept.join(", ")
                );
            }
            if !v.phases.is_empty() {
                let rates: Vec<String> = v.phases.iter().map(|(r, _)| format!("{r:.0}")).collect();
                let _ = writeln!(
                    out,
                    "           load steps {} rps, {:.1} s each, uniform arrivals",
                    rates.join(" → "),
                    v.phases[0].1
                );
            }
            if let Some(mix) = v.priorities {
                let _ = writeln!(
                    out,
                    "           priorities by request id: {} % high, {} % normal, {} % low",
                    mix.high_pct,
                    mix.normal_pct,
                    100 - u32::from(mix.high_pct) - u32::from(mix.normal_pct)
                );
            }
        }
        let _ = writeln!(
            out,
            "{:<8} {:<16} {:>7} {:>8} {:>8} {:>8} {:>8} {:>13} {:>9} {:>15} {:>9} {:>6} {:>6} {:>6} {:>7} {:>7} {:>6} {:>7} {:>7}",
            "variant",
            "mode",
            "reqs",
            "ok/s",
            "p50",
            "p90",
            "p99",
            "(95% CI)",
            "p99.9",
            "(95% CI)",
            "max",
            "calls",
            "extra%",
            "work%",
            "cpu/1k",
            "us/call",
            "errors",
            "×plain",
            "×oracle"
        );
        for m in &self.modes {
            let _ = writeln!(
                out,
                "{:<8} {:<16} {:>7} {:>8.1} {:>8} {:>8} {:>8} {:>13} {:>9} {:>15} {:>9} {:>6.2} {:>6.2} {:>6} {:>7.3} {:>7.1} {:>6} {:>7} {:>7}",
                label(&m.variant),
                m.mode,
                m.requests,
                m.throughput_rps,
                ms(m.latency.p50_us),
                ms(m.latency.p90_us),
                ms(m.latency.p99_us),
                interval(m.latency_ci.p99),
                ms(m.latency.p999_us),
                interval(m.latency_ci.p999),
                ms(m.latency.max_us),
                m.leaf_calls_per_request,
                m.extra_leaf_calls_pct,
                m.extra_leaf_work_pct
                    .map_or_else(|| "-".into(), |w| format!("{w:.2}")),
                m.root_cpu_s_per_1k,
                m.root_cpu_us_per_leaf_call,
                m.errors,
                times(m.vs_plain_fanout.p999),
                times(m.vs_oracle.p999),
            );
        }
        if let Some(baseline) = &self.baseline_variant {
            for m in self
                .modes
                .iter()
                .filter(|m| m.vs_baseline_variant.p50.is_some())
            {
                let (b, t) = (&m.vs_baseline_variant, &m.vs_tower_hedge);
                let _ = writeln!(
                    out,
                    "against {baseline}: {} {} ÷ itself in {baseline}: p50 {} p99 {} p99.9 {}; p99.9 ÷ tower-hedge {}",
                    m.variant,
                    m.mode,
                    times(b.p50),
                    times(b.p99),
                    times(b.p999),
                    times(t.p999),
                );
            }
        }
        for m in self.modes.iter().filter(|m| m.pauses.is_some()) {
            let _ = writeln!(
                out,
                "  {} {}: {} pauses began during the measured phase (the same schedule in every mode)",
                m.variant,
                m.mode,
                m.pauses.unwrap_or_default()
            );
        }
        for m in &self.modes {
            for (kind, n) in m.error_kinds.iter().take(3) {
                let _ = writeln!(out, "  {} {} error ×{n}: {kind}", m.variant, m.mode);
            }
            for (kind, n) in m.shed_kinds.iter().take(2) {
                let _ = writeln!(out, "  {} {} shed ×{n}: {kind}", m.variant, m.mode);
            }
        }
        for m in &self.modes {
            if let Some(counterpart) = &m.counterpart
                && m.vs_counterpart.p50.is_some()
            {
                let r = &m.vs_counterpart;
                let _ = writeln!(
                    out,
                    "like for like {} {} ÷ {counterpart}: p50 {} p99 {} p99.9 {} cpu/leaf call {}",
                    m.variant,
                    m.mode,
                    times(r.p50),
                    times(r.p99),
                    times(r.p999),
                    times(r.cpu_per_leaf_call),
                );
            }
        }
        for m in &self.modes {
            if let Some(p) = &m.progressive {
                let shards = self
                    .variants
                    .iter()
                    .find(|v| v.label == m.variant)
                    .map(|v| v.shape.shards);
                progressive::write(&mut out, m, p, shards);
            }
        }
        if self.modes.iter().any(|m| m.overload.is_some()) {
            overload::write(&mut out, self);
        }
        if self.modes.iter().any(|m| m.query_of_death.is_some()) {
            query_of_death::write(&mut out, self);
        }
        for m in &self.modes {
            if let Some(c) = &m.root_counters {
                write_counters(&mut out, m, c);
            }
        }
        out
    }
}

fn write_counters(out: &mut String, m: &ModeReport, c: &RootCounters) {
    let t = &c.total;
    let _ = writeln!(
        out,
        "root counters {} {}: first {} hedges {} won {} retries {} tied {} cancelled {} failed {} probations {} budget refusals {} load refusals {}",
        m.variant,
        m.mode,
        t.first_attempts,
        t.hedges,
        t.hedges_won,
        t.retries,
        t.tied,
        t.cancellations,
        t.failures,
        t.probations,
        c.budget_refusals,
        c.load_refusals
    );
    // Every replica is in report.json; here only those that stood out.
    for r in c
        .replicas
        .iter()
        .filter(|r| r.retries + r.failures + r.probations > 0)
    {
        let _ = writeln!(
            out,
            "  shard {:>2} replica {}: first {:>6} hedges {:>4} won {:>4} retries {:>4} cancelled {:>4} failed {:>5} probations {}",
            r.shard.unwrap_or(0),
            r.replica.unwrap_or(0),
            r.first_attempts,
            r.hedges,
            r.hedges_won,
            r.retries,
            r.cancellations,
            r.failures,
            r.probations
        );
    }
}

/// A variant's label as shown: `-` for a scenario's only variant.
pub fn label(variant: &str) -> &str {
    if variant.is_empty() { "-" } else { variant }
}

/// µs as milliseconds with two decimals.
pub fn ms(us: u64) -> String {
    format!("{:.2}ms", us as f64 / 1e3)
}

/// A confidence interval in ms, `lo–hi` (`≥lo` when open above).
pub fn interval(ci: Option<Interval>) -> String {
    let ms = |us: u64| us as f64 / 1e3;
    match ci {
        Some(Interval {
            lo_us,
            hi_us: Some(hi),
        }) => format!("{:.2}–{:.2}", ms(lo_us), ms(hi)),
        Some(Interval { lo_us, hi_us: None }) => format!("≥{:.2}", ms(lo_us)),
        None => "-".into(),
    }
}

fn times(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}×"))
}
