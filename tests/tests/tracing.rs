//! W3C trace context end to end, exported over OTLP to a collector the
//! test runs: the client's `traceparent` is continued by the root (or a
//! trace started), every leaf attempt — the first and each retry — is its
//! own span under the request's, the leaf's and the merge's spans hang
//! under the root's calls, and the trace id comes back to the client.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use scatter_tests::root::Query;
use scatter_tests::server::{Server, free_port};
use scatter_tests::{LeafFlags, Root, Script, binary, eventually};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";
const WAIT: Duration = Duration::from_secs(10);

/// One exported span, flattened for assertions.
#[derive(Clone, Debug)]
struct Seen {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    trace_state: String,
    attributes: Vec<(String, String)>,
}

impl Seen {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An OTLP/gRPC collector in the test process, keeping every span.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Seen>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let mut kept = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
                .unwrap_or_default();
            for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                kept.push(seen(&service, span));
            }
        }
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    async fn start() -> (Self, SocketAddr) {
        let collector = Self::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(collector.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        (collector, addr)
    }

    fn of_trace(&self, trace_id: &str) -> Vec<Seen> {
        let spans = self.spans.lock().unwrap();
        spans
            .iter()
            .filter(|s| s.trace_id == trace_id)
            .cloned()
            .collect()
    }

    /// The spans of `trace_id` once `done` holds of them.
    async fn wait(&self, trace_id: &str, what: &str, done: impl Fn(&[Seen]) -> bool) -> Vec<Seen> {
        eventually(what, WAIT, async || done(&self.of_trace(trace_id))).await;
        self.of_trace(trace_id)
    }
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(n)) => n.to_string(),
        other => format!("{other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn seen(service: &str, span: Span) -> Seen {
    Seen {
        service: service.to_owned(),
        name: span.name,
        trace_id: hex(&span.trace_id),
        span_id: hex(&span.span_id),
        parent_span_id: hex(&span.parent_span_id),
        trace_state: span.trace_state,
        attributes: span
            .attributes
            .into_iter()
            .map(|kv| {
                (
                    kv.key,
                    text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                )
            })
            .collect(),
    }
}

/// A tree exporting to `collector`: shard 0 with two replicas, shard 1
/// with one, the test merge, and a root.
struct TracedTree {
    _leaves: Vec<Server>,
    _merge: Server,
    root: Root,
}

impl TracedTree {
    async fn start(collector: SocketAddr) -> Self {
        let endpoint = format!("http://{collector}");
        let otlp = vec!["--otlp-endpoint".to_owned(), endpoint.clone()];
        let mut leaves = Vec::new();
        for (shard, replica) in [(0, 0), (0, 1), (1, 0)] {
            let mut flags = LeafFlags::new(shard, 2);
            flags.replica = replica;
            flags.extra = otlp.clone();
            leaves.push(flags.start().await);
        }
        let merge = Server::start("test-merge", &binary("test-merge"), &otlp, free_port()).await;
        let shards = [
            format!("{},{}", leaves[0].addr(), leaves[1].addr()),
            leaves[2].addr().to_string(),
        ];
        let root = Root::start(&shards, &merge.uri(), &["--otlp-endpoint", &endpoint]).await;
        Self {
            _leaves: leaves,
            _merge: merge,
            root,
        }
    }
}

