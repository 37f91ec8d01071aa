//! `scatter config print`: the root's configuration in force — defaults,
//! then the `--config` file, then `SCATTER_*` variables, then flags — as
//! the TOML `--config` reads, each value with where it came from.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use scatter_root::config::RootConfig;
use toml::{Table, Value};

use super::serve::ServeArgs;

/// `scatter config ...`.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(subcommand)]
    action: ConfigAction,
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Print the configuration `scatter serve` would run with, given the
    /// same flags, variables and file, with where each value came from;
    /// exits 1 (after printing) when `scatter serve` would refuse it.
    Print(ServeArgs),
}

impl ConfigArgs {
    /// The flags of `print`.
    pub fn into_print_args(self) -> ServeArgs {
        let ConfigAction::Print(args) = self.action;
        args
    }
}

/// Runs `scatter config print`; `env_only` is the same command parsed
/// without its command-line flags (what the variables alone give).
pub fn run(args: ConfigArgs, env_only: Option<ServeArgs>) -> anyhow::Result<ExitCode> {
    let args = args.into_print_args();
    let env_only = env_only.context("the variables could not be read alone")?;
    let (file, file_keys) = match &args.config {
        Some(path) => (RootConfig::from_toml_file(path)?, raw_table(path)?),
        None => (RootConfig::default(), Table::new()),
    };
    let mut from_env = file.clone();
    env_only.root.apply(&mut from_env);
    let mut in_force = file.clone();
    args.root.apply(&mut in_force);
    let layers = Layers {
        file: table(&file)?,
        from_env: table(&from_env)?,
        in_force: table(&in_force)?,
        file_keys,
        file_name: args
            .config
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
    };
    print!("{}", layers.render());
    match in_force.validate() {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            eprintln!("error: scatter serve would refuse this configuration: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The keys the file sets, as written.
fn raw_table(path: &Path) -> anyhow::Result<Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    Ok(toml::from_str(&text)?)
}

fn table(config: &RootConfig) -> anyhow::Result<Table> {
    match Value::try_from(config)? {
        Value::Table(table) => Ok(table),
        other => anyhow::bail!("the configuration is not a table: {other}"),
    }
}

/// The configuration after each source, to tell where a value came from.
struct Layers {
    file: Table,
    from_env: Table,
    in_force: Table,
    file_keys: Table,
    file_name: String,
}

impl Layers {
    fn render(&self) -> String {
        let mut out = String::from(
            "# The configuration in force; a value's source is, in order of precedence:\n\
             # flag, environment (SCATTER_*), file (--config), default.\n",
        );
        let (sections, values): (Vec<_>, Vec<_>) =
            self.in_force.iter().partition(|(_, v)| v.is_table());
        for (key, value) in values {
            out.push_str(&self.line(&[key.as_str()], value));
        }
        for (section, table) in sections {
            out.push_str(&format!("\n[{section}]\n"));
            let table = table.as_table().filter(|t| !t.is_empty());
            if table.is_none() {
                out.push_str("# nothing set\n");
            }
            for (key, value) in table.into_iter().flatten() {
                out.push_str(&self.line(&[section.as_str(), key.as_str()], value));
            }
        }
        out
    }

    fn line(&self, path: &[&str], value: &Value) -> String {
        let assignment = format!("{} = {value}", path[path.len() - 1]);
        format!("{assignment:<48} # {}\n", self.source(path))
    }

    fn source(&self, path: &[&str]) -> String {
        let at = |table: &Table| lookup(table, path).cloned();
        if at(&self.in_force) != at(&self.from_env) {
            "flag".to_owned()
        } else if at(&self.from_env) != at(&self.file) {
            "environment".to_owned()
        } else if at(&self.file_keys).is_some() {
            format!("file ({})", self.file_name)
        } else {
            "default".to_owned()
        }
    }
}

fn lookup<'a>(table: &'a Table, path: &[&str]) -> Option<&'a Value> {
    let (last, sections) = path.split_last()?;
    let mut table = table;
    for section in sections {
        table = table.get(*section)?.as_table()?;
    }
    table.get(*last)
}
