//! The few command-line flags and environment variables every SDK-built
//! process understands. A flag wins over its environment variable; flags the
//! SDK does not know are left for the user's own parsing.

use std::num::NonZeroUsize;
use std::str::FromStr;
use std::time::Duration;

use crate::{Error, ServeOptions};

/// The process's arguments, looked up by flag name.
#[derive(Clone, Debug)]
pub struct Flags {
    args: Vec<String>,
}

impl Flags {
    /// The arguments of this process (`std::env::args`).
    pub fn from_env() -> Self {
        Self::from_args(std::env::args().skip(1))
    }

    /// Given arguments (for tests and embedding).
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Self {
        Self {
            args: args.into_iter().collect(),
        }
    }

    /// The value of `--flag value` or `--flag=value`, else of `env`.
    pub fn get(&self, flag: &str, env: &str) -> Option<String> {
        let long = format!("--{flag}");
        let with_eq = format!("--{flag}=");
        let mut args = self.args.iter();
        while let Some(arg) = args.next() {
            if *arg == long {
                return args.next().cloned();
            }
            if let Some(value) = arg.strip_prefix(&with_eq) {
                return Some(value.to_owned());
            }
        }
        std::env::var(env).ok().filter(|v| !v.is_empty())
    }

    /// The parsed value of a flag, `default` when absent, or an error that
    /// names the flag, the variable and the bad value.
    pub fn parse<T: FromStr>(&self, flag: &str, env: &str, default: T) -> Result<T, Error>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(flag, env) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|e: T::Err| Error::Flag {
                flag: format!("--{flag} / {env}"),
                value,
                reason: e.to_string(),
            }),
        }
    }

    /// A duration given in milliseconds.
    pub fn millis(&self, flag: &str, env: &str, default: Duration) -> Result<Duration, Error> {
        let ms = self.parse(
            flag,
            env,
            u64::try_from(default.as_millis()).unwrap_or(u64::MAX),
        )?;
        Ok(Duration::from_millis(ms))
    }

    /// `--grace-ms` / `SCATTER_GRACE_MS`, `--drain-delay-ms` /
    /// `SCATTER_DRAIN_DELAY_MS` and `--max-in-flight` /
    /// `SCATTER_MAX_IN_FLIGHT` (0 = no cap) over the defaults.
    pub fn serve_options(&self) -> Result<ServeOptions, Error> {
        let defaults = ServeOptions::default();
        let max_in_flight = self.parse(
            "max-in-flight",
            "SCATTER_MAX_IN_FLIGHT",
            defaults.max_in_flight.map_or(0, NonZeroUsize::get),
        )?;
        Ok(ServeOptions {
            grace: self.millis("grace-ms", "SCATTER_GRACE_MS", defaults.grace)?,
            drain_delay: self.millis(
                "drain-delay-ms",
                "SCATTER_DRAIN_DELAY_MS",
                defaults.drain_delay,
            )?,
            max_in_flight: NonZeroUsize::new(max_in_flight),
            ..defaults
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::from_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flag_forms_and_unknown_flags() {
        let f = flags(&["--k", "3", "--shard=2", "--listen", "127.0.0.1:1"]);
        assert_eq!(f.get("shard", "SCATTER_TEST_UNSET_A").as_deref(), Some("2"));
        assert_eq!(
            f.get("listen", "SCATTER_TEST_UNSET_A").as_deref(),
            Some("127.0.0.1:1")
        );
        assert_eq!(f.get("absent", "SCATTER_TEST_UNSET_A"), None);
    }

    #[test]
    fn bad_value_names_the_flag() {
        let err = flags(&["--shard", "two"])
            .parse::<u32>("shard", "SCATTER_TEST_UNSET_B", 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--shard") && err.contains("two"), "{err}");
    }

    #[test]
    fn max_in_flight_is_off_by_default_and_when_zero() {
        let unset = flags(&[]).serve_options().expect("defaults parse");
        assert_eq!(unset.max_in_flight, None);
        let zero = flags(&["--max-in-flight", "0"]).serve_options().unwrap();
        assert_eq!(zero.max_in_flight, None);
    }

    #[test]
    fn max_in_flight_reads_a_cap() {
        let options = flags(&["--max-in-flight=8"]).serve_options().unwrap();
        assert_eq!(options.max_in_flight, NonZeroUsize::new(8));
    }

    #[test]
    fn bad_max_in_flight_names_the_flag_and_variable() {
        let err = flags(&["--max-in-flight", "lots"])
            .serve_options()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("--max-in-flight / SCATTER_MAX_IN_FLIGHT") && err.contains("lots"),
            "{err}"
        );
    }
}
