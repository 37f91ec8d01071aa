//! Where a merge listens and how it drains.

use std::net::SocketAddr;

use scatter_management::{Error, Flags, ServeOptions};

/// A merge's settings, from flags and environment variables:
/// `--listen` / `SCATTER_LISTEN` (default `127.0.0.1:50050`),
/// `--grace-ms` / `SCATTER_GRACE_MS`, `--drain-delay-ms` / `SCATTER_DRAIN_DELAY_MS`.
#[derive(Clone, Debug)]
pub struct MergeOptions {
    /// The gRPC (and admin HTTP) address. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Drain behaviour on SIGTERM.
    pub serve: ServeOptions,
}

impl Default for MergeOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50050)),
            serve: ServeOptions::default(),
        }
    }
}

impl MergeOptions {
    /// Reads this process's flags and environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_flags(&Flags::from_env())
    }

    /// Reads the given flags (and the environment for flags not given).
    pub fn from_flags(flags: &Flags) -> Result<Self, Error> {
        Ok(Self {
            listen: flags.parse("listen", "SCATTER_LISTEN", Self::default().listen)?,
            serve: flags.serve_options()?,
        })
    }
}
