//! The Kubernetes manifests under `deploy/k8s`, checked offline — no cluster
//! runs here. Every overlay is rendered with `kubectl kustomize` and checked
//! against the Kubernetes API schemas with `kubernetes-validate` (PyPI), at
//! the version floor the manifests state and at the newest the tool knows;
//! then the rendered objects are checked for what a schema cannot see:
//! replicas of a shard never disrupted together and spread over nodes, one
//! shard count everywhere, a root that finds every leaf and its merge, pods
//! given the time their drain needs, probes on the management endpoints, the
//! restricted Pod Security level, and NetworkPolicies that let only the root
//! reach leaves and clients reach only the root's port.
//!
//! Without `kubectl` or `kubernetes-validate` (and Python's `yaml`, which it
//! brings) the tests are skipped visibly; where they are required (CI) they fail.
//!
//! One module per family of checks: [`schema`], [`disruption`], [`wiring`],
//! [`pods`], [`network`]; [`render`] and [`objects`] read what they check.

mod disruption;
mod network;
mod objects;
mod pods;
mod render;
mod schema;
mod wiring;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/k8s");

/// The oldest Kubernetes the manifests state they run on (deploy/k8s/README.md).
const FLOOR: &str = "1.30.0";

/// The label that says which shard a leaf serves.
const SHARD_LABEL: &str = "scatter/shard";

/// How long CoreDNS may keep a leaf's record (its `kubernetes` plugin's TTL).
const DNS_TTL_MS: u64 = 5_000;

/// The SDKs' and the root's default `--grace-ms`.
const DEFAULT_GRACE_MS: u64 = 10_000;
