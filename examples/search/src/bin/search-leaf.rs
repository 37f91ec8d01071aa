//! A search leaf: indexes its shard of the corpus and answers queries.
//!
//! `search-leaf --listen 127.0.0.1:50051 --shard 0 --shard-count 2 [--docs N --seed S | --corpus-dir DIR]`

use scatter_example_search::{Corpus, DEFAULT_DOCS, DEFAULT_SEED, SearchLeaf};
use scatter_leaf::{Flag, Flags, LeafOptions};

/// The corpus this leaf indexes, besides the SDK's flags.
const CORPUS_FLAGS: &[Flag] = &[
    Flag {
        name: "corpus-dir",
        env: "SCATTER_CORPUS_DIR",
        value: Some("DIR"),
        help: "index the text files of DIR instead of a generated corpus",
    },
    Flag {
        name: "seed",
        env: "SCATTER_SEED",
        value: Some("N"),
        help: "the generated corpus's seed; every replica must use the same",
    },
    Flag {
        name: "docs",
        env: "SCATTER_DOCS",
        value: Some("N"),
        help: "documents in the generated corpus, over all shards",
    },
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let flags = Flags::from_env(&[LeafOptions::FLAGS, CORPUS_FLAGS]);
    scatter_leaf::init_logging();

    let options = LeafOptions::from_flags(&flags)?;
    let corpus = match flags.get("corpus-dir") {
        Some(dir) => Corpus::from_dir(dir)?,
        None => Corpus::generate(
            flags.parse("seed", DEFAULT_SEED)?,
            flags.parse("docs", DEFAULT_DOCS)?,
        ),
    };
    let leaf = SearchLeaf::new(&corpus, options.shard, options.shard_count);
    drop(corpus);
    tracing::info!(
        docs = leaf.index().len(),
        words = leaf.index().words(),
        "shard indexed"
    );
    scatter_leaf::serve(leaf, options).await?;
    Ok(())
}
