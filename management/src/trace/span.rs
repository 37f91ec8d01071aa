//! Finished spans and where they go. A process records a span for each
//! request it serves and each call it makes on its behalf; [`Spans`] hands
//! them to the OTLP exporter when one is configured, and costs one branch
//! when none is.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use super::TraceContext;

/// Who started a span's work: the process serving a call, or calling out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// Serving a call (the root's request, a leaf's or merge's call).
    Server,
    /// A call to another process (a leaf attempt, the merge).
    Client,
}

/// A value of a span attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    /// Text.
    Text(String),
    /// A whole number.
    Int(i64),
}

impl From<&str> for AttributeValue {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for AttributeValue {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<u32> for AttributeValue {
    fn from(n: u32) -> Self {
        Self::Int(i64::from(n))
    }
}

impl From<u64> for AttributeValue {
    fn from(n: u64) -> Self {
        Self::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// One finished span.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    /// The span's own place in the trace (and its parent's id).
    pub context: TraceContext,
    /// What it did, e.g. `scatter.v1.Leaf/Answer`.
    pub name: &'static str,
    /// Serving or calling.
    pub kind: SpanKind,
    /// When it started.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
    /// Named values: shard, replica, attempt, gRPC code.
    pub attributes: Vec<(&'static str, AttributeValue)>,
    /// The error it ended with, when it failed.
    pub error: Option<String>,
}

/// A span under way: its context and start, finished once its outcome is
/// known.
#[derive(Debug)]
pub struct OpenSpan {
    context: TraceContext,
    name: &'static str,
    kind: SpanKind,
    start: SystemTime,
}

impl OpenSpan {
    /// Starts span `name` at `context` now.
    pub fn start(context: TraceContext, name: &'static str, kind: SpanKind) -> Self {
        Self {
            context,
            name,
            kind,
            start: SystemTime::now(),
        }
    }

    /// The span's place in the trace.
    pub fn context(&self) -> &TraceContext {
        &self.context
    }

    /// Ends the span now and hands it to `spans` with its attributes and
    /// the error it ended with, if any.
    pub fn finish(
        self,
        spans: &Spans,
        attributes: Vec<(&'static str, AttributeValue)>,
        error: Option<String>,
    ) {
        if !spans.enabled() {
            return;
        }
        spans.record(SpanRecord {
            context: self.context,
            name: self.name,
            kind: self.kind,
            start: self.start,
            end: SystemTime::now(),
            attributes,
            error,
        });
    }
}

impl OpenSpan {
    /// Ends the span of a gRPC call with the call's code
    /// (`rpc.grpc.status_code`) and, when it failed, its message.
    pub fn finish_call<T>(
        self,
        spans: &Spans,
        mut attributes: Vec<(&'static str, AttributeValue)>,
        result: &Result<T, tonic::Status>,
    ) {
        let code = result
            .as_ref()
            .err()
            .map_or(tonic::Code::Ok, tonic::Status::code);
        attributes.push(("rpc.grpc.status_code", AttributeValue::Int(code as i64)));
        let error = result
            .as_ref()
            .err()
            .map(|status| status.message().to_owned());
        self.finish(spans, attributes, error);
    }
}

/// Receives finished spans (the OTLP exporter).
pub trait SpanSink: Send + Sync + 'static {
    /// Takes one span; must not block (a full queue drops it).
    fn record(&self, span: SpanRecord);
}

/// Where a process's finished spans go: nowhere until a sink is installed
/// (the exporter, when the process starts serving with an OTLP endpoint).
/// Clones share the sink, so services built before it is installed export
/// too. Cheap to clone.
#[derive(Clone, Default)]
pub struct Spans(Arc<OnceLock<Arc<dyn SpanSink>>>);

impl Spans {
    /// Sends every span from now on to `sink`; `false` (and `sink` unused)
    /// when one is installed already.
    pub fn install(&self, sink: Arc<dyn SpanSink>) -> bool {
        self.0.set(sink).is_ok()
    }

    /// Whether spans are kept; callers skip building records when not.
    pub fn enabled(&self) -> bool {
        self.0.get().is_some()
    }

    /// Hands `span` on, when spans are kept and its trace is sampled.
    pub fn record(&self, span: SpanRecord) {
        if let Some(sink) = self.0.get()
            && span.context.sampled()
        {
            sink.record(span);
        }
    }
}

impl std::fmt::Debug for Spans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.enabled() {
            "Spans(exported)"
        } else {
            "Spans(off)"
        })
    }
}
