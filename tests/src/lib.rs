//! The harness of Scatter's end-to-end tests: real `scatter`, leaf and merge
//! processes on loopback ports, driven over gRPC and HTTP, with conditions
//! polled against a deadline instead of sleeps.
//!
//! Read in this order:
//! - [`binary`]: where the executables under test are;
//! - [`process`]: a child process owned by one test, killed when the test
//!   ends (pass or fail), its output printed when the test fails;
//! - [`server`]: a child serving gRPC, health and `/metrics` on one port;
//! - [`script`]: what the test leaf and the test merge do, chosen per request;
//! - [`tree`]: starting leaves, merges and roots;
//! - [`root`]: a running root and the queries sent to it;
//! - [`load`]: steady load on a root, every call recorded;
//! - [`paced`]: queries at a bounded rate, every outcome recorded;
//! - [`raw`]: a gRPC call with a body of any bytes, for malformed requests;
//! - [`flood`]: a leaf and merge that answer far more than any limit;
//! - [`fuzz`]: property tests against running processes;
//! - [`skip`]: what a test needs beyond Rust, and the visible record of a skip;
//! - [`python`]: Python leaves and clients, skipped where Python is missing;
//! - [`check`]: `scatter check` run as a user would, its JSON report read;
//! - [`chromium`]: pages loaded in headless Chromium, skipped where it is missing;
//! - [`tls`]: a CA and certificates made at run time, as PEM files;
//! - [`poll`]: waiting for a condition, with a deadline.

pub mod admin;
pub mod binary;
pub mod check;
pub mod chromium;
pub mod flood;
pub mod fuzz;
pub mod load;
pub mod paced;
pub mod poll;
pub mod process;
pub mod python;
pub mod raw;
pub mod root;
pub mod script;
pub mod server;
pub mod skip;
pub mod swarm;
pub mod tls;
pub mod tree;

pub use binary::binary;
pub use poll::eventually;
pub use process::ChildProcess;
pub use root::{Query, Root};
pub use script::{LeafPartial, MergedPartial, MergedResult, Script};
pub use server::{Server, free_port};
pub use tree::{LeafFlags, Tree};

/// The README's Rust examples (the leaf, the merge, the embedded library),
/// compiled as doc-tests so they cannot drift from the SDKs.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
