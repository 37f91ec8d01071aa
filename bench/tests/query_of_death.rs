//! `query-of-death` end to end, briefly: deadly requests make the leaves
//! they reach exit, the harness restarts them after its restart delay and
//! counts them; normal requests' success is compared with the clean run;
//! with canaries, the deadly payload costs one leaf and is then refused.

mod common;

use common::short_run;
use serde_json::Value;

const MODES: [&str; 3] = ["plain-fanout", "scatter-hedge", "scatter-canary"];

#[test]
fn deadly_requests_kill_leaves_which_come_back_and_are_counted() {
    let (out, stdout) = short_run("query-of-death", 20.0, &MODES);
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["baseline_variant"], "clean");
    for m in report["modes"].as_array().unwrap() {
        let name = m["mode"].as_str().unwrap();
        if m["variant"] == "clean" {
            assert!(m["query_of_death"].is_null(), "{name}");
            assert_eq!(m["ok"], m["requests"], "{name}: {}", m["error_kinds"]);
            continue;
        }
        let q = &m["query_of_death"];
        // 20 requests: a tenth of them deadly.
        assert_eq!(q["deadly_requests"], 2, "{name}");
        assert_eq!(q["normal_requests"], 18, "{name}");
        assert!(
            q["leaf_processes_lost"].as_u64().unwrap() >= 1,
            "{name}: {q}"
        );
        assert_eq!(q["restart_delay_ms"], 1000);
        assert!(q["normal_success_vs_clean"].is_number(), "{name}");
        let deadly: u64 = q["deadly_outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o[1].as_u64().unwrap())
            .sum();
        assert_eq!(deadly, 2, "{name}: every deadly request is accounted for");
    }
    // With canaries the first deadly request's canary costs one leaf; the
    // second is refused without touching one.
    let canary = report["modes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["variant"] == "deadly" && m["mode"] == "scatter-canary")
        .unwrap();
    let q = &canary["query_of_death"];
    assert_eq!(q["leaf_processes_lost"], 1, "{q}");
    let refused = q["deadly_outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o[0].as_str().unwrap().starts_with("FailedPrecondition"));
    assert!(refused, "{q}");
    assert!(
        stdout.contains("query of death: leaf processes lost"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
