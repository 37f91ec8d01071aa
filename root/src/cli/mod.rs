//! The `scatter` command line: flags parsed with clap and turned into the
//! library's plain config structs.

mod check;
mod config;
mod demo;
mod env;
mod probe;
mod query;
mod serve;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

/// Scatter: a scatter/gather serving framework.
#[derive(Parser, Debug)]
#[command(name = "scatter", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as `text` or one JSON object each (on stderr); the level
    /// and filters come from SCATTER_LOG, else RUST_LOG [default: text].
    #[arg(long, global = true, value_enum, env = "SCATTER_LOG_FORMAT")]
    pub log_format: Option<scatter_management::LogFormat>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a root against leaves and a merge given by flags or a TOML file.
    Serve(serve::ServeArgs),
    /// Run a complete local tree of the example search (leaves, merge, root).
    Demo(demo::DemoArgs),
    /// Send one query to a root and print the result and its coverage.
    Query(query::QueryArgs),
    /// Show the configuration a root would run with.
    Config(config::ConfigArgs),
    /// Check that a leaf or merge, in any language, honours the contract
    /// the root relies on.
    Check(check::CheckArgs),
    /// Exit 0 when the root at an address is SERVING, 1 otherwise (a
    /// container health check).
    Probe(probe::ProbeArgs),
}

impl Cli {
    /// Parses `args` (the program name first), every flag of `scatter
    /// serve` and `scatter config print` also read from its `SCATTER_*`
    /// variable; on a usage error or `--help` prints and exits.
    pub fn parse_with_env(args: impl IntoIterator<Item = OsString>) -> Self {
        let matches = command().get_matches_from(args);
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// The command line, with `SCATTER_*` variables for the root's flags.
fn command() -> clap::Command {
    Cli::command()
        .mut_subcommand("serve", env::with_env)
        .mut_subcommand("config", |config| {
            config.mut_subcommand("print", env::with_env)
        })
}

/// `scatter config print` parsed from the variables alone.
fn print_from_env_only() -> Option<serve::ServeArgs> {
    let matches = command()
        .try_get_matches_from(["scatter", "config", "print"])
        .ok()?;
    match Cli::from_arg_matches(&matches).ok()?.command {
        Command::Config(args) => Some(args.into_print_args()),
        _ => None,
    }
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Query(args) => query::run(args).await,
        Command::Config(args) => config::run(args, print_from_env_only()),
        Command::Check(args) => check::run(args).await,
        Command::Probe(args) => probe::run(&args),
    }
}

/// `error` and its causes, outermost first, joined by `: ` — once each: a
/// cause whose text repeats the part before it (tonic and hyper wrap an
/// error in one that says the same, e.g. "tcp connect error: tcp connect
/// error") is left out.
pub fn describe(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if parts.last().is_none_or(|last| !last.ends_with(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn chain(texts: &[&'static str]) -> anyhow::Error {
        let layer = texts
            .iter()
            .rev()
            .fold(None, |source, &text| Some(Box::new(Layer { text, source })));
        anyhow::Error::new(*layer.expect("at least one layer"))
    }

    #[test]
    fn a_cause_that_repeats_the_part_before_it_is_said_once() {
        let error = chain(&[
            "cannot connect to the root at http://127.0.0.1:1",
            "transport error",
            "tcp connect error",
            "tcp connect error",
            "Connection refused (os error 111)",
        ]);
        assert_eq!(
            describe(&error),
            "cannot connect to the root at http://127.0.0.1:1: transport error: \
             tcp connect error: Connection refused (os error 111)"
        );
    }

    #[test]
    fn a_cause_already_quoted_by_its_wrapper_is_said_once() {
        let error = chain(&[
            "bad config: port 99999 is out of range",
            "port 99999 is out of range",
        ]);
        assert_eq!(describe(&error), "bad config: port 99999 is out of range");
    }
}
