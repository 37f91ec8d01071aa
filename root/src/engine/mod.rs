//! The engine: what every request shares (the tree, the merge, the hedge
//! budget, the metrics) and the one driver that runs a request through
//! fan-out and merge. [`Fanout`] is its public face: a Rust service embeds
//! it to fan out in process, with no root hop, and the root's gRPC service
//! is a thin layer over it.
//!
//! Consumers of a request's gather events: [`request`] (the driver: the
//! merge, coverage and the unary answer), [`progress`] (the updates a
//! `QueryStream` client gets, in order) and [`stream`] (the task that runs
//! a progressive request); [`service`] makes [`Fanout`] a
//! `tower::Service`.

mod progress;
mod request;
mod request_log;
mod service;
mod stream;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use scatter_management::metrics::Registry;
use scatter_management::trace::{Spans, TraceContext};
use scatter_proto::v1::{Policy, QueryRequest, QueryResponse, QueryUpdate};

use crate::admission::{Admission, Class, Permit};
use crate::canary::Canary;
use crate::config::RootConfig;
use crate::error::{QueryError, StartError};
use crate::fanout::{
    Deadlines, HedgeBudget, Hedging, LeafService, LeafStack, RequestId, leaf_stack,
};
use crate::merge::{MergeReserve, MergeTarget};
use crate::metrics::RootMetrics;
use crate::topology::{Connector, Topology};

/// The tie delay of a request that asks for ties on a root configured
/// without them: a little above a loopback round trip, so a call that
/// starts at once is rarely copied.
const DEFAULT_TIED_DELAY: Duration = Duration::from_millis(1);

/// What every request shares.
pub struct Engine<S> {
    /// The configuration in force.
    pub config: RootConfig,
    /// The live tree.
    pub topology: Arc<Topology>,
    /// Where partials are merged.
    pub merge: MergeTarget,
    /// Time kept back for the merge, following its finish latency.
    pub reserve: MergeReserve,
    /// The shared budget for hedges and retries.
    pub hedge_budget: HedgeBudget,
    /// Whether a request may start now; the adaptive concurrency limit.
    pub admission: Admission,
    /// Which payloads go to one shard first, and what their canaries showed.
    pub canary: Canary,
    /// Request-level counters.
    pub metrics: RootMetrics,
    /// The stack every leaf call goes through.
    pub leaf: S,
    /// Where request and call spans go (nowhere until an exporter is
    /// installed, e.g. by `--otlp-endpoint`).
    pub spans: Spans,
    next_request_id: AtomicU64,
}

impl<S> Engine<S> {
    /// An engine over `topology` merging into `merge`, calling leaves
    /// through `leaf`.
    pub fn new(
        config: RootConfig,
        topology: Arc<Topology>,
        merge: MergeTarget,
        metrics: &Registry,
        leaf: S,
    ) -> Self {
        let hedge_budget = HedgeBudget::new(config.hedge.budget_ratio, config.hedge.budget_burst);
        // Ids differ across restarts, which keeps leaf logs unambiguous.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_micros() as u64)
            << 16;
        Self {
            reserve: MergeReserve::new(&config.deadline),
            admission: Admission::new(
                &config.admission,
                config.limits.max_concurrent_requests,
                metrics,
            ),
            canary: Canary::new(&config.canary, metrics),
            config,
            topology,
            merge,
            hedge_budget,
            metrics: RootMetrics::new(metrics),
            leaf,
            spans: Spans::default(),
            next_request_id: AtomicU64::new(seed),
        }
    }

    /// Admits `request` (its priority, its deadline) or refuses it at once.
    pub fn admit(
        &self,
        request: &QueryRequest,
        client_timeout: Option<Duration>,
    ) -> Result<Permit, QueryError> {
        let priority = request.policy.as_ref().map_or(0, |p| p.priority);
        let deadline = Deadlines::total(&self.config.deadline, client_timeout);
        self.admission.admit(Class::of(priority), deadline)
    }

