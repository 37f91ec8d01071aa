//! W3C Trace Context (`traceparent`, `tracestate`): read from a caller's
//! metadata, or started here; a child for every call made on the trace's
//! behalf, written into that call's metadata.
//!
//! A `traceparent` that does not parse is ignored and a new trace started,
//! as the W3C recommendation asks: a bad header from a client must not fail
//! its request.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use tonic::metadata::{AsciiMetadataValue, MetadataMap};

/// The metadata key of the trace and parent span.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The metadata key of vendor-specific trace state, passed on as received.
pub const TRACESTATE_HEADER: &str = "tracestate";
/// The longest `tracestate` passed on, in bytes (the W3C list is at most
/// 32 members of at most 256 bytes; longer is not forwarded).
const MAX_TRACESTATE_BYTES: usize = 512;
/// The `sampled` bit of the trace flags.
const SAMPLED: u8 = 0x01;

/// One span's place in a trace: the trace id, the span's own id, its
/// flags, and the vendor state carried along.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: u128,
    span_id: u64,
    parent_span_id: Option<u64>,
    flags: u8,
    state: Option<AsciiMetadataValue>,
}

impl TraceContext {
    /// A new trace, sampled, with this span as its root.
    pub fn start() -> Self {
        Self {
            trace_id: (u128::from(random_id()) << 64) | u128::from(random_id()),
            span_id: random_id(),
            parent_span_id: None,
            flags: SAMPLED,
            state: None,
        }
    }

    /// The caller's context from `metadata`, when it sent a valid
    /// `traceparent`; its `tracestate` comes along when short enough.
    pub fn from_metadata(metadata: &MetadataMap) -> Option<Self> {
        let parent = metadata.get(TRACEPARENT_HEADER)?.to_str().ok()?;
        let (trace_id, span_id, flags) = parse_traceparent(parent)?;
        let state = metadata
            .get(TRACESTATE_HEADER)
            .filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE_BYTES)
            .cloned();
        Some(Self {
            trace_id,
            span_id,
            parent_span_id: None,
            flags,
            state,
        })
    }

    /// The context of a span under the caller's in `metadata` (a new id in
    /// the caller's trace), else the root of a new trace.
    pub fn continue_or_start(metadata: &MetadataMap) -> Self {
        Self::from_metadata(metadata).map_or_else(Self::start, |parent| parent.child())
    }

    /// A span under this one: same trace, flags and state, a new id.
    pub fn child(&self) -> Self {
        Self {
            span_id: random_id(),
            parent_span_id: Some(self.span_id),
            ..self.clone()
        }
    }

    /// The id of the span this one is under, when known (a caller's span
    /// read from metadata has none here).
    pub fn parent_span_id(&self) -> Option<u64> {
        self.parent_span_id
    }

    /// The trace id, 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// This span's id, 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        format!("{:016x}", self.span_id)
    }

    /// The raw ids: trace, span.
    pub fn ids(&self) -> (u128, u64) {
        (self.trace_id, self.span_id)
    }

    /// The vendor state received with the trace, passed on unchanged.
    pub fn state(&self) -> Option<&str> {
        self.state.as_ref().and_then(|s| s.to_str().ok())
    }

    /// Whether the trace is sampled (recorded by exporters).
    pub fn sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// Writes this span as the parent of a call: `traceparent`, and
    /// `tracestate` when there is one.
    pub fn tag(&self, metadata: &mut MetadataMap) {
        if let Ok(mut value) = self.to_string().parse::<AsciiMetadataValue>() {
            // A span id is new on every call: HPACK would index each one,
            // pushing the headers that do repeat out of its table.
            value.set_sensitive(true);
            metadata.insert(TRACEPARENT_HEADER, value);
        }
        if let Some(state) = &self.state {
            metadata.insert(TRACESTATE_HEADER, state.clone());
        }
    }
}

