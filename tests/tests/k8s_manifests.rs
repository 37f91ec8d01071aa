//! The Kubernetes manifests under `deploy/k8s`, checked offline — no cluster
//! runs here: against the Kubernetes API schemas with `kubernetes-validate`
//! (PyPI), and for the promises the files make to each other (the root looks
//! up the leaves' Service, the merge listens where the root calls it, pods
//! get the time their drain needs).
//!
//! Without `kubernetes-validate` (and Python's `yaml`, which it brings) the
//! tests are skipped visibly; where it is required (CI) they fail.

use std::path::PathBuf;
use std::process::Command;

use scatter_tests::python;
use scatter_tests::skip::{self, Need};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/k8s");

fn manifest_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(DIR)
        .expect("deploy/k8s exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {DIR}");
    files
}

/// `kubernetes-validate`: beside the tests' Python interpreter (the venv
/// of `tests/python-requirements.txt`), else on the `PATH`.
fn validator() -> PathBuf {
    python::tool("kubernetes-validate")
}

/// Whether the tool runs; skips (or fails where it is required) when it does not.
fn tool_available() -> bool {
    let runs = Command::new(validator())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !runs {
        skip::missing(
            Need::KubernetesValidate,
            "kubernetes-validate is not installed: make the venv of tests/python-requirements.txt \
             (scripts/test.sh does) or pip install kubernetes-validate",
        );
    }
    runs
}

#[test]
fn manifests_are_valid_against_the_kubernetes_schemas() {
    if !tool_available() {
        return;
    }
    let output = Command::new(validator())
        .arg("--strict")
        .args(manifest_files())
        .output()
        .expect("kubernetes-validate runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "invalid manifests:\n{report}");
    assert!(!report.contains("WARN"), "warnings:\n{report}");
}

/// Every document of every manifest, as JSON (PyYAML comes with the tool).
fn documents() -> Vec<Value> {
    let script = "import json, sys, yaml\n\
                  docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]\n\
                  json.dump(docs, sys.stdout)";
    let output = Command::new(python::interpreter())
        .args(["-c", script])
        .args(manifest_files())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "cannot read the YAML: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from python")
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/k8s"))
}

fn env<'a>(container: &'a Value, name: &str) -> &'a str {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .unwrap_or_else(|| panic!("{} has no {name}", container["name"]))
}

fn flag<'a>(container: &'a Value, name: &str) -> &'a str {
    let prefix = format!("--{name}=");
    container["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("{} has no {prefix}", container["name"]))
}

fn number(text: &str) -> u64 {
    text.parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a number"))
}

#[test]
fn root_leaves_and_merge_agree_on_names_ports_shards_and_drain_times() {
    if !tool_available() {
        return;
    }
    let docs = documents();

    // Leaves: a StatefulSet behind a headless Service; the ordinal is the shard.
    let service = find(&docs, "Service", "leaf");
    assert_eq!(
        service["spec"]["clusterIP"], "None",
        "one DNS record per leaf pod"
    );
    let leaves = find(&docs, "StatefulSet", "leaf");
    assert_eq!(leaves["spec"]["serviceName"], "leaf");
    let pod = &leaves["spec"]["template"]["spec"];
    let leaf = &pod["containers"][0];
    assert_eq!(env(leaf, "SCATTER_SHARD"), "ordinal");
    let shard_count = number(env(leaf, "SCATTER_SHARD_COUNT"));
    let pods = leaves["spec"]["replicas"].as_u64().expect("replicas");
    assert!(
        pods >= shard_count && pods.is_multiple_of(shard_count),
        "{pods} leaf pods do not make whole replicas of {shard_count} shards"
    );
    let leaf_drain_ms =
        number(env(leaf, "SCATTER_DRAIN_DELAY_MS")) + number(env(leaf, "SCATTER_GRACE_MS"));
    let leaf_grace_s = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("a grace period");
    assert!(
        leaf_grace_s * 1000 > leaf_drain_ms,
        "the kubelet kills leaves before their drain ends"
    );
    assert_eq!(leaf["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(leaf["livenessProbe"]["httpGet"]["path"], "/healthz");
    let leaf_port = service["spec"]["ports"][0]["port"]
        .as_u64()
        .expect("a port");
    assert!(env(leaf, "SCATTER_LISTEN").ends_with(&format!(":{leaf_port}")));

    // The root finds the leaves through that Service, and calls its sidecar merge.
    let root_pod = &find(&docs, "Deployment", "scatter-root")["spec"]["template"]["spec"];
    let root = &root_pod["containers"][0];
    assert_eq!(flag(root, "leaves-dns"), format!("leaf:{leaf_port}"));
    let merge = root_pod["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "merge")
        .expect("a merge sidecar");
    assert_eq!(
        merge["restartPolicy"], "Always",
        "a native sidecar outlives the root's drain"
    );
    let merge_port = env(merge, "SCATTER_LISTEN")
        .rsplit(':')
        .next()
        .expect("a port");
    assert_eq!(
        flag(root, "merge"),
        format!("http://127.0.0.1:{merge_port}")
    );
    let pre_stop_s = root["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap_or(0);
    let root_grace_s = root_pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("a grace period");
    assert!(
        root_grace_s * 1000 > pre_stop_s * 1000 + number(flag(root, "grace-ms")),
        "the kubelet kills the root before its drain ends"
    );
    assert_eq!(root["readinessProbe"]["httpGet"]["path"], "/readyz");

    // No registry here: images are loaded into the cluster, never pulled.
    for container in [leaf, root, merge] {
        assert_eq!(
            container["imagePullPolicy"], "IfNotPresent",
            "{}",
            container["name"]
        );
    }
}
