//! Starting the processes of a Scatter tree: test and search leaves, test
//! and search merges, `scatter demo`, and [`Tree`] — test leaves, the test
//! merge and a root over them, the shape most tests need.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use futures::future::join_all;

use crate::binary;
use crate::process::ChildProcess;
use crate::root::Root;
use crate::server::{Server, free_port};

/// How to start one `test-leaf` (see `src/bin/test-leaf.rs`).
#[derive(Clone, Debug)]
pub struct LeafFlags {
    /// The shard it serves.
    pub shard: u32,
    /// How many shards make the whole.
    pub shard_count: u32,
    /// Its replica number within the shard, for `"S.R"` script keys.
    pub replica: u32,
    /// Answer every call with bytes that are not a `LeafResponse`.
    pub garbage: bool,
    /// Where it listens; a free port when `None`.
    pub listen: Option<SocketAddr>,
    /// More flags, e.g. `--grace-ms 2000`.
    pub extra: Vec<String>,
}

impl LeafFlags {
    /// Replica 0 of `shard` of `shard_count`, on a free port.
    pub fn new(shard: u32, shard_count: u32) -> Self {
        Self {
            shard,
            shard_count,
            replica: 0,
            garbage: false,
            listen: None,
            extra: Vec::new(),
        }
    }

    /// Answers garbage instead of a `LeafResponse`.
    #[must_use]
    pub fn garbage(mut self) -> Self {
        self.garbage = true;
        self
    }

    /// Listens on `addr` (e.g. to restart a leaf on its old port).
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Starts the leaf and waits until it serves.
    pub async fn start(self) -> Server {
        let mut args = vec![
            "--shard".to_owned(),
            self.shard.to_string(),
            "--shard-count".to_owned(),
            self.shard_count.to_string(),
            "--replica".to_owned(),
            self.replica.to_string(),
        ];
        if self.garbage {
            args.push("--garbage".to_owned());
        }
        args.extend(self.extra);
        let name = format!("test-leaf {}.{}", self.shard, self.replica);
        let addr = self.listen.unwrap_or_else(free_port);
        Server::start(&name, &binary("test-leaf"), &args, addr).await
    }
}

/// Starts a `test-merge` and waits until it serves.
pub async fn test_merge() -> Server {
    Server::start("test-merge", &binary("test-merge"), &[], free_port()).await
}

/// Starts a `search-leaf` for `shard` of `shard_count` over the corpus
/// generated from `seed` with `docs` documents.
pub async fn search_leaf(shard: u32, shard_count: u32, seed: u64, docs: usize) -> Server {
    let args = [
        "--shard",
        &shard.to_string(),
        "--shard-count",
        &shard_count.to_string(),
        "--seed",
        &seed.to_string(),
        "--docs",
        &docs.to_string(),
    ]
    .map(str::to_owned);
    let name = format!("search-leaf {shard}");
    Server::start(&name, &binary("search-leaf"), &args, free_port()).await
}

/// Starts a `search-leaf` for `shard` of `shard_count` over the corpus
/// files in `dir` (`--corpus-dir`) and waits until it serves.
pub async fn search_leaf_over(shard: u32, shard_count: u32, dir: &Path) -> Server {
    let args = [
        "--corpus-dir",
        &dir.display().to_string(),
        "--shard",
        &shard.to_string(),
        "--shard-count",
        &shard_count.to_string(),
    ]
    .map(str::to_owned);
    let name = format!("search-leaf {shard}");
    Server::start(&name, &binary("search-leaf"), &args, free_port()).await
}

/// Starts a `search-merge` and waits until it serves.
pub async fn search_merge() -> Server {
    Server::start("search-merge", &binary("search-merge"), &[], free_port()).await
}

/// Starts `scatter demo` with `shards` × `replicas` search leaves over a
/// small corpus; returns it and its root's address once it serves.
///
/// # Panics
/// When it does not print its address in time.
pub async fn demo(shards: u32, replicas: u32) -> (ChildProcess, SocketAddr) {
    let args = [
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--shards",
        &shards.to_string(),
        "--replicas",
        &replicas.to_string(),
        "--docs",
        "2000",
    ]
    .map(str::to_owned);
    let mut demo = ChildProcess::spawn("scatter demo", &binary("scatter"), &args);
    let ready = demo.stdout_line("ready", Duration::from_secs(30)).await;
    let addr = ready
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://")?.parse().ok())
        .unwrap_or_else(|| panic!("no address in {ready:?}"));
    (demo, addr)
}

/// One test leaf per shard, the test merge, and a root over them.
pub struct Tree {
    /// The leaves, indexed by shard.
    pub leaves: Vec<Server>,
    /// The test merge.
    pub merge: Server,
    /// The root.
    pub root: Root,
}

impl Tree {
    /// Starts `shards` test leaves, the test merge, and a root with
    /// `root_flags` (e.g. `["--max-concurrent", "1"]`).
    pub async fn start(shards: u32, root_flags: &[&str]) -> Self {
        let flags: Vec<LeafFlags> = (0..shards).map(|s| LeafFlags::new(s, shards)).collect();
        let (leaves, merge) = tokio::join!(
            join_all(flags.into_iter().map(LeafFlags::start)),
            test_merge()
        );
        let shard_addrs: Vec<String> = leaves.iter().map(|l| l.addr().to_string()).collect();
        let root = Root::start(&shard_addrs, &merge.uri(), root_flags).await;
        Self {
            leaves,
            merge,
            root,
        }
    }
}
