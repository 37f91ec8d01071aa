//! `/metrics` of every kind of process — root, test leaf, test merge,
//! `search-leaf`, `search-merge` — passes `promtool check metrics` (the
//! Prometheus linter) and its key series move when traffic flows; a scraper
//! asking for OpenMetrics gets exemplars carrying the trace id.
//!
//! Without `promtool` (Debian's `prometheus` package) the lint is skipped
//! with a message, unless `SCATTER_REQUIRE_PROMTOOL=1` (CI sets it).

use std::io::Write as _;
use std::process::{Command, Stdio};

use futures::future::join_all;
use scatter_example_search::Query as SearchQuery;
use scatter_tests::admin::{get_with, series_value};
use scatter_tests::root::assert_full_coverage;
use scatter_tests::skip::{self, Need};
use scatter_tests::tree::{search_leaf, search_merge};
use scatter_tests::{Query, Root, Script, Server, Tree};

const SHARDS: u32 = 2;
const QUERIES: u32 = 5;

/// Whether `promtool` runs here; panics when it must and does not.
fn promtool_present() -> bool {
    let runs = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !runs {
        skip::missing(
            Need::Promtool,
            "the promtool lint: `promtool` is not installed (apt-get install prometheus)",
        );
    }
    runs
}

/// Runs `promtool check metrics` on `text`; panics with its findings.
fn lint(process: &str, text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("promtool reads the metrics");
    let out = child.wait_with_output().expect("promtool finishes");
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && findings.trim().is_empty(),
        "promtool check metrics on the {process}'s /metrics ({}):\n{findings}\n--- metrics ---\n{text}",
        out.status
    );
}

/// The value of `series` in `text`, zero when absent; panics when the
/// text does not carry it at all.
fn value(process: &str, text: &str, series: &str) -> f64 {
    series_value(text, series)
        .unwrap_or_else(|| panic!("the {process}'s /metrics has no {series}:\n{text}"))
}

