//! A smoke run of every mode: the real `scatter-bench` binary runs the
//! `stragglers` scenario for one second at 20 requests/s with every mode,
//! and its report must show every mode answering every request, its extra
//! leaf work, and the streaming mode its times to k of N shards; and a
//! run over two seeds must leave a report per seed and their summary.

mod common;

use common::{short_run, short_run_with};

const MODES: [&str; 11] = [
    "direct",
    "plain-fanout",
    "plain-root",
    "tower-hedge",
    "scatter",
    "scatter-embedded",
    "scatter-hedge",
    "scatter-hints",
    "scatter-tied",
    "scatter-stream",
    "scatter-merge",
];

#[test]
fn every_mode_answers_every_request_of_a_short_run() {
    let (out, _) = short_run("stragglers", 20.0, &MODES);

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["scenario"], "stragglers");
    assert_eq!(report["quick_look"], true);
    let modes = report["modes"].as_array().unwrap();
    for name in MODES {
        let mode = modes
            .iter()
            .find(|m| m["mode"] == name)
            .unwrap_or_else(|| panic!("no {name} in report.json"));
        let requests = mode["requests"].as_u64().unwrap();
        assert!(requests > 0, "{name} sent nothing");
        assert_eq!(
            mode["errors"], 0,
            "{name} had errors: {}",
            mode["error_kinds"]
        );
        assert_eq!(mode["ok"].as_u64(), Some(requests), "{name}");
        assert!(mode["p50_us"].as_u64().unwrap() > 0, "{name}");
        let work = mode["extra_leaf_work_pct"].as_f64().unwrap();
        assert!((0.0..100.0).contains(&work), "{name}: extra work {work}");
        assert!(out.join(format!("{name}.hlog")).exists(), "{name}.hlog");
    }
    for name in [
        "scatter",
        "scatter-hedge",
        "scatter-hints",
        "scatter-tied",
        "scatter-stream",
        "scatter-merge",
    ] {
        let mode = modes.iter().find(|m| m["mode"] == name).unwrap();
        let first = mode["root_counters"]["total"]["first_attempts"].as_u64();
        assert!(first.unwrap_or(0) > 0, "{name}: root counters not read");
        assert_eq!(mode["counterpart"], "plain-root", "{name}");
        assert!(mode["vs_counterpart"]["p50"].is_number(), "{name}");
    }
    let stream = modes
        .iter()
        .find(|m| m["mode"] == "scatter-stream")
        .unwrap();
    let progressive = &stream["progressive"];
    let p99 = |what: &str| progressive[what]["p99_us"].as_u64().unwrap();
    assert!(p99("half") > 0, "{progressive}");
    assert!(p99("half") <= p99("all_but_one"), "{progressive}");
    assert!(p99("all_but_one") <= p99("full"), "{progressive}");
    assert_eq!(progressive["full"]["p99_us"], stream["p99_us"]);
    assert!(progressive["all_but_one_p99_vs_full_p99"].is_number());
    assert!(progressive["all_but_one_p99_vs_scatter_hedge_p99"].is_number());
    assert!(
        modes
            .iter()
            .all(|m| m["mode"] == "scatter-stream" || m["progressive"].is_null())
    );
    let plain_root = modes.iter().find(|m| m["mode"] == "plain-root").unwrap();
    let source = plain_root["root_cpu_source"].as_str().unwrap();
    assert!(source.contains("plain-root root process"), "{source}");
    let embedded = modes
        .iter()
        .find(|m| m["mode"] == "scatter-embedded")
        .unwrap();
    assert_eq!(embedded["counterpart"], "plain-fanout");
    assert!(embedded["vs_counterpart"]["p50"].is_number());
    let source = embedded["root_cpu_source"].as_str().unwrap();
    assert!(source.contains("harness client threads"), "{source}");
    assert!(report["oracle"]["p50_us"].as_u64().unwrap() > 0);
    assert!(out.join("latency.svg").exists());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn several_seeds_give_a_report_each_and_a_summary_of_their_spread() {
    let (out, stdout) = short_run_with(
        "stragglers",
        10.0,
        &["plain-fanout", "scatter"],
        &["--seeds", "1,2"],
    );
    for seed in [1, 2] {
        let report = out.join(format!("seed-{seed}")).join("report.json");
        assert!(report.exists(), "{}", report.display());
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seeds"], serde_json::json!([1, 2]));
    let scatter = summary["modes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mode"] == "scatter")
        .unwrap();
    let figures = scatter["figures"].as_array().unwrap();
    let ratio = figures
        .iter()
        .find(|f| f[0] == "p999_vs_plain_fanout")
        .unwrap();
    assert_eq!(ratio[1]["per_seed"].as_array().unwrap().len(), 2);
    assert!(ratio[1]["min"].as_f64() <= ratio[1]["max"].as_f64());
    assert!(stdout.contains("over seeds 1, 2"), "{stdout}");
    let _ = std::fs::remove_dir_all(&out);
}
