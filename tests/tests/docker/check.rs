//! `scatter check --image`: the example images checked as containers, as a
//! team would check its own image before shipping it — and nothing of the
//! checker's left on the engine afterwards.

use scatter_tests::check::{self, assert_fails_exactly};
use scatter_tests::tree::search_leaf;

use crate::engine::{self, LEAF_IMAGE, MERGE_IMAGE, docker};

/// A request the search leaf takes 1.5 s over.
const SLOW: &str = r#"{"query": "hello world", "delay_ms": 1500}"#;

/// The checker's containers still on the engine.
fn checker_containers() -> String {
    docker(&[
        "ps",
        "-a",
        "--filter",
        "name=scatter-check-",
        "--format",
        "{{.Names}}",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_images_pass_every_check_as_containers_and_leave_nothing_behind() {
    if !engine::available() {
        return;
    }
    let _turn = engine::turn().await;
    let run = check::run(&[
        "leaf",
        "--image",
        LEAF_IMAGE,
        "--env",
        "SCATTER_DOCS=2000",
        "--slow-payload",
        SLOW,
        "--json",
    ])
    .await;
    assert_fails_exactly(&run, &[]);
    let drain = run.line("drain")["detail"].to_string();
    assert!(drain.contains("exited with code 0"), "{drain}");

    let leaves = [
        search_leaf(0, 2, 42, 600).await,
        search_leaf(1, 2, 42, 600).await,
    ];
    let (a, b) = (leaves[0].addr().to_string(), leaves[1].addr().to_string());
    let run = check::run(&[
        "merge",
        "--image",
        MERGE_IMAGE,
        "--leaf",
        &a,
        "--leaf",
        &b,
        "--json",
    ])
    .await;
    assert_fails_exactly(&run, &[]);
    assert_eq!(
        checker_containers(),
        "",
        "the checker left containers behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_that_is_not_built_is_refused_saying_so() {
    if !engine::available() {
        return;
    }
    let _turn = engine::turn().await;
    let run = check::run(&["leaf", "--image", "scatter-no-such-image:dev"]).await;
    assert!(!run.success);
    assert!(
        run.stderr
            .contains("cannot create a container of scatter-no-such-image:dev (is it built?)"),
        "{}",
        run.stderr
    );
    assert_eq!(checker_containers(), "");
}
