//! `query-of-death`'s figures for one mode: what the deadly requests met,
//! how many leaf processes died, and how the normal requests fared —
//! their goodput, and their success share against the same mode's in the
//! run without deadly requests.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use super::{ModeReport, Report, ratio};
use crate::fleet::RESTART_DELAY;
use crate::query_of_death::DeadlyMix;
use crate::recorder::Recorder;

/// One mode's query-of-death figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QueryOfDeathFigures {
    /// Deadly requests sent.
    pub deadly_requests: u64,
    /// What they met (`answered`, or the error), most frequent first.
    pub deadly_outcomes: Vec<(String, u64)>,
    /// Leaf processes that died during the measured phase and its drain.
    pub leaf_processes_lost: u64,
    /// How long a dead leaf stayed down before its restart, in ms.
    pub restart_delay_ms: u64,
    /// Normal requests sent.
    pub normal_requests: u64,
    /// Normal requests answered in full within the deadline.
    pub normal_good: u64,
    /// `normal_good` per second of the schedule.
    pub normal_goodput_rps: f64,
    /// `normal_good ÷ normal_requests`.
    pub normal_success: f64,
    /// `normal_success` ÷ the same mode's in the baseline (clean) run.
    pub normal_success_vs_clean: Option<f64>,
}

impl QueryOfDeathFigures {
    /// The figures of a phase of `due` whose deadly requests were `mix`,
    /// with `lost` leaf processes dead.
    pub fn new(recorder: &Recorder, mix: DeadlyMix, lost: u64, due: &[Duration]) -> Self {
        let normal_requests = (due.len() as u64).saturating_sub(mix.count);
        let span = due.last().copied().unwrap_or_default().as_secs_f64();
        Self {
            deadly_requests: mix.count,
            deadly_outcomes: recorder.deadly_outcomes(),
            leaf_processes_lost: lost,
            restart_delay_ms: RESTART_DELAY.as_millis() as u64,
            normal_requests,
            normal_good: recorder.good(),
            normal_goodput_rps: ratio(recorder.good() as f64, span).unwrap_or(0.0),
            normal_success: ratio(recorder.good() as f64, normal_requests as f64).unwrap_or(0.0),
            normal_success_vs_clean: None,
        }
    }

    /// Sets the ratio against `clean`, the same mode without deadly
    /// requests (every request of it normal).
    pub fn compare(&mut self, clean: &ModeReport) {
        let clean_success = ratio(clean.good as f64, clean.requests as f64);
        self.normal_success_vs_clean = clean_success.and_then(|c| ratio(self.normal_success, c));
    }
}

/// The section of the printed report: one line per mode with deadly requests.
pub fn write(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "query of death: leaf processes lost (restart after {} ms), normal requests answered in time, and against the clean run",
        RESTART_DELAY.as_millis()
    );
    for m in &report.modes {
        let Some(q) = &m.query_of_death else { continue };
        let _ = writeln!(
            out,
            "  {:<16} deadly {:>5}  leaves lost {:>4}  normal good {:>6} of {:<6} ({:.1} %, {:.1}/s)  ×clean {}",
            m.mode,
            q.deadly_requests,
            q.leaf_processes_lost,
            q.normal_good,
            q.normal_requests,
            q.normal_success * 100.0,
            q.normal_goodput_rps,
            q.normal_success_vs_clean
                .map_or_else(|| "-".into(), |r| format!("{r:.3}×")),
        );
        for (outcome, n) in q.deadly_outcomes.iter().take(2) {
            let _ = writeln!(out, "      deadly ×{n}: {outcome}");
        }
    }
}
