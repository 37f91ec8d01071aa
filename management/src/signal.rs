//! The signals that start a graceful drain.

/// Resolves on the first SIGTERM (how Kubernetes, Docker and the process
/// runtime stop a process) or ctrl-c (SIGINT).
pub async fn shutdown_signal() -> Result<(), std::io::Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received: draining"),
        _ = int.recv() => tracing::info!("interrupt received: draining"),
    }
    Ok(())
}
