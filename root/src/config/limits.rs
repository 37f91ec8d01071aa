//! What the root refuses, to protect itself and its clients: sizes of
//! requests, answers, partials, results and metadata, the shards of a tree
//! and requests in progress. Each limit is exceeded with a status that names
//! it (see the README's "Limits").

use serde::{Deserialize, Serialize};

/// Protection against requests the root should not take, and against peers
/// that answer more than it should hold. Sizes are of one protobuf message
/// as it travels (payload plus a few bytes of framing), except
/// `max_request_bytes`, which counts the payload alone.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest request payload accepted, in bytes; larger ones get
    /// RESOURCE_EXHAUSTED. Every leaf receives the payload, so this bounds
    /// the memory one request can pin. Default 4 MiB.
    pub max_request_bytes: usize,
    /// Largest answer sent to a client (result plus coverage, or one
    /// `QueryStream` update); a larger one fails the request with
    /// RESOURCE_EXHAUSTED instead of a decode error on the client's side.
    /// Set it to what your clients accept (gRPC clients take 4 MiB unless
    /// told otherwise). Default 64 MiB.
    pub max_response_bytes: usize,
    /// Largest partial accepted from a leaf; a larger one is refused as
    /// soon as its length prefix arrives (nothing of it is buffered) and
    /// that shard is reported FAILED with RESOURCE_EXHAUSTED, not retried.
    /// A request can hold up to this times the shard count. Default 64 MiB.
    pub max_partial_bytes: usize,
    /// Largest result (or progressive snapshot) accepted from the merge; a
    /// larger one fails the request with RESOURCE_EXHAUSTED, refused as its
    /// length prefix arrives. Default 64 MiB.
    pub max_result_bytes: usize,
    /// Most shards a tree may have. Every request goes to every shard, so
    /// this bounds the calls, partials and memory of one request; a
    /// configuration or a discovered tree with more is refused. Default 1024.
    pub max_shards: usize,
    /// Largest request metadata (HTTP/2 header list, as HTTP/2 counts it:
    /// names, values and 32 bytes per entry) the root reads; above it the
    /// call gets RESOURCE_EXHAUSTED. Headers far above it (twice the limit)
    /// are refused by HTTP/2 before they are held (the client sees HTTP 431).
    /// Default 8 KiB.
    pub max_metadata_bytes: usize,
    /// Requests in progress at once, however the adaptive limit moves;
    /// more get RESOURCE_EXHAUSTED at once rather than queueing. Default 1024.
    pub max_concurrent_requests: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 4 << 20,
            max_response_bytes: 64 << 20,
            max_partial_bytes: 64 << 20,
            max_result_bytes: 64 << 20,
            max_shards: 1024,
            max_metadata_bytes: 8 << 10,
            max_concurrent_requests: 1024,
        }
    }
}

impl Limits {
    /// Every limit above zero, and the shard count within `max_shards`.
    pub(super) fn validate(&self, shards: usize) -> Result<(), String> {
        let sizes = [
            ("max_request_bytes", self.max_request_bytes),
            ("max_response_bytes", self.max_response_bytes),
            ("max_partial_bytes", self.max_partial_bytes),
            ("max_result_bytes", self.max_result_bytes),
            ("max_shards", self.max_shards),
            ("max_metadata_bytes", self.max_metadata_bytes),
            ("max_concurrent_requests", self.max_concurrent_requests),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(format!("limits.{name} must be above zero"));
        }
        // HTTP/2 carries the header-list limit as a u32 setting.
        if u32::try_from(self.max_metadata_bytes.saturating_mul(2)).is_err() {
            return Err(format!(
                "limits.max_metadata_bytes {} is above {} (HTTP/2 settings are 32-bit)",
                self.max_metadata_bytes,
                u32::MAX / 2
            ));
        }
        self.check_shards(shards)
    }

    /// Whether a tree of `shards` shards is within `max_shards`.
    pub fn check_shards(&self, shards: usize) -> Result<(), String> {
        if shards > self.max_shards {
            return Err(format!(
                "{shards} shards is more than limits.max_shards ({}); every request goes to \
                 every shard, so raise --max-shards only if the root can hold that fan-out",
                self.max_shards
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_limit_is_refused_naming_it() {
        let limits = Limits {
            max_partial_bytes: 0,
            ..Limits::default()
        };
        let err = limits.validate(1).unwrap_err();
        assert!(err.contains("limits.max_partial_bytes"), "{err}");
    }

    #[test]
    fn a_tree_above_max_shards_is_refused_naming_both_counts() {
        let limits = Limits {
            max_shards: 4,
            ..Limits::default()
        };
        limits.validate(4).unwrap();
        let err = limits.validate(5).unwrap_err();
        assert!(
            err.contains("5 shards") && err.contains("max_shards (4)"),
            "{err}"
        );
    }

    #[test]
    fn a_metadata_limit_http2_cannot_carry_is_refused() {
        let limits = Limits {
            max_metadata_bytes: usize::MAX / 2,
            ..Limits::default()
        };
        let err = limits.validate(1).unwrap_err();
        assert!(err.contains("max_metadata_bytes"), "{err}");
    }
}
