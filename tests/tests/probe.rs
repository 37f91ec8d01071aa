//! `--probe` and `scatter probe`: the health check a container engine runs
//! inside an image with no shell and no client. It exits 0 while the
//! process it asks is SERVING, 1 once it drains or is gone, and 2 when it
//! is not told where to look.

use std::process::Output;

use nix::sys::signal::Signal;
use scatter_tests::tree::test_merge;
use scatter_tests::{LeafFlags, Root, binary, eventually, free_port};

/// Runs `program` with `args` (and `env`) to its end.
async fn run(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    tokio::process::Command::new(binary(program))
        .args(args)
        .env_remove("SCATTER_LISTEN")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("the binary runs")
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn a_leaf_probe_passes_while_it_serves_and_fails_once_it_drains_or_is_gone() {
    let leaf = LeafFlags {
        extra: vec!["--drain-delay-ms".to_owned(), "60000".to_owned()],
        ..LeafFlags::new(0, 1)
    }
    .start()
    .await;
    let addr = leaf.addr().to_string();
    let unspecified = format!("0.0.0.0:{}", leaf.addr().port());

    let serving = run(
        "test-leaf",
        &["--probe"],
        &[("SCATTER_LISTEN", &unspecified)],
    )
    .await;
    assert_eq!(serving.status.code(), Some(0), "{}", said(&serving));
    assert!(said(&serving).contains("SERVING"), "{}", said(&serving));

    leaf.process.signal(Signal::SIGTERM);
    eventually(
        "the probe fails once the leaf drains",
        std::time::Duration::from_secs(10),
        async || {
            run("test-leaf", &["--probe", "--listen", &addr], &[])
                .await
                .status
                .code()
                == Some(1)
        },
    )
    .await;

    let nothing = free_port().to_string();
    let gone = run("test-merge", &["--probe", "--listen", &nothing], &[]).await;
    assert_eq!(gone.status.code(), Some(1), "{}", said(&gone));
    assert!(said(&gone).contains("not serving"), "{}", said(&gone));

    let nowhere = run("test-leaf", &["--probe"], &[]).await;
    assert_eq!(nowhere.status.code(), Some(2), "{}", said(&nowhere));
    assert!(
        said(&nowhere).contains("--probe needs --listen or SCATTER_LISTEN"),
        "{}",
        said(&nowhere)
    );
}

#[tokio::test]
async fn scatter_probe_passes_for_a_serving_root_and_fails_for_an_address_with_none() {
    let leaf = LeafFlags::new(0, 1).start().await;
    let merge = test_merge().await;
    let root = Root::start(&[leaf.addr().to_string()], &merge.uri(), &[]).await;
    let addr = root.server.addr().to_string();
    let up = run("scatter", &["probe", &addr], &[]).await;
    assert_eq!(up.status.code(), Some(0), "{}", said(&up));
    let nothing = free_port().to_string();
    let down = run("scatter", &["probe", &nothing], &[]).await;
    assert_eq!(down.status.code(), Some(1), "{}", said(&down));
    let bad = run("scatter", &["probe", "not-an-address"], &[]).await;
    assert!(!bad.status.success());
    assert!(said(&bad).contains("is not an address"), "{}", said(&bad));
}
