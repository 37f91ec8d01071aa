//! The root's status page at `/`, loaded in headless Chromium: it draws
//! every shard with every replica, and a leaf killed while it is watched
//! turns to down within seconds, the others staying up; a draining leaf
//! shows as not serving. (Skipped, visibly, where Chromium is missing,
//! unless Chromium is required: see `scatter_tests::skip`.)

use std::path::Path;
use std::time::{Duration, Instant};

use futures::future::join_all;
use nix::sys::signal::Signal;
use scatter_tests::admin::get;
use scatter_tests::chromium::Chromium;
use scatter_tests::tree::test_merge;
use scatter_tests::{LeafFlags, Query, Root, Script, eventually};
use serde_json::Value;

const SHARDS: u32 = 3;
const REPLICAS: u32 = 2;
/// Health is checked every second, and a Chromium run takes a second or
/// two on a busy machine: a killed leaf must show as down within this.
const NOTICED: Duration = Duration::from_secs(10);
/// A fresh root's first health checks, plus a slow first Chromium start.
const FIRST_LOAD: Duration = Duration::from_secs(60);

/// One shard's row as the page drew it: its id, then each replica cell's
/// address and health word, in order.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    shard: String,
    replicas: Vec<(String, String)>,
}

/// The value of `attr="..."` in `tag`, if it has one.
fn attribute(tag: &str, attr: &str) -> Option<String> {
    let start = tag.find(&format!("{attr}=\""))? + attr.len() + 2;
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_owned())
}

/// The grid in a dumped DOM: rows are `<tr data-shard>`, cells
/// `<td data-replica data-health>`.
fn grid(dom: &str) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for tag in dom.split('<').filter_map(|t| t.split('>').next()) {
        if tag.starts_with("tr ")
            && let Some(shard) = attribute(tag, "data-shard")
        {
            rows.push(Row {
                shard,
                replicas: Vec::new(),
            });
        } else if tag.starts_with("td ")
            && let (Some(addr), Some(health), Some(row)) = (
                attribute(tag, "data-replica"),
                attribute(tag, "data-health"),
                rows.last_mut(),
            )
        {
            row.replicas.push((addr, health));
        }
    }
    rows
}

