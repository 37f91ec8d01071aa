//! Replicas of a shard: never disrupted together, by an eviction or by a
//! rollout, and spread over nodes.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::DNS_TTL_MS;
use crate::objects::{labels, number, selects, shard_of};
use crate::render::{Tree, trees};

/// The budgets that hold a workload's pods.
fn budgets<'a>(tree: &'a Tree, workload: &Value) -> Vec<&'a Value> {
    let pods = labels(&workload["spec"]["template"]);
    tree.of_kind("PodDisruptionBudget")
        .filter(|b| selects(&b["spec"]["selector"], pods))
        .collect()
}

#[test]
fn every_pod_is_under_exactly_one_disruption_budget() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        // With none a drain takes any number at once; with two the
        // eviction API refuses the pod and the drain hangs.
        for workload in tree.workloads() {
            let name = &workload["metadata"]["name"];
            let count = budgets(tree, workload).len();
            assert_eq!(count, 1, "{}: {name} under {count} budgets", tree.overlay);
        }
    }
}

#[test]
fn a_shards_budget_holds_its_replicas_alone_and_lets_one_go_at_a_time() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        let sets = tree.leaf_sets();
        let shards: BTreeSet<&str> = sets.iter().map(|s| shard_of(s)).collect();
        assert_eq!(
            shards.len(),
            sets.len(),
            "{}: a shard in two sets",
            tree.overlay
        );
        for set in &sets {
            let name = &set["metadata"]["name"];
            let budget = &budgets(tree, set)[0]["spec"];
            for other in sets.iter().filter(|o| shard_of(o) != shard_of(set)) {
                assert!(
                    !selects(&budget["selector"], labels(&other["spec"]["template"])),
                    "{}: the budget of {name} also holds {}",
                    tree.overlay,
                    other["metadata"]["name"]
                );
            }
            let replicas = set["spec"]["replicas"].as_u64().expect("replicas");
            let down = match (
                budget["maxUnavailable"].as_u64(),
                budget["minAvailable"].as_u64(),
            ) {
                (Some(max), None) => max,
                (None, Some(min)) => replicas.saturating_sub(min),
                other => panic!("{}: budget of {name}: {other:?}", tree.overlay),
            };
            assert!(
                down <= 1,
                "{}: {name} lets {down} replicas go at once",
                tree.overlay
            );
        }
    }
}

#[test]
fn a_shards_rollout_replaces_one_replica_at_a_time_once_the_root_can_find_it() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        let interval_ms = tree
            .root()
            .flag("dns-interval-ms")
            .map_or(2_000, |v| number(&v));
        for set in tree.leaf_sets() {
            let name = &set["metadata"]["name"];
            let strategy = &set["spec"]["updateStrategy"];
            assert_ne!(strategy["type"], "OnDelete", "{}: {name}", tree.overlay);
            let at_once = strategy["rollingUpdate"]["maxUnavailable"].as_u64();
            assert!(at_once.unwrap_or(1) <= 1, "{}: {name}", tree.overlay);
            // A new pod counts as up only once its DNS record has been
            // served and the root has resolved the name again.
            let ready_ms = set["spec"]["minReadySeconds"].as_u64().unwrap_or(0) * 1000;
            assert!(
                ready_ms >= DNS_TTL_MS + interval_ms,
                "{}: {name} stops its next pod before the root finds the new one",
                tree.overlay
            );
        }
    }
}

#[test]
fn a_shards_replicas_are_spread_over_nodes() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        let sets = tree.leaf_sets();
        for set in &sets {
            let template = &set["spec"]["template"];
            let pods = labels(template);
            // The pods a constraint counts: its selector, narrowed by the
            // pod's own values of matchLabelKeys. It must count this shard's
            // replicas and no other shard's.
            let spreads_the_shard = template["spec"]["topologySpreadConstraints"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|c| c["topologyKey"] == "kubernetes.io/hostname")
                .any(|c| {
                    let mut selector = c["labelSelector"].clone();
                    for key in c["matchLabelKeys"].as_array().into_iter().flatten() {
                        let key = key.as_str().expect("a key");
                        selector["matchLabels"][key] = pods[key].clone();
                    }
                    selects(&selector, pods)
                        && sets
                            .iter()
                            .filter(|o| shard_of(o) != shard_of(set))
                            .all(|o| !selects(&selector, labels(&o["spec"]["template"])))
                });
            assert!(
                spreads_the_shard,
                "{}: nothing spreads the replicas of {} over nodes",
                tree.overlay, set["metadata"]["name"]
            );
        }
    }
}
