//! Logs for every Scatter process: human-readable lines on stderr (stdout
//! stays free for a program's own output), level from `RUST_LOG`, default
//! `info`, colour only on a terminal.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the process-wide log subscriber; call once at the top of `main`.
pub fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
