//! `scatter check`, the conformance checker, run as a user runs it: against
//! the Rust search leaf and merge (which must pass every check), against a
//! leaf that breaks one rule (which must fail that check and no other), and
//! with the mistakes a user makes calling it. The Python examples and the
//! broken Python fixtures are checked in `check_python.rs`; the `--image`
//! path in the `docker` target.

use scatter_tests::check::{self, assert_fails_exactly};
use scatter_tests::tree::{search_leaf, search_merge};
use scatter_tests::{binary, free_port};

/// A request the search leaves take 1.5 s over (`delay_ms`), cancellably.
const SLOW: &str = r#"{"query": "hello world", "delay_ms": 1500}"#;

fn exec(program: &str, args: &str) -> String {
    format!("{} {args}", binary(program).display())
}

#[tokio::test]
async fn the_rust_search_leaf_passes_every_check() {
    let leaf = exec("search-leaf", "--shard 1 --shard-count 2 --docs 2000");
    let run = check::run(&["leaf", "--exec", &leaf, "--slow-payload", SLOW, "--json"]).await;
    assert_fails_exactly(&run, &[]);
    let info = run.line("info");
    assert!(
        info["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("shard 1 of 2") && d.contains("FAILED_PRECONDITION")),
        "{info}"
    );
    let cancellation = run.line("cancellation")["detail"].to_string();
    assert!(cancellation.contains("the work stopped"), "{cancellation}");
}

#[tokio::test]
async fn the_rust_search_merge_passes_every_check_with_partials_from_real_leaves() {
    let leaves = [
        search_leaf(0, 3, 42, 900).await,
        search_leaf(1, 3, 42, 900).await,
        search_leaf(2, 3, 42, 900).await,
    ];
    let addrs: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
    let merge = exec("search-merge", "");
    let mut args = vec!["merge", "--exec", &merge, "--json"];
    for addr in &addrs {
        args.extend(["--leaf", addr]);
    }
    let run = check::run(&args).await;
    assert_fails_exactly(&run, &[]);
    let order = run.line("any-order")["detail"].to_string();
    assert!(order.contains("3 orders of 3 partials"), "{order}");
}

#[tokio::test]
async fn a_running_leaf_is_checked_at_its_address_and_its_drain_skipped_saying_why() {
    let leaf = search_leaf(0, 1, 42, 500).await;
    let addr = leaf.addr().to_string();
    let run = check::run(&["leaf", &addr, "--slow-payload", SLOW, "--json"]).await;
    assert!(run.success, "{}", run.stdout);
    assert!(run.with_result("fail").is_empty(), "{}", run.stdout);
    assert_eq!(
        run.with_result("skip").into_iter().collect::<Vec<_>>(),
        ["drain"]
    );
    let why = run.line("drain")["why"].to_string();
    assert!(why.contains("needs --exec or --image"), "{why}");
}

#[tokio::test]
async fn a_failure_in_the_table_says_what_was_expected_and_what_came_back() {
    // The test leaf answers whatever it is sent: an unreadable payload too.
    let leaf = exec("test-leaf", "--shard 0 --shard-count 1");
    let run = check::run(&["leaf", "--exec", &leaf, "--grace-ms", "5000"]).await;
    assert!(!run.success, "{}", run.stdout);
    let table = &run.stdout;
    assert!(
        table.contains("bad-payload    FAIL")
            && table.contains("expected: INVALID_ARGUMENT with a message")
            && table.contains("got:      OK: it answered a payload it cannot have read"),
        "{table}"
    );
    assert!(
        table.contains("cancellation   skip") && table.contains("needs --slow-payload"),
        "{table}"
    );
    assert!(
        table.contains("10 checks: 8 passed, 1 failed, 1 skipped"),
        "{table}"
    );
}

#[tokio::test]
async fn a_leaf_without_a_readable_in_flight_gauge_has_its_cancellation_skipped_saying_why() {
    let leaf = exec("search-leaf", "--docs 300");
    let nowhere = format!("http://{}/metrics", free_port());
    let run = check::run(&[
        "leaf",
        "--exec",
        &leaf,
        "--slow-payload",
        SLOW,
        "--metrics",
        &nowhere,
        "--json",
    ])
    .await;
    let why = run.line("cancellation")["why"].to_string();
    assert!(
        why.contains("cannot see the leaf's work") && why.contains("--metrics"),
        "{why}"
    );
    // A slow payload that is not slow cannot show cancellation either.
    let quick = r#"{"query": "hello"}"#;
    let run = check::run(&["leaf", "--exec", &leaf, "--slow-payload", quick, "--json"]).await;
    let why = run.line("cancellation")["why"].to_string();
    assert!(why.contains("too soon to cancel it"), "{why}");
}

#[tokio::test]
async fn mistakes_calling_the_checker_are_refused_saying_what_to_do() {
    let nothing = free_port().to_string();
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec!["leaf"],
            "give the address of a running process, or --exec CMD, or --image IMG",
        ),
        (
            vec!["leaf", &nothing, "--ready-ms", "300"],
            "did not serve gRPC health within",
        ),
        (
            vec!["leaf", "--exec", "sh -c 'echo no such leaf >&2; exit 3'"],
            "exited with code 3 before it served",
        ),
        (
            vec!["leaf", "--exec", "true", "--env", "NOEQUALS"],
            "must be KEY=VALUE",
        ),
        (
            vec!["leaf", &nothing, "--image", "scatter-search-leaf:dev"],
            "or --image, not both",
        ),
        (
            vec!["merge", &nothing, "--partial", "/nonexistent/partial.json"],
            "cannot read --partial /nonexistent/partial.json",
        ),
    ];
    for (args, says) in cases {
        let run = check::run(&args).await;
        assert!(!run.success, "{args:?} succeeded");
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    let run = check::run(&["merge", "--exec", "true", "--leaf", &nothing]).await;
    assert!(
        !run.success
            && run
                .stderr
                .contains(&format!("cannot take a partial from --leaf {nothing}")),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_started_merge_is_checked_without_partials_and_says_which_check_needs_them() {
    let merge = search_merge().await;
    let addr = merge.addr().to_string();
    let run = check::run(&["merge", &addr, "--json"]).await;
    assert!(run.success, "{}", run.stdout);
    let skipped = run.with_result("skip");
    assert_eq!(
        skipped.into_iter().collect::<Vec<_>>(),
        ["any-order", "drain"],
        "{}",
        run.stdout
    );
    let why = run.line("any-order")["why"].to_string();
    assert!(
        why.contains("--leaf ADDR") && why.contains("--partial FILE"),
        "{why}"
    );
}
