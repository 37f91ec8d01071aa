//! A leaf stops gracefully on SIGTERM: it says NOT_SERVING first, finishes
//! the calls it has, and exits 0.

use std::time::{Duration, Instant};

use futures::future::join_all;
use nix::sys::signal::Signal;
use scatter_proto::v1::LeafRequest;
use scatter_proto::v1::leaf_client::LeafClient;
use scatter_tests::{LeafFlags, LeafPartial, Script};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const CALLS: u64 = 4;
const IN_FLIGHT: &str = "scatter_leaf_in_flight";

#[tokio::test]
async fn sigterm_reports_not_serving_then_finishes_in_flight_calls_and_exits_zero() {
    let mut leaf = LeafFlags::new(0, 1).start().await;
    let channel = leaf.channel().await;
    let mut watch = HealthClient::new(channel.clone())
        .watch(HealthCheckRequest::default())
        .await
        .expect("health watch")
        .into_inner();
    let first = watch.message().await.expect("a status").expect("a status");
    assert_eq!(first.status, ServingStatus::Serving as i32);

    let payload = Script::new().delay("*", 500).payload();
    let calls: Vec<_> = (0..CALLS)
        .map(|request_id| {
            let mut client = LeafClient::new(channel.clone());
            let request = LeafRequest {
                payload: Some(payload.clone()),
                shard: 0,
                shard_count: 1,
                request_id,
                attempt: 0,
                report_start: false,
            };
            tokio::spawn(async move {
                let result = client.answer(request).await;
                (result, Instant::now())
            })
        })
        .collect();
    leaf.wait_metric(IN_FLIGHT, CALLS as f64, Duration::from_secs(2))
        .await;

    leaf.process.signal(Signal::SIGTERM);
    let not_serving_at = loop {
        match watch.message().await {
            Ok(Some(r)) if r.status == ServingStatus::NotServing as i32 => break Instant::now(),
            Ok(Some(_)) => {}
            other => panic!("the watch ended without NOT_SERVING: {other:?}"),
        }
    };

    for joined in join_all(calls).await {
        let (result, done_at) = joined.expect("the call task ran");
        let response = result.expect("an in-flight call finishes").into_inner();
        let partial: LeafPartial =
            serde_json::from_slice(&response.partial.unwrap_or_default().body)
                .expect("a test-leaf partial");
        assert_eq!(partial.shard, 0);
        assert!(
            not_serving_at < done_at,
            "NOT_SERVING came {:?} after a call ended",
            not_serving_at - done_at
        );
    }
    let status = leaf.process.wait_exit(Duration::from_secs(5)).await;
    assert!(status.success(), "exit status {status}");
}
