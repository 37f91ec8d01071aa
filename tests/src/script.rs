//! What the test leaf and the test merge do, chosen by each request: the
//! request payload is a [`Script`] (JSON) that says, per shard or per
//! replica, how long a leaf waits and whether it fails, and whether the
//! merge fails. Their answers ([`LeafPartial`], [`MergedResult`]) say who
//! answered, so a test can check what reached the merge.
//!
//! Keys of `delay_ms`, `fail`, `slow_hint_ms`, `exit` and `partial_bytes`: `"S.R"` (shard S, replica R) wins over
//! `"S"` (every replica of shard S), which wins over `"*"` (every leaf).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::time::Duration;

use scatter_proto::v1::Payload;
use serde::{Deserialize, Serialize};
use tonic::{Code, Status};
use tonic_prost::prost::Message;

/// The content type of scripts, partials and merged results.
pub const JSON: &str = "application/json";

/// One request's instructions to the test leaves and the test merge.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Script {
    /// How long a leaf waits before it answers, in milliseconds.
    pub delay_ms: BTreeMap<String, u64>,
    /// How a leaf fails: a code name (`"unavailable"`, `"invalid_argument"`,
    /// `"internal"`...) optionally followed by `": message"`.
    pub fail: BTreeMap<String, String>,
    /// Text every leaf puts in its partial.
    pub partial: Option<String>,
    /// When set, the merge refuses the request with INTERNAL and this message.
    pub merge_fail: Option<String>,
    /// A leaf named here answers with a partial whose `LeafResponse` is
    /// this many bytes on the wire (filler, not a [`LeafPartial`]).
    pub partial_bytes: BTreeMap<String, usize>,
    /// When set, the merge answers with a result whose `MergeResponse` is
    /// this many bytes on the wire (filler, not a [`MergedResult`]).
    pub result_bytes: Option<usize>,
    /// A leaf named here tells the root at once that the call will be slow
    /// (the SDK's `Hints::slow`), expecting this many milliseconds (0: it
    /// does not say how long), before its delay.
    pub slow_hint_ms: BTreeMap<String, u64>,
    /// A leaf named here exits with this code instead of answering (after
    /// its delay): a query of death.
    pub exit: BTreeMap<String, i32>,
}

/// What one leaf does for one call.
#[derive(Debug)]
pub struct Call {
    /// Wait this long first.
    pub delay: Option<Duration>,
    /// Then fail with this, instead of answering.
    pub failure: Option<Status>,
    /// Or answer with filler of this many bytes on the wire.
    pub partial_bytes: Option<usize>,
    /// Say first that the call will be slow, expecting this long (zero:
    /// not saying how long).
    pub slow_hint: Option<Duration>,
    /// Or exit the process with this code.
    pub exit: Option<i32>,
}

impl Script {
    /// A script that has every leaf answer at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// Has `key` (`"S"`, `"S.R"` or `"*"`) wait `ms` milliseconds.
    #[must_use]
    pub fn delay(mut self, key: impl Display, ms: u64) -> Self {
        self.delay_ms.insert(key.to_string(), ms);
        self
    }

    /// Has `key` fail with `code` (e.g. `"invalid_argument"`) and `message`.
    #[must_use]
    pub fn fail(mut self, key: impl Display, code: &str, message: &str) -> Self {
        self.fail
            .insert(key.to_string(), format!("{code}: {message}"));
        self
    }

    /// Has `key` say at once that its call will be slow, expecting `ms`
    /// milliseconds (0: not saying how long).
    #[must_use]
    pub fn slow_hint(mut self, key: impl Display, ms: u64) -> Self {
        self.slow_hint_ms.insert(key.to_string(), ms);
        self
    }

    /// Has every leaf put `text` in its partial.
    #[must_use]
    pub fn partial(mut self, text: &str) -> Self {
        self.partial = Some(text.to_owned());
        self
    }

    /// Has `key` exit with code `code` when it reads this request: a query
    /// of death.
    #[must_use]
    pub fn exit(mut self, key: impl Display, code: i32) -> Self {
        self.exit.insert(key.to_string(), code);
        self
    }

    /// Has the merge fail with INTERNAL and `message`.
    #[must_use]
    pub fn merge_fail(mut self, message: &str) -> Self {
        self.merge_fail = Some(message.to_owned());
        self
    }

    /// Has `key` answer with `bytes` bytes on the wire.
    #[must_use]
    pub fn partial_bytes(mut self, key: impl Display, bytes: usize) -> Self {
        self.partial_bytes.insert(key.to_string(), bytes);
        self
    }

    /// Has the merge answer with `bytes` bytes on the wire.
    #[must_use]
    pub fn result_bytes(mut self, bytes: usize) -> Self {
        self.result_bytes = Some(bytes);
        self
    }

    /// This script as a request payload.
    pub fn payload(&self) -> Payload {
        Payload::new(JSON, serde_json::to_vec(self).expect("a script is JSON"))
    }

    /// The script in a request payload; a payload that is not a script
    /// (another content type, other JSON) is the empty script.
    pub fn from_payload(payload: &Payload) -> Self {
        if payload.content_type != JSON {
            return Self::default();
        }
        serde_json::from_slice(&payload.body).unwrap_or_default()
    }

    /// What replica `replica` of shard `shard` does.
    pub fn call(&self, shard: u32, replica: u32) -> Call {
        Call {
            delay: lookup(&self.delay_ms, shard, replica).map(|ms| Duration::from_millis(*ms)),
            failure: lookup(&self.fail, shard, replica).map(|f| status(f)),
            partial_bytes: lookup(&self.partial_bytes, shard, replica).copied(),
            slow_hint: lookup(&self.slow_hint_ms, shard, replica)
                .map(|ms| Duration::from_millis(*ms)),
            exit: lookup(&self.exit, shard, replica).copied(),
        }
    }
}