/// The `traceparent` form: `00-<trace id>-<span id>-<flags>`.
impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{:032x}-{:016x}-{:02x}",
            self.trace_id, self.span_id, self.flags
        )
    }
}

/// `version-traceid-parentid-flags`; version 00 must have exactly those
/// four fields, later versions may add more after them. All-zero ids and
/// version `ff` are invalid.
fn parse_traceparent(text: &str) -> Option<(u128, u64, u8)> {
    let mut fields = text.trim().split('-');
    let version = hex_field(fields.next()?, 2)?;
    let trace_id = u128::from_str_radix(hex_field(fields.next()?, 32)?, 16).ok()?;
    let span_id = u64::from_str_radix(hex_field(fields.next()?, 16)?, 16).ok()?;
    let flags = u8::from_str_radix(hex_field(fields.next()?, 2)?, 16).ok()?;
    let rest_ok = if version == "00" {
        fields.next().is_none()
    } else {
        version != "ff"
    };
    (rest_ok && trace_id != 0 && span_id != 0).then_some((trace_id, span_id, flags))
}

/// `field` when it is exactly `len` lowercase hex digits.
fn hex_field(field: &str, len: usize) -> Option<&str> {
    (field.len() == len
        && field
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
    .then_some(field)
}

/// A fresh non-zero 64-bit id: a process-wide counter through SipHash with
/// keys drawn at random when the process starts, so ids are unique here
/// and unpredictable across processes without a random-number crate.
fn random_id() -> u64 {
    static KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    KEYS.hash_one(n).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn with(parent: &str, state: Option<&str>) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert(TRACEPARENT_HEADER, parent.parse().unwrap());
        if let Some(state) = state {
            metadata.insert(TRACESTATE_HEADER, state.parse().unwrap());
        }
        metadata
    }

    #[test]
    fn a_valid_traceparent_is_read_and_written_back_the_same() {
        let context = TraceContext::from_metadata(&with(PARENT, Some("vendor=abc"))).unwrap();
        assert_eq!(context.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(context.span_id(), "00f067aa0ba902b7");
        assert!(context.sampled());
        let mut out = MetadataMap::new();
        context.tag(&mut out);
        assert_eq!(out.get(TRACEPARENT_HEADER).unwrap(), PARENT);
        assert_eq!(out.get(TRACESTATE_HEADER).unwrap(), "vendor=abc");
    }

    #[test]
    fn a_child_keeps_the_trace_and_state_with_a_new_span() {
        let parent = TraceContext::from_metadata(&with(PARENT, Some("k=v"))).unwrap();
        let child = parent.child();
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_ne!(child.span_id(), parent.span_id());
        assert_eq!(child.parent_span_id(), Some(parent.ids().1));
        let mut out = MetadataMap::new();
        child.tag(&mut out);
        assert_eq!(out.get(TRACESTATE_HEADER).unwrap(), "k=v");
        let continued = TraceContext::continue_or_start(&with(PARENT, None));
        assert_eq!(continued.trace_id(), parent.trace_id());
        assert_ne!(continued.span_id(), parent.span_id());
    }

    #[test]
    fn a_malformed_traceparent_starts_a_new_trace() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            let metadata = with(bad, None);
            assert_eq!(TraceContext::from_metadata(&metadata), None, "{bad}");
            let started = TraceContext::continue_or_start(&metadata);
            assert_ne!(
                started.trace_id(),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{bad}"
            );
        }
        // A later version may carry more fields after the four it shares.
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more";
        assert!(TraceContext::from_metadata(&with(future, None)).is_some());
    }

    #[test]
    fn new_traces_have_distinct_non_zero_ids() {
        let a = TraceContext::start();
        let b = TraceContext::start();
        assert_ne!(a.trace_id(), b.trace_id());
        assert_ne!(a.ids().0, 0);
        assert_ne!(a.ids().1, 0);
        assert_eq!(a.to_string().len(), 55);
    }
}
