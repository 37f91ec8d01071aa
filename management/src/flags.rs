//! The command-line flags and environment variables of an SDK-built process.
//! The process declares every flag it knows ([`Flag`]); the arguments are
//! parsed against them with clap, so a flag the process does not know, a
//! flag without its value or a stray argument is refused naming it, and
//! `--help` lists the flags with their variables. Values come from, in
//! order of precedence: the flag, its `SCATTER_*` environment variable,
//! the TOML file of `--config` (keys are flag names), the default;
//! `--print-config` shows each value and where it came from, and exits.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::str::FromStr;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::{Error, PemFile, ServeOptions, ServerTls, ServerTlsFiles};

mod file;

use file::FileValues;

/// One flag a process knows.
#[derive(Clone, Copy, Debug)]
pub struct Flag {
    /// The long name, without `--`.
    pub name: &'static str,
    /// The environment variable read when the flag is not given.
    pub env: &'static str,
    /// What the value looks like in `--help` (`ADDR`, `MS`); `None` for a
    /// switch, which takes no value and is on when given.
    pub value: Option<&'static str>,
    /// One line for `--help`: what the flag sets, and its default.
    pub help: &'static str,
}

/// The flags every SDK-built process knows, read by [`Flags::serve_options`].
pub const SERVE_FLAGS: &[Flag] = &[
    Flag {
        name: "config",
        env: "SCATTER_CONFIG",
        value: Some("FILE"),
        help: "a TOML file of flag values (keys are flag names, e.g. grace-ms = 5000); \
               flags and variables win over it",
    },
    Flag {
        name: "print-config",
        env: "SCATTER_PRINT_CONFIG",
        value: None,
        help: "print every setting, its value and where it came from, then exit",
    },
    Flag {
        name: "probe",
        env: "SCATTER_PROBE",
        value: None,
        help: "do not serve: ask the process serving on --listen for its health and exit 0 \
               when it is SERVING, 1 otherwise (a container health check)",
    },
    Flag {
        name: "grace-ms",
        env: "SCATTER_GRACE_MS",
        value: Some("MS"),
        help: "how long calls in flight may finish after SIGTERM [default: 10000]",
    },
    Flag {
        name: "drain-delay-ms",
        env: "SCATTER_DRAIN_DELAY_MS",
        value: Some("MS"),
        help: "how long to report NOT_SERVING while still serving after SIGTERM [default: 0]",
    },
    Flag {
        name: "max-in-flight",
        env: "SCATTER_MAX_IN_FLIGHT",
        value: Some("N"),
        help: "calls run at once; past it a call is refused with RESOURCE_EXHAUSTED \
               [default: 0, no cap]",
    },
    Flag {
        name: "max-message-bytes",
        env: "SCATTER_MAX_MESSAGE_BYTES",
        value: Some("BYTES"),
        help: "the largest request or merge-stream message accepted; larger ones are refused \
               with RESOURCE_EXHAUSTED [default: 67174400, 64 MiB + 64 KiB]",
    },
    Flag {
        name: "log-format",
        env: "SCATTER_LOG_FORMAT",
        value: Some("text|json"),
        help: "log lines as text or one JSON object each; the level comes from \
               SCATTER_LOG or RUST_LOG [default: text]",
    },
    Flag {
        name: "otlp-endpoint",
        env: "SCATTER_OTLP_ENDPOINT",
        value: Some("URL"),
        help: "export spans to this OpenTelemetry collector (OTLP/gRPC, e.g. \
               http://127.0.0.1:4317) [default: none]",
    },
    Flag {
        name: "tls-cert",
        env: "SCATTER_TLS_CERT",
        value: Some("PEM"),
        help: "serve over TLS with this certificate chain (with --tls-key); the admin \
               endpoints then speak HTTPS [default: plaintext]",
    },
    Flag {
        name: "tls-key",
        env: "SCATTER_TLS_KEY",
        value: Some("PEM"),
        help: "the private key of --tls-cert",
    },
    Flag {
        name: "tls-client-ca",
        env: "SCATTER_TLS_CLIENT_CA",
        value: Some("PEM"),
        help: "require callers to present a certificate signed by this CA (mutual TLS; \
               needs --tls-cert)",
    },
];

/// The process's flags, parsed against the flags it declared.
#[derive(Clone, Debug)]
pub struct Flags {
    known: Vec<Flag>,
    matches: ArgMatches,
    file: Option<FileValues>,
}

