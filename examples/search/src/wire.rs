//! The payload formats: what a client sends, what a leaf answers, and what
//! the merge returns.
//!
//! Query (client → leaves and merge), either content type:
//! - `text/plain`: the body is the query text; `k` is [`DEFAULT_K`];
//! - `application/json`: `{"query": "hello world", "k": 10}`, `k` optional;
//!   `"delay_ms": N` asks the leaves to wait N ms first (a slow query on
//!   demand, to try deadlines, cancellation and drain).
//!
//! Partial (leaf → merge) and merged result (merge → client), both
//! `application/json`:
//! `{"hits":[{"doc":"doc-000001","title":"...","score":1.234,"shard":0}],"total_hits":17}`.

use scatter_leaf::Payload;
use serde::{Deserialize, Serialize};

use crate::SearchError;
use crate::index::tokenize;

/// The content type of a plain-text query.
pub const TEXT_PLAIN: &str = "text/plain";
/// The content type of a JSON query, and of every partial and result.
pub const APPLICATION_JSON: &str = "application/json";
/// Hits returned when the query does not say.
pub const DEFAULT_K: usize = 10;
/// The most hits a query may ask for; more is refused, not truncated.
pub const MAX_K: usize = 1000;
/// The longest wait a query may ask the leaves for with `delay_ms`; more is
/// refused.
pub const MAX_DELAY_MS: u64 = 60_000;

const QUERY: &str = "query payload";
const QUERY_FORM: &str = r#"{"query": "hello world", "k": 10}"#;
const QUERY_TYPES: &str = "text/plain or application/json";
const RESULT: &str = "result payload";
const RESULT_FORM: &str =
    r#"{"hits": [{"doc": "...", "title": "...", "score": 1.0, "shard": 0}], "total_hits": 1}"#;

/// A search request: the words to find and how many hits to return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// The query text; its words are lowercase runs of letters and digits.
    pub query: String,
    /// How many hits to return, `1..=MAX_K`.
    #[serde(default = "default_k")]
    pub k: usize,
    /// Milliseconds a leaf waits before it searches, `0..=MAX_DELAY_MS`: a
    /// slow query on demand. The wait ends at once when the call is
    /// cancelled or its deadline passes; the merge ignores it. Left out of
    /// the JSON when 0, so ordinary queries read as before.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
}

fn default_k() -> usize {
    DEFAULT_K
}

fn is_zero(delay_ms: &u64) -> bool {
    *delay_ms == 0
}

impl Query {
    /// A query for `text` returning up to `k` hits.
    pub fn new(text: impl Into<String>, k: usize) -> Self {
        Self {
            query: text.into(),
            k,
            delay_ms: 0,
        }
    }

    /// This query, asking each leaf to wait `delay_ms` before it searches.
    #[must_use]
    pub fn delayed(mut self, delay_ms: u64) -> Self {
        self.delay_ms = delay_ms;
        self
    }

    /// Reads a `text/plain` or `application/json` query, refusing one with
    /// no word to search for, with `k` outside `1..=MAX_K` or with
    /// `delay_ms` above [`MAX_DELAY_MS`].
    pub fn from_payload(payload: &Payload) -> Result<Self, SearchError> {
        let query = match media_type(&payload.content_type).as_str() {
            TEXT_PLAIN => {
                let text =
                    std::str::from_utf8(&payload.body).map_err(|source| SearchError::NotUtf8 {
                        what: QUERY,
                        source,
                    })?;
                Self::new(text, DEFAULT_K)
            }
            APPLICATION_JSON => from_json(&payload.body, QUERY, QUERY_FORM)?,
            _ => {
                return Err(SearchError::UnsupportedContentType {
                    got: payload.content_type.clone(),
                    expected: QUERY_TYPES,
                });
            }
        };
        if tokenize(&query.query).next().is_none() {
            return Err(SearchError::EmptyQuery);
        }
        if !(1..=MAX_K).contains(&query.k) {
            return Err(SearchError::KOutOfRange {
                k: query.k,
                max: MAX_K,
            });
        }
        if query.delay_ms > MAX_DELAY_MS {
            return Err(SearchError::DelayOutOfRange {
                delay_ms: query.delay_ms,
                max: MAX_DELAY_MS,
            });
        }
        Ok(query)
    }

    /// This query as an `application/json` payload.
    pub fn to_payload(&self) -> Payload {
        json_payload(self)
    }
}

/// One matching document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The document's id.
    pub doc: String,
    /// The document's title.
    pub title: String,
    /// How well it matches, above 0; rounded to 4 decimal places so it
    /// survives JSON unchanged and compares equal across shards.
    pub score: f64,
    /// The shard that holds the document.
    pub shard: u32,
}

/// The hits of a shard (a partial) or of the whole corpus (the merged
/// result): the best first, by score descending, then document id
/// ascending.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The top hits, at most `k`.
    pub hits: Vec<Hit>,
    /// How many documents matched in all, `k` or not.
    pub total_hits: u64,
}

