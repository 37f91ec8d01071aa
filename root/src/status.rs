//! The root's part of `/status`: the tree as the root sees it.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::engine::Engine;

/// A `/status` reporter for `engine`.
pub fn reporter<S: Send + Sync + 'static>(
    engine: Arc<Engine<S>>,
) -> impl Fn() -> Value + Send + Sync + 'static {
    move || {
        let snapshot = engine.topology.snapshot();
        let shards: Vec<Value> = snapshot
            .shards
            .iter()
            .map(|shard| {
                let replicas: Vec<Value> = shard
                    .replicas
                    .iter()
                    .map(|r| {
                        json!({
                            "addr": r.addr,
                            "latency_ewma_ms": r.stats.latency().map(|d| d.as_secs_f64() * 1e3),
                            "error_rate": r.stats.error_rate(),
                            "in_flight": r.stats.in_flight(),
                            "on_probation": r.stats.on_probation(),
                        })
                    })
                    .collect();
                json!({ "shard": shard.id, "replicas": replicas })
            })
            .collect();
        json!({
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
