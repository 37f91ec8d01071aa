//! One config surface: `scatter serve` takes every setting from a flag, a
//! `SCATTER_*` variable or the TOML file of `--config` (in that order of
//! precedence); `scatter config print` shows the configuration in force
//! with where each value came from, and its output is a config file that
//! gives the same configuration. SDK-built processes take `--config` (keys
//! are their flag names) and `--print-config`. A bad file is refused at
//! start, naming the key.

use std::path::PathBuf;
use std::time::Duration;

use scatter_tests::binary;
use scatter_tests::process::{Finished, run_to_end_with_env};

const WAIT: Duration = Duration::from_secs(20);

/// A file in a directory of its own, removed with it.
struct ConfigFile {
    path: PathBuf,
}

impl ConfigFile {
    fn new(name: &str, text: &str) -> Self {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("scatter-config-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        Self { path }
    }

    fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn scatter(args: &[&str], env: &[(&str, &str)]) -> Finished {
    run_to_end_with_env(&binary("scatter"), args, env, WAIT).await
}

/// The line of `printed` that sets `key` (in its section).
fn line<'a>(printed: &'a str, section: Option<&str>, key: &str) -> &'a str {
    let mut current = None;
    for line in printed.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name);
        } else if current == section && line.starts_with(&format!("{key} = ")) {
            return line;
        }
    }
    panic!("no {key} in [{section:?}] of:\n{printed}");
}

#[tokio::test]
async fn config_print_shows_each_value_and_whether_a_flag_variable_file_or_default_set_it() {
    let file = ConfigFile::new(
        "root.toml",
        "shards = [[\"127.0.0.1:7001\"], [\"127.0.0.1:7002\"]]\n\
         [deadline]\ndefault = \"250ms\"\nmax = \"5s\"\n",
    );
    let env = [
        ("SCATTER_MAX_CONCURRENT", "77"),
        ("SCATTER_MAX_DEADLINE_MS", "9000"),
    ];
    let args = [
        "config",
        "print",
        "--config",
        file.arg(),
        "--listen",
        "127.0.0.1:5555",
        "--max-deadline-ms",
        "8000",
        "--merge-reserve-floor-ms",
        "50",
    ];
    let out = scatter(&args, &env).await;
    assert!(out.status.success(), "{out:?}");
    let printed = &out.stdout;
    let source = |section, key| line(printed, section, key).rsplit("# ").next().unwrap();
    assert!(line(printed, None, "listen").contains("\"127.0.0.1:5555\""));
    assert_eq!(source(None, "listen"), "flag");
    assert_eq!(
        source(Some("deadline"), "max"),
        "flag",
        "the flag wins over its variable"
    );
    assert!(line(printed, Some("deadline"), "max").contains("\"8s\""));
    assert!(line(printed, Some("deadline"), "merge_reserve_floor").contains("\"50ms\""));
    assert_eq!(source(Some("deadline"), "merge_reserve_floor"), "flag");
    assert_eq!(
        source(Some("limits"), "max_concurrent_requests"),
        "environment"
    );
    assert!(line(printed, Some("limits"), "max_concurrent_requests").contains("77"));
    let from_file = format!("file ({})", file.arg());
    assert_eq!(source(None, "shards"), from_file);
    assert_eq!(source(Some("deadline"), "default"), from_file);
    assert_eq!(source(Some("hedge"), "percentile"), "default");

    // What it printed is a config file that gives the same values.
    let again = ConfigFile::new("printed.toml", printed);
    let out = scatter(&["config", "print", "--config", again.arg()], &[]).await;
    assert!(out.status.success(), "{out:?}");
    for (section, key) in [
        (None, "listen"),
        (None, "shards"),
        (Some("deadline"), "max"),
        (Some("limits"), "max_concurrent_requests"),
    ] {
        let value = |printed| {
            line(printed, section, key)
                .split(" #")
                .next()
                .unwrap()
                .trim_end()
                .to_owned()
        };
        assert_eq!(value(&out.stdout), value(printed), "{key}");
    }
}

#[tokio::test]
async fn shards_from_a_variable_are_separated_by_semicolons() {
    let env = [(
        "SCATTER_SHARD",
        "127.0.0.1:7001,127.0.0.1:7002;127.0.0.1:7003",
    )];
    let out = scatter(&["config", "print"], &env).await;
    assert!(out.status.success(), "{out:?}");
    let shards = line(&out.stdout, None, "shards");
    assert!(
        shards.contains(r#"[["127.0.0.1:7001", "127.0.0.1:7002"], ["127.0.0.1:7003"]]"#),
        "{shards}"
    );
    assert!(shards.ends_with("# environment"), "{shards}");
}

#[tokio::test]
async fn config_print_of_a_configuration_serve_would_refuse_prints_it_and_says_why() {
    let out = scatter(&["config", "print"], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.contains("shards = []"), "{}", out.stdout);
    assert!(
        out.stderr.contains("no shards configured"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn serve_refuses_a_config_file_with_an_unknown_key_or_bad_value_naming_it() {
    for (text, named) in [
        (
            "shards = [[\"127.0.0.1:7001\"]]\n[hedge]\npercentil = 90.0\n",
            "percentil",
        ),
        (
            "shards = [[\"127.0.0.1:7001\"]]\n[deadline]\ndefault = \"10 parsecs\"\n",
            "default",
        ),
    ] {
        let file = ConfigFile::new("bad.toml", text);
        let out = scatter(&["serve", "--config", file.arg()], &[]).await;
        assert!(!out.status.success(), "{out:?}");
        assert!(out.stderr.contains(file.arg()), "{}", out.stderr);
        assert!(out.stderr.contains(named), "{}", out.stderr);
    }
}

#[tokio::test]
async fn an_sdk_process_reads_its_flags_from_a_file_and_prints_where_each_came_from() {
    let file = ConfigFile::new("leaf.toml", "shard = 2\nshard-count = 3\ngrace_ms = 1500\n");
    let args = [
        "--config",
        file.arg(),
        "--shard-count",
        "4",
        "--print-config",
    ];
    let env = [("SCATTER_MAX_IN_FLIGHT", "9")];
    let out = run_to_end_with_env(&binary("test-leaf"), &args, &env, WAIT).await;
    assert!(out.status.success(), "{out:?}");
    let printed = &out.stdout;
    let from_file = format!("# file ({})", file.arg());
    assert!(
        printed.contains(&format!("shard = \"2\"  {from_file}")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("grace-ms = \"1500\"  {from_file}")),
        "{printed}"
    );
    assert!(printed.contains("shard-count = \"4\"  # flag"), "{printed}");
    assert!(
        printed.contains("max-in-flight = \"9\"  # environment (SCATTER_MAX_IN_FLIGHT)"),
        "{printed}"
    );
}

#[tokio::test]
async fn an_sdk_process_refuses_a_config_file_with_an_unknown_key_naming_it() {
    let file = ConfigFile::new("bad-leaf.toml", "shard = 0\nlisen = \"127.0.0.1:1\"\n");
    let out = run_to_end_with_env(&binary("test-leaf"), &["--config", file.arg()], &[], WAIT).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("unknown key `lisen`"), "{}", out.stderr);
    assert!(out.stderr.contains(file.arg()), "{}", out.stderr);
}