impl Flags {
    /// Parses this process's arguments (`std::env::args`) against `known`
    /// and [`SERVE_FLAGS`]. `--help` / `-h` prints the flags and exits 0;
    /// an unknown flag, a flag without its value or a stray argument prints
    /// what is wrong and the known flags, and exits 2 — before anything is
    /// served.
    pub fn from_env(known: &[&[Flag]]) -> Self {
        let mut args = std::env::args_os();
        let program = args
            .next()
            .map(std::path::PathBuf::from)
            .and_then(|path| Some(path.file_name()?.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "scatter-process".to_owned());
        let known = declared(known);
        let flags = match parse(&program, &known, args) {
            Ok(matches) => Self::with_file(known, matches),
            Err(error) if error.use_stderr() => {
                eprint!("{}", usage_error(&error, &known));
                std::process::exit(error.exit_code());
            }
            Err(help) => help.exit(),
        };
        match flags {
            Ok(flags) if flags.is_set("print-config") => {
                print!("{}", flags.print_config());
                std::process::exit(0);
            }
            Ok(flags) if flags.is_set("probe") => flags.probe(),
            Ok(flags) => flags,
            Err(error) => {
                eprintln!("error: {error}");
                std::process::exit(2);
            }
        }
    }

    /// `matches`, with the values of the `--config` file when one is given.
    fn with_file(known: Vec<Flag>, matches: ArgMatches) -> Result<Self, Error> {
        let mut flags = Self {
            known,
            matches,
            file: None,
        };
        if let Some(path) = flags.get("config") {
            flags.file = Some(FileValues::read(std::path::Path::new(&path), &flags.known)?);
        }
        Ok(flags)
    }

    /// Parses the given arguments (without the program name) against
    /// `known` and [`SERVE_FLAGS`]: for tests and embedding. `--help` is an
    /// [`Error::Usage`] holding the help text.
    pub fn from_args(
        known: &[&[Flag]],
        args: impl IntoIterator<Item = String>,
    ) -> Result<Self, Error> {
        let known = declared(known);
        match parse("scatter-process", &known, args) {
            Ok(matches) => Self::with_file(known, matches),
            Err(error) => Err(Error::Usage(usage_error(&error, &known))),
        }
    }

    /// The value of `--flag value` or `--flag=value` (the last one given),
    /// else of its environment variable when it is set and not empty, else
    /// of its key in the `--config` file.
    ///
    /// # Panics
    /// When `flag` was not declared: a flag read must be a flag known.
    pub fn get(&self, flag: &str) -> Option<String> {
        let name = self.declared(flag).name;
        self.given(name)
            .or_else(|| self.file.as_ref()?.values.get(name).cloned())
    }

    /// The value from the command line or the environment.
    fn given(&self, name: &str) -> Option<String> {
        let value = self.matches.get_one::<String>(name)?;
        let from_env = self.matches.value_source(name) == Some(ValueSource::EnvVariable);
        (!(from_env && value.is_empty())).then(|| value.clone())
    }

    /// Whether the switch `--flag` was given, or its variable or its key in
    /// the `--config` file is true.
    ///
    /// # Panics
    /// When `flag` was not declared as a switch.
    pub fn is_set(&self, flag: &str) -> bool {
        let name = self.declared(flag).name;
        match self.matches.value_source(name) {
            Some(ValueSource::CommandLine | ValueSource::EnvVariable) => {
                self.matches.get_flag(name)
            }
            _ => self
                .file
                .as_ref()
                .and_then(|file| file.values.get(name))
                .is_some_and(|value| value == "true"),
        }
    }

    /// Where the value of `flag` comes from: `flag`, `environment
    /// (VAR)`, `file (PATH)` or `default`.
    ///
    /// # Panics
    /// When `flag` was not declared.
    pub fn source(&self, flag: &str) -> String {
        let declared = self.declared(flag);
        let switch_on = declared.value.is_none() && self.matches.get_flag(declared.name);
        match self.matches.value_source(declared.name) {
            Some(ValueSource::CommandLine) => "flag".to_owned(),
            Some(ValueSource::EnvVariable) if switch_on || self.given(declared.name).is_some() => {
                format!("environment ({})", declared.env)
            }
            _ => match &self.file {
                Some(file) if file.values.contains_key(declared.name) => {
                    format!("file ({})", file.path.display())
                }
                _ => "default".to_owned(),
            },
        }
    }

    /// Every flag the process knows: its value and where it came from, as
    /// TOML a `--config` file takes (unset flags commented out, with their
    /// default).
    pub fn print_config(&self) -> String {
        let mut out = String::new();
        for flag in &self.known {
            if matches!(flag.name, "config" | "print-config") {
                continue;
            }
            let value = match flag.value {
                Some(_) => self.get(flag.name),
                None => Some(self.is_set(flag.name).to_string()),
            };
            let source = self.source(flag.name);
            match value {
                Some(value) if flag.value.is_none() => {
                    out.push_str(&format!("{} = {value}  # {source}\n", flag.name));
                }
                Some(value) => {
                    out.push_str(&format!("{} = {value:?}  # {source}\n", flag.name));
                }
                None => {
                    let default = flag
                        .help
                        .rsplit_once("[default: ")
                        .map_or("none", |(_, d)| d.trim_end_matches(']'));
                    out.push_str(&format!("# {} = (default: {default})\n", flag.name));
                }
            }
        }
        out
    }

    /// The parsed value of a flag, `default` when absent, or an error that
    /// names the flag, the variable and the bad value.
    ///
    /// # Panics
    /// When `flag` was not declared.
    pub fn parse<T: FromStr>(&self, flag: &str, default: T) -> Result<T, Error>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(flag) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|e: T::Err| Error::Flag {
                flag: format!("--{flag} / {}", self.declared(flag).env),
                value,
                reason: e.to_string(),
            }),
        }
    }

    /// A duration given in milliseconds.
    ///
    /// # Panics
    /// When `flag` was not declared.
    pub fn millis(&self, flag: &str, default: Duration) -> Result<Duration, Error> {
        let ms = self.parse(flag, u64::try_from(default.as_millis()).unwrap_or(u64::MAX))?;
        Ok(Duration::from_millis(ms))
    }

    /// `--probe`: the health of the process serving on `--listen`, as the
    /// exit code (see [`crate::probe::exit_with_health`]).
    fn probe(&self) -> ! {
        let declared = self.known.iter().any(|flag| flag.name == "listen");
        let given = declared.then(|| self.get("listen")).flatten();
        let listen = match given.map(|addr| addr.parse::<SocketAddr>()) {
            Some(Ok(listen)) => listen,
            Some(Err(e)) => {
                eprintln!("error: --probe: --listen is not an address: {e}");
                std::process::exit(2);
            }
            None => {
                eprintln!(
                    "error: --probe needs --listen or SCATTER_LISTEN: where the process serves"
                );
                std::process::exit(2);
            }
        };
        crate::probe::exit_with_health(listen, self.is_set("tls-cert"))
    }

    /// [`SERVE_FLAGS`] over the defaults (`--max-in-flight 0` = no cap).
    pub fn serve_options(&self) -> Result<ServeOptions, Error> {
        let defaults = ServeOptions::default();
        let max_in_flight = self.parse(
            "max-in-flight",
            defaults.max_in_flight.map_or(0, NonZeroUsize::get),
        )?;
        // Read by `init_logging` before the flags; a bad value is refused here.
        let _: crate::LogFormat = self.parse("log-format", crate::LogFormat::Text)?;
        Ok(ServeOptions {
            grace: self.millis("grace-ms", defaults.grace)?,
            drain_delay: self.millis("drain-delay-ms", defaults.drain_delay)?,
            max_in_flight: NonZeroUsize::new(max_in_flight),
            otlp_endpoint: self.get("otlp-endpoint"),
            max_message_bytes: self.parse("max-message-bytes", defaults.max_message_bytes)?,
            tls: self.server_tls()?,
            ..defaults
        })
    }

    /// `--tls-cert`, `--tls-key` and `--tls-client-ca`, read and checked.
    fn server_tls(&self) -> Result<Option<ServerTls>, Error> {
        let file = |flag: &str| {
            let env = self.declared(flag).env;
            self.get(flag)
                .map(|path| PemFile::new(path, format!("--{flag} / {env}")))
        };
        match (file("tls-cert"), file("tls-key"), file("tls-client-ca")) {
            (None, None, None) => Ok(None),
            (Some(cert), Some(key), client_ca) => ServerTls::load(&ServerTlsFiles {
                cert,
                key,
                client_ca,
            })
            .map(Some),
            (None, None, Some(_)) => Err(Error::Tls(
                "--tls-client-ca needs --tls-cert and --tls-key: callers are only asked \
                 for a certificate over TLS"
                    .into(),
            )),
            _ => Err(Error::Tls(
                "--tls-cert and --tls-key go together: give both or neither".into(),
            )),
        }
    }

    fn declared(&self, flag: &str) -> &Flag {
        self.known
            .iter()
            .find(|known| known.name == flag)
            .unwrap_or_else(|| panic!("--{flag} is read but not among the flags declared"))
    }
}