#[tokio::test]
async fn every_process_passes_promtool_and_its_key_series_count_the_traffic() {
    let tree = Tree::start(SHARDS, &[]).await;
    for _ in 0..QUERIES {
        let response = tree
            .root
            .query(Query::script(&Script::new()))
            .await
            .expect("the tree answers");
        assert_full_coverage(&response, SHARDS);
    }
    let streamed = tree
        .root
        .query_stream_to_end(Query::script(&Script::new()))
        .await;
    assert!(streamed.end.is_ok(), "the stream ends well: {streamed:?}");
    let n = f64::from(QUERIES + 1);

    let root = tree.root.server.metrics().await;
    let ok = r#"scatter_root_requests_total{code="Ok",priority="normal"}"#;
    assert_eq!(value("root", &root, ok), n);
    let counted: f64 = root
        .lines()
        .filter(|l| l.starts_with("scatter_root_requests_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(counted, n, "each request counted once:\n{root}");
    assert_eq!(
        value("root", &root, "scatter_root_request_seconds_count"),
        n
    );
    assert_eq!(value("root", &root, "scatter_root_merge_seconds_count"), n);
    assert_eq!(value("root", &root, "scatter_root_coverage_ratio_count"), n);
    assert_eq!(
        value(
            "root",
            &root,
            r#"scatter_root_coverage_ratio_bucket{le="0.99"}"#
        ),
        0.0,
        "every request covered every shard"
    );
    assert_eq!(value("root", &root, "scatter_root_requests_in_flight"), 0.0);
    for (shard, leaf) in tree.leaves.iter().enumerate() {
        let labels = format!(r#"{{shard="{shard}",replica="{}"}}"#, leaf.uri());
        for series in [
            "scatter_root_leaf_calls_total",
            "scatter_root_first_attempts_total",
            "scatter_root_leaf_call_seconds_count",
        ] {
            assert_eq!(value("root", &root, &format!("{series}{labels}")), n);
        }
        let in_flight = format!("scatter_root_leaf_in_flight{labels}");
        assert_eq!(value("root", &root, &in_flight), 0.0);

        let text = leaf.metrics().await;
        let answered = r#"scatter_leaf_calls_total{outcome="ok"}"#;
        assert_eq!(value("leaf", &text, answered), n);
        assert_eq!(value("leaf", &text, "scatter_leaf_call_seconds_count"), n);
        assert_eq!(value("leaf", &text, "scatter_leaf_in_flight"), 0.0);
        assert_eq!(value("leaf", &text, "scatter_draining"), 0.0);
    }
    let merge = tree.merge.metrics().await;
    let merged = r#"scatter_merge_requests_total{outcome="ok"}"#;
    assert_eq!(value("merge", &merge, merged), n);
    assert_eq!(
        value("merge", &merge, "scatter_merge_partials_total"),
        n * 2.0
    );
    assert_eq!(
        value("merge", &merge, "scatter_merge_stream_seconds_count"),
        n
    );
    assert_eq!(value("merge", &merge, "scatter_merge_in_flight"), 0.0);

    if promtool_present() {
        lint("root", &root);
        lint("test leaf", &tree.leaves[0].metrics().await);
        lint("test merge", &merge);
    }
}

#[tokio::test]
async fn the_search_example_processes_pass_promtool_after_serving_a_search() {
    let (leaves, merge) = tokio::join!(
        join_all((0..SHARDS).map(|shard| search_leaf(shard, SHARDS, 7, 200))),
        search_merge()
    );
    let shards: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    let root = Root::start(&shards, &merge.uri(), &[]).await;
    let query = SearchQuery::new("hello world", 3).to_payload();
    let response = root
        .query(Query::new(query))
        .await
        .expect("the search answers");
    assert_full_coverage(&response, SHARDS);

    let leaf = leaves[0].metrics().await;
    let answered = r#"scatter_leaf_calls_total{outcome="ok"}"#;
    assert_eq!(value("search-leaf", &leaf, answered), 1.0);
    let merged = r#"scatter_merge_requests_total{outcome="ok"}"#;
    let merge_text = merge.metrics().await;
    assert_eq!(value("search-merge", &merge_text, merged), 1.0);

    if promtool_present() {
        lint("search-leaf", &leaf);
        lint("search-merge", &merge_text);
        lint("root over the search", &root.server.metrics().await);
    }
}

/// `GET /metrics` asking for OpenMetrics, as Prometheus does: the content
/// type and the body.
async fn openmetrics(server: &Server) -> (String, String) {
    let accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;q=0.1";
    let (code, head, body) = get_with(server.addr(), "/metrics", &[("Accept", accept)])
        .await
        .expect("GET /metrics");
    assert_eq!(code, 200, "{head}");
    (head.to_ascii_lowercase(), body)
}

/// The trace the client's `traceparent` starts; the root and every call
/// below it continue it.
const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";

#[tokio::test]
async fn openmetrics_scrapes_get_latency_exemplars_with_the_trace_id() {
    let tree = Tree::start(1, &[]).await;
    let mut request = Query::script(&Script::new()).request();
    let traceparent = format!("00-{TRACE_ID}-b7ad6b7169203331-01");
    request
        .metadata_mut()
        .insert("traceparent", traceparent.parse().expect("ascii"));
    tree.root
        .client()
        .await
        .query(request)
        .await
        .expect("the tree answers");

    let exemplar = format!(r#"# {{trace_id="{TRACE_ID}"}}"#);
    for (process, server, histogram) in [
        (
            "root",
            &tree.root.server,
            "scatter_root_request_seconds_bucket",
        ),
        (
            "root",
            &tree.root.server,
            "scatter_root_leaf_call_seconds_bucket",
        ),
        ("leaf", &tree.leaves[0], "scatter_leaf_call_seconds_bucket"),
        ("merge", &tree.merge, "scatter_merge_stream_seconds_bucket"),
    ] {
        let (head, body) = openmetrics(server).await;
        assert!(
            head.contains("content-type: application/openmetrics-text; version=1.0.0"),
            "{process}: {head}"
        );
        assert!(body.trim_end().ends_with("# EOF"), "{process}:\n{body}");
        assert!(
            body.lines()
                .any(|l| l.starts_with(histogram) && l.contains(&exemplar)),
            "the {process}'s {histogram} has no exemplar {exemplar}:\n{body}"
        );
    }
    // The classic text format, which promtool and older scrapers read, has none.
    let text = tree.root.server.metrics().await;
    assert!(!text.contains(TRACE_ID), "{text}");
}
