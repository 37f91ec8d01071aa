//! The registry's exposition: names, types, buckets and exemplars as a
//! scraper reads them.

use std::time::Duration;

use super::*;

#[test]
fn same_name_and_labels_share_one_counter() {
    let registry = Registry::default();
    registry
        .counter("calls_total", "calls", &[("shard", "1")])
        .inc();
    registry
        .counter("calls_total", "calls", &[("shard", "1")])
        .add(2);
    registry
        .counter("calls_total", "calls", &[("shard", "2")])
        .inc();
    let text = registry.render();
    assert!(text.contains("calls_total{shard=\"1\"} 3"), "{text}");
    assert!(text.contains("calls_total{shard=\"2\"} 1"), "{text}");
    assert!(text.contains("# TYPE calls_total counter"), "{text}");
}

#[test]
fn latency_is_a_histogram_in_seconds_from_microseconds_to_seconds() {
    let registry = Registry::default();
    let latency = registry.latency("call_seconds", "latency", &[]);
    latency.record(Duration::from_micros(80));
    latency.record(Duration::from_millis(3));
    latency.record(Duration::from_secs(4));
    let text = registry.render();
    assert!(text.contains("# TYPE call_seconds histogram"), "{text}");
    assert!(
        text.contains("call_seconds_bucket{le=\"0.0001\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("call_seconds_bucket{le=\"0.005\"} 2"),
        "{text}"
    );
    assert!(text.contains("call_seconds_bucket{le=\"5\"} 3"), "{text}");
    assert!(text.contains("call_seconds_count 3"), "{text}");
    assert_eq!(latency.count(), 3);
}

#[test]
fn openmetrics_carries_the_trace_id_as_an_exemplar_and_text_does_not() {
    let registry = Registry::default();
    let latency = registry.latency("call_seconds", "latency", &[("shard", "0")]);
    latency.record_traced(Duration::from_millis(7), Some("req-42"));
    let open = registry.render_openmetrics();
    let line = open
        .lines()
        .find(|l| l.starts_with("call_seconds_bucket{le=\"0.01\",shard=\"0\"}"))
        .unwrap_or_else(|| panic!("{open}"));
    assert!(line.contains("# {trace_id=\"req-42\"} 0.007"), "{line}");
    assert!(open.contains("# UNIT call_seconds seconds"), "{open}");
    assert!(open.trim_end().ends_with("# EOF"), "{open}");
    assert!(!registry.render().contains("req-42"));
}

#[test]
fn an_overlong_trace_id_is_cut_to_keep_the_exemplar_valid() {
    let registry = Registry::default();
    let latency = registry.latency("call_seconds", "latency", &[]);
    latency.record_traced(Duration::from_millis(1), Some(&"x".repeat(500)));
    let open = registry.render_openmetrics();
    assert!(
        open.contains(&format!("{{trace_id=\"{}\"}}", "x".repeat(100))),
        "{open}"
    );
    assert!(!open.contains(&"x".repeat(101)), "{open}");
}

#[test]
fn seconds_gauges_and_ratios_keep_their_units() {
    let registry = Registry::default();
    let delay = registry.seconds_gauge("hedge_delay_seconds", "delay", &[]);
    delay.set(Duration::from_millis(40));
    registry
        .ratio("coverage_ratio", "coverage", &[])
        .record(0.5);
    let text = registry.render();
    assert!(text.contains("hedge_delay_seconds 0.04"), "{text}");
    assert_eq!(delay.get(), Duration::from_millis(40));
    assert!(
        text.contains("coverage_ratio_bucket{le=\"0.5\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("coverage_ratio_bucket{le=\"0.25\"} 0"),
        "{text}"
    );
}

#[test]
#[should_panic(expected = "registered with another type")]
fn one_name_with_two_types_is_refused() {
    let registry = Registry::default();
    registry.gauge("things", "", &[]);
    registry.counter("things_total", "", &[]);
}
