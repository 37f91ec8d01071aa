//! The example binaries refuse bad start-up input with a message that says
//! what to fix, and exit non-zero, rather than serving something wrong.

use std::process::Command;

fn run(program: &str, args: &[&str]) -> (bool, String) {
    let output = Command::new(program)
        .args(args)
        .env_remove("SCATTER_SHARD")
        .env_remove("SCATTER_CORPUS_DIR")
        .output()
        .expect("the example binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn leaf_with_a_missing_corpus_dir_names_the_directory() {
    let (ok, stderr) = run(
        env!("CARGO_BIN_EXE_search-leaf"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--corpus-dir",
            "/nonexistent/scatter-corpus",
        ],
    );
    assert!(!ok, "must not serve without its corpus");
    assert!(stderr.contains("/nonexistent/scatter-corpus"), "{stderr}");
}

#[test]
fn leaf_with_a_shard_outside_the_count_says_so() {
    let (ok, stderr) = run(
        env!("CARGO_BIN_EXE_search-leaf"),
        &[
            "--listen",
            "127.0.0.1:0",
            "--shard",
            "3",
            "--shard-count",
            "2",
        ],
    );
    assert!(!ok);
    assert!(stderr.contains("below the shard count"), "{stderr}");
}

#[test]
fn merge_with_a_bad_listen_address_names_it() {
    let (ok, stderr) = run(
        env!("CARGO_BIN_EXE_search-merge"),
        &["--listen", "not-an-address"],
    );
    assert!(!ok);
    assert!(stderr.contains("not-an-address"), "{stderr}");
}
