//! Replica choice and probation, on replicas whose statistics the tests set.

use std::sync::Arc;
use std::time::Duration;

use scatter_management::metrics::Registry;
use tokio::time::Instant;

use scatter_proto::v1::LoadReport;

use crate::config::ProbationConfig;
use crate::fanout::choose::choose;
use crate::topology::probation::evaluate;
use crate::topology::{Connector, Replica, ReplicaStats};

fn replicas(n: usize) -> Vec<Arc<Replica>> {
    let registry = Registry::default();
    (0..n)
        .map(|i| {
            let addr = format!("http://127.0.0.1:{}", 9 + i);
            let channel = Connector::default().endpoint(&addr).unwrap().connect_lazy();
            Arc::new(Replica {
                client: Connector::default().leaf_client(channel),
                stats: ReplicaStats::new(&registry, 0, &addr),
                addr,
            })
        })
        .collect()
}

fn answered(replica: &Replica, latency_ms: u64, times: usize) {
    for _ in 0..times {
        replica
            .stats
            .observe(Some(Duration::from_millis(latency_ms)));
    }
}

#[tokio::test]
async fn choice_prefers_the_faster_replica_and_never_repeats_one_already_tried() {
    let replicas = replicas(2);
    answered(&replicas[0], 50, 20);
    answered(&replicas[1], 5, 20);
    let now = Instant::now();
    for _ in 0..20 {
        assert_eq!(choose(&replicas, &[], now), Some(1));
    }
    assert_eq!(
        choose(&replicas, &[1], now),
        Some(0),
        "a hedge goes to the other replica"
    );
    assert_eq!(choose(&replicas, &[0, 1], now), None, "both tried");
}

#[tokio::test]
async fn choice_weighs_calls_in_flight() {
    let replicas = replicas(2);
    answered(&replicas[0], 10, 20);
    answered(&replicas[1], 10, 20);
    for _ in 0..3 {
        replicas[0].stats.started();
    }
    assert_eq!(choose(&replicas, &[], Instant::now()), Some(1));
}

#[tokio::test]
async fn slow_replica_goes_on_probation_gets_only_probes_and_returns_when_healthy() {
    let config = ProbationConfig {
        min_duration: Duration::from_secs(2),
        probe_interval: Duration::from_millis(200),
        ..ProbationConfig::default()
    };
    let replicas = replicas(3);
    answered(&replicas[0], 5, 60);
    answered(&replicas[1], 5, 60);
    answered(&replicas[2], 60, 49);
    let start = Instant::now();
    assert!(
        !evaluate(&replicas, 2, &config, start),
        "too few calls to judge"
    );
    answered(&replicas[2], 60, 1);
    assert!(
        evaluate(&replicas, 2, &config, start),
        "12x slower than its siblings"
    );
    assert!(replicas[2].stats.on_probation());
    assert_eq!(replicas[2].stats.counters.probations.get(), 1);

    // Before a probe is due, regular traffic avoids it even when its
    // siblings are both tried.
    for _ in 0..50 {
        assert_ne!(choose(&replicas, &[], start), Some(2));
    }
    // Once due, one probe goes to it, then none until the next interval.
    let due = start + config.probe_interval;
    assert_eq!(choose(&replicas, &[], due), Some(2));
    assert_ne!(choose(&replicas, &[], due), Some(2));

    // Healthy probes, but the minimum stay is not over: still out.
    answered(&replicas[2], 5, 15);
    assert!(!evaluate(
        &replicas,
        2,
        &config,
        start + Duration::from_secs(1)
    ));
    assert!(replicas[2].stats.on_probation());
    // After it, healthy probes bring it back.
    evaluate(&replicas, 2, &config, start + Duration::from_secs(3));
    assert!(!replicas[2].stats.on_probation());
}

#[tokio::test]
async fn failing_replica_goes_on_probation() {
    let replicas = replicas(2);
    answered(&replicas[0], 5, 60);
    for _ in 0..60 {
        replicas[1].stats.observe(None);
    }
    assert!(evaluate(
        &replicas,
        1,
        &ProbationConfig::default(),
        Instant::now()
    ));
}

#[tokio::test]
async fn last_active_replica_is_never_ejected() {
    let config = ProbationConfig::default();
    let replicas = replicas(2);
    answered(&replicas[0], 5, 60);
    answered(&replicas[1], 100, 60);
    let now = Instant::now();
    assert!(evaluate(&replicas, 1, &config, now));
    // Replica 0 now turns slow too; it is the last one in rotation.
    answered(&replicas[0], 500, 300);
    assert!(!evaluate(&replicas, 0, &config, now));
    assert!(!replicas[0].stats.on_probation());
    // And a shard with everything on probation still gets an answer.
    let single = self::replicas(1);
    assert_eq!(choose(&single, &[], now), Some(0));
}

#[tokio::test]
async fn a_replica_whose_calls_are_cancelled_stops_looking_fast() {
    let replicas = replicas(2);
    answered(&replicas[1], 5, 20);
    // Replica 0 never answers: its calls lose to hedges after 50 ms.
    for _ in 0..5 {
        replicas[0]
            .stats
            .observe_at_least(Duration::from_millis(50));
    }
    assert_eq!(choose(&replicas, &[], Instant::now()), Some(1));
}

#[tokio::test]
async fn rare_stragglers_do_not_send_a_replica_on_probation() {
    let replicas = replicas(2);
    answered(&replicas[0], 5, 200);
    // One call in a hundred is 50 times slower, as in the stragglers model.
    for i in 0..200 {
        answered(&replicas[1], if i % 100 == 50 { 250 } else { 5 }, 1);
        assert!(
            !evaluate(&replicas, 1, &ProbationConfig::default(), Instant::now()),
            "ejected after call {i}"
        );
    }
}

#[tokio::test]
async fn a_queued_shard_ejects_no_replica_for_latency() {
    let replicas = replicas(2);
    answered(&replicas[0], 5, 60);
    answered(&replicas[1], 60, 60);
    replicas[0].stats.started();
    replicas[0].stats.started();
    let config = ProbationConfig::default();
    assert!(
        !evaluate(&replicas, 1, &config, Instant::now()),
        "calls are queueing"
    );
    replicas[0].stats.ended();
    replicas[0].stats.ended();
    assert!(
        evaluate(&replicas, 1, &config, Instant::now()),
        "idle again: slow stands out"
    );
}

#[tokio::test(start_paused = true)]
async fn choice_prefers_the_replica_reporting_the_shorter_queue_while_the_report_is_fresh() {
    let replicas = replicas(2);
    answered(&replicas[0], 10, 20);
    answered(&replicas[1], 10, 20);
    // Replica 1's leaf has other roots' calls queued: this root has none
    // out there, but the leaf says so with its answers.
    let busy = LoadReport {
        in_flight: 2,
        queued: 6,
    };
    replicas[1].stats.reports.record(&busy, Instant::now());
    replicas[0].stats.reports.record(
        &LoadReport {
            in_flight: 1,
            queued: 0,
        },
        Instant::now(),
    );
    for _ in 0..20 {
        assert_eq!(choose(&replicas, &[], Instant::now()), Some(0));
    }
    replicas[0].stats.reports.record(&busy, Instant::now());
    replicas[1].stats.reports.record(
        &LoadReport {
            in_flight: 1,
            queued: 0,
        },
        Instant::now(),
    );
    for _ in 0..20 {
        assert_eq!(choose(&replicas, &[], Instant::now()), Some(1));
    }
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(
        replicas[0].stats.score() == replicas[1].stats.score(),
        "stale reports weigh nothing: the replicas are equal again"
    );
}
