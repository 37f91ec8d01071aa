//! Tracing across the tree: W3C trace context read from each caller and
//! passed to every call made for it ([`TraceContext`]), spans recorded for
//! the work ([`OpenSpan`], [`Spans`]), and, with the cargo feature `otlp`,
//! exported to an OpenTelemetry collector ([`export_to`]).

mod context;
#[cfg(feature = "otlp")]
mod otlp;
mod span;

pub use context::{TRACEPARENT_HEADER, TRACESTATE_HEADER, TraceContext};
pub use span::{AttributeValue, OpenSpan, SpanKind, SpanRecord, SpanSink, Spans};

/// Starts exporting `spans` to the OTLP/gRPC collector at `endpoint`, as
/// service `service` (the `service.name` a tracing UI shows). An address
/// that is not one, or a build without the `otlp` feature, is an error
/// saying so.
pub fn export_to(spans: &Spans, endpoint: &str, service: &str) -> Result<(), String> {
    #[cfg(feature = "otlp")]
    {
        let exporter = otlp::OtlpExporter::start(endpoint, service)?;
        spans.install(std::sync::Arc::new(exporter));
        Ok(())
    }
    #[cfg(not(feature = "otlp"))]
    {
        let _ = (spans, service);
        Err(format!(
            "cannot export spans to {endpoint}: this build has no OTLP exporter \
             (build with the cargo feature `otlp`)"
        ))
    }
}
