//! What a user typing at the command line meets: every SDK-built process
//! refuses a flag it does not know and answers `--help` without serving, and
//! `scatter query` takes a bare `host:port` and reports a passed deadline as
//! DEADLINE_EXCEEDED. (What `scatter` refuses before it serves is in
//! `root/tests/cli.rs`.)

use std::time::Duration;

use scatter_tests::process::{Finished, run_to_end};
use scatter_tests::{Tree, binary};

/// Long enough to start and answer; a process that serves instead of
/// exiting runs past it and fails the test.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// Every binary built with the leaf or merge SDK, and a flag of its own
/// (besides the SDK's) that `--help` must list.
const SDK_PROCESSES: &[(&str, &str)] = &[
    ("search-leaf", "--seed"),
    ("search-merge", "--max-in-flight"),
    ("test-leaf", "--garbage"),
    ("test-merge", "--drain-delay-ms"),
    ("scatter-bench-leaf", "--leaf-config"),
    ("scatter-bench-merge", "--grace-ms"),
];

async fn run(name: &str, args: &[&str]) -> Finished {
    run_to_end(&binary(name), args, EXIT_TIMEOUT).await
}

#[tokio::test]
async fn sdk_process_refuses_a_misspelt_flag_naming_it_before_serving() {
    for &(name, _) in SDK_PROCESSES {
        let out = run(name, &["--lisen", "127.0.0.1:0"]).await;
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        assert!(out.stderr.contains("'--lisen'"), "{name}: {out:?}");
        assert!(
            out.stderr.contains("--listen"),
            "{name} suggests no flag: {out:?}"
        );
    }
}

#[tokio::test]
async fn sdk_process_refuses_a_stray_argument() {
    let out = run("search-leaf", &["--shard", "0", "serve"]).await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stderr.contains("'serve'"), "{out:?}");
}

#[tokio::test]
async fn sdk_process_help_lists_its_flags_with_their_variables_and_exits_0() {
    for &(name, own) in SDK_PROCESSES {
        for help in ["--help", "-h"] {
            let out = run(name, &[help]).await;
            assert!(out.status.success(), "{name} {help}: {out:?}");
            for expected in ["--listen <ADDR>", "SCATTER_LISTEN", "--grace-ms", own] {
                assert!(
                    out.stdout.contains(expected),
                    "{name} {help} lacks {expected}: {out:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn query_takes_a_bare_host_and_port() {
    let tree = Tree::start(2, &[]).await;
    let addr = tree.root.server.addr().to_string();
    let out = run("scatter", &["query", "--addr", &addr, "hello"]).await;
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.contains("coverage: 2/2 answered"), "{out:?}");
}

#[tokio::test]
async fn query_with_a_zero_deadline_is_deadline_exceeded() {
    let tree = Tree::start(1, &[]).await;
    let addr = tree.root.server.uri();
    for mode in [&[][..], &["--stream"][..]] {
        let mut args = vec!["query", "--addr", &addr, "--deadline-ms", "0"];
        args.extend(mode);
        args.push("hello");
        let out = run("scatter", &args).await;
        assert!(!out.status.success(), "{mode:?}: {out:?}");
        assert!(
            out.stderr.contains("DeadlineExceeded") && !out.stderr.contains("Cancelled"),
            "{mode:?}: {out:?}"
        );
    }
}
