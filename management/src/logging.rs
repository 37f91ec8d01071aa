//! Logs for every Scatter process, on stderr (stdout stays free for a
//! program's own output). Two formats: `text`, human-readable lines (colour
//! only on a terminal), and `json`, one JSON object a line for a log
//! collector, with the fields of the event and of the spans around it (so a
//! leaf's line carries the `request_id` and `attempt` of its call).
//!
//! The level and per-module filters come from `SCATTER_LOG`, else
//! `RUST_LOG` (same syntax, e.g. `info,scatter_root=debug`), default
//! `info`. The format comes from `--log-format`, else `SCATTER_LOG_FORMAT`,
//! default `text`.

mod json;

use std::io::IsTerminal as _;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;

/// The flag that picks the log format; every SDK-built process knows it.
pub const LOG_FORMAT_FLAG: &str = "log-format";
/// The variable read when `--log-format` is not given.
pub const LOG_FORMAT_ENV: &str = "SCATTER_LOG_FORMAT";
/// The filter variable read first; `RUST_LOG` is read when it is unset.
pub const LOG_FILTER_ENV: &str = "SCATTER_LOG";

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "unknown log format {other:?}; expected `text` or `json`"
            )),
        }
    }
}

impl LogFormat {
    /// The format asked for by `args` (`--log-format X` or
    /// `--log-format=X`, the last one given), else by `SCATTER_LOG_FORMAT`;
    /// `text` when neither names a format.
    pub fn from_args_or_env(args: impl IntoIterator<Item = String>) -> Self {
        let flag = format!("--{LOG_FORMAT_FLAG}");
        let mut chosen = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == flag {
                chosen = args.next();
            } else if let Some(value) = arg.strip_prefix(&format!("{flag}=")) {
                chosen = Some(value.to_owned());
            }
        }
        chosen
            .or_else(|| std::env::var(LOG_FORMAT_ENV).ok())
            .and_then(|value| value.parse().ok())
            .unwrap_or_default()
    }
}

/// Installs the process-wide log subscriber; call once at the top of
/// `main`. It reads `--log-format` from the process's own arguments, so it
/// can run before the flags are parsed.
pub fn init_logging() {
    init_logging_as(LogFormat::from_args_or_env(std::env::args().skip(1)));
}

/// Installs the process-wide log subscriber writing `format`.
pub fn init_logging_as(format: LogFormat) {
    let filter = std::env::var(LOG_FILTER_ENV)
        .ok()
        .and_then(|filter| EnvFilter::try_new(filter).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .with_ansi(false)
            .fmt_fields(json::JsonFields)
            .event_format(json::JsonLines)
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_log_format_is_read_from_either_flag_spelling_last_one_wins() {
        assert_eq!(
            LogFormat::from_args_or_env(args(&["--listen", "x", "--log-format", "json"])),
            LogFormat::Json
        );
        assert_eq!(
            LogFormat::from_args_or_env(args(&["--log-format=json", "--log-format=text"])),
            LogFormat::Text
        );
    }

    #[test]
    fn an_unknown_log_format_is_refused_naming_the_choices() {
        let error = "yaml".parse::<LogFormat>().unwrap_err();
        assert!(error.contains("`text` or `json`"), "{error}");
    }
}
