//! `overload` end to end, briefly: the real `scatter-bench` binary runs
//! every variant with the capacity given (`--rate`, no probe) for one
//! second per mode, and its report must carry the overload figures —
//! goodput against capacity, admitted and shed latency, success by
//! priority in the mixed variant, and a settle figure for each step.

mod common;

use common::short_run;
use serde_json::Value;

const MODES: [&str; 2] = ["plain-fanout", "scatter"];
const CAPACITY: f64 = 60.0;

fn mode<'a>(modes: &'a [Value], variant: &str, name: &str) -> &'a Value {
    modes
        .iter()
        .find(|m| m["variant"] == variant && m["mode"] == name)
        .unwrap_or_else(|| panic!("no {variant} {name} in report.json"))
}

#[test]
fn every_variant_reports_goodput_sheds_classes_and_steps() {
    let (out, stdout) = short_run("overload", CAPACITY, &MODES);
    assert!(stdout.contains("given by --rate"), "{stdout}");

    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["capacity_rps"], CAPACITY);
    assert_eq!(report["capacity_probe"]["method"], "--rate");
    let modes = report["modes"].as_array().unwrap();
    for variant in ["50%", "90%", "120%", "200%", "500%", "mix200%", "step"] {
        for name in MODES {
            let o = &mode(modes, variant, name)["overload"];
            assert!(o["goodput_rps"].as_f64().unwrap() > 0.0, "{variant} {name}");
            assert!(
                o["admitted"]["p99_us"].as_u64().unwrap() > 0,
                "{variant} {name}"
            );
            assert!(o["admitted_p99_vs_50pct"].is_number(), "{variant} {name}");
        }
    }
    // Half of capacity is answered in full, by anyone: goodput is half of it.
    let light = &mode(modes, "50%", "plain-fanout")["overload"];
    let share = light["goodput_share"].as_f64().unwrap();
    assert!(
        (0.35..=0.6).contains(&share),
        "goodput share at 50 %: {share}"
    );
    assert_eq!(light["sheds"], 0);
    assert_eq!(light["offered_share"], 0.5);

    for name in MODES {
        let classes = mode(modes, "mix200%", name)["overload"]["by_priority"]
            .as_array()
            .unwrap()
            .clone();
        let names: Vec<&str> = classes
            .iter()
            .map(|c| c["priority"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["high", "normal", "low"], "{name}");
        let sent: u64 = classes
            .iter()
            .map(|c| c["requests"].as_u64().unwrap())
            .sum();
        assert_eq!(
            sent,
            mode(modes, "mix200%", name)["requests"].as_u64().unwrap()
        );
        assert!(
            mode(modes, "200%", name)["overload"]["by_priority"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        let step = &mode(modes, "step", name)["overload"];
        let steps = step["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2, "{name}: up and down");
        assert_eq!(steps[0]["from_rps"], CAPACITY * 0.5);
        assert_eq!(steps[0]["to_rps"], CAPACITY * 2.0);
        assert!(!step["goodput_buckets_rps"].as_array().unwrap().is_empty());
    }
    let step_variant = report["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["label"] == "step")
        .unwrap();
    assert_eq!(step_variant["phases"].as_array().unwrap().len(), 3);
    let _ = std::fs::remove_dir_all(&out);
}
