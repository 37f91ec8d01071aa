//! Where leaves come from: the sources that tell the [`Topology`] which
//! replicas serve which shard. The static list is the configuration's
//! `shards`; [`dns`] re-resolves names (a Kubernetes headless service, a
//! compose service); the runtimes (`runtime::process`, `runtime::docker`)
//! report the leaves they start. Each source hands the tree a whole new
//! list, and the topology keeps what it already knew of replicas that stay.
//!
//! [`Topology`]: crate::topology::Topology

pub mod dns;
