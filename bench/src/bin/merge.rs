//! `scatter-bench-merge`: the built-in concatenation served as a merge
//! process, for the `scatter-merge` mode (the root streaming partials to a
//! merge container instead of folding them in process).

use scatter_merge::{Concat, MergeOptions};

#[tokio::main]
async fn main() -> Result<(), scatter_merge::Error> {
    scatter_merge::serve(Concat, MergeOptions::from_env()?).await
}
