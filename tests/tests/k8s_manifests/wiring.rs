//! What the root, the leaves and the merge must agree on: the shard count,
//! the names the root resolves, the port it calls the merge on.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::SHARD_LABEL;
use crate::objects::{Container, containers, labels, number, pod_port, selects};
use crate::render::trees;

#[test]
fn root_and_leaves_agree_on_the_shard_count_and_every_shard_is_deployed() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        let count = tree
            .root()
            .setting("shard-count", "SCATTER_SHARD_COUNT")
            .map(|v| number(&v))
            .unwrap_or_else(|| panic!("{}: the root has no shard count", tree.overlay));
        let mut served = BTreeSet::new();
        for leaf in tree.leaves() {
            let leaf_count = leaf
                .setting("shard-count", "SCATTER_SHARD_COUNT")
                .map(|v| number(&v));
            assert_eq!(leaf_count, Some(count), "{}", leaf.name());
            let shard = leaf.setting("shard", "SCATTER_SHARD").map(|v| number(&v));
            assert_eq!(
                shard.map(|s| s.to_string()).as_deref(),
                labels(leaf.template)[SHARD_LABEL].as_str(),
                "{}: serves another shard than its label says",
                leaf.name()
            );
            served.extend(shard);
        }
        let expected: BTreeSet<u64> = (0..count).collect();
        assert_eq!(served, expected, "{}: the shards deployed", tree.overlay);
        for set in tree.leaf_sets() {
            assert!(set["spec"]["replicas"].as_u64().unwrap_or(1) >= 1);
        }
    }
}

#[test]
fn the_root_finds_every_leaf_by_dns_and_calls_its_merge_sidecar() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        let root = tree.root();
        let names: Vec<String> = root.spec["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str()?.strip_prefix("--leaves-dns="))
            .map(str::to_owned)
            .collect();
        assert!(
            !names.is_empty(),
            "{}: the root has no --leaves-dns",
            tree.overlay
        );
        let services: Vec<&Value> = names
            .iter()
            .map(|name| {
                let (host, port) = name.rsplit_once(':').expect("NAME:PORT");
                let service = tree
                    .of_kind("Service")
                    .find(|s| s["metadata"]["name"] == host)
                    .unwrap_or_else(|| panic!("{}: no Service {host}", tree.overlay));
                assert_eq!(
                    service["spec"]["clusterIP"], "None",
                    "{host}: one record per pod"
                );
                let service_port = service["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| p["port"].as_u64() == Some(number(port)))
                    .unwrap_or_else(|| panic!("{}: {host} has no port {port}", tree.overlay));
                // Every leaf it selects listens where the Service sends.
                for leaf in tree.leaves() {
                    if selects(&service["spec"]["selector"], labels(leaf.template)) {
                        assert_eq!(
                            pod_port(leaf.template, &service_port["targetPort"]),
                            Some(leaf.listen_port()),
                            "{}",
                            leaf.name()
                        );
                    }
                }
                service
            })
            .collect();
        for set in tree.leaf_sets() {
            let pods = labels(&set["spec"]["template"]);
            assert!(
                services
                    .iter()
                    .any(|s| selects(&s["spec"]["selector"], pods)),
                "{}: the root resolves no name that finds {}",
                tree.overlay,
                set["metadata"]["name"]
            );
            let governing = set["spec"]["serviceName"].as_str().expect("a serviceName");
            assert!(
                tree.of_kind("Service").any(|s| s["metadata"]["name"] == governing && s["spec"]["clusterIP"] == "None"),
                "{}: no headless Service {governing}",
                tree.overlay
            );
        }
        // The merge: a native sidecar (it outlives the root's drain) on the port the root calls.
        let merge = containers(root.template)
            .into_iter()
            .find(|c| c["name"] == "merge")
            .map(|spec| Container {
                tree,
                template: root.template,
                spec,
            })
            .unwrap_or_else(|| panic!("{}: no merge sidecar", tree.overlay));
        assert_eq!(merge.spec["restartPolicy"], "Always", "{}", merge.name());
        assert_eq!(
            root.flag("merge"),
            Some(format!("http://127.0.0.1:{}", merge.listen_port())),
            "{}",
            root.name()
        );
        // No registry here: images are loaded into the cluster, never pulled.
        for container in tree.containers() {
            assert_eq!(
                container.spec["imagePullPolicy"],
                "IfNotPresent",
                "{}",
                container.name()
            );
        }
    }
}
