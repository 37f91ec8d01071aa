//! What one run of `scatter check` found: one line per check, printed as a
//! table or as JSON.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// How one check ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Outcome {
    /// The process did what the root relies on; `detail` says what was seen.
    Pass {
        /// What was seen.
        detail: String,
    },
    /// It did not: what the root expects, and what came back instead.
    Fail {
        /// What the root relies on.
        expected: String,
        /// What the process did instead.
        got: String,
    },
    /// The check could not run here; `why` says what it needs.
    Skip {
        /// What the check needs to run.
        why: String,
    },
}

impl Outcome {
    /// A pass, seeing `detail`.
    pub fn pass(detail: impl Into<String>) -> Self {
        Self::Pass {
            detail: detail.into(),
        }
    }

    /// A failure: `expected`, but `got`.
    pub fn fail(expected: impl Into<String>, got: impl Into<String>) -> Self {
        Self::Fail {
            expected: expected.into(),
            got: got.into(),
        }
    }

    /// A skip, because of `why`.
    pub fn skip(why: impl Into<String>) -> Self {
        Self::Skip { why: why.into() }
    }

    fn word(&self) -> &'static str {
        match self {
            Self::Pass { .. } => "pass",
            Self::Fail { .. } => "FAIL",
            Self::Skip { .. } => "skip",
        }
    }
}

/// One check's line.
#[derive(Clone, Debug, Serialize)]
pub struct Line {
    /// The check's name, e.g. `cancellation`.
    pub check: &'static str,
    /// How it ended.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// How long it took, in milliseconds.
    pub millis: u64,
}

/// Every check of one run, in the order they ran.
#[derive(Debug, Serialize)]
pub struct Report {
    /// `leaf` or `merge`.
    pub kind: &'static str,
    /// What was checked: an address, a command or an image.
    pub target: String,
    /// One per check.
    pub checks: Vec<Line>,
    /// Where the started process's output went, when the checker started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl Report {
    /// An empty report on `target`, a `kind`.
    pub fn new(kind: &'static str, target: String) -> Self {
        Self {
            kind,
            target,
            checks: Vec::new(),
            output: None,
        }
    }

    /// Adds the line of `check`, which took `took`.
    pub fn record(&mut self, check: &'static str, outcome: Outcome, took: Duration) {
        self.checks.push(Line {
            check,
            outcome,
            millis: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        });
    }

    /// How many checks failed.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Fail { .. }))
    }

    fn count(&self, which: impl Fn(&Outcome) -> bool) -> usize {
        self.checks.iter().filter(|l| which(&l.outcome)).count()
    }

    /// The one-line summary, e.g. `9 checks: 8 passed, 1 failed, 0 skipped`.
    pub fn summary(&self) -> String {
        format!(
            "{} checks: {} passed, {} failed, {} skipped",
            self.checks.len(),
            self.count(|o| matches!(o, Outcome::Pass { .. })),
            self.failed(),
            self.count(|o| matches!(o, Outcome::Skip { .. })),
        )
    }

    /// The report as a table: a line per check, a failure's expectation
    /// and finding on the lines below it, and the summary.
    pub fn table(&self) -> String {
        let width = self
            .checks
            .iter()
            .map(|l| l.check.len())
            .max()
            .unwrap_or(0)
            .max("CHECK".len());
        let mut out = format!("scatter check {} {}\n", self.kind, self.target);
        let _ = writeln!(out, "  {:width$}  RESULT  {:>7}  DETAIL", "CHECK", "TIME");
        for line in &self.checks {
            let time = format_millis(line.millis);
            let lead = format!(
                "  {:width$}  {:6}  {time:>7}  ",
                line.check,
                line.outcome.word()
            );
            match &line.outcome {
                Outcome::Pass { detail } => {
                    let _ = writeln!(out, "{lead}{detail}");
                }
                Outcome::Skip { why } => {
                    let _ = writeln!(out, "{lead}{why}");
                }
                Outcome::Fail { expected, got } => {
                    let indent = " ".repeat(lead.chars().count());
                    let _ = writeln!(out, "{lead}expected: {expected}");
                    let _ = writeln!(out, "{indent}got:      {got}");
                }
            }
        }
        if let Some(output) = &self.output {
            let _ = writeln!(out, "the process's output: {output}");
        }
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// The report as one JSON object.
    pub fn json(&self) -> String {
        #[derive(Serialize)]
        struct Json<'a> {
            #[serde(flatten)]
            report: &'a Report,
            passed: usize,
            failed: usize,
            skipped: usize,
        }
        let json = Json {
            report: self,
            passed: self.count(|o| matches!(o, Outcome::Pass { .. })),
            failed: self.failed(),
            skipped: self.count(|o| matches!(o, Outcome::Skip { .. })),
        };
        serde_json::to_string_pretty(&json).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// `12 ms`, `1.5 s`.
fn format_millis(millis: u64) -> String {
    if millis < 1000 {
        format!("{millis} ms")
    } else {
        format!("{:.1} s", millis as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut report = Report::new("leaf", "127.0.0.1:7001".to_owned());
        report.record("health", Outcome::pass("SERVING"), Duration::from_millis(3));
        report.record(
            "cancellation",
            Outcome::fail("in-flight back to 0", "still 1"),
            Duration::from_millis(1500),
        );
        report.record("drain", Outcome::skip("needs --exec"), Duration::ZERO);
        report
    }

    #[test]
    fn a_failure_shows_what_was_expected_and_what_came_back() {
        let table = report().table();
        assert!(table.contains("cancellation  FAIL      1.5 s  expected: in-flight back to 0"));
        assert!(table.contains("got:      still 1"), "{table}");
        assert!(
            table.ends_with("3 checks: 1 passed, 1 failed, 1 skipped\n"),
            "{table}"
        );
    }

    #[test]
    fn json_names_each_check_and_its_result() {
        let json: serde_json::Value = serde_json::from_str(&report().json()).unwrap();
        assert_eq!(json["failed"], 1);
        assert_eq!(json["checks"][1]["check"], "cancellation");
        assert_eq!(json["checks"][1]["result"], "fail");
        assert_eq!(json["checks"][1]["got"], "still 1");
        assert_eq!(json["checks"][2]["why"], "needs --exec");
    }
}