#[tokio::test]
async fn the_clients_trace_is_continued_through_every_leaf_attempt_and_the_merge() {
    let (collector, addr) = Collector::start().await;
    let tree = TracedTree::start(addr).await;
    // Both replicas of shard 0 fail fast: the first attempt and its retry
    // are two spans, each with its leaf's span under it.
    let script = Script::new().fail("0", "unavailable", "shard 0 is down");
    let mut request = Query::script(&script).request();
    let parent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    request
        .metadata_mut()
        .insert("traceparent", parent.parse().unwrap());
    request
        .metadata_mut()
        .insert("tracestate", "vendor=kept".parse().unwrap());
    let response = tree.root.client().await.query(request).await.unwrap();
    assert_eq!(response.metadata().get("x-trace-id").unwrap(), CLIENT_TRACE);
    let answer = response.into_inner();
    assert_eq!(answer.trace_id, CLIENT_TRACE);

    let spans = collector
        .wait(CLIENT_TRACE, "the tree's spans", |spans| {
            let count = |service: &str| spans.iter().filter(|s| s.service == service).count();
            count("scatter-root") >= 5 && count("scatter-leaf") >= 3 && count("scatter-merge") >= 1
        })
        .await;
    let root: Vec<&Seen> = spans
        .iter()
        .filter(|s| s.name == "scatter.v1.Root/Query")
        .collect();
    assert_eq!(root.len(), 1, "{spans:#?}");
    let root = root[0];
    assert_eq!(root.service, "scatter-root");
    assert_eq!(root.parent_span_id, CLIENT_SPAN, "under the client's span");

    let calls = |name: &str, service: &str| -> Vec<&Seen> {
        spans
            .iter()
            .filter(|s| s.name == name && s.service == service)
            .collect()
    };
    let attempts = calls("scatter.v1.Leaf/Answer", "scatter-root");
    for attempt in &attempts {
        assert_eq!(attempt.parent_span_id, root.span_id, "{attempt:?}");
    }
    let shard0: Vec<&&Seen> = attempts
        .iter()
        .filter(|a| a.attribute("scatter.shard") == Some("0"))
        .collect();
    assert_eq!(shard0.len(), 2, "a first attempt and a retry: {shard0:#?}");
    assert_ne!(shard0[0].span_id, shard0[1].span_id);
    let mut kinds: Vec<&str> = shard0
        .iter()
        .filter_map(|a| a.attribute("scatter.attempt_kind"))
        .collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["first", "retry"]);
    assert_ne!(
        shard0[0].attribute("scatter.replica"),
        shard0[1].attribute("scatter.replica"),
        "the retry went to the sibling replica"
    );

    // Each leaf's span is under the root's span of the attempt it served.
    let served = calls("scatter.v1.Leaf/Answer", "scatter-leaf");
    assert_eq!(served.len(), attempts.len(), "{spans:#?}");
    for leaf in &served {
        assert!(
            attempts.iter().any(|a| a.span_id == leaf.parent_span_id),
            "a leaf span under no attempt: {leaf:?}"
        );
        assert_eq!(leaf.trace_state, "vendor=kept", "tracestate passed on");
    }
    // The merge call and the merge's own span.
    let merge_calls: Vec<&Seen> = spans
        .iter()
        .filter(|s| s.service == "scatter-root" && s.name.starts_with("scatter.v1.Merge/"))
        .collect();
    assert!(!merge_calls.is_empty(), "{spans:#?}");
    for call in &merge_calls {
        assert_eq!(call.parent_span_id, root.span_id);
    }
    let merged = calls("scatter.v1.Merge/Merge", "scatter-merge");
    assert!(
        merged
            .iter()
            .all(|m| merge_calls.iter().any(|c| c.span_id == m.parent_span_id)),
        "{merged:#?}"
    );
}

#[tokio::test]
async fn without_a_traceparent_the_root_starts_a_trace_and_a_bad_one_is_ignored() {
    let (collector, addr) = Collector::start().await;
    let tree = TracedTree::start(addr).await;
    for traceparent in [None, Some("00-not-a-trace-01")] {
        let mut request = Query::script(&Script::new()).request();
        if let Some(bad) = traceparent {
            request
                .metadata_mut()
                .insert("traceparent", bad.parse().unwrap());
        }
        let response = tree.root.client().await.query(request).await.unwrap();
        let trace_id = response.into_inner().trace_id;
        assert_eq!(trace_id.len(), 32, "{trace_id:?}");
        assert!(trace_id.bytes().all(|b| b.is_ascii_hexdigit()));
        let spans = collector
            .wait(&trace_id, "the new trace's spans", |spans| {
                spans.iter().any(|s| s.name == "scatter.v1.Root/Query")
                    && spans.iter().filter(|s| s.service == "scatter-leaf").count() >= 2
            })
            .await;
        let root = spans
            .iter()
            .find(|s| s.name == "scatter.v1.Root/Query")
            .unwrap();
        assert!(root.parent_span_id.is_empty(), "a trace's root: {root:?}");
    }
}
