//! Tests of the fan-out: replica choice and probation on replicas whose
//! statistics the tests set, and one shard's attempts driven by an
//! in-memory leaf service in paused time, with what the leaves say early.

mod choose;
mod early;
mod refused;
mod shard;
