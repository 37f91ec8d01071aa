//! Where the root's request and call spans go.

use serde::{Deserialize, Serialize};

/// Span export settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TraceConfig {
    /// An OpenTelemetry collector (OTLP/gRPC, e.g. `http://127.0.0.1:4317`)
    /// to export spans to. Default none: no span is recorded (trace context
    /// is still passed on to leaves and the merge).
    pub otlp_endpoint: Option<String>,
}
