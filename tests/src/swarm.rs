//! A Docker Swarm stack as the swarm test drives it: a single-node swarm
//! joined or made for the test and left again ([`Swarm`]), the stack of
//! `deploy/swarm/stack.yaml` deployed under a name of its own and removed
//! whatever happens ([`Stack`]), and queries sent at a bounded rate while
//! its services are replaced ([`PacedLoad`]).
//!
//! Everything goes through the `docker` command line, as an operator would
//! type it, and touches only what the test created: its stack's services,
//! tasks and network, and the swarm only when the engine was in none.

mod cli;
mod cluster;
mod stack;

pub use crate::paced::{Outcome, PacedLoad};
pub use cluster::Swarm;
pub use stack::{Roll, Stack, unique_name};
