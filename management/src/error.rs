//! The one error type of this crate.

/// Why a process could not be served.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The gRPC server stopped with an error.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A flag or environment variable has a value that cannot be used.
    #[error("bad value {value:?} for {flag}: {reason}")]
    Flag {
        /// The flag and its environment variable.
        flag: String,
        /// The value given.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The command line names a flag the process does not know, lacks a
    /// flag's value, or asks for `--help` (the message is the help).
    #[error("{0}")]
    Usage(String),
    /// The `--config` file cannot be read, is not TOML, or has a key or
    /// value the process does not take.
    #[error("config file {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// A TLS file is missing, unreadable or not what its setting needs.
    #[error("TLS: {0}")]
    Tls(String),
    /// A signal handler could not be installed.
    #[error("cannot install signal handler: {0}")]
    Signal(std::io::Error),
}
