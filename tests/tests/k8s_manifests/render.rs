//! Each overlay rendered with `kubectl kustomize` and read into JSON, once
//! the tools the tests need are known to run.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use scatter_tests::python;
use scatter_tests::skip::{self, Need};
use serde_json::Value;

use crate::DIR;

/// One overlay, rendered.
pub struct Tree {
    pub overlay: String,
    pub yaml: String,
    pub docs: Vec<Value>,
}

/// Every overlay rendered and read, or `None` when a tool is missing (the
/// tests are then skipped, or fail where the tools are required).
pub fn trees() -> Option<Vec<Tree>> {
    if !(kubectl_runs() && validator_runs()) {
        return None;
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(Path::new(DIR).join("overlays"))
        .expect("deploy/k8s/overlays exists")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.join("kustomization.yaml").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no overlays in {DIR}/overlays");
    Some(dirs.iter().map(|dir| render(dir)).collect())
}

fn kubectl_runs() -> bool {
    let runs = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !runs {
        skip::missing(
            Need::Kubectl,
            "kubectl is not installed: it renders the kustomize overlays (`kubectl kustomize`)",
        );
    }
    runs
}

/// `kubernetes-validate`: beside the tests' Python interpreter (the venv
/// of `tests/python-requirements.txt`), else on the `PATH`.
pub fn validator() -> PathBuf {
    python::tool("kubernetes-validate")
}

fn validator_runs() -> bool {
    let runs = Command::new(validator())
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !runs {
        skip::missing(
            Need::KubernetesValidate,
            "kubernetes-validate is not installed: make the venv of tests/python-requirements.txt \
             (scripts/test.sh does) or pip install kubernetes-validate",
        );
    }
    runs
}

fn render(dir: &Path) -> Tree {
    let overlay = dir
        .file_name()
        .expect("a name")
        .to_string_lossy()
        .into_owned();
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl kustomize {overlay}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let yaml = String::from_utf8(output.stdout).expect("UTF-8 YAML");
    let docs = parse(&yaml);
    Tree {
        overlay,
        yaml,
        docs,
    }
}

/// Every document of `yaml`, as JSON (PyYAML comes with kubernetes-validate).
fn parse(yaml: &str) -> Vec<Value> {
    let script = "import json, sys, yaml\n\
                  json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)";
    let mut child = Command::new(python::interpreter())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("YAML written");
    let output = child.wait_with_output().expect("python3 ends");
    assert!(
        output.status.success(),
        "cannot read the YAML: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON from python")
}
