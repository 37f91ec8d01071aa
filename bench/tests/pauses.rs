//! `pauses` end to end, briefly: every leaf is really frozen (SIGSTOP) on
//! a seeded schedule in the paused variant and never in the calm one; the
//! same schedule meets every mode; each mode is compared with itself in the
//! calm run, and the leaves' busy time gives the extra work done.

mod common;

use common::short_run;
use serde_json::Value;

const MODES: [&str; 4] = [
    "plain-fanout",
    "tower-hedge",
    "scatter-hedge",
    "scatter-tied",
];

#[test]
fn the_paused_variant_freezes_leaves_on_one_schedule_for_every_mode() {
    let (out, stdout) = short_run("pauses", 20.0, &MODES);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["baseline_variant"], "calm");
    let modes = report["modes"].as_array().unwrap();
    let mut counts = Vec::new();
    for m in modes {
        let (variant, name) = (m["variant"].as_str().unwrap(), m["mode"].as_str().unwrap());
        assert_eq!(
            m["ok"], m["requests"],
            "{variant} {name}: {}",
            m["error_kinds"]
        );
        assert!(m["extra_leaf_work_pct"].is_number(), "{variant} {name}");
        assert!(m["latency_ci"]["p99"]["lo_us"].as_u64().unwrap() > 0);
        if variant == "calm" {
            assert!(m["pauses"].is_null(), "{name}: calm leaves never freeze");
        } else {
            counts.push(m["pauses"].as_u64().unwrap());
            assert!(m["vs_baseline_variant"]["p999"].is_number(), "{name}");
        }
    }
    assert_eq!(counts.len(), MODES.len());
    // 32 leaves, about one pause each in a 1 s phase.
    assert!(counts[0] >= 10, "{counts:?}");
    assert!(
        counts.iter().all(|&c| c == counts[0]),
        "one schedule: {counts:?}"
    );
    assert!(
        stdout.contains("pauses began during the measured phase"),
        "{stdout}"
    );
    assert!(
        stdout.contains("against calm: pauses scatter-tied ÷ itself in calm"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
