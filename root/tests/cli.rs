//! The `scatter` command line refuses what it cannot run, exits non-zero,
//! and says why in words that point at the fix.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `scatter args`, which must exit within a few seconds.
fn scatter(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scatter"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("scatter starts");
    let deadline = Instant::now() + Duration::from_secs(10);
    while child
        .try_wait()
        .expect("scatter can be waited for")
        .is_none()
    {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("scatter {args:?} still runs after 10 s; it should have refused");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("scatter's output")
}

fn assert_refused(output: &Output, says: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "exited {}: {stderr}",
        output.status
    );
    assert!(
        stderr.contains(says),
        "stderr does not say {says:?}: {stderr}"
    );
}

#[test]
fn a_hedge_delay_that_is_no_duration_is_refused_naming_the_flag() {
    for delay in ["inf", "NaN", "1e300", "-5", "soon"] {
        let flag = format!("--hedge-delay-ms={delay}");
        let output = scatter(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--shard",
            "127.0.0.1:1",
            &flag,
        ]);
        assert_refused(&output, "--hedge-delay-ms");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{delay}: {stderr}");
    }
}

#[test]
fn serve_without_shards_exits_non_zero_saying_no_shards_are_configured() {
    let output = scatter(&["serve", "--listen", "127.0.0.1:0"]);
    assert_refused(&output, "no shards configured");
}

#[test]
fn serve_with_a_missing_config_file_exits_non_zero_naming_the_file() {
    let path = std::env::temp_dir()
        .join(format!("scatter-cli-test-{}", std::process::id()))
        .join("missing.toml");
    let output = scatter(&["serve", "--config", path.to_str().expect("a UTF-8 path")]);
    assert_refused(&output, &path.display().to_string());
}

#[test]
fn query_to_an_unreachable_root_exits_non_zero_saying_it_cannot_connect() {
    let output = scatter(&["query", "--addr", "http://127.0.0.1:1", "hello"]);
    assert_refused(&output, "cannot connect to the root at http://127.0.0.1:1");
}

#[test]
fn query_to_an_unreachable_bare_host_and_port_says_each_cause_once() {
    let output = scatter(&["query", "--addr", "127.0.0.1:1", "hello"]);
    assert_refused(&output, "cannot connect to the root at http://127.0.0.1:1");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let parts: Vec<&str> = stderr.trim().split(": ").collect();
    assert!(
        parts.windows(2).all(|pair| pair[0] != pair[1]),
        "a cause is said twice: {stderr}"
    );
}

#[test]
fn docker_runtime_with_a_certificate_directory_that_is_not_there_is_refused_naming_it() {
    let output = scatter(&[
        "serve",
        "--runtime",
        "docker",
        "--tls-dir",
        "/nonexistent/scatter/certs",
    ]);
    assert_refused(&output, "--tls-dir /nonexistent/scatter/certs");
}

#[test]
fn serve_with_a_shard_port_out_of_range_exits_non_zero_naming_the_address() {
    let output = scatter(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--shard",
        "notahost:99999",
    ]);
    assert_refused(&output, "notahost:99999");
    assert_refused(&output, "port 99999 is not in 1..=65535");
}
