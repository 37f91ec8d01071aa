//! Admission in paused time: priorities, the deadline check, the limit
//! following latency, and the refusal a client sees.

use std::time::Duration;

use scatter_management::metrics::Registry;
use tonic::{Code, Status};

use super::*;
use crate::error::PUSHBACK_HEADER;

fn admission(initial: usize, ceiling: usize) -> Admission {
    let config = AdmissionConfig {
        initial_limit: initial,
        min_limit: 1,
        ..AdmissionConfig::default()
    };
    Admission::new(&config, ceiling, &Registry::default())
}

const SECOND: Duration = Duration::from_secs(1);

/// Admits requests of `class` until one is refused; returns the permits.
fn fill(admission: &Admission, class: Class) -> Vec<Permit> {
    std::iter::from_fn(|| admission.admit(class, SECOND).ok())
        .take(10_000)
        .collect()
}

/// Runs up to `n` requests at once (as many as are admitted), each taking
/// `latency`.
async fn answered(admission: &Admission, n: usize, latency: Duration) {
    let permits: Vec<Permit> = std::iter::from_fn(|| admission.admit(Class::High, SECOND).ok())
        .take(n)
        .collect();
    assert!(!permits.is_empty());
    tokio::time::advance(latency).await;
    for permit in permits {
        permit.finish(true);
    }
}

#[tokio::test(start_paused = true)]
async fn low_priority_is_shed_first_and_high_priority_last() {
    let admission = admission(10, 1000);
    let low = fill(&admission, Class::Low);
    assert_eq!(low.len(), 5, "low fills half the limit");
    let normal = fill(&admission, Class::Normal);
    assert_eq!(normal.len(), 3, "normal fills up to four fifths");
    assert!(admission.saturated());
    let high = fill(&admission, Class::High);
    assert_eq!(
        high.len(),
        20,
        "high priority is held to twice the limit on its own count"
    );
    let refused = admission.admit(Class::Low, SECOND).map(|_| ()).unwrap_err();
    assert!(
        matches!(
            refused,
            QueryError::Overloaded {
                running: 28,
                cap: 5,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(admission.admit(Class::Normal, SECOND).is_err());
    drop(high);
    drop(normal);
    assert!(
        admission.admit(Class::Normal, SECOND).is_ok(),
        "high priority gone: normal has room again"
    );
    assert!(
        admission.admit(Class::Low, SECOND).is_err(),
        "low is still full"
    );
}

#[tokio::test(start_paused = true)]
async fn a_refusal_tells_the_client_when_to_retry() {
    let admission = admission(8, 1000);
    tokio::time::advance(Duration::from_millis(100)).await;
    answered(&admission, 8, Duration::from_millis(40)).await;
    let _held = fill(&admission, Class::High);
    let status = Status::from(
        admission
            .admit(Class::Normal, SECOND)
            .map(|_| ())
            .unwrap_err(),
    );
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status
            .message()
            .contains("adaptive limit for normal-priority"),
        "{}",
        status.message()
    );
    let pushback = status.metadata().get(PUSHBACK_HEADER).expect("pushback");
    assert_eq!(pushback.to_str().unwrap(), "40", "what requests take now");
}

#[tokio::test(start_paused = true)]
async fn the_ceiling_holds_whatever_the_limit_says() {
    let config = AdmissionConfig {
        adaptive: false,
        ..AdmissionConfig::default()
    };
    let admission = Admission::new(&config, 4, &Registry::default());
    let held = fill(&admission, Class::High);
    assert_eq!(held.len(), 4);
    let refused = admission
        .admit(Class::High, SECOND)
        .map(|_| ())
        .unwrap_err();
    assert!(
        refused.to_string().contains("--max-concurrent"),
        "{refused}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_shorter_than_requests_take_is_refused_at_once() {
    let admission = admission(16, 1000);
    assert_eq!(admission.need(), None, "nothing known yet");
    answered(&admission, 8, Duration::from_millis(50)).await;
    tokio::time::advance(Duration::from_millis(100)).await;
    answered(&admission, 8, Duration::from_millis(50)).await;
    assert_eq!(admission.need(), Some(Duration::from_millis(50)));
    let refused = admission
        .admit(Class::High, Duration::from_millis(20))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(Status::from(refused).code(), Code::DeadlineExceeded);
    assert!(
        admission
            .admit(Class::High, Duration::from_millis(80))
            .is_ok()
    );
    // Once nothing recent is known, requests are let through to learn again.
    tokio::time::advance(NEED_TTL * 2).await;
    assert!(
        admission
            .admit(Class::High, Duration::from_millis(20))
            .is_ok()
    );
}

#[tokio::test(start_paused = true)]
async fn the_limit_shrinks_when_requests_slow_down_and_grows_back() {
    let admission = admission(32, 1000);
    for _ in 0..3 {
        answered(&admission, 16, Duration::from_millis(100)).await;
    }
    let settled = admission.limit();
    for _ in 0..4 {
        answered(&admission, 16, Duration::from_millis(800)).await;
    }
    let shrunk = admission.limit();
    assert!(shrunk < settled / 2.0, "{settled} → {shrunk}");
    for _ in 0..10 {
        answered(&admission, 16, Duration::from_millis(100)).await;
    }
    // It grows back until 16 requests use less than half of it.
    assert!(
        admission.limit() >= 32.0,
        "{shrunk} → {}",
        admission.limit()
    );
}

#[tokio::test(start_paused = true)]
async fn cancelled_requests_free_their_place_without_steering_the_limit() {
    let admission = admission(4, 1000);
    let held = fill(&admission, Class::Normal);
    assert_eq!(admission.in_flight(), 3);
    drop(held);
    assert_eq!(admission.in_flight(), 0);
    assert_eq!(admission.need(), None);
    assert_eq!(admission.limit(), 4.0);
}
