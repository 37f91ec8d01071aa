//! The NetworkPolicies: only root pods reach leaves, and leaves call nobody;
//! clients reach the root's port but not its merge sidecar's; and the root,
//! policed as well, can still call the leaves and resolve their name.

use serde_json::Value;

use crate::objects::{labels, pod_port, selects};
use crate::render::{Tree, trees};

/// The policies that select pods with `labels` in `direction` (Ingress, Egress).
fn policies<'a>(tree: &'a Tree, labels: &Value, direction: &str) -> Vec<&'a Value> {
    tree.of_kind("NetworkPolicy")
        .filter(|p| selects(&p["spec"]["podSelector"], labels))
        .filter(|p| {
            p["spec"]["policyTypes"]
                .as_array()
                .is_some_and(|types| types.iter().any(|t| t == direction))
        })
        .collect()
}

/// Their rules (`ingress` or `egress`): what they admit, together.
fn rules(policies: &[&Value], key: &str) -> Vec<Value> {
    policies
        .iter()
        .flat_map(|p| p["spec"][key].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn leaves_admit_root_pods_alone_on_their_port_and_call_nobody() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        let roots = labels(tree.root().template);
        let leaves = tree.leaves();
        for leaf in &leaves {
            let pods = labels(leaf.template);
            let ingress = policies(tree, pods, "Ingress");
            assert!(!ingress.is_empty(), "{}: no ingress policy", leaf.name());
            for rule in rules(&ingress, "ingress") {
                let peers = rule["from"].as_array().unwrap_or_else(|| {
                    panic!("{}: a rule without `from` admits every pod", leaf.name())
                });
                for peer in peers {
                    let from = &peer["podSelector"];
                    assert!(
                        peer["namespaceSelector"].is_null() && peer["ipBlock"].is_null(),
                        "{}: admits {peer}",
                        leaf.name()
                    );
                    assert!(selects(from, roots), "{}: {peer} is no root", leaf.name());
                    assert!(
                        leaves.iter().all(|l| !selects(from, labels(l.template))),
                        "{}: {peer} admits leaves",
                        leaf.name()
                    );
                }
                let ports: Vec<Option<u64>> = rule["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| pod_port(leaf.template, &p["port"]))
                    .collect();
                assert_eq!(
                    ports,
                    [Some(leaf.listen_port())],
                    "{}: ports admitted",
                    leaf.name()
                );
            }
            let egress = policies(tree, pods, "Egress");
            assert!(!egress.is_empty(), "{}: no egress policy", leaf.name());
            let calls = rules(&egress, "egress");
            assert!(calls.is_empty(), "{}: may call {calls:?}", leaf.name());
        }
    }
}

#[test]
fn clients_reach_the_roots_port_and_not_its_merge_sidecar() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        let root = tree.root();
        let ingress = rules(&policies(tree, labels(root.template), "Ingress"), "ingress");
        assert!(!ingress.is_empty(), "{}: nobody reaches", root.name());
        for rule in &ingress {
            // A rule without ports opens every port of the pod, the merge's too.
            let ports: Vec<Option<u64>> = rule["ports"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: every port is open", root.name()))
                .iter()
                .map(|p| pod_port(root.template, &p["port"]))
                .collect();
            assert_eq!(
                ports,
                [Some(root.listen_port())],
                "{}: ports open",
                root.name()
            );
        }
    }
}

#[test]
fn the_root_may_still_call_the_leaves_and_resolve_their_name() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        let root = tree.root();
        let out = policies(tree, labels(root.template), "Egress");
        if out.is_empty() {
            continue;
        }
        let egress = rules(&out, "egress");
        for leaf in tree.leaves() {
            assert!(
                egress
                    .iter()
                    .any(|rule| admits(rule, leaf.template, leaf.listen_port())),
                "{}: cannot call {}",
                root.name(),
                leaf.name()
            );
        }
        let on = |port: &Value, protocol: &str| port["port"] == 53 && port["protocol"] == protocol;
        let resolves = egress.iter().any(|rule| {
            let ports = rule["ports"].as_array().cloned().unwrap_or_default();
            ports.iter().any(|p| on(p, "UDP")) && ports.iter().any(|p| on(p, "TCP"))
        });
        assert!(resolves, "{}: cannot resolve names", root.name());
    }
}

/// Whether an egress rule lets a pod call pods of `template` on `port` (a
/// rule without `to` or `ports` admits every pod or port).
fn admits(rule: &Value, template: &Value, port: u64) -> bool {
    let to = rule["to"].as_array().is_none_or(|peers| {
        peers.iter().any(|peer| {
            peer["namespaceSelector"].is_null() && selects(&peer["podSelector"], labels(template))
        })
    });
    let on_port = rule["ports"].as_array().is_none_or(|ports| {
        ports
            .iter()
            .any(|p| pod_port(template, &p["port"]) == Some(port))
    });
    to && on_port
}
