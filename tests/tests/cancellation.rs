//! A client that gives up cancels the work it started, down to every leaf.

use std::time::Duration;

use scatter_tests::{Query, Script, Tree};

const IN_FLIGHT: &str = "scatter_leaf_in_flight";
const CANCELLED: &str = r#"scatter_leaf_calls_total{outcome="cancelled"}"#;
const ROOT_IN_FLIGHT: &str = "scatter_root_requests_in_flight";

#[tokio::test]
async fn client_cancelling_its_call_cancels_every_leaf_call() {
    let tree = Tree::start(2, &[]).await;
    let mut client = tree.root.client().await;
    let query = Query::script(&Script::new().delay("*", 10_000)).deadline(Duration::from_secs(30));
    let call = tokio::spawn(async move { client.query(query.request()).await });
    for leaf in &tree.leaves {
        leaf.wait_metric(IN_FLIGHT, 1.0, Duration::from_secs(5))
            .await;
    }

    call.abort();

    // Long before the leaves' 10 s delay or the 30 s deadline.
    for leaf in &tree.leaves {
        leaf.wait_metric(CANCELLED, 1.0, Duration::from_secs(2))
            .await;
        leaf.wait_metric(IN_FLIGHT, 0.0, Duration::from_secs(1))
            .await;
    }
    tree.root
        .server
        .wait_metric(ROOT_IN_FLIGHT, 0.0, Duration::from_secs(1))
        .await;
}
