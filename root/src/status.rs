//! The root's part of `/status`: the tree as the root sees it.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::fanout::Engine;

/// A `/status` reporter for `engine`.
pub fn reporter(engine: Arc<Engine>) -> impl Fn() -> Value + Send + Sync + 'static {
    move || {
        let topology = engine.discovery.snapshot();
        let shards: Vec<Value> = topology
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
            "hedging": engine.config.hedge.enabled,
            "shards": shards,
        })
    }
}
