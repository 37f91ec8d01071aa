//! What the integration tests share: the root binary they run against.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `scatter` binary sits beside ours once the root crate is built;
/// `cargo test --workspace` builds it, `cargo test -p scatter-bench` may not.
pub fn ensure_root_binary(bench: &Path) -> PathBuf {
    let root = bench.with_file_name("scatter");
    if !root.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "scatter-root", "--bin", "scatter"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the scatter binary failed");
    }
    assert!(root.exists(), "no scatter binary at {}", root.display());
    root
}
