//! Fault tests with real containers: the Docker runtime's tree (leaf and
//! merge containers on a private network, a root on the host) under steady
//! load while a container is killed, frozen, cut off the network, stopped
//! ([`faults`]); the root itself in a container with the merge as its
//! sidecar ([`sidecar`]); the compose file with DNS discovery ([`compose`]);
//! mTLS with certificates mounted into the containers ([`tls`]); and the
//! sweep of a dead run's leftovers ([`sweep`]); and `scatter check --image`
//! against the example images ([`check`]); and the images' size, user and
//! labels ([`images`]).
//!
//! They run when a Docker engine answers and the images are built
//! (`deploy/build-images.sh`, which `scripts/test.sh` runs); under
//! `SCATTER_REQUIRE_DOCKER=1` or `SCATTER_REQUIRE_ALL=1` (CI) a missing
//! engine or image fails them instead. Every test removes its
//! containers and network, also when it fails.

mod check;
mod compose;
mod engine;
mod faults;
mod images;
mod load;
mod sidecar;
mod sweep;
mod tls;
mod tree;
