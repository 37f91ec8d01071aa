//! The search merge: folds the shards' top k into the top k of the corpus.
//!
//! `search-merge --listen 127.0.0.1:50050`

use scatter_example_search::TopK;
use scatter_merge::MergeOptions;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    scatter_merge::init_logging();
    scatter_merge::serve(TopK, MergeOptions::from_env()?).await?;
    Ok(())
}
