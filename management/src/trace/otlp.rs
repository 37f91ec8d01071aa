//! The OTLP/gRPC span exporter (cargo feature `otlp`): finished spans are
//! queued without blocking, batched, and sent to an OpenTelemetry
//! collector's `TraceService/Export`. A full queue or an unreachable
//! collector drops spans (counted, and logged once per outage); serving is
//! never slowed by tracing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status, span, status,
};
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};

use super::{AttributeValue, SpanKind, SpanRecord, SpanSink};

/// Spans waiting to be sent; past this, new spans are dropped.
const QUEUE: usize = 8192;
/// The most spans in one export.
const BATCH: usize = 512;
/// How long a span may wait for its batch to fill.
const BATCH_DELAY: Duration = Duration::from_millis(200);
/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The sink behind [`super::Spans`] when `--otlp-endpoint` is given.
pub struct OtlpExporter {
    queue: mpsc::Sender<SpanRecord>,
    dropped: Arc<AtomicU64>,
}

impl OtlpExporter {
    /// An exporter sending to `endpoint` (`http://host:4317`) as service
    /// `service`; spawns its sending task. Must run inside a Tokio runtime.
    pub fn start(endpoint: &str, service: &str) -> Result<Self, String> {
        let uri = if endpoint.contains("://") {
            endpoint.to_owned()
        } else {
            format!("http://{endpoint}")
        };
        let channel = Endpoint::from_shared(uri)
            .map_err(|e| format!("not a collector address ({e}); write it as http://host:4317"))?
            .connect_timeout(EXPORT_TIMEOUT)
            .connect_lazy();
        let (queue, spans) = mpsc::channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let sender = Sender {
            client: TraceServiceClient::new(channel),
            resource: resource(service),
            endpoint: endpoint.to_owned(),
            dropped: Arc::clone(&dropped),
            failing: AtomicBool::new(false),
        };
        tokio::spawn(sender.run(spans));
        Ok(Self { queue, dropped })
    }
}

impl SpanSink for OtlpExporter {
    fn record(&self, span: SpanRecord) {
        if self.queue.try_send(span).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The task that batches and sends.
struct Sender {
    client: TraceServiceClient<Channel>,
    resource: Resource,
    endpoint: String,
    dropped: Arc<AtomicU64>,
    failing: AtomicBool,
}

impl Sender {
    async fn run(mut self, mut spans: mpsc::Receiver<SpanRecord>) {
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(first) = spans.recv().await {
            batch.push(first);
            let closes = tokio::time::Instant::now() + BATCH_DELAY;
            while batch.len() < BATCH {
                match tokio::time::timeout_at(closes, spans.recv()).await {
                    Ok(Some(span)) => batch.push(span),
                    Ok(None) | Err(_) => break,
                }
            }
            self.export(std::mem::take(&mut batch)).await;
        }
    }

    async fn export(&mut self, batch: Vec<SpanRecord>) {
        let count = batch.len() as u64;
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "scatter".to_owned(),
                        version: env!("CARGO_PKG_VERSION").to_owned(),
                        ..InstrumentationScope::default()
                    }),
                    spans: batch.into_iter().map(to_otlp).collect(),
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        let mut call = tonic::Request::new(request);
        call.set_timeout(EXPORT_TIMEOUT);
        match self.client.export(call).await {
            Ok(_) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(endpoint = %self.endpoint, "span export works again");
                }
            }
            Err(status) => {
                let dropped = self.dropped.fetch_add(count, Ordering::Relaxed) + count;
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        endpoint = %self.endpoint,
                        error = %status.message(),
                        dropped,
                        "span export failed; spans are dropped until the collector answers"
                    );
                }
            }
        }
    }
}

fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![attribute("service.name", AttributeValue::from(service))],
        ..Resource::default()
    }
}

fn to_otlp(record: SpanRecord) -> Span {
    let (trace_id, span_id) = record.context.ids();
    let kind = match record.kind {
        SpanKind::Server => span::SpanKind::Server,
        SpanKind::Client => span::SpanKind::Client,
    };
    let status = match &record.error {
        None => Status::default(),
        Some(message) => Status {
            message: message.clone(),
            code: status::StatusCode::Error as i32,
        },
    };
    Span {
        trace_id: trace_id.to_be_bytes().to_vec(),
        span_id: span_id.to_be_bytes().to_vec(),
        parent_span_id: record
            .context
            .parent_span_id()
            .map(|id| id.to_be_bytes().to_vec())
            .unwrap_or_default(),
        trace_state: record.context.state().unwrap_or_default().to_owned(),
        flags: u32::from(record.context.sampled()),
        name: record.name.to_owned(),
        kind: kind as i32,
        start_time_unix_nano: unix_nanos(record.start),
        end_time_unix_nano: unix_nanos(record.end),
        attributes: record
            .attributes
            .into_iter()
            .map(|(key, value)| attribute(key, value))
            .collect(),
        status: Some(status),
        ..Span::default()
    }
}

fn attribute(key: &str, value: AttributeValue) -> KeyValue {
    let value = match value {
        AttributeValue::Text(text) => any_value::Value::StringValue(text),
        AttributeValue::Int(n) => any_value::Value::IntValue(n),
    };
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..KeyValue::default()
    }
}

fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceContext;

    fn span() -> SpanRecord {
        SpanRecord {
            context: TraceContext::start(),
            name: "test",
            kind: SpanKind::Server,
            start: SystemTime::now(),
            end: SystemTime::now(),
            attributes: vec![("shard", AttributeValue::Int(3))],
            error: Some("failed".to_owned()),
        }
    }

    #[test]
    fn a_span_becomes_otlp_with_ids_kind_attributes_and_error() {
        let record = span();
        let (trace_id, span_id) = record.context.ids();
        let otlp = to_otlp(record);
        assert_eq!(otlp.trace_id, trace_id.to_be_bytes());
        assert_eq!(otlp.span_id, span_id.to_be_bytes());
        assert!(otlp.parent_span_id.is_empty());
        assert_eq!(otlp.kind, span::SpanKind::Server as i32);
        assert_eq!(otlp.attributes[0].key, "shard");
        let status = otlp.status.unwrap();
        assert_eq!(
            (status.code, status.message.as_str()),
            (status::StatusCode::Error as i32, "failed")
        );
    }

    #[test]
    fn an_endpoint_that_is_no_address_is_refused_saying_how_to_write_it() {
        let error = OtlpExporter::start("http://[::1", "test").err().unwrap();
        assert!(error.contains("http://host:4317"), "{error}");
    }

    #[tokio::test]
    async fn spans_for_a_collector_that_does_not_answer_are_dropped_and_counted() {
        // Port 1 on loopback: nothing listens, the connection is refused.
        let exporter = OtlpExporter::start("127.0.0.1:1", "test").unwrap();
        for _ in 0..3 {
            exporter.record(span());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while exporter.dropped.load(Ordering::Relaxed) < 3 {
            assert!(tokio::time::Instant::now() < deadline, "spans not dropped");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
