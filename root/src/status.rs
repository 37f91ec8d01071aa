//! The root's part of `/status`: the tree as the root sees it — per replica
//! its health, whether it is in rotation, its load, latency, errors and the
//! last error a call ended with — and why the root is or is not ready.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::engine::Engine;
use crate::readiness::Readiness;
use crate::topology::Replica;

/// A `/status` reporter for `engine`, with the readiness checks' outcome.
pub fn reporter<S: Send + Sync + 'static>(
    engine: Arc<Engine<S>>,
    readiness: Arc<Readiness>,
) -> impl Fn() -> Value + Send + Sync + 'static {
    move || {
        let snapshot = engine.topology.snapshot();
        let shards: Vec<Value> = snapshot
            .shards
            .iter()
            .map(|shard| {
                let replicas: Vec<Value> = shard.replicas.iter().map(|r| replica(r)).collect();
                json!({
                    "shard": shard.id,
                    "hedge_delay_ms": shard.stats.delay_gauge.get().as_secs_f64() * 1e3,
                    "replicas": replicas,
                })
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
            "shards": shards,
        })
    }
}

/// One replica: `serving` is `null` before its first health check.
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
    json!({
        "addr": r.addr,
        "serving": checked.as_ref().map(|c| c.is_serving()),
        "health": checked.as_ref().map(|c| c.word()),
        "health_detail": checked.as_ref().and_then(|c| c.detail()),
        "in_rotation": !stats.on_probation(),
        "on_probation": stats.on_probation(),
        "in_flight": stats.in_flight(),
        "latency_ewma_ms": stats.latency().map(|d| d.as_secs_f64() * 1e3),
        "error_rate": stats.error_rate(),
        "last_error": last_error,
    })
}