/// `known`, then the serve flags, once each.
fn declared(known: &[&[Flag]]) -> Vec<Flag> {
    let mut all: Vec<Flag> = Vec::new();
    for flag in known.iter().copied().chain([SERVE_FLAGS]).flatten() {
        if !all.iter().any(|seen| seen.name == flag.name) {
            all.push(*flag);
        }
    }
    all
}

fn parse<A>(
    program: &str,
    known: &[Flag],
    args: impl IntoIterator<Item = A>,
) -> Result<ArgMatches, clap::Error>
where
    A: Into<OsString> + Clone,
{
    let command = Command::new(program.to_owned())
        .no_binary_name(true)
        .args_override_self(true)
        .args(known.iter().map(|flag| {
            let arg = Arg::new(flag.name)
                .long(flag.name)
                .env(flag.env)
                .help(flag.help);
            match flag.value {
                Some(value) => arg
                    .value_name(value)
                    .action(ArgAction::Set)
                    .allow_negative_numbers(true),
                None => arg.action(ArgAction::SetTrue),
            }
        }));
    command.try_get_matches_from(args)
}

/// clap's message, and for an unknown flag the flags the process knows.
fn usage_error(error: &clap::Error, known: &[Flag]) -> String {
    let mut message = error.render().to_string();
    if error.kind() == ErrorKind::UnknownArgument {
        let names: Vec<String> = known.iter().map(|f| format!("--{}", f.name)).collect();
        message.push_str(&format!("Known flags: {}, --help\n", names.join(", ")));
    }
    message
}

#[cfg(test)]
mod tests;
