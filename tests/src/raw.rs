//! gRPC calls whose request messages are given as bytes, to send what no
//! generated client would: a body that is not protobuf at all.

use bytes::Bytes;
use http::uri::PathAndQuery;
use scatter_proto::raw::RawCodec;
use tonic::Status;
use tonic::transport::Channel;

/// Calls `path` (e.g. `/scatter.v1.Root/Query`) on `channel` with `body` as
/// the one framed message; returns the first response message, undecoded.
pub async fn call(channel: Channel, path: &'static str, body: Bytes) -> Result<Bytes, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let path = PathAndQuery::from_static(path);
    grpc.unary(tonic::Request::new(body), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// Calls the client-streaming method `path` (e.g.
/// `/scatter.v1.Merge/Merge`) on `channel` with each of `frames` as one
/// framed message, then half-closes; returns the one response, undecoded.
pub async fn call_streaming(
    channel: Channel,
    path: &'static str,
    frames: Vec<Bytes>,
) -> Result<Bytes, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let path = PathAndQuery::from_static(path);
    let frames = tokio_stream::iter(frames);
    grpc.client_streaming(tonic::Request::new(frames), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}