/// Whether the page has read `/status` (and not failed to since).
fn live(dom: &str) -> bool {
    dom.contains(r#"id="tree" data-state="live""#)
}

fn with_health(tree: &[Vec<String>], health: impl Fn(&str) -> &'static str) -> Vec<Row> {
    tree.iter()
        .enumerate()
        .map(|(shard, addrs)| Row {
            shard: shard.to_string(),
            replicas: addrs
                .iter()
                .map(|a| (a.clone(), health(a).to_owned()))
                .collect(),
        })
        .collect()
}

/// Whether the page at `url`, loaded afresh, has read `/status` and draws
/// exactly `expected`.
async fn shows(chromium: &Chromium, url: &str, expected: &[Row]) -> bool {
    let dom = chromium.dom(url).await;
    live(&dom) && grid(&dom) == expected
}

/// Queries with latencies that differ per shard, so the page has recent
/// percentiles and rates to show.
async fn traffic(root: &Root) {
    let script = Script::new().delay("*", 2).delay("1", 6).delay("2.1", 15);
    for _ in 0..30 {
        let query = Query::script(&script).deadline(Duration::from_secs(3));
        root.query(query).await.expect("an answer");
    }
}

#[tokio::test]
async fn the_status_page_shows_every_replica_and_a_killed_leaf_as_down_within_seconds() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    let flags = (0..SHARDS).flat_map(|shard| {
        (0..REPLICAS).map(move |replica| LeafFlags {
            replica,
            ..LeafFlags::new(shard, SHARDS)
        })
    });
    let (mut leaves, merge) = tokio::join!(join_all(flags.map(LeafFlags::start)), test_merge());
    let tree: Vec<Vec<String>> = leaves
        .chunks(REPLICAS as usize)
        .map(|replicas| replicas.iter().map(|leaf| leaf.uri()).collect())
        .collect();
    let shards: Vec<String> = tree.iter().map(|replicas| replicas.join(",")).collect();
    let root = Root::start(&shards, &merge.uri(), &[]).await;
    let url = format!("http://{}/", root.server.addr());

    let (code, html) = get(root.server.addr(), "/").await.expect("/ answers");
    assert_eq!(code, 200, "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no outside resources"
    );
    let (code, body) = get(leaves[0].addr(), "/").await.expect("a leaf answers");
    assert_eq!(code, 404, "only the root has a page: {body}");
    assert!(body.contains("/status"), "{body}");
    traffic(&root).await;

    let all_serving = with_health(&tree, |_| "serving");
    let what = "the page shows every replica serving";
    eventually(what, FIRST_LOAD, async || {
        shows(&chromium, &url, &all_serving).await
    })
    .await;

    let dead = tree[1][1].clone();
    leaves[(REPLICAS + 1) as usize].process.kill().await;
    let killed = Instant::now();
    let down = |addr: &str| {
        if addr == dead {
            "unreachable"
        } else {
            "serving"
        }
    };
    let expected = with_health(&tree, down);
    let what = "the killed leaf shows as down, the others up";
    eventually(what, NOTICED, async || {
        shows(&chromium, &url, &expected).await
    })
    .await;
    eprintln!(
        "the page showed the killed leaf down after {:?}",
        killed.elapsed()
    );

    // The shard keeps answering on its other replica, and the page says so.
    traffic(&root).await;
    let (_, body) = get(root.server.addr(), "/status").await.expect("/status");
    let details = &serde_json::from_str::<Value>(&body).expect("JSON")["details"];
    let shard = &details["shards"][1];
    assert!(shard["recent"]["requests"].as_u64() >= Some(30), "{shard}");
    assert_eq!(shard["recent"]["answered_ratio"], 1.0, "{shard}");
    assert!(shard["recent"]["hedge_rate"].is_f64(), "{shard}");
    let alive = &shard["replicas"][0]["latency_recent_ms"];
    assert!(
        alive["p50"].as_f64() >= Some(6.0),
        "its leaves wait 6 ms: {alive}"
    );
    assert!(alive["p99"].as_f64() >= alive["p50"].as_f64(), "{alive}");
    assert_eq!(details["recent"]["coverage"], 1.0, "{details}");
    let dom = chromium.dom(&url).await;
    assert!(dom.contains(r#"id="coverage">100.0%<"#), "{dom}");

    // The README's picture: one replica down, traffic still answered.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    chromium.screenshot(&url, &shot, 1000, 470).await;
    eprintln!("screenshot: {}", shot.display());
}

#[tokio::test]
async fn the_status_page_shows_a_draining_leaf_as_not_serving() {
    let Some(chromium) = Chromium::find() else {
        return;
    };
    // Replica 1 keeps answering health, NOT_SERVING, for a while after SIGTERM.
    let draining = LeafFlags {
        replica: 1,
        extra: vec!["--drain-delay-ms".to_owned(), "60000".to_owned()],
        ..LeafFlags::new(0, 1)
    };
    let (steady, draining, merge) =
        tokio::join!(LeafFlags::new(0, 1).start(), draining.start(), test_merge());
    let tree = vec![vec![steady.uri(), draining.uri()]];
    let root = Root::start(&[tree[0].join(",")], &merge.uri(), &[]).await;
    let url = format!("http://{}/", root.server.addr());
    let all_serving = with_health(&tree, |_| "serving");
    let what = "the page shows both replicas serving";
    eventually(what, FIRST_LOAD, async || {
        shows(&chromium, &url, &all_serving).await
    })
    .await;

    draining.process.signal(Signal::SIGTERM);
    let leaving = draining.uri();
    let expected = with_health(&tree, |addr| {
        if addr == leaving {
            "not_serving"
        } else {
            "serving"
        }
    });
    let what = "the draining replica shows as not serving";
    eventually(what, NOTICED, async || {
        shows(&chromium, &url, &expected).await
    })
    .await;
}
