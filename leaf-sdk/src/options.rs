//! Where a leaf listens, which shard it serves, how many calls it runs at
//! once, and how it drains.

use std::net::SocketAddr;
use std::num::NonZeroUsize;

use scatter_management::{Error, Flag, Flags, ServeOptions};

/// A leaf's settings, from flags and environment variables.
#[derive(Clone, Debug)]
pub struct LeafOptions {
    /// The gRPC (and admin HTTP) address. Port 0 picks a free port.
    pub listen: SocketAddr,
    /// The shard this leaf serves, 0-based.
    pub shard: u32,
    /// How many shards make the whole.
    pub shard_count: u32,
    /// Drain behaviour on SIGTERM, and the in-flight cap
    /// (`serve.max_in_flight`).
    pub serve: ServeOptions,
    /// Calls that run the leaf's method at once; more wait in arrival
    /// order, are reported to the root as queued, and start (telling a
    /// tied root so) when a slot frees. `None`: every call starts at once.
    pub max_concurrency: Option<NonZeroUsize>,
}

impl Default for LeafOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            shard: 0,
            shard_count: 1,
            serve: ServeOptions::default(),
            max_concurrency: None,
        }
    }
}

impl LeafOptions {
    /// The flags a leaf knows besides [`scatter_management::SERVE_FLAGS`];
    /// a leaf with flags of its own passes both sets to [`Flags::from_env`].
    pub const FLAGS: &[Flag] = &[
        Flag {
            name: "listen",
            env: "SCATTER_LISTEN",
            value: Some("ADDR"),
            help: "the gRPC and admin HTTP address; port 0 picks a free one \
                   [default: 127.0.0.1:50051]",
        },
        Flag {
            name: "shard",
            env: "SCATTER_SHARD",
            value: Some("N|ordinal"),
            help: "the shard served, 0-based, or `ordinal`: the host name's trailing \
                   number modulo the shard count [default: 0]",
        },
        Flag {
            name: "shard-count",
            env: "SCATTER_SHARD_COUNT",
            value: Some("N"),
            help: "how many shards make the whole [default: 1]",
        },
        Flag {
            name: "max-concurrency",
            env: "SCATTER_MAX_CONCURRENCY",
            value: Some("N"),
            help: "calls worked on at once; more wait their turn in arrival order and are \
                   reported to the root as queued [default: 0, no limit]",
        },
    ];

    /// Reads this process's flags and environment; `--help` lists the
    /// flags and exits, an unknown flag is refused (see [`Flags::from_env`]).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_flags(&Flags::from_env(&[Self::FLAGS]))
    }

    /// Reads the given flags (and the environment for flags not given).
    ///
    /// # Panics
    /// When `flags` were not parsed with [`LeafOptions::FLAGS`].
    pub fn from_flags(flags: &Flags) -> Result<Self, Error> {
        let defaults = Self::default();
        let shard_count = flags.parse("shard-count", defaults.shard_count)?;
        let shard = match flags.get("shard").as_deref() {
            Some("ordinal") => ordinal_shard(shard_count)?,
            _ => flags.parse("shard", defaults.shard)?,
        };
        let options = Self {
            listen: flags.parse("listen", defaults.listen)?,
            shard,
            shard_count,
            serve: flags.serve_options()?,
            max_concurrency: NonZeroUsize::new(flags.parse("max-concurrency", 0usize)?),
        };
        options.validate()
    }

    fn validate(self) -> Result<Self, Error> {
        if self.shard_count == 0 || self.shard >= self.shard_count {
            return Err(Error::Flag {
                flag: "--shard / --shard-count".into(),
                value: format!("{} of {}", self.shard, self.shard_count),
                reason: "the shard must be below the shard count, and the count above 0".into(),
            });
        }
        Ok(self)
    }
}

/// The shard of a StatefulSet pod: its ordinal (`leaf-7` → 7) modulo the
/// shard count, so ordinals `s, s + N, s + 2N...` are replicas of shard `s`.
fn ordinal_shard(shard_count: u32) -> Result<u32, Error> {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    let host = host.trim();
    let digits: String = host
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let bad = |reason: &str| Error::Flag {
        flag: "--shard ordinal".into(),
        value: host.to_owned(),
        reason: reason.into(),
    };
    let ordinal: u32 = digits
        .parse()
        .map_err(|_| bad("the host name does not end in a number"))?;
    if shard_count == 0 {
        return Err(bad("the shard count must be above 0"));
    }
    Ok(ordinal % shard_count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<LeafOptions, Error> {
        let flags = Flags::from_args(&[LeafOptions::FLAGS], args.iter().map(|s| (*s).to_owned()))?;
        LeafOptions::from_flags(&flags)
    }

    #[test]
    fn reads_listen_shard_and_count() {
        let o = parse(&[
            "--listen",
            "127.0.0.1:7000",
            "--shard",
            "2",
            "--shard-count",
            "4",
        ])
        .unwrap();
        assert_eq!(o.listen.port(), 7000);
        assert_eq!((o.shard, o.shard_count), (2, 4));
    }

    #[test]
    fn shard_outside_count_is_refused_with_reason() {
        let err = parse(&["--shard", "4", "--shard-count", "4"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("below the shard count"), "{err}");
    }

    #[test]
    fn max_in_flight_caps_the_leaf_and_a_bad_one_is_refused_naming_the_flag() {
        let o = parse(&["--max-in-flight", "8"]).unwrap();
        assert_eq!(o.serve.max_in_flight.map(|n| n.get()), Some(8));
        let err = parse(&["--max-in-flight", "-1"]).unwrap_err().to_string();
        assert!(err.contains("--max-in-flight"), "{err}");
    }

    #[test]
    fn max_concurrency_queues_past_n_and_zero_means_no_limit() {
        let o = parse(&["--max-concurrency", "4"]).unwrap();
        assert_eq!(o.max_concurrency.map(NonZeroUsize::get), Some(4));
        assert_eq!(
            parse(&["--max-concurrency", "0"]).unwrap().max_concurrency,
            None
        );
        let err = parse(&["--max-concurrency", "many"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--max-concurrency"), "{err}");
    }
}
