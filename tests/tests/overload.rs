//! Overload, end to end with real processes: a burst beyond the root's
//! concurrency limit is refused at once (not queued), priorities decide who
//! is shed, a deadline the tree cannot meet is refused up front, and the
//! root serves normally once the pressure is gone.

use std::time::Duration;

use futures::future::join_all;
use scatter_proto::v1::leaf_client::LeafClient;
use scatter_proto::v1::{LeafRequest, Priority};
use scatter_tests::root::assert_full_coverage;
use scatter_tests::{LeafFlags, Query, Root, Script, Tree, eventually};
use tokio::time::Instant;
use tonic::Code;

/// Leaves that hold every call this long: long enough that every refusal
/// of a burst is back before the first admitted answer.
const SLOW_MS: u64 = 1500;
const DEADLINE: Duration = Duration::from_secs(10);

fn slow() -> Query {
    Query::script(&Script::new().delay("*", SLOW_MS)).deadline(DEADLINE)
}

#[tokio::test]
async fn a_burst_beyond_the_limit_is_refused_at_once_and_the_root_recovers() {
    let tree = Tree::start(2, &[]).await;
    let client = tree.root.client().await;
    let burst = (0..100).map(|_| {
        let mut client = client.clone();
        async move {
            let result = client.query(slow().request()).await;
            (Instant::now(), result)
        }
    });
    let ends = join_all(burst).await;
    let (answered, refused): (Vec<_>, Vec<_>) = ends.iter().partition(|(_, r)| r.is_ok());
    assert!(
        !answered.is_empty() && refused.len() >= 50,
        "{} answered, {} refused",
        answered.len(),
        refused.len()
    );
    for (_, response) in &answered {
        assert_full_coverage(response.as_ref().unwrap().get_ref(), 2);
    }
    let first_answer = answered.iter().map(|(at, _)| *at).min().unwrap();
    for (at, result) in &refused {
        let status = result.as_ref().unwrap_err();
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(
            status.message().contains("overloaded"),
            "{}",
            status.message()
        );
        let pushback: u64 = status
            .metadata()
            .get("grpc-retry-pushback-ms")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no pushback metadata on {status:?}"));
        assert!(pushback >= 1);
        assert!(
            *at < first_answer,
            "a refusal waited for the admitted requests"
        );
    }
    let shed = tree
        .root
        .server
        .metric(r#"scatter_root_shed_total{reason="limit",priority="normal"}"#)
        .await;
    assert_eq!(shed, Some(refused.len() as f64));
    // The burst is over: the root admits and answers as before (with a
    // deadline above the 1.5 s requests took of late).
    let after = tree
        .root
        .query(Query::script(&Script::new()).deadline(DEADLINE))
        .await
        .unwrap();
    assert_full_coverage(&after, 2);
}

#[tokio::test]
async fn under_saturation_high_priority_is_admitted_and_low_is_refused() {
    let tree = Tree::start(1, &[]).await;
    let client = tree.root.client().await;
    let fillers: Vec<_> = (0..40)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move { client.query(slow().request()).await })
        })
        .collect();
    // Saturated: the root has started refusing normal-priority requests.
    eventually(
        "normal priority is shed",
        Duration::from_secs(10),
        async || {
            let series = r#"scatter_root_shed_total{reason="limit",priority="normal"}"#;
            tree.root.server.metric(series).await.unwrap_or(0.0) >= 1.0
        },
    )
    .await;
    let low = tree
        .root
        .query(Query::script(&Script::new()).priority(Priority::Low))
        .await
        .unwrap_err();
    assert_eq!(low.code(), Code::ResourceExhausted, "{low:?}");
    assert!(low.message().contains("low-priority"), "{}", low.message());
    let high = tree
        .root
        .query(Query::script(&Script::new()).priority(Priority::High))
        .await
        .expect("high priority is admitted while the root sheds normal and low");
    assert_full_coverage(&high, 1);
    for filler in fillers {
        let _ = filler.await.unwrap();
    }
}

#[tokio::test]
async fn a_deadline_the_tree_cannot_meet_is_refused_up_front() {
    let tree = Tree::start(1, &[]).await;
    let took_100ms = Query::script(&Script::new().delay("*", 100)).deadline(DEADLINE);
    // Enough answers for the root to know what requests take now.
    for _ in 0..10 {
        assert_full_coverage(&tree.root.query(took_100ms.clone()).await.unwrap(), 1);
    }
    let short = took_100ms.clone().deadline(Duration::from_millis(30));
    let refused = tree.root.query(short).await.unwrap_err();
    assert_eq!(refused.code(), Code::DeadlineExceeded, "{refused:?}");
    assert!(
        refused.message().starts_with("refused at admission"),
        "refused up front, not timed out: {}",
        refused.message()
    );
    let shed = tree
        .root
        .server
        .metric(r#"scatter_root_shed_total{reason="deadline",priority="normal"}"#)
        .await;
    assert_eq!(shed, Some(1.0));
    // A deadline the tree can meet is still served.
    assert_full_coverage(&tree.root.query(took_100ms).await.unwrap(), 1);
}

#[tokio::test]
async fn a_leaf_at_its_in_flight_cap_refuses_and_the_sibling_answers() {
    let capped = LeafFlags {
        extra: vec!["--max-in-flight".into(), "1".into()],
        ..LeafFlags::new(0, 1)
    };
    let sibling = LeafFlags {
        replica: 1,
        ..LeafFlags::new(0, 1)
    };
    let (capped, sibling) = tokio::join!(capped.start(), sibling.start());
    let shard = format!("{},{}", capped.addr(), sibling.addr());
    let root = Root::start(&[shard], "builtin:concat", &["--hedge", "off"]).await;
    // Fill the capped replica's one place with a call of our own.
    let mut direct = LeafClient::new(capped.channel().await);
    let held = tokio::spawn(async move {
        let call = LeafRequest {
            payload: Some(Script::new().delay("*", 30_000).payload()),
            shard: 0,
            shard_count: 1,
            ..LeafRequest::default()
        };
        direct.answer(call).await
    });
    capped
        .wait_metric("scatter_leaf_in_flight", 1.0, Duration::from_secs(10))
        .await;
    // Fresh replicas are tried first, so the capped one gets a first
    // attempt within a few queries; each must still be answered.
    let refusals = async || {
        let metrics = root.server.metrics().await;
        metrics
            .lines()
            .filter(|l| l.starts_with("scatter_root_leaf_refusals_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let mut queries = 0;
    while refusals().await < 1.0 {
        queries += 1;
        assert!(queries <= 50, "the capped replica was never tried");
        let answer = root
            .query(Query::script(&Script::new()).deadline(DEADLINE))
            .await
            .expect("answered by the sibling");
        assert_full_coverage(&answer, 1);
    }
    let refused = capped
        .metric(r#"scatter_leaf_calls_total{outcome="refused"}"#)
        .await;
    assert!(refused >= Some(1.0), "{refused:?}");
    assert_eq!(
        capped.metric("scatter_leaf_in_flight").await,
        Some(1.0),
        "refused at once: the held call is still running"
    );
    held.abort();
}
