//! The calls the checks make: gRPC health, the leaf and merge methods with
//! a deadline or none, raw bytes where no generated client would send them,
//! and the in-flight gauge read off a Prometheus endpoint.

use std::time::Duration;

use bytes::Bytes;
use http::uri::PathAndQuery;
use scatter_proto::raw::RawCodec;
use scatter_proto::v1::leaf_client::LeafClient;
use scatter_proto::v1::{
    LeafInfo, LeafInfoRequest, LeafRequest, LeafResponse, LeafUpdate, MergeMessage, MergeResponse,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tonic::{Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_prost::ProstCodec;

use super::conn::Conn;

/// Health's SERVING, as an `i32`.
pub const SERVING: i32 = ServingStatus::Serving as i32;
/// Health's NOT_SERVING, as an `i32`.
pub const NOT_SERVING: i32 = ServingStatus::NotServing as i32;

/// A connection to `uri`, dialled on first use (see [`Conn`] for why not
/// a tonic `Channel`).
pub fn channel(uri: &str) -> Conn {
    Conn::new(uri)
}

/// The name of a health status, e.g. `NOT_SERVING`.
pub fn status_name(status: i32) -> &'static str {
    ServingStatus::try_from(status).map_or("an unknown status", |s| s.as_str_name())
}

/// `Health.Check(service)` at `uri`, bounded by three seconds.
///
/// # Errors
/// The call's status.
pub async fn health(uri: &str, service: &str) -> Result<i32, Status> {
    health_response(channel(uri), service)
        .await
        .map(|r| r.status)
}

async fn health_response(channel: Conn, service: &str) -> Result<HealthCheckResponse, Status> {
    let mut request = Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    request.set_timeout(Duration::from_secs(2));
    let mut client = HealthClient::with_origin(channel.clone(), channel.origin());
    bounded(Duration::from_secs(3), client.check(request)).await
}

/// `Health.Watch(service)`: the stream of statuses.
///
/// # Errors
/// The call's status.
pub async fn watch(
    channel: Conn,
    service: &str,
) -> Result<tonic::Streaming<HealthCheckResponse>, Status> {
    let request = Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    let mut client = HealthClient::with_origin(channel.clone(), channel.origin());
    bounded(Duration::from_secs(3), client.watch(request)).await
}

/// `Leaf.Info`.
///
/// # Errors
/// The call's status.
pub async fn info(channel: Conn) -> Result<LeafInfo, Status> {
    let mut request = Request::new(LeafInfoRequest {});
    request.set_timeout(Duration::from_secs(2));
    bounded(
        Duration::from_secs(3),
        LeafClient::with_origin(channel.clone(), channel.origin()).info(request),
    )
    .await
}

/// `Leaf.Answer(request)` with `deadline` sent as `grpc-timeout`; the
/// caller waits up to `wait` for the answer (a leaf that never answers
/// counts as DEADLINE_EXCEEDED from the checker).
///
/// # Errors
/// The call's status.
pub async fn answer(
    channel: Conn,
    request: LeafRequest,
    deadline: Option<Duration>,
    wait: Duration,
) -> Result<LeafResponse, Status> {
    let mut request = Request::new(request);
    if let Some(deadline) = deadline {
        request.set_timeout(deadline);
    }
    let mut client = LeafClient::with_origin(channel.clone(), channel.origin())
        .max_decoding_message_size(usize::MAX);
    bounded(wait, client.answer(request)).await
}

/// `Leaf/AnswerStream`: every update until the stream ends, or its status.
///
/// # Errors
/// The call's status, or DEADLINE_EXCEEDED when the stream has not ended
/// within `wait`.
pub async fn answer_stream(
    channel: Conn,
    request: LeafRequest,
    deadline: Duration,
    wait: Duration,
) -> Result<Vec<LeafUpdate>, Status> {
    let mut request = Request::new(request);
    request.set_timeout(deadline);
    let mut client = LeafClient::with_origin(channel.clone(), channel.origin())
        .max_decoding_message_size(usize::MAX);
    let read = async {
        let mut updates = client.answer_stream(request).await?.into_inner();
        let mut all = Vec::new();
        while let Some(update) = updates.message().await? {
            all.push(update);
        }
        Ok(tonic::Response::new(all))
    };
    bounded(wait, read).await
}

/// `call`'s answer, or DEADLINE_EXCEEDED when none comes within `wait`.
async fn bounded<T>(
    wait: Duration,
    call: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, Status> {
    match tokio::time::timeout(wait, call).await {
        Ok(result) => result.map(tonic::Response::into_inner),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "no answer within {wait:?} (the checker gave up waiting)"
        ))),
    }
}

/// What one merge stream gave back: every response message, then the
/// status the stream ended with.
#[derive(Debug)]
pub struct MergeOutcome {
    /// Every `MergeResponse` received.
    pub responses: Vec<MergeResponse>,
    /// How the call ended.
    pub status: Result<(), Status>,
}

impl MergeOutcome {
    /// The one answer of a well-behaved merge: exactly one response and OK.
    ///
    /// # Errors
    /// What was wrong, in words.
    pub fn single(self) -> Result<MergeResponse, String> {
        match (self.status, self.responses.len()) {
            (Err(status), _) => Err(describe(&status)),
            (Ok(()), 1) => Ok(self.responses.into_iter().next().unwrap_or_default()),
            (Ok(()), n) => Err(format!("{n} responses on one stream, then OK")),
        }
    }
}

