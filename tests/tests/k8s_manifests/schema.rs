//! Every rendered object against the Kubernetes API schemas.

use std::path::PathBuf;
use std::process::Command;

use crate::FLOOR;
use crate::render::{trees, validator};

#[test]
fn every_overlay_is_valid_against_the_schemas_of_the_floor_and_the_newest_kubernetes() {
    let Some(trees) = trees() else { return };
    let dir = tempdir();
    for tree in &trees {
        let file = dir.join(format!("{}.yaml", tree.overlay));
        std::fs::write(&file, &tree.yaml).expect("rendered YAML written");
        for version in [Some(FLOOR), None] {
            let mut validate = Command::new(validator());
            validate.arg("--strict");
            if let Some(version) = version {
                validate.args(["--kubernetes-version", version]);
            }
            let output = validate
                .arg(&file)
                .output()
                .expect("kubernetes-validate runs");
            let report = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let against = version.unwrap_or("the newest");
            assert!(
                output.status.success(),
                "{} is invalid against {against}:\n{report}",
                tree.overlay
            );
            assert!(
                !report.contains("WARN"),
                "{} against {against}:\n{report}",
                tree.overlay
            );
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scatter-k8s-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}
