//! `scatter probe`: the container health check of a root image with no
//! shell or client in it — asks the root serving at an address for its
//! gRPC health and exits 0 when it is SERVING, 1 otherwise.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

/// Flags of `scatter probe`.
#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// Where the root serves; `0.0.0.0` is dialled on loopback.
    #[arg(env = "SCATTER_LISTEN", default_value = "127.0.0.1:50000")]
    addr: String,
    /// The root serves TLS (`SCATTER_TLS_CERT` set): check that its port
    /// accepts connections, as a probe has no client certificate to show.
    #[arg(long, env = "SCATTER_TLS_CERT", value_name = "PEM")]
    tls_cert: Option<String>,
}

/// Runs `scatter probe`: exits 0 when the root is SERVING, 1 when not.
pub fn run(args: &ProbeArgs) -> anyhow::Result<ExitCode> {
    let addr: SocketAddr = args
        .addr
        .parse()
        .with_context(|| format!("{:?} is not an address (host:port with an IP)", args.addr))?;
    scatter_management::exit_with_health(addr, args.tls_cert.is_some())
}
