//! Where leaves and merges come from: processes on this machine (the
//! default) or containers. A runtime starts them, watches them, and stops
//! them all when the root exits.

pub mod docker;
pub mod process;
