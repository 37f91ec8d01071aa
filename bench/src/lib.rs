//! scatter-bench: how Scatter's fan-out compares with what users would
//! otherwise write, measured honestly.
//!
//! A run starts real processes on loopback — bench leaves whose service
//! times follow a seeded [`model`], and per mode the system under test —
//! then sends requests on an open-loop [`schedule`] (never waiting for
//! earlier responses), records each latency from its due time into
//! HdrHistograms ([`recorder`]), and reports percentiles, leaf calls, CPU
//! and ratios against a hand-written fan-out and against the oracle bound
//! ([`report`], [`plot`]). The [`modes`] are `direct`, `plain-fanout`,
//! `plain-root` (the hand-written fan-out as a root process of its own,
//! [`plain_root`]), `tower-hedge`, `scatter`, `scatter-embedded` (Scatter's
//! fan-out as a library in the client), `scatter-hedge`, `scatter-stream`
//! (`scatter-hedge`'s root answering progressively, timed at k of N
//! shards) and `scatter-merge`; the [`scenarios`] say which run where. [`run`] drives
//! it all. `overload` first finds a [`capacity`], then offers multiples of
//! it, some with mixed [`priority`] classes.

pub mod capacity;
pub mod counters;
pub mod cpu;
pub mod fleet;
pub mod leaf;
pub mod metrics;
pub mod model;
pub mod modes;
pub mod pauses;
pub mod plain_root;
pub mod plot;
pub mod priority;
pub mod query_of_death;
pub mod recorder;
pub mod report;
pub mod run;
pub mod scenarios;
pub mod schedule;
pub mod timer;
pub mod topology;
pub mod wire;
pub mod work;
