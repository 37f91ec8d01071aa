//! One request's id: the number the root makes for every request (it is
//! `QueryResponse.request_id` and `LeafRequest.request_id`), and the label
//! logs and metadata carry — the client's `x-request-id` when it sent one,
//! else that number as text. The label goes to every leaf call and to the
//! merge as `x-request-id`, so one id finds the request in every process's
//! logs.
//!
//! It also carries the request's place in its trace (the root's span,
//! under the client's `traceparent` when it sent one) and where finished
//! spans go: every call made for the request is a child span, its
//! `traceparent` sent with it.

use std::fmt;

use scatter_management::REQUEST_ID_HEADER;
use scatter_management::trace::{OpenSpan, SpanKind, Spans, TraceContext};
use tonic::metadata::{AsciiMetadataValue, MetadataMap};

/// The response metadata that names the request's trace.
pub const TRACE_ID_HEADER: &str = "x-trace-id";

/// A request's number, label and trace.
#[derive(Clone, Debug)]
pub struct RequestId {
    number: u64,
    label: AsciiMetadataValue,
    trace: TraceContext,
    /// The trace id as text, made once: it goes on every replica latency
    /// (as the exemplar) and in the response's `x-trace-id`.
    trace_id: AsciiMetadataValue,
    spans: Spans,
}

impl RequestId {
    /// The id of request `number`, labelled by `client` (a checked
    /// `x-request-id`) when it is given and is a valid header value, else
    /// by the number; its root span is `trace`, its spans go to `spans`.
    pub fn new(number: u64, client: Option<&str>, trace: TraceContext, spans: Spans) -> Self {
        let mut label = client
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| AsciiMetadataValue::from(number));
        let mut trace_id = AsciiMetadataValue::try_from(trace.trace_id())
            .expect("a trace id is 32 hex digits, a valid header value");
        // One request's values: HPACK would index each on every connection
        // it crosses, pushing out the headers that do repeat.
        label.set_sensitive(true);
        trace_id.set_sensitive(true);
        Self {
            number,
            label,
            trace,
            trace_id,
            spans,
        }
    }

    /// The trace id, 32 hex digits.
    pub fn trace_id(&self) -> &str {
        // Built from hex digits, so always text.
        self.trace_id.to_str().unwrap_or_default()
    }

    /// The root's span of the request.
    pub fn trace(&self) -> &TraceContext {
        &self.trace
    }

    /// Where the request's finished spans go.
    pub fn spans(&self) -> &Spans {
        &self.spans
    }

    /// Starts the span of a call made for the request (`name`, e.g.
    /// `scatter.v1.Leaf/Answer`) and tags the call's `metadata` with the
    /// request id and the span as the callee's parent.
    pub fn call(&self, name: &'static str, metadata: &mut MetadataMap) -> OpenSpan {
        metadata.insert(REQUEST_ID_HEADER, self.label.clone());
        let span = self.trace.child();
        span.tag(metadata);
        OpenSpan::start(span, name, SpanKind::Client)
    }

    /// The root's number for the request.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The label as text.
    pub fn label(&self) -> &str {
        // Built from visible ASCII or digits, so always text.
        self.label.to_str().unwrap_or_default()
    }

    /// Puts the label in a response's `metadata` as `x-request-id`, and
    /// the trace id as `x-trace-id`.
    pub fn tag(&self, metadata: &mut MetadataMap) {
        metadata.insert(REQUEST_ID_HEADER, self.label.clone());
        metadata.insert(TRACE_ID_HEADER, self.trace_id.clone());
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use scatter_management::trace::TRACEPARENT_HEADER;

    fn id(number: u64, client: Option<&str>) -> RequestId {
        RequestId::new(number, client, TraceContext::start(), Spans::default())
    }

    #[test]
    fn the_clients_id_is_the_label_else_the_number_as_text() {
        let given = id(7, Some("abc-123"));
        assert_eq!((given.number(), given.label()), (7, "abc-123"));
        let made = id(42, None);
        assert_eq!(made.label(), "42");
        let mut metadata = MetadataMap::new();
        made.tag(&mut metadata);
        assert_eq!(metadata.get(REQUEST_ID_HEADER).unwrap(), "42");
        assert_eq!(
            metadata.get(TRACE_ID_HEADER).unwrap(),
            made.trace().trace_id().as_str()
        );
    }

    #[test]
    fn each_call_is_its_own_span_under_the_requests() {
        let request = id(1, Some("r-1"));
        let (mut first, mut second) = (MetadataMap::new(), MetadataMap::new());
        let a = request.call("a", &mut first);
        let b = request.call("b", &mut second);
        let root_span = request.trace().ids().1;
        for (span, metadata) in [(&a, &first), (&b, &second)] {
            assert_eq!(span.context().trace_id(), request.trace().trace_id());
            assert_eq!(span.context().parent_span_id(), Some(root_span));
            assert_eq!(
                metadata.get(TRACEPARENT_HEADER).unwrap(),
                span.context().to_string().as_str()
            );
            assert_eq!(metadata.get(REQUEST_ID_HEADER).unwrap(), "r-1");
        }
        assert_ne!(a.context().span_id(), b.context().span_id());
    }

    #[test]
    fn per_request_values_are_never_indexed_by_hpack() {
        let request = id(3, Some("r-3"));
        let (mut call, mut response) = (MetadataMap::new(), MetadataMap::new());
        let _span = request.call("a", &mut call);
        request.tag(&mut response);
        for (metadata, header) in [
            (&call, REQUEST_ID_HEADER),
            (&call, TRACEPARENT_HEADER),
            (&response, REQUEST_ID_HEADER),
            (&response, TRACE_ID_HEADER),
        ] {
            let value = metadata.get(header).unwrap();
            assert!(value.is_sensitive(), "{header} would fill the HPACK table");
        }
    }
}
