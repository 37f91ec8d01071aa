//! Where a merge listens, how many merges it runs at once, and how it drains.

use std::net::SocketAddr;

use scatter_management::{Error, Flag, Flags, ServeOptions};

/// A merge's settings, from flags and environment variables:
/// `--listen` / `SCATTER_LISTEN` (default `127.0.0.1:50050`),
/// `--grace-ms` / `SCATTER_GRACE_MS`, `--drain-delay-ms` / `SCATTER_DRAIN_DELAY_MS`,
/// `--max-in-flight` / `SCATTER_MAX_IN_FLIGHT` (default 0, no cap: past N
/// merges running, a merge is refused at once with `RESOURCE_EXHAUSTED`
/// before its `begin` is read, counted as
/// `scatter_merge_requests_total{outcome="refused"}`).
#[derive(Clone, Debug)]
pub struct MergeOptions {
    /// The gRPC (and admin HTTP) address. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// Drain behaviour on SIGTERM, and the in-flight cap
    /// (`serve.max_in_flight`).
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
    /// The flags a merge knows besides [`scatter_management::SERVE_FLAGS`];
    /// a merge with flags of its own passes both sets to [`Flags::from_env`].
    pub const FLAGS: &[Flag] = &[Flag {
        name: "listen",
        env: "SCATTER_LISTEN",
        value: Some("ADDR"),
        help: "the gRPC and admin HTTP address; port 0 picks a free one \
               [default: 127.0.0.1:50050]",
    }];

    /// Reads this process's flags and environment; `--help` lists the
    /// flags and exits, an unknown flag is refused (see [`Flags::from_env`]).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_flags(&Flags::from_env(&[Self::FLAGS]))
    }

    /// Reads the given flags (and the environment for flags not given).
    ///
    /// # Panics
    /// When `flags` were not parsed with [`MergeOptions::FLAGS`].
    pub fn from_flags(flags: &Flags) -> Result<Self, Error> {
        Ok(Self {
            listen: flags.parse("listen", Self::default().listen)?,
            serve: flags.serve_options()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<MergeOptions, Error> {
        let flags = Flags::from_args(&[MergeOptions::FLAGS], args.iter().map(|s| (*s).to_owned()))?;
        MergeOptions::from_flags(&flags)
    }

    #[test]
    fn max_in_flight_caps_the_merge_and_a_bad_one_is_refused_naming_the_flag() {
        let o = parse(&["--max-in-flight=4"]).unwrap();
        assert_eq!(o.serve.max_in_flight.map(|n| n.get()), Some(4));
        let err = parse(&["--max-in-flight", "many"]).unwrap_err().to_string();
        assert!(
            err.contains("--max-in-flight") && err.contains("many"),
            "{err}"
        );
    }
}
