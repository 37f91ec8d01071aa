//! Scatter as a library: this program starts four search leaves (two
//! shards, two replicas each) on loopback, then fans a query out to them
//! *in process* with [`Fanout`] — the root's hedging, budget, probation,
//! coverage and merge, with no root hop — first for one answer, then as a
//! progressive stream.
//!
//! `cargo run -p scatter-example-embedded -- hello world`

use std::sync::Arc;

use futures::StreamExt as _;
use scatter_example_search::{
    Corpus, DEFAULT_DOCS, DEFAULT_SEED, Query, Results, SearchLeaf, TopK,
};
use scatter_leaf::{LeafOptions, Process};
use scatter_management::metrics::Registry;
use scatter_proto::v1::QueryRequest;
use scatter_proto::v1::query_update::Kind;
use scatter_root::Fanout;
use scatter_root::config::RootConfig;
use scatter_root::merge::MergeTarget;

const SHARDS: u32 = 2;
const REPLICAS: u32 = 2;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let text = if words.is_empty() {
        "hello world".to_owned()
    } else {
        words.join(" ")
    };

    let corpus = Corpus::generate(DEFAULT_SEED, DEFAULT_DOCS);
    let mut shards = Vec::new();
    for shard in 0..SHARDS {
        let mut replicas = Vec::new();
        for _ in 0..REPLICAS {
            replicas.push(start_leaf(&corpus, shard).await?);
        }
        shards.push(replicas);
    }

    // The top-k merge linked in: it folds on a task of its own per request.
    let config = RootConfig {
        shards,
        ..RootConfig::default()
    };
    let fanout = Fanout::with_merge(
        config,
        MergeTarget::Local(Arc::new(TopK)),
        &Registry::default(),
    )
    .await?;

    let request = QueryRequest {
        payload: Some(Query::new(&text, 5).to_payload()),
        ..QueryRequest::default()
    };
    let answer = fanout.query(request.clone(), None).await?;
    let coverage = answer.coverage.unwrap_or_default();
    println!(
        "{:?}: {} of {} shards answered",
        text, coverage.answered, coverage.total
    );
    print_hits(&Results::from_payload(&answer.result.unwrap_or_default())?);

    println!("\nthe same query, progressively:");
    let mut updates = Box::pin(fanout.query_stream(request, None));
    while let Some(update) = updates.next().await {
        match update?.kind {
            Some(Kind::Progress(progress)) => {
                let coverage = progress.coverage.unwrap_or_default();
                let best = progress
                    .snapshot
                    .and_then(|s| Results::from_payload(&s).ok())
                    .and_then(|r| r.hits.first().map(|h| h.title.clone()));
                println!(
                    "  {}/{} shards in; best so far: {best:?}",
                    coverage.answered, coverage.total
                );
            }
            Some(Kind::Done(_)) => println!("  done"),
            None => {}
        }
    }
    Ok(())
}

/// Starts one search leaf for `shard` on a free loopback port; returns its address.
async fn start_leaf(corpus: &Corpus, shard: u32) -> anyhow::Result<String> {
    let listener = scatter_management::bind("127.0.0.1:0".parse()?).await?;
    let addr = listener.local_addr()?;
    let options = LeafOptions {
        listen: addr,
        shard,
        shard_count: SHARDS,
        ..LeafOptions::default()
    };
    let leaf = SearchLeaf::new(corpus, shard, SHARDS);
    tokio::spawn(scatter_leaf::serve_on(
        leaf,
        options,
        listener,
        Process::new("leaf", &["scatter.v1.Leaf"]),
    ));
    Ok(addr.to_string())
}

fn print_hits(results: &Results) {
    for hit in &results.hits {
        println!("  {:>7.3}  {}  (shard {})", hit.score, hit.title, hit.shard);
    }
    println!("  {} matching documents", results.total_hits);
}