/// `Merge.Merge` with `messages` sent from `stream` (so a caller may keep
/// it open), `deadline` sent as `grpc-timeout`, waiting up to `wait`.
pub async fn merge(
    channel: Conn,
    stream: impl tokio_stream::Stream<Item = MergeMessage> + Send + 'static,
    deadline: Option<Duration>,
    wait: Duration,
) -> MergeOutcome {
    let call = async {
        let mut grpc = tonic::client::Grpc::with_origin(channel.clone(), channel.origin());
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut request = Request::new(stream);
        if let Some(deadline) = deadline {
            request.set_timeout(deadline);
        }
        let path = PathAndQuery::from_static("/scatter.v1.Merge/Merge");
        let codec = ProstCodec::<MergeMessage, MergeResponse>::default();
        let mut responses = grpc.streaming(request, path, codec).await?.into_inner();
        let mut received = Vec::new();
        let status = loop {
            match responses.message().await {
                Ok(Some(response)) => received.push(response),
                Ok(None) => break Ok(()),
                Err(status) => break Err(status),
            }
        };
        Ok::<_, Status>(MergeOutcome {
            responses: received,
            status,
        })
    };
    match tokio::time::timeout(wait, call).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(status)) => MergeOutcome {
            responses: Vec::new(),
            status: Err(status),
        },
        Err(_) => MergeOutcome {
            responses: Vec::new(),
            status: Err(Status::deadline_exceeded(format!(
                "no answer within {wait:?} (the checker gave up waiting)"
            ))),
        },
    }
}

/// Calls `path` with `body` as its one framed message, bytes as they are.
///
/// # Errors
/// The call's status.
pub async fn raw_unary(channel: Conn, path: &'static str, body: Bytes) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::with_origin(channel.clone(), channel.origin());
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let call = grpc.unary(
        Request::new(body),
        PathAndQuery::from_static(path),
        RawCodec,
    );
    bounded(Duration::from_secs(3), call).await.map(drop)
}

/// Writes `bytes` straight onto a TCP connection to `uri`'s port, then
/// reads whatever comes back until the process closes it or a second
/// passes: not HTTP/2, not gRPC.
///
/// # Errors
/// When the connection cannot be made.
pub async fn raw_tcp(uri: &str, bytes: &[u8]) -> Result<(), String> {
    let authority = authority(uri);
    let mut stream = TcpStream::connect(&authority)
        .await
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    // The process may close the connection before reading it all.
    let _ = stream.write_all(bytes).await;
    let mut sink = [0u8; 4096];
    let drain = async { while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
    Ok(())
}

/// The `host:port` of `uri`.
fn authority(uri: &str) -> String {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// The sum of the samples of gauge `name` at the Prometheus endpoint `url`
/// (`http://host:port/path`).
///
/// # Errors
/// When the endpoint cannot be read or has no such series.
pub async fn gauge(url: &str, name: &str) -> Result<f64, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url} is not an http:// URL"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let fetch = async {
        let mut stream = TcpStream::connect(host).await?;
        // HTTP/1.0: the answer is the body up to the close, never chunked.
        let request = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\nAccept: text/plain\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await?;
        Ok::<_, std::io::Error>(text)
    };
    let text = tokio::time::timeout(Duration::from_secs(2), fetch)
        .await
        .map_err(|_| format!("{url} did not answer within 2 s"))?
        .map_err(|e| format!("cannot read {url}: {e}"))?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head.split_whitespace().nth(1);
    if !head.starts_with("HTTP/1.") || code != Some("200") {
        return Err(format!(
            "{url} answered {}",
            head.lines().next().unwrap_or("nothing")
        ));
    }
    let samples: Vec<f64> = body
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .filter_map(|line| {
            line.rsplit_once('}')
                .map_or(line, |(_, v)| v)
                .split_whitespace()
                .next_back()
        })
        .filter_map(|value| value.parse().ok())
        .collect();
    if samples.is_empty() {
        return Err(format!("{url} has no `{name}` series"));
    }
    Ok(samples.iter().sum())
}

/// Polls gauge `name` at `url` until `done` holds for its value, for up to
/// `within`; the value that met it, or the last one read.
///
/// # Errors
/// The last value read when `done` never held, or why none could be read.
pub async fn poll_gauge(
    url: &str,
    name: &str,
    within: Duration,
    done: impl Fn(f64) -> bool,
) -> Result<f64, Result<f64, String>> {
    let until = tokio::time::Instant::now() + within;
    loop {
        let value = gauge(url, name).await.map_err(Err)?;
        if done(value) {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= until {
            return Err(Ok(value));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A status in words: `INVALID_ARGUMENT "the query is not UTF-8"`.
pub fn describe(status: &Status) -> String {
    let code = format!("{:?}", status.code());
    let mut name = String::new();
    for (i, c) in code.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    if status.message().is_empty() {
        format!("{name} with no message")
    } else {
        format!("{name} {:?}", status.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_as_its_grpc_name_and_message() {
        assert_eq!(
            describe(&Status::invalid_argument("bad")),
            "INVALID_ARGUMENT \"bad\""
        );
        assert_eq!(describe(&Status::unknown("")), "UNKNOWN with no message");
        assert_eq!(
            describe(&Status::deadline_exceeded("x")),
            "DEADLINE_EXCEEDED \"x\""
        );
    }

    #[test]
    fn authority_strips_scheme_and_path() {
        assert_eq!(authority("http://127.0.0.1:7/x"), "127.0.0.1:7");
        assert_eq!(authority("127.0.0.1:7"), "127.0.0.1:7");
    }
}
