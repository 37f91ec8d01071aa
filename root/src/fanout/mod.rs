//! The fan-out engine: one request, from the client's payload to the merged
//! result and its coverage. [`Engine::query`] reads as the request travels:
//! fix the deadline, open the merge stream, gather (select, hedge,
//! deadline), enforce the policy, finish the merge.

mod attempt;
mod budget;
pub mod coverage;
mod deadline;
mod gather;
mod hedge;
pub mod probation;
mod select;
#[cfg(test)]
mod tests;
mod window;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scatter_proto::v1::{MergeBegin, Policy, QueryRequest, QueryResponse};
use tokio::time::Instant;

pub use budget::HedgeBudget;
pub use deadline::Budget;
pub use hedge::{HedgeConfig, ShardStats};
pub use select::{ReplicaCounters, ReplicaStats, choose};

use crate::RootError;
use crate::config::RootConfig;
use crate::discovery::Discovery;
use crate::merge::MergeTarget;
use crate::metrics::RootMetrics;
use gather::{GatherRequest, gather};

/// Everything a request needs, shared by all requests.
pub struct Engine {
    /// The configuration the root runs with.
    pub config: RootConfig,
    /// Where the leaves are.
    pub discovery: Arc<Discovery>,
    /// Where partials are merged.
    pub merge: MergeTarget,
    /// The shared budget for hedges and retries.
    pub hedge_budget: HedgeBudget,
    /// Request-level counters.
    pub metrics: RootMetrics,
    next_request_id: AtomicU64,
}

impl Engine {
    /// An engine over `discovery` merging into `merge`.
    pub fn new(
        config: RootConfig,
        discovery: Arc<Discovery>,
        merge: MergeTarget,
        metrics: RootMetrics,
    ) -> Self {
        let hedge_budget = HedgeBudget::new(config.hedge.budget_ratio, config.hedge.budget_burst);
        // Ids differ across root restarts, which keeps leaf logs unambiguous.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros() as u64)
            << 16;
        Self {
            config,
            discovery,
            merge,
            hedge_budget,
            metrics,
            next_request_id: AtomicU64::new(seed),
        }
    }

    /// Answers one query. `client_timeout` is the client's `grpc-timeout`.
    pub async fn query(
        &self,
        request: QueryRequest,
        client_timeout: Option<Duration>,
    ) -> Result<QueryResponse, RootError> {
        let started = Instant::now();
        let budget = Budget::new(&self.config.deadline, client_timeout, started);
        let payload = request
            .payload
            .ok_or_else(|| RootError::InvalidRequest("the request has no payload".into()))?;
        let policy = request.policy.unwrap_or_default();
        coverage::validate(&policy)?;

        let topology = self.discovery.snapshot();
        let request_id = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        let mut merge = self.merge.open(
            MergeBegin {
                request: Some(payload.clone()),
                shard_count: topology.shard_count(),
                request_id,
            },
            budget.request,
        )?;

        let ends = gather(
            self,
            GatherRequest {
                topology: &topology,
                request_id,
                payload: &payload,
                gather_deadline: budget.gather,
                hedging: self.hedging(&policy),
            },
            &mut merge,
        )
        .await?;

        let coverage = coverage::report(&ends);
        self.metrics.record_coverage(&coverage);
        coverage::enforce(&policy, &coverage)?;
        let result = merge.finish().await?;
        self.metrics.request_latency.record(started.elapsed());
        Ok(QueryResponse {
            result: Some(result),
            coverage: Some(coverage),
            request_id,
        })
    }

    fn hedging(&self, policy: &Policy) -> gather::HedgeChoice {
        let per_request = policy.hedge.as_ref();
        if !self.config.hedge.enabled || per_request.is_some_and(|h| h.disabled) {
            return None;
        }
        Some(per_request.map(|h| h.percentile).filter(|p| *p > 0.0))
    }
}
