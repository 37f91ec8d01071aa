//! A leaf or a merge that answers far more than the root's limit — a
//! message announced at 4 GiB, then filler for as long as anyone reads —
//! costs the root no memory: it refuses the message as its length prefix
//! arrives, reports it with RESOURCE_EXHAUSTED, and its resident memory
//! stays where it was.

use scatter_proto::v1::ShardOutcome;
use scatter_tests::flood::Flood;
use scatter_tests::process::rss_bytes;
use scatter_tests::root::{coverage, missing, outcome};
use scatter_tests::tree::test_merge;
use scatter_tests::{LeafFlags, Query, Root, Script};
use tonic::Code;

/// Floods answered per test: enough that buffering any part of them would show.
const FLOODS: usize = 20;
/// What the root's resident memory may grow by over all of them.
const GROWTH: u64 = 32 << 20;

fn rss(root: &Root) -> u64 {
    rss_bytes(root.server.process.pid()).expect("the root's /proc/PID/status")
}

#[tokio::test]
async fn a_leaf_flooding_its_partial_fails_its_shard_and_the_root_holds_none_of_it() {
    let (leaf, merge, flood) =
        tokio::join!(LeafFlags::new(0, 2).start(), test_merge(), Flood::start());
    let shards = [leaf.addr().to_string(), flood.uri()];
    let root = Root::start(&shards, &merge.uri(), &[]).await;
    let query = || Query::script(&Script::new());
    root.query(query()).await.expect("a first answer");
    let before = rss(&root);

    for _ in 0..FLOODS {
        let response = root.query(query()).await.expect("shard 0 answers");
        let c = coverage(&response);
        assert_eq!((c.answered, c.failed), (1, 1), "{c:?}");
        let shard = missing(c, 1);
        assert_eq!(outcome(shard), ShardOutcome::Failed, "{shard:?}");
        assert_eq!(Code::from(shard.code), Code::ResourceExhausted, "{shard:?}");
        assert!(shard.message.contains("--max-partial-bytes"), "{shard:?}");
    }
    let after = rss(&root);
    assert!(
        after < before + GROWTH,
        "the root grew from {before} to {after} bytes over {FLOODS} floods"
    );
}

#[tokio::test]
async fn a_merge_flooding_its_result_is_resource_exhausted_and_the_root_holds_none_of_it() {
    let (leaf, flood) = tokio::join!(LeafFlags::new(0, 1).start(), Flood::start());
    let root = Root::start(&[leaf.addr().to_string()], &flood.uri(), &[]).await;
    let query = || Query::script(&Script::new());
    let before = rss(&root);

    for _ in 0..FLOODS {
        let status = root.query(query()).await.expect_err("no result fits");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(
            status.message().contains("--max-result-bytes"),
            "{status:?}"
        );
    }
    let after = rss(&root);
    assert!(
        after < before + GROWTH,
        "the root grew from {before} to {after} bytes over {FLOODS} floods"
    );
}
