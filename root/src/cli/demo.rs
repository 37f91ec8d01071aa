//! `scatter demo`: a complete local tree of the example sharded search —
//! `search-leaf` processes (shards × replicas) and a `search-merge`, started
//! by the process runtime, behind a root — serving until SIGTERM or ctrl-c.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use scatter_root::Root;
use scatter_root::config::RootConfig;
use scatter_root::runtime::process::{ChildSpec, ProcessOptions, ProcessRuntime};

/// Flags of `scatter demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where the root listens (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:50000")]
    listen: SocketAddr,
    /// How many shards the corpus is split into.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Leaves per shard; hedges go to a shard's other replicas.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Index the files of this directory instead of a generated corpus.
    #[arg(long)]
    corpus_dir: Option<PathBuf>,
    /// Documents in the generated corpus.
    #[arg(long, default_value_t = 20_000)]
    docs: u32,
    /// Seed of the generated corpus.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the example binaries are (default: beside `scatter`).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Use the root's built-in `concat` merge instead of the `search-merge` process.
    #[arg(long)]
    builtin_merge: bool,
}

/// Runs `scatter demo`.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if args.shards == 0 || args.replicas == 0 {
        bail!("--shards and --replicas must be at least 1");
    }
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the scatter executable has no directory")?
            .to_path_buf(),
    };
    let leaf = example_binary(&bin_dir, "search-leaf")?;
    let merge = example_binary(&bin_dir, "search-merge")?;

    let mut specs = Vec::new();
    for shard in 0..args.shards {
        for replica in 0..args.replicas {
            let mut leaf_args = vec![
                "--shard".to_owned(),
                shard.to_string(),
                "--shard-count".to_owned(),
                args.shards.to_string(),
                "--docs".to_owned(),
                args.docs.to_string(),
                "--seed".to_owned(),
                args.seed.to_string(),
            ];
            if let Some(dir) = &args.corpus_dir {
                leaf_args.push("--corpus-dir".to_owned());
                leaf_args.push(dir.display().to_string());
            }
            specs.push(ChildSpec {
                name: format!("leaf-{shard}.{replica}"),
                program: leaf.clone(),
                args: leaf_args,
                env: Vec::new(),
            });
        }
    }
    if !args.builtin_merge {
        specs.push(ChildSpec {
            name: "merge".to_owned(),
            program: merge,
            args: Vec::new(),
            env: Vec::new(),
        });
    }

    let options = ProcessOptions::default();
    let runtime = ProcessRuntime::start(specs, options.clone()).await?;
    let addrs = runtime.addrs();
    let per_shard = args.replicas as usize;
    let mut config = RootConfig {
        listen: args.listen,
        shards: addrs[..args.shards as usize * per_shard]
            .chunks(per_shard)
            .map(|chunk| chunk.iter().map(ToString::to_string).collect())
            .collect(),
        ..RootConfig::default()
    };
    if !args.builtin_merge {
        config.merge = format!("http://{}", addrs[addrs.len() - 1]);
    }
    let served = serve(config).await;
    runtime.stop(&options).await;
    served?;
    eprintln!("scatter demo stopped; every child process has exited");
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: RootConfig) -> anyhow::Result<()> {
    let root = Root::connect(config).await?;
    let listener = scatter_management::bind(root.config().listen).await?;
    let addr = listener.local_addr()?;
    let shape = root.config().shards.len();
    println!("scatter demo ready on http://{addr} ({shape} shards)");
    eprintln!("try: scatter query --addr http://{addr} hello world");
    let options = root.config().serve_options();
    root.serve(listener, options).await?;
    Ok(())
}

fn example_binary(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        bail!(
            "{} not found; build the examples first: cargo build --release --workspace",
            path.display()
        )
    }
}
