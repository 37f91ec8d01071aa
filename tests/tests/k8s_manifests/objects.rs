//! Reading the rendered objects: workloads, their containers as they run
//! (variables resolved from labels and ConfigMaps), label selectors and ports.

use serde_json::Value;

use crate::render::Tree;
use crate::{DEFAULT_GRACE_MS, SHARD_LABEL};

impl Tree {
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.docs.iter().filter(move |d| d["kind"] == kind)
    }

    /// Every Deployment and StatefulSet: whatever runs pods.
    pub fn workloads(&self) -> Vec<&Value> {
        self.of_kind("Deployment")
            .chain(self.of_kind("StatefulSet"))
            .collect()
    }

    pub fn component(&self, component: &str) -> Vec<&Value> {
        let found: Vec<&Value> = self
            .workloads()
            .into_iter()
            .filter(|w| w["metadata"]["labels"]["app.kubernetes.io/component"] == component)
            .collect();
        assert!(
            !found.is_empty(),
            "{}: no {component} workload",
            self.overlay
        );
        found
    }

    pub fn leaf_sets(&self) -> Vec<&Value> {
        self.component("leaf")
    }

    pub fn root(&self) -> Container<'_> {
        let roots = self.component("root");
        assert_eq!(roots.len(), 1, "{}: one root Deployment", self.overlay);
        let template = &roots[0]["spec"]["template"];
        let spec = containers(template)
            .into_iter()
            .find(|c| c["name"] == "root")
            .unwrap_or_else(|| panic!("{}: no container named root", self.overlay));
        Container {
            tree: self,
            template,
            spec,
        }
    }

    /// The leaf containers: those whose pods carry a shard.
    pub fn leaves(&self) -> Vec<Container<'_>> {
        self.containers()
            .into_iter()
            .filter(|c| labels(c.template)[SHARD_LABEL].is_string())
            .collect()
    }

    /// The containers of every workload, sidecars included.
    pub fn containers(&self) -> Vec<Container<'_>> {
        self.workloads()
            .into_iter()
            .flat_map(|w| {
                let template = &w["spec"]["template"];
                containers(template).into_iter().map(move |spec| Container {
                    tree: self,
                    template,
                    spec,
                })
            })
            .collect()
    }

    pub fn config_map(&self, name: &str, key: &str) -> Option<String> {
        self.of_kind("ConfigMap")
            .find(|c| c["metadata"]["name"] == name)
            .and_then(|c| c["data"][key].as_str())
            .map(str::to_owned)
    }
}

/// A pod template's containers and init containers (native sidecars run too).
pub fn containers(template: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|key| template["spec"][key].as_array().into_iter().flatten())
        .collect()
}

pub fn labels(template: &Value) -> &Value {
    &template["metadata"]["labels"]
}

/// Whether a label selector picks pods with these labels; an empty
/// selector picks every pod, a missing one none.
pub fn selects(selector: &Value, labels: &Value) -> bool {
    if selector.is_null() {
        return false;
    }
    let label = |key: &str| labels[key].as_str();
    let by_label = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k) == v.as_str());
    let by_expression = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().expect("a key");
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match e["operator"].as_str() {
                Some("In") => label(key).is_some_and(|v| values.contains(&v)),
                Some("NotIn") => !label(key).is_some_and(|v| values.contains(&v)),
                Some("Exists") => label(key).is_some(),
                Some("DoesNotExist") => label(key).is_none(),
                other => panic!("unknown selector operator {other:?}"),
            }
        });
    by_label && by_expression
}

/// A container as it runs: its pod's labels and the tree's ConfigMaps give
/// its variables their values.
pub struct Container<'a> {
    pub tree: &'a Tree,
    pub template: &'a Value,
    pub spec: &'a Value,
}

impl Container<'_> {
    pub fn name(&self) -> String {
        format!("{}: {}", self.tree.overlay, self.spec["name"])
    }

    pub fn var(&self, name: &str) -> Option<String> {
        let var = self.spec["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == name)?;
        if let Some(value) = var["value"].as_str() {
            return Some(value.to_owned());
        }
        let from = &var["valueFrom"];
        if let Some(path) = from["fieldRef"]["fieldPath"].as_str() {
            let key = path
                .strip_prefix("metadata.labels['")
                .and_then(|k| k.strip_suffix("']"))
                .unwrap_or_else(|| panic!("{}: {name} from {path}", self.name()));
            return labels(self.template)[key].as_str().map(str::to_owned);
        }
        let map = &from["configMapKeyRef"];
        let (map_name, key) = (map["name"].as_str()?, map["key"].as_str()?);
        let value = self.tree.config_map(map_name, key);
        assert!(
            value.is_some(),
            "{}: {name} from a missing ConfigMap {map_name}",
            self.name()
        );
        value
    }

    pub fn flag(&self, name: &str) -> Option<String> {
        let prefix = format!("--{name}=");
        self.spec["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find_map(|a| a.strip_prefix(prefix.as_str()))
            .map(str::to_owned)
    }

    /// A setting as the SDKs and the root read it: the flag, else the variable.
    pub fn setting(&self, flag: &str, var: &str) -> Option<String> {
        self.flag(flag).or_else(|| self.var(var))
    }

    fn millis(&self, flag: &str, var: &str, default: u64) -> u64 {
        self.setting(flag, var).map_or(default, |v| number(&v))
    }

    /// The port gRPC and the management endpoints share.
    pub fn listen_port(&self) -> u64 {
        let listen = self
            .setting("listen", "SCATTER_LISTEN")
            .unwrap_or_else(|| panic!("{}: no listen address", self.name()));
        number(listen.rsplit(':').next().expect("a port"))
    }

    /// The number a probe's port names: a number, or one of this container's port names.
    pub fn port(&self, port: &Value) -> Option<u64> {
        port.as_u64()
            .or_else(|| named_port(self.spec, port.as_str()?))
    }

    /// How long its drain may take after the kubelet starts stopping it.
    pub fn drain_ms(&self) -> u64 {
        let pre_stop_s = self.spec["lifecycle"]["preStop"]["sleep"]["seconds"]
            .as_u64()
            .unwrap_or(0);
        pre_stop_s * 1000
            + self.millis("drain-delay-ms", "SCATTER_DRAIN_DELAY_MS", 0)
            + self.millis("grace-ms", "SCATTER_GRACE_MS", DEFAULT_GRACE_MS)
    }
}

fn named_port(container: &Value, name: &str) -> Option<u64> {
    container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
}

/// The number a NetworkPolicy or Service port names on pods of `template`.
pub fn pod_port(template: &Value, port: &Value) -> Option<u64> {
    port.as_u64().or_else(|| {
        let name = port.as_str()?;
        containers(template)
            .into_iter()
            .find_map(|c| named_port(c, name))
    })
}

pub fn number(text: &str) -> u64 {
    text.parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a number"))
}

/// The shard a leaf StatefulSet's pods carry on their label.
pub fn shard_of(set: &Value) -> &str {
    labels(&set["spec"]["template"])[SHARD_LABEL]
        .as_str()
        .unwrap_or_else(|| panic!("{} has no {SHARD_LABEL} label", set["metadata"]["name"]))
}
