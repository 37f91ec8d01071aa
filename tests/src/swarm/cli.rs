//! The `docker` command line: a command that must work, and one whose
//! failure is only noted (clean-up, which must not panic).

use std::process::Command;

/// Runs `docker ARGS` with `env` added and returns its stdout, trimmed.
///
/// # Panics
/// When the command cannot run or fails, with its stderr.
pub(super) fn docker_with(args: &[&str], env: &[(&str, String)]) -> String {
    let output = Command::new("docker")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap_or_else(|e| panic!("cannot run docker {args:?}: {e}"));
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Runs `docker ARGS`: its stdout, or its stderr as the error.
pub(super) fn try_docker(args: &[&str]) -> Result<String, String> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}

/// Runs `docker ARGS` without blocking the runtime's thread (a rolling
/// update takes tens of seconds while the load goes on): its stdout, or
/// its stderr as the error.
pub(super) async fn docker_async(args: &[&str]) -> Result<String, String> {
    let output = tokio::process::Command::new("docker")
        .args(args)
        .output()
        .await
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}
