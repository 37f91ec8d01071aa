//! A search leaf: indexes its shard of the corpus and answers queries.
//!
//! `search-leaf --listen 127.0.0.1:50051 --shard 0 --shard-count 2 [--docs N --seed S | --corpus-dir DIR]`

use scatter_example_search::{Corpus, DEFAULT_DOCS, DEFAULT_SEED, SearchLeaf};
use scatter_leaf::{Flags, LeafOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    scatter_leaf::init_logging();

    let options = LeafOptions::from_env()?;
    let flags = Flags::from_env();
    let corpus = match flags.get("corpus-dir", "SCATTER_CORPUS_DIR") {
        Some(dir) => Corpus::from_dir(dir)?,
        None => Corpus::generate(
            flags.parse("seed", "SCATTER_SEED", DEFAULT_SEED)?,
            flags.parse("docs", "SCATTER_DOCS", DEFAULT_DOCS)?,
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
