//! The bench leaf: a `scatter_leaf::Leaf` whose service time comes from the
//! seeded [`LatencyModel`]. It reads the harness's request id from the
//! payload, draws for (id, shard, replica, attempt), fails fast when the
//! model says so, otherwise waits the service time out on the
//! [`PreciseTimer`] (no CPU burnt), and answers with a partial that
//! reports the time it applied and the time it was busy ([`crate::work`]).
//! When the call is a straggler of a kind the model says is recognisable,
//! it tells the root at once that the call will be slow, with the class's
//! typical time (never the drawn one). A request carrying the deadly
//! marker ([`wire::is_deadly`]) makes the process exit at once, as a query
//! of death would. A concurrency limit is the SDK's work queue
//! ([`LeafConfig::max_concurrency`]): calls past it wait before they reach
//! the leaf, and the leaf's load reports say how many wait, as a real
//! leaf's do.
use std::num::NonZeroUsize;

use scatter_leaf::{Leaf, Payload, ShardRequest, Status};
use scatter_management::metrics::Registry;
use serde::{Deserialize, Serialize};

use crate::model::{CallId, Draw, LatencyModel};
use crate::timer::PreciseTimer;
use crate::wire;
use crate::work::BusyCounters;

/// The exit code of a bench leaf killed by a deadly request.
pub const DEADLY_EXIT_CODE: i32 = 70;

/// Everything a bench leaf needs beyond its shard and replica; passed to
/// the leaf process as JSON in `--leaf-config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeafConfig {
    /// The latency model, the same for every leaf of a run.
    pub model: LatencyModel,
    /// Calls served at once; more wait in a FIFO queue. `None`: no limit.
    pub concurrency: Option<usize>,
    /// Size of each partial body in bytes.
    pub partial_bytes: usize,
}

impl LeafConfig {
    /// The SDK's `max_concurrency` for [`concurrency`](Self::concurrency)
    /// (a limit of 0 is none).
    pub fn max_concurrency(&self) -> Option<NonZeroUsize> {
        self.concurrency.and_then(NonZeroUsize::new)
    }
}

/// One bench leaf.
pub struct BenchLeaf {
    config: LeafConfig,
    replica: u32,
    timer: PreciseTimer,
    busy: BusyCounters,
}

impl BenchLeaf {
    /// A leaf serving as replica `replica` of its shard, counting its busy
    /// time in `metrics` (its process's `/metrics`).
    pub fn new(config: LeafConfig, replica: u32, timer: PreciseTimer, metrics: &Registry) -> Self {
        Self {
            config,
            replica,
            timer,
            busy: BusyCounters::register(metrics),
        }
    }
}

impl Leaf for BenchLeaf {
    async fn answer(&self, request: ShardRequest) -> Result<Payload, Status> {
        if wire::is_deadly(&request.payload.body) {
            // A query of death: the process goes, every call in flight with it.
            std::process::exit(DEADLY_EXIT_CODE);
        }
        let call = CallId {
            request: wire::request_id(&request.payload.body).unwrap_or(request.request_id),
            shard: request.shard,
            replica: self.replica,
            attempt: request.attempt,
        };
        let service = match self.config.model.draw(call) {
            Draw::Fail => return Err(Status::unavailable("bench leaf: injected fast failure")),
            Draw::Serve(service) => service,
        };
        // What a real leaf could know at the start: this is a straggler of
        // a kind it recognises, and such calls take about so long.
        if let Some(typical) = self.config.model.recognisable_straggler(call) {
            request
                .hints
                .slow(Some(typical), "recognisable straggler (bench model)");
        }
        // The SDK called the leaf once a slot was free: queueing is not work.
        let busy = self.busy.start();
        self.timer.sleep(service).await;
        let busy = busy.end(true);
        Ok(Payload::new(
            wire::PARTIAL_CONTENT_TYPE,
            wire::partial_body(service, busy, self.config.partial_bytes),
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{Base, FastErrors};

    fn request(id: u64, attempt: u32) -> ShardRequest {
        ShardRequest {
            payload: Payload::new(wire::REQUEST_CONTENT_TYPE, wire::request_body(id, 16)),
            shard: 1,
            shard_count: 2,
            request_id: 999,
            attempt,
            deadline: None,
            hints: scatter_leaf::Hints::none(),
        }
    }

    #[tokio::test]
    async fn draws_from_the_payload_id_and_reports_the_service_time_applied() {
        let model = LatencyModel::new(5, Base::Exponential { mean_us: 200.0 });
        let config = LeafConfig {
            model: model.clone(),
            concurrency: None,
            partial_bytes: 64,
        };
        let leaf = BenchLeaf::new(
            config,
            1,
            PreciseTimer::start().unwrap(),
            &Registry::default(),
        );
        let partial = leaf.answer(request(77, 0)).await.unwrap();
        assert_eq!(partial.body.len(), 64);
        let busy = wire::partial_busy(&partial.body).unwrap();
        let expected = model.draw(CallId {
            request: 77,
            shard: 1,
            replica: 1,
            attempt: 0,
        });
        let reported = wire::partial_service(&partial.body).unwrap();
        match expected {
            Draw::Serve(d) => {
                assert_eq!(reported, Duration::from_micros(d.as_micros() as u64));
                assert!(busy >= reported, "busy {busy:?} < service {reported:?}");
            }
            Draw::Fail => panic!("model without errors failed"),
        }
    }

    #[tokio::test]
    async fn injected_failures_are_unavailable() {
        let mut model = LatencyModel::new(5, Base::Zero);
        model.errors = Some(FastErrors {
            replica: None,
            rate: 1.0,
        });
        let config = LeafConfig {
            model,
            concurrency: None,
            partial_bytes: 8,
        };
        let leaf = BenchLeaf::new(
            config,
            0,
            PreciseTimer::start().unwrap(),
            &Registry::default(),
        );
        let status = leaf.answer(request(1, 0)).await.unwrap_err();
        assert_eq!(status.code(), scatter_leaf::Code::Unavailable);
    }
}
