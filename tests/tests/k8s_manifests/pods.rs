//! What every pod gets: time for its drain, probes on the management
//! endpoints, the restricted Pod Security level.

use serde_json::Value;

use crate::render::trees;

#[test]
fn pods_get_the_time_their_drain_needs() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        for container in tree.containers() {
            let grace_s = container.template["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap_or_else(|| panic!("{}: no grace period", container.name()));
            let drain_ms = container.drain_ms();
            assert!(
                grace_s * 1000 >= drain_ms,
                "{}: killed after {grace_s} s, before its drain of {drain_ms} ms ends",
                container.name()
            );
        }
    }
}

#[test]
fn probes_ask_the_management_endpoints_on_the_serving_port() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        for container in tree.containers() {
            let port = container.listen_port();
            for (probe, path) in [
                ("livenessProbe", "/healthz"),
                ("readinessProbe", "/readyz"),
                ("startupProbe", "/healthz"),
            ] {
                if probe == "startupProbe" && container.spec[probe].is_null() {
                    continue;
                }
                let get = &container.spec[probe]["httpGet"];
                assert_eq!(get["path"], path, "{}: {probe}", container.name());
                assert_eq!(
                    container.port(&get["port"]),
                    Some(port),
                    "{}: {probe}",
                    container.name()
                );
            }
        }
    }
}

#[test]
fn every_container_meets_the_restricted_pod_security_level() {
    let Some(trees) = trees() else { return };
    for tree in &trees {
        for container in tree.containers() {
            let name = container.name();
            let pod = &container.template["spec"];
            let own = &container.spec["securityContext"];
            // A container's own setting wins over the pod's.
            let setting = |key: &str| {
                if own[key].is_null() {
                    pod["securityContext"][key].clone()
                } else {
                    own[key].clone()
                }
            };
            assert_eq!(setting("runAsNonRoot"), true, "{name}: runAsNonRoot");
            assert_ne!(setting("runAsUser"), 0, "{name}: runs as root");
            let seccomp = setting("seccompProfile");
            assert!(
                seccomp["type"] == "RuntimeDefault" || seccomp["type"] == "Localhost",
                "{name}: seccompProfile {seccomp}"
            );
            assert_eq!(
                own["allowPrivilegeEscalation"], false,
                "{name}: allowPrivilegeEscalation"
            );
            assert_ne!(own["privileged"], true, "{name}: privileged");
            let drops: Vec<&Value> = own["capabilities"]["drop"]
                .as_array()
                .into_iter()
                .flatten()
                .collect();
            assert!(
                drops.iter().any(|c| *c == "ALL"),
                "{name}: capabilities not dropped"
            );
            for added in own["capabilities"]["add"].as_array().into_iter().flatten() {
                assert_eq!(added, "NET_BIND_SERVICE", "{name}: adds a capability");
            }
            assert_eq!(
                own["readOnlyRootFilesystem"], true,
                "{name}: writable root filesystem"
            );
            for host in ["hostNetwork", "hostPID", "hostIPC"] {
                assert_ne!(pod[host], true, "{name}: {host}");
            }
            for port in container.spec["ports"].as_array().into_iter().flatten() {
                assert!(port["hostPort"].is_null(), "{name}: a hostPort");
            }
            for volume in pod["volumes"].as_array().into_iter().flatten() {
                assert!(volume["hostPath"].is_null(), "{name}: a hostPath volume");
            }
        }
    }
}