fn lookup<T>(map: &BTreeMap<String, T>, shard: u32, replica: u32) -> Option<&T> {
    map.get(&format!("{shard}.{replica}"))
        .or_else(|| map.get(&shard.to_string()))
        .or_else(|| map.get("*"))
}

/// `"code: message"` or `"code"` → the status a leaf answers with.
fn status(failure: &str) -> Status {
    let (name, message) = failure.split_once(':').unwrap_or((failure, ""));
    let message = match message.trim() {
        "" => format!("test-leaf fails as scripted ({name})"),
        text => text.to_owned(),
    };
    let code = match name.trim() {
        "cancelled" => Code::Cancelled,
        "unknown" => Code::Unknown,
        "invalid_argument" => Code::InvalidArgument,
        "deadline_exceeded" => Code::DeadlineExceeded,
        "not_found" => Code::NotFound,
        "permission_denied" => Code::PermissionDenied,
        "resource_exhausted" => Code::ResourceExhausted,
        "failed_precondition" => Code::FailedPrecondition,
        "aborted" => Code::Aborted,
        "out_of_range" => Code::OutOfRange,
        "unimplemented" => Code::Unimplemented,
        "internal" => Code::Internal,
        "unavailable" => Code::Unavailable,
        other => {
            return Status::internal(format!("test-leaf: the script names no code {other:?}"));
        }
    };
    Status::new(code, message)
}

/// The content type of filler payloads.
pub const FILLER: &str = "application/octet-stream";

/// A filler payload that makes the message `wrap` puts it in `bytes` long
/// when encoded, or the longest below when framing cannot hit it exactly
/// (at a varint's boundary): how a test goes just over or just under a
/// size limit, which counts the whole message.
pub fn sized_payload<M: Message>(bytes: usize, wrap: impl Fn(Payload) -> M) -> Payload {
    let filler = |n: usize| Payload::new(FILLER, vec![b'x'; n]);
    let framing = wrap(filler(0)).encoded_len();
    let mut body = bytes.saturating_sub(framing);
    // Each step down removes one byte; framing grows by a few at most.
    while body > 0 && wrap(filler(body)).encoded_len() > bytes {
        body -= 1;
    }
    filler(body)
}

/// A test leaf's partial: who answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafPartial {
    /// The shard it answered for.
    pub shard: u32,
    /// Its `--replica`.
    pub replica: u32,
    /// The attempt number of the call (0 first, 1 hedge or retry...).
    pub attempt: u32,
    /// The script's `partial` text.
    pub text: Option<String>,
}

impl LeafPartial {
    /// This partial as a payload.
    pub fn payload(&self) -> Payload {
        Payload::new(JSON, serde_json::to_vec(self).expect("a partial is JSON"))
    }
}

/// One partial as the test merge received it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MergedPartial {
    /// The shard the root tagged it with.
    pub shard: u32,
    /// The partial's body: JSON when it was JSON, else a string.
    pub partial: serde_json::Value,
}

/// The test merge's result: every partial, in the order they arrived.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MergedResult {
    /// The partials in arrival order.
    pub partials: Vec<MergedPartial>,
}

impl MergedResult {
    /// This result as a payload.
    pub fn payload(&self) -> Payload {
        Payload::new(JSON, serde_json::to_vec(self).expect("a result is JSON"))
    }

    /// Reads a test merge's result.
    ///
    /// # Panics
    /// When `payload` is not one.
    pub fn from_payload(payload: &Payload) -> Self {
        serde_json::from_slice(&payload.body).unwrap_or_else(|e| {
            panic!(
                "not a test-merge result ({e}): {}",
                String::from_utf8_lossy(&payload.body)
            )
        })
    }

    /// The shards whose partials arrived, sorted.
    pub fn shards(&self) -> Vec<u32> {
        let mut shards: Vec<u32> = self.partials.iter().map(|p| p.shard).collect();
        shards.sort_unstable();
        shards
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_key_wins_over_shard_key_which_wins_over_star() {
        let script = Script::new()
            .delay("*", 1)
            .delay(1, 2)
            .delay("1.0", 3)
            .fail(2, "invalid_argument", "bad words");
        let ms = |s, r| script.call(s, r).delay.map(|d| d.as_millis());
        assert_eq!((ms(0, 0), ms(1, 1), ms(1, 0)), (Some(1), Some(2), Some(3)));
        let failure = script.call(2, 0).failure.expect("shard 2 fails");
        assert_eq!(
            (failure.code(), failure.message()),
            (Code::InvalidArgument, "bad words")
        );
        assert!(script.call(0, 0).failure.is_none());
    }

    #[test]
    fn sized_payloads_fill_their_message_to_the_byte() {
        use scatter_proto::v1::LeafResponse;
        let wrap = |p| LeafResponse {
            partial: Some(p),
            load: None,
        };
        for bytes in [40, 127, 128, 129, 1000, 100_000] {
            let len = wrap(sized_payload(bytes, wrap)).encoded_len();
            assert!(len <= bytes && len + 2 >= bytes, "{bytes}: {len}");
        }
        assert_eq!(wrap(sized_payload(100_000, wrap)).encoded_len(), 100_000);
    }

    #[test]
    fn scripts_survive_the_payload_and_other_payloads_are_empty_scripts() {
        let script = Script::new().delay(2, 5000).merge_fail("boom");
        assert_eq!(Script::from_payload(&script.payload()), script);
        let text = Payload::new("text/plain", "hello world");
        assert_eq!(Script::from_payload(&text), Script::new());
    }
}
