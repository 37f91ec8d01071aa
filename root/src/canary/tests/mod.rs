//! Canary requests through the whole engine ([`Fanout`]) over in-memory
//! leaves, in paused time: every timing is exact. A leaf "dies" as a real
//! one looks to the root — its call ends in a broken connection — and
//! refuses every later call as a dead process would. [`killers`]: queries
//! of death and the quarantine; [`newcomers`]: what a canary costs a
//! payload that is not one, and when the root waits for it;
//! [`unguarded`]: what a query of death costs without canaries.

mod killers;
mod newcomers;
mod unguarded;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scatter_management::metrics::Registry;
use scatter_proto::v1::{Payload, Policy, QueryRequest, QueryResponse};
use tokio::time::Instant;
use tonic::Status;

use crate::Fanout;
use crate::call_status::broken_connection;
use crate::config::RootConfig;
use crate::error::QueryError;
use crate::fanout::LeafCall;
use crate::merge::MergeTarget;
use crate::topology::{Connector, Replica, ReplicaStats, Shard, ShardStats, Topology};

/// How long every leaf takes.
const LEAF_MS: u64 = 10;
/// The body that kills whichever leaf reads it.
const DEADLY: &str = "deadly";
/// The body every leaf refuses as malformed.
const REFUSED: &str = "refused";

/// One call as the leaves saw it.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    shard: u32,
    replica: String,
    at_ms: u64,
}

/// An in-memory tree: shard `s` replica `r` at `addr(s, r)`. A call
/// whose body has the word [`DEADLY`] kills its leaf (while `deadly`
/// holds); `crash:S` kills the first leaf of shard S it reaches, as a
/// crash that is not the payload's doing would. One with `slow:MS` takes
/// MS ms, any other [`LEAF_MS`].
#[derive(Clone)]
struct Leaves {
    seen: Arc<Mutex<Vec<Seen>>>,
    dead: Arc<Mutex<HashSet<String>>>,
    /// Shards a `crash:S` has killed a leaf of.
    crashed: Arc<Mutex<HashSet<String>>>,
    deadly: Arc<Mutex<bool>>,
    start: Instant,
}

impl Leaves {
    fn new() -> Self {
        Self {
            seen: Arc::default(),
            dead: Arc::default(),
            crashed: Arc::default(),
            deadly: Arc::new(Mutex::new(true)),
            start: Instant::now(),
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn dead(&self) -> usize {
        self.dead.lock().unwrap().len()
    }

    fn service(
        &self,
    ) -> impl tower::Service<
        LeafCall,
        Response = Payload,
        Error = Status,
        Future = impl Future<Output = Result<Payload, Status>> + Send + use<>,
    > + Clone
    + Send
    + Sync
    + use<> {
        let leaves = self.clone();
        tower::service_fn(move |call: LeafCall| {
            let leaves = leaves.clone();
            async move {
                let addr = call.replica.addr.clone();
                if leaves.dead.lock().unwrap().contains(&addr) {
                    return Err(Status::unavailable(format!("{addr}: connection refused")));
                }
                leaves.seen.lock().unwrap().push(Seen {
                    shard: call.request.shard,
                    replica: addr.clone(),
                    at_ms: ms_since(leaves.start),
                });
                let body = call.request.payload.map(|p| p.body).unwrap_or_default();
                let body = String::from_utf8_lossy(&body).into_owned();
                let ms = body
                    .split_whitespace()
                    .find_map(|word| word.strip_prefix("slow:"))
                    .map_or(LEAF_MS, |ms| ms.parse().unwrap());
                tokio::time::sleep(Duration::from_millis(ms)).await;
                let shard = call.request.shard.to_string();
                let crash = body.split_whitespace().any(|word| {
                    word.strip_prefix("crash:") == Some(&shard)
                        && leaves.crashed.lock().unwrap().insert(shard.clone())
                });
                let deadly = body.split_whitespace().any(|word| word == DEADLY);
                if crash {
                    leaves.dead.lock().unwrap().insert(addr);
                    return Err(broken_connection());
                }
                if deadly && *leaves.deadly.lock().unwrap() {
                    leaves.dead.lock().unwrap().insert(addr);
                    return Err(broken_connection());
                }
                if body == REFUSED {
                    return Err(Status::invalid_argument("cannot read this query"));
                }
                Ok(Payload::new(
                    "text/plain",
                    format!("{}", call.request.shard),
                ))
            }
        })
    }
}

fn addr(shard: u32, replica: u32) -> String {
    format!("http://127.0.0.1:{}", 10_000 + shard * 10 + replica)
}

fn ms_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap()
}

/// A fan-out over `shards` × `replicas` in-memory leaves, canary policy
/// `enabled`, hedging off (no second call muddles the counts), the
/// canary settings `tune` makes.
fn fanout(
    leaves: &Leaves,
    shards: u32,
    replicas: u32,
    enabled: bool,
    tune: impl FnOnce(&mut RootConfig),
) -> (Fanout<impl crate::fanout::LeafService>, Registry) {
    let registry = Registry::default();
    let tree: Vec<Shard> = (0..shards)
        .map(|id| Shard {
            id,
            replicas: (0..replicas)
                .map(|r| {
                    let addr = addr(id, r);
                    let channel = Connector::default().endpoint(&addr).unwrap().connect_lazy();
                    Arc::new(Replica {
                        client: Connector::default().leaf_client(channel),
                        stats: ReplicaStats::new(&registry, id, &addr),
                        addr,
                    })
                })
                .collect(),
            stats: Arc::new(ShardStats::new(&registry, id)),
        })
        .collect();
    let mut config = RootConfig {
        shards: (0..shards)
            .map(|s| (0..replicas).map(|r| addr(s, r)).collect())
            .collect(),
        ..RootConfig::default()
    };
    config.hedge.enabled = false;
    config.probation.enabled = false;
    config.admission.adaptive = false;
    config.canary.enabled = enabled;
    tune(&mut config);
    config.validate().unwrap();
    let topology = Arc::new(Topology::of_shards(
        tree,
        Connector::default(),
        registry.clone(),
    ));
    let fanout = Fanout::with_leaf(
        config,
        topology,
        MergeTarget::Concat,
        &registry,
        leaves.service(),
    );
    (fanout, registry)
}

fn request(body: &'static str, policy: Policy) -> QueryRequest {
    QueryRequest {
        payload: Some(Payload::new("text/plain", body)),
        policy: Some(policy),
    }
}

async fn query(
    fanout: &Fanout<impl crate::fanout::LeafService>,
    body: &'static str,
) -> Result<QueryResponse, QueryError> {
    fanout.query(request(body, Policy::default()), None).await
}

fn answered(response: &QueryResponse) -> u32 {
    response.coverage.as_ref().unwrap().answered
}

fn metric(registry: &Registry, series: &str) -> u64 {
    let text = registry.render();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// Canaries that ended with `outcome`.
fn outcomes(registry: &Registry, outcome: &str) -> u64 {
    metric(
        registry,
        &format!(r#"scatter_root_canary_outcomes_total{{outcome="{outcome}"}}"#),
    )
}
