//! `deploy/swarm/stack.yaml` on a real single-node swarm: deployed from the
//! images of `deploy/build-images.sh`, then, under a bounded stream of
//! queries, every leaf service (one replica group each) and then the merge
//! are replaced task by task, one service after the other. A user of the
//! root must see none of it: no failed query, every shard in every answer.
//!
//! It runs where a Docker engine answers and the images are built. The
//! engine is made a swarm (on 127.0.0.1 only) when it is in none and left
//! again afterwards; a swarm already there is used and left as it was; an
//! engine that is a swarm worker is not touched. Without an engine the test
//! is skipped visibly; `SCATTER_REQUIRE_SWARM=1` (CI) makes any of that a
//! failure. The stack and its network are removed however the test ends.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use scatter_proto::v1::Payload;
use scatter_tests::skip::{self, Need};
use scatter_tests::swarm::{Outcome, PacedLoad, Roll, Stack, Swarm, unique_name};
use scatter_tests::{Query, eventually, free_port};
use tokio::time::Instant;

/// The stack file under test.
const STACK_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/swarm/stack.yaml");
/// The images it runs, as `deploy/build-images.sh` tags them.
const IMAGES: [&str; 3] = [
    "scatter-root:dev",
    "scatter-search-leaf:dev",
    "scatter-search-merge:dev",
];
/// The leaf services of the stack: replica group r holds replica r of
/// every shard.
const GROUPS: [&str; 2] = ["leaf-r0", "leaf-r1"];
/// Shards in the tree: each leaf service's task count.
const SHARDS: usize = 2;
/// Two clients, a query each every 100 ms: 20 queries a second at most.
const CLIENTS: usize = 2;
const PERIOD: Duration = Duration::from_millis(100);

/// Whether this run must have a swarm rather than skip.
fn swarm_required() -> bool {
    std::env::var("SCATTER_REQUIRE_SWARM").as_deref() == Ok("1")
}

/// The swarm to deploy to, or `None` after a visible skip.
///
/// # Panics
/// When no swarm can be had and `SCATTER_REQUIRE_SWARM=1` (or the Docker
/// need is required).
fn swarm_or_skip() -> Option<Swarm> {
    let images = std::process::Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}"])
        .args(IMAGES)
        .output();
    let ready = match images {
        Ok(out) if out.status.success() => Swarm::join(),
        Ok(out) => Err(format!(
            "the images are not built ({}); run deploy/build-images.sh",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("no docker command: {e}")),
    };
    match ready {
        Ok(swarm) => Some(swarm),
        Err(why) => {
            assert!(!swarm_required(), "SCATTER_REQUIRE_SWARM=1 but {why}");
            skip::missing(Need::Docker, &why);
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_every_leaf_group_then_the_merge_under_load_fails_no_query_and_keeps_every_shard() {
    let Some(swarm) = swarm_or_skip() else {
        return;
    };
    let port = free_port().port();
    let root = SocketAddr::from(([127, 0, 0, 1], port));
    let stack = Stack::deploy(
        &swarm,
        Path::new(STACK_FILE),
        &unique_name("scatter-swarm"),
        &[
            ("SCATTER_PORT", port.to_string()),
            ("SCATTER_TAG", "dev".to_owned()),
            ("SCATTER_SHARDS", SHARDS.to_string()),
            ("SCATTER_DOCS", "2000".to_owned()),
        ],
    );
    let deployed = Instant::now();
    stack
        .until_root_follows(root, &GROUPS, SHARDS, GROUPS.len(), Duration::from_secs(90))
        .await;
    let query =
        Query::new(Payload::new("text/plain", "hello world")).deadline(Duration::from_secs(2));
    let load = PacedLoad::start(root, CLIENTS, PERIOD, &query);
    let warm = Instant::now();
    eventually(
        "five answers in a row with every shard",
        Duration::from_secs(30),
        async || {
            let outcomes = load.since(warm);
            outcomes.len() >= 5 && outcomes.iter().rev().take(5).all(|o| o.full(SHARDS as u32))
        },
    )
    .await;
    println!(
        "stack serving every shard {:?} after deploy",
        deployed.elapsed()
    );

    // From here on, every answer counts.
    let measured = Instant::now();
    let mut rolls = Vec::new();
    for group in GROUPS {
        let roll = stack.roll(group).await;
        let followed = stack
            .until_root_follows(root, &GROUPS, SHARDS, GROUPS.len(), Duration::from_secs(30))
            .await;
        rolls.push((roll, followed));
    }
    let roll = stack.roll("merge").await;
    // The root's merge connection is remade on the next query: wait for
    // answers sent after the update to come back whole.
    let after = Instant::now();
    eventually(
        "answers after the merge's update",
        Duration::from_secs(10),
        async || {
            load.since(after)
                .iter()
                .filter(|o| o.full(SHARDS as u32))
                .count()
                >= 5
        },
    )
    .await;
    rolls.push((roll, after.elapsed()));
    let outcomes: Vec<Outcome> = load
        .stop()
        .await
        .into_iter()
        .filter(|o| o.sent >= measured)
        .collect();

    report(&rolls, &outcomes, measured);
    let bad: Vec<&Outcome> = outcomes.iter().filter(|o| !o.full(SHARDS as u32)).collect();
    assert!(
        bad.is_empty(),
        "{} of {} queries failed or missed a shard through the rolling updates; first: {:?}",
        bad.len(),
        outcomes.len(),
        bad.first()
    );

    stack.remove();
    let made_here = swarm.made_here();
    drop(swarm);
    if made_here {
        let state = std::process::Command::new("docker")
            .args(["info", "--format", "{{.Swarm.LocalNodeState}}"])
            .output()
            .expect("docker runs");
        assert_eq!(
            String::from_utf8_lossy(&state.stdout).trim(),
            "inactive",
            "the swarm this test made is left"
        );
    }
}

/// Prints each roll's timings and what became of the queries sent during
/// it: the numbers to look at when the assertion fails.
fn report(rolls: &[(Roll, Duration)], outcomes: &[Outcome], since: Instant) {
    println!("{} queries while rolling", outcomes.len());
    for (roll, followed) in rolls {
        let end = roll.converged + *followed;
        let during: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.sent >= roll.started && o.sent < end)
            .collect();
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        for outcome in &during {
            let kind = match &outcome.result {
                Ok(c) if outcome.full(SHARDS as u32) => "full".to_owned(),
                Ok(c) => format!("partial {}/{}", c.answered, c.total),
                Err(status) => format!("{:?}: {}", status.code(), status.message()),
            };
            *kinds.entry(kind).or_default() += 1;
        }
        let slowest = during.iter().map(|o| o.latency).max().unwrap_or_default();
        println!(
            "{}: started {:.1?} in, converged after {:.1?}, root followed {:.1?} later; \
             {} queries {kinds:?}, slowest {slowest:.1?}",
            roll.service,
            roll.started.duration_since(since),
            roll.converged.duration_since(roll.started),
            followed,
            during.len()
        );
    }
}
