//! The root's part of `/status`, and the JSON behind the status page: the
//! tree as the root sees it — per replica its health, whether it is in
//! rotation, its load, latency (EWMA and recent percentiles), errors and
//! the last error a call ended with; per shard its hedge delay and what it
//! did over the last few seconds (requests, share answered, hedges); the
//! coverage of those requests; the canary policy and how many payloads
//! it holds quarantined; and why the root is or is not ready.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::engine::Engine;
use crate::readiness::Readiness;
use crate::topology::{Replica, Shard, ShardRecent};

/// The root's status page, served at `/` on its port: it reads `/status`
/// every second and draws the tree as a grid of shards × replicas.
pub const PAGE: &str = include_str!("status_page.html");

/// A `/status` reporter for `engine`, with the readiness checks' outcome.
pub fn reporter<S: Send + Sync + 'static>(
    engine: Arc<Engine<S>>,
    readiness: Arc<Readiness>,
) -> impl Fn() -> Value + Send + Sync + 'static {
    move || {
        let snapshot = engine.topology.snapshot();
        let now = Instant::now();
        let (mut requests, mut answered, mut per_second, mut covered) = (0, 0, 0.0_f64, None);
        let shards: Vec<Value> = snapshot
            .shards
            .iter()
            .map(|s| {
                let recent = s.stats.recent(now);
                requests += recent.requests();
                answered += recent.answered();
                // Every request reaches every shard: the busiest shard's
                // rate is the root's.
                per_second = per_second.max(recent.requests_per_second());
                covered = covered.max(Some(recent.covered()));
                shard(s, &recent)
            })
            .collect();
        json!({
            "readiness": readiness.status(),
            "merge": engine.merge.describe(),
            "merge_reserve_ms": engine
                .reserve
                .for_deadline(engine.config.deadline.default)
                .as_secs_f64() * 1e3,
            "hedging": engine.config.hedge.enabled,
            "canary": {
                "enabled": engine.config.canary.enabled,
                "quarantined": engine.canary.quarantined(),
            },
            "recent": {
                "seconds": covered.map_or(0.0, |c: Duration| c.as_secs_f64()),
                "requests_per_second": per_second,
                "coverage": (requests > 0).then(|| answered as f64 / requests as f64),
            },
            "shards": shards,
        })
    }
}

/// One shard: its hedge delay, its replicas, and its recent requests.
fn shard(shard: &Shard, recent: &ShardRecent) -> Value {
    let replicas: Vec<Value> = shard.replicas.iter().map(|r| replica(r)).collect();
    json!({
        "shard": shard.id,
        "hedge_delay_ms": shard.stats.delay_gauge.get().as_secs_f64() * 1e3,
        "recent": {
            "seconds": recent.covered().as_secs_f64(),
            "requests": recent.requests(),
            "requests_per_second": recent.requests_per_second(),
            "answered_ratio": recent.answered_ratio(),
            "hedge_rate": recent.hedge_rate(),
        },
        "replicas": replicas,
    })
}

/// One replica: `serving` is `null` before its first health check; the
/// recent percentiles are `null` while it answered nothing lately.
fn replica(r: &Replica) -> Value {
    let stats = &r.stats;
    let checked = stats.health.checked();
    let last_error = stats.health.last_error().map(|e| {
        json!({
            "code": format!("{:?}", e.code),
            "message": e.message,
            "seconds_ago": e.at.elapsed().as_secs_f64(),
        })
    });
    let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
    json!({
        "addr": r.addr,
        "serving": checked.as_ref().map(|c| c.is_serving()),
        "health": checked.as_ref().map(|c| c.word()),
        "health_detail": checked.as_ref().and_then(|c| c.detail()),
        "in_rotation": !stats.on_probation() && stats.health.takes_work(),
        "on_probation": stats.on_probation(),
        "takes_work": stats.health.takes_work(),
        "in_flight": stats.in_flight(),
        "latency_ewma_ms": ms(stats.latency()),
        "latency_recent_ms": {
            "p50": ms(stats.recent_latency(50.0)),
            "p90": ms(stats.recent_latency(90.0)),
            "p99": ms(stats.recent_latency(99.0)),
        },
        "error_rate": stats.error_rate(),
        "last_error": last_error,
    })
}
