//! gRPC calls whose request messages are given as bytes, to send what no
//! generated client would: a body that is not protobuf at all.

use bytes::{Buf as _, BufMut as _, Bytes};
use http::uri::PathAndQuery;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
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

/// Frames bytes as they are, and reads them back the same way.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self
    }

    fn decoder(&mut self) -> Self {
        Self
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