    /// Ends an admitted request: its latency steers the limit, unless it
    /// failed for a reason of its own; a shrinking limit shrinks the hedge
    /// budget with it.
    pub fn settle<T>(&self, permit: Permit, result: &Result<T, QueryError>) {
        let measured = match result {
            Ok(_) => true,
            Err(error) => error.took_the_trees_time(),
        };
        if let Some(change) = permit.finish(measured)
            && change.after < change.before
        {
            self.hedge_budget.shrink(change.after / change.before);
        }
    }

    /// A new request's id: a fresh number, labelled by the client's
    /// checked `x-request-id` when it sent one, with `trace` as the
    /// request's span (see [`TraceContext::continue_or_start`]).
    pub fn request_id(&self, client: Option<&str>, trace: TraceContext) -> RequestId {
        let number = self.next_request_id.fetch_add(1, Ordering::Relaxed);
        RequestId::new(number, client, trace, self.spans.clone())
    }

    /// This request's hedging: the root's setting, unless the policy turns
    /// it off or names its own percentile.
    fn hedging(&self, policy: &Policy) -> Hedging {
        let per_request = policy.hedge.as_ref();
        if !self.config.hedge.enabled || per_request.is_some_and(|h| h.disabled) {
            return Hedging::Off;
        }
        match per_request.map(|h| h.percentile) {
            Some(p) if p > 0.0 => Hedging::Percentile(p),
            _ => Hedging::Configured,
        }
    }

    /// The tie delay of a request with `policy`: the root's, or, for a
    /// request that asks for ties on a root without them, the default.
    fn tied(&self, policy: &Policy) -> Option<Duration> {
        let asked = policy.hedge.as_ref().is_some_and(|h| h.tied);
        let configured = self.config.hedge.tied_delay;
        configured.or(asked.then_some(DEFAULT_TIED_DELAY))
    }
}

/// Scatter's fan-out as a library: the same hedging, budget, probation,
/// coverage and merge as the root, called in process. Cloning is cheap (one
/// `Arc`); every clone shares the tree, the budget and the statistics.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use scatter_proto::v1::{Payload, QueryRequest};
/// use scatter_root::{Fanout, config::RootConfig};
///
/// let fanout = Fanout::connect(RootConfig {
///     shards: vec![vec!["127.0.0.1:7001".into()], vec!["127.0.0.1:7002".into()]],
///     ..RootConfig::default()
/// })
/// .await?;
/// let request = QueryRequest {
///     payload: Some(Payload::new("text/plain", "rust")),
///     ..QueryRequest::default()
/// };
/// let answer = fanout.query(request, None).await?;
/// println!("{} of {} shards answered", answer.coverage.unwrap().answered, 2);
/// # Ok(())
/// # }
/// ```
pub struct Fanout<S = LeafStack> {
    engine: Arc<Engine<S>>,
}

impl<S> Clone for Fanout<S> {
    fn clone(&self) -> Self {
        Self {
            engine: Arc::clone(&self.engine),
        }
    }
}

impl Fanout {
    /// Connects to every leaf in `config.shards` and to `config.merge`
    /// (`builtin:concat`, or a merge's address). Its metrics go to a
    /// registry of its own; [`Fanout::with_merge`] takes yours.
    pub async fn connect(config: RootConfig) -> Result<Self, StartError> {
        let connector = Connector::for_root(&config);
        let merge = MergeTarget::from_config(&config.merge, &connector).await?;
        Self::with_merge(config, merge, &Registry::default()).await
    }

    /// Like [`Fanout::connect`], merging with `merge` — e.g. your own
    /// [`scatter_merge::Merge`] linked in as `MergeTarget::Local(Arc::new(MyMerge))` —
    /// and counting in `metrics`.
    pub async fn with_merge(
        config: RootConfig,
        merge: MergeTarget,
        metrics: &Registry,
    ) -> Result<Self, StartError> {
        config.validate()?;
        let connector = Connector::for_root(&config);
        let topology =
            Arc::new(Topology::connect(&config.shards, connector, metrics.clone()).await?);
        let leaf = leaf_stack(&config.limits);
        Ok(Self::with_leaf(config, topology, merge, metrics, leaf))
    }
}