impl Results {
    /// Reads an `application/json` partial or result.
    pub fn from_payload(payload: &Payload) -> Result<Self, SearchError> {
        if media_type(&payload.content_type) != APPLICATION_JSON {
            return Err(SearchError::UnsupportedContentType {
                got: payload.content_type.clone(),
                expected: APPLICATION_JSON,
            });
        }
        from_json(&payload.body, RESULT, RESULT_FORM)
    }

    /// These results as an `application/json` payload.
    pub fn to_payload(&self) -> Payload {
        json_payload(self)
    }
}

/// The media type of a content type, without parameters such as
/// `; charset=utf-8`, in lowercase.
fn media_type(content_type: &str) -> String {
    let essence = content_type.split(';').next().unwrap_or_default();
    essence.trim().to_ascii_lowercase()
}

fn from_json<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &'static str,
    expected: &'static str,
) -> Result<T, SearchError> {
    serde_json::from_slice(body).map_err(|source| match source.classify() {
        serde_json::error::Category::Data => SearchError::UnexpectedJson {
            what,
            expected,
            source,
        },
        _ => SearchError::InvalidJson { what, source },
    })
}

fn json_payload(value: &impl Serialize) -> Payload {
    // Serializing these plain structs to a Vec cannot fail.
    let body = serde_json::to_vec(value).expect("search payloads serialize to JSON");
    Payload::new(APPLICATION_JSON, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::{Code, Status};

    fn query(content_type: &str, body: &str) -> Result<Query, Status> {
        Query::from_payload(&Payload::new(content_type.to_owned(), body.to_owned()))
            .map_err(Status::from)
    }

    fn refused(content_type: &str, body: &str) -> String {
        let status = query(content_type, body).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        status.message().to_owned()
    }

    #[test]
    fn plain_text_and_json_queries_read_alike() {
        let want = Query::new("hello world", 10);
        assert_eq!(query("text/plain", "hello world").unwrap(), want);
        assert_eq!(
            query("text/plain; charset=utf-8", "hello world").unwrap(),
            want
        );
        assert_eq!(
            query("application/json", r#"{"query":"hello world"}"#).unwrap(),
            want
        );
        let k3 = query("Application/JSON", r#"{"query":"hello world","k":3}"#).unwrap();
        assert_eq!(k3, Query::new("hello world", 3));
        assert_eq!(Query::from_payload(&k3.to_payload()).unwrap(), k3);
    }

    #[test]
    fn a_delay_is_optional_and_left_out_of_the_json_when_zero() {
        let body = |query: &Query| String::from_utf8(query.to_payload().body.to_vec()).unwrap();
        assert_eq!(body(&Query::new("hello", 3)), r#"{"query":"hello","k":3}"#);
        let slow = query("application/json", r#"{"query":"hello","delay_ms":250}"#).unwrap();
        assert_eq!(slow, Query::new("hello", 10).delayed(250));
        assert_eq!(body(&slow), r#"{"query":"hello","k":10,"delay_ms":250}"#);
        assert!(query("application/json", r#"{"query":"x","delay_ms":60000}"#).is_ok());
    }

    #[test]
    fn bad_queries_are_invalid_argument_with_a_reason() {
        let msg = refused("application/json", "{not json");
        assert!(
            msg.starts_with("query payload is not valid JSON: "),
            "{msg}"
        );
        let msg = refused("application/json", r#"{"qeury":"x"}"#);
        assert!(msg.contains("unknown field `qeury`"), "{msg}");
        let msg = refused("application/json", r#"{"query":"x","k":"ten"}"#);
        assert!(msg.contains("not of the form"), "{msg}");
        let msg = refused("text/html", "hello");
        assert_eq!(
            msg,
            r#"unsupported content type "text/html"; send text/plain or application/json"#
        );
        assert!(refused("text/plain", "  ?! ").starts_with("empty query"));
        assert!(refused("application/json", r#"{"query":""}"#).starts_with("empty query"));
        let msg = refused("application/json", r#"{"query":"x","k":1001}"#);
        assert_eq!(msg, "k = 1001 is out of range; ask for 1 to 1000 hits");
        assert!(refused("application/json", r#"{"query":"x","k":0}"#).contains("out of range"));
        let msg = refused("application/json", r#"{"query":"x","delay_ms":60001}"#);
        assert_eq!(
            msg,
            "delay_ms = 60001 is out of range; ask for at most 60000 ms"
        );
        let status = Query::from_payload(&Payload::new("text/plain", vec![0xff, 0xfe]))
            .map_err(Status::from)
            .unwrap_err();
        assert!(status.message().contains("not UTF-8"), "{status:?}");
    }

    #[test]
    fn results_round_trip_through_json_exactly() {
        let results = Results {
            hits: vec![Hit {
                doc: "doc-000001".into(),
                title: "A title".into(),
                score: 1.2345,
                shard: 3,
            }],
            total_hits: 17,
        };
        let payload = results.to_payload();
        assert_eq!(payload.content_type, APPLICATION_JSON);
        let text = std::str::from_utf8(&payload.body).unwrap();
        assert_eq!(
            text,
            r#"{"hits":[{"doc":"doc-000001","title":"A title","score":1.2345,"shard":3}],"total_hits":17}"#
        );
        assert_eq!(Results::from_payload(&payload).unwrap(), results);
    }
}
