//! The `scatter` command line: flags parsed with clap and turned into the
//! library's plain config structs.

mod demo;
mod query;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Scatter: a scatter/gather serving framework.
#[derive(Parser, Debug)]
#[command(name = "scatter", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a root against leaves and a merge given by flags or a TOML file.
    Serve(serve::ServeArgs),
    /// Run a complete local tree of the example search (leaves, merge, root).
    Demo(demo::DemoArgs),
    /// Send one query to a root and print the result and its coverage.
    Query(query::QueryArgs),
}

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Query(args) => query::run(args).await,
    }
}