impl<S> Fanout<S>
where
    S: LeafService,
{
    /// A fan-out over `topology` whose leaf calls go through `leaf`: a
    /// stack of your own layers over [`GrpcLeaf`](crate::fanout::GrpcLeaf),
    /// or an in-memory service in tests.
    pub fn with_leaf(
        config: RootConfig,
        topology: Arc<Topology>,
        merge: MergeTarget,
        metrics: &Registry,
        leaf: S,
    ) -> Self {
        Self {
            engine: Arc::new(Engine::new(config, topology, merge, metrics, leaf)),
        }
    }

    /// Answers one query within `timeout` (the client's budget; `None` takes
    /// the configured default, and it is capped by the configured maximum).
    /// Refused at once (RESOURCE_EXHAUSTED, or DEADLINE_EXCEEDED for a
    /// deadline shorter than requests take now) when admission says so.
    pub async fn query(
        &self,
        request: QueryRequest,
        timeout: Option<Duration>,
    ) -> Result<QueryResponse, QueryError> {
        let id = self.engine.request_id(None, TraceContext::start());
        self.query_as(request, timeout, &id).await
    }

    /// [`Fanout::query`] as request `id` (from [`Engine::request_id`]):
    /// its label goes to every leaf and the merge as `x-request-id`, and
    /// into the root's logs.
    pub async fn query_as(
        &self,
        request: QueryRequest,
        timeout: Option<Duration>,
        id: &RequestId,
    ) -> Result<QueryResponse, QueryError> {
        let permit = self.engine.admit(&request, timeout)?;
        let result = request::run(&self.engine, request, timeout, None, id).await;
        self.engine.settle(permit, &result);
        result
    }

    /// The same query, answered progressively: an update each time a shard
    /// ends, then the final answer. Dropping the stream cancels every leaf
    /// call still out. A refused request's stream holds its one error.
    pub fn query_stream(
        &self,
        request: QueryRequest,
        timeout: Option<Duration>,
    ) -> impl Stream<Item = Result<QueryUpdate, QueryError>> + Send + 'static {
        match self.try_query_stream(request, timeout) {
            Ok(updates) => updates.left_stream(),
            Err(refused) => futures::stream::once(async { Err(refused) }).right_stream(),
        }
    }

    /// Like [`Fanout::query_stream`], with admission's refusal returned
    /// before any stream (the root answers it as the call's status).
    pub fn try_query_stream(
        &self,
        request: QueryRequest,
        timeout: Option<Duration>,
    ) -> Result<impl Stream<Item = Result<QueryUpdate, QueryError>> + Send + 'static, QueryError>
    {
        let id = self.engine.request_id(None, TraceContext::start());
        self.try_query_stream_as(request, timeout, id)
    }

    /// [`Fanout::try_query_stream`] as request `id`, as in [`Fanout::query_as`].
    pub fn try_query_stream_as(
        &self,
        request: QueryRequest,
        timeout: Option<Duration>,
        id: RequestId,
    ) -> Result<impl Stream<Item = Result<QueryUpdate, QueryError>> + Send + 'static, QueryError>
    {
        let permit = self.engine.admit(&request, timeout)?;
        Ok(stream::start(
            Arc::clone(&self.engine),
            request,
            timeout,
            permit,
            id,
        ))
    }
}

impl<S> Fanout<S> {
    /// The engine: configuration, tree, merge, metrics.
    pub fn engine(&self) -> &Arc<Engine<S>> {
        &self.engine
    }

    /// The live tree; runtimes and DNS discovery change it while requests run.
    pub fn topology(&self) -> Arc<Topology> {
        Arc::clone(&self.engine.topology)
    }
}
