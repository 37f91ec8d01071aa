//! Where the executables under test are: `target/<profile>/`, the directory
//! above the test executable (`target/<profile>/deps/<test>-<hash>`), where
//! `cargo test --workspace` puts every binary of the workspace.

use std::path::{Path, PathBuf};

/// The path of the workspace binary `name`: `scatter`, `search-leaf`,
/// `search-merge`, `test-leaf`, `test-merge`.
///
/// # Panics
/// When the binary has not been built, saying how to build it.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built; run `cargo test --workspace` (or `cargo build --workspace`) \
         so that every binary of the workspace is built",
        path.display()
    );
    path
}
