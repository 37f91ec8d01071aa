//! A peer that answers far more than anyone should hold: an in-process gRPC
//! server that serves health like any Scatter process, and answers every
//! `scatter.v1.Leaf` and `scatter.v1.Merge` call with one message whose
//! length prefix announces [`ANNOUNCED`] bytes, then streams filler for as
//! long as the caller reads. What a root does with it shows whether its
//! memory stays bounded when a leaf or the merge sends more than its limit.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut as _, Bytes, BytesMut};
use http_body::Frame;
use scatter_management::{Process, ServeOptions};
use tokio_util::sync::CancellationToken;
use tonic::body::Body as TonicBody;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;
use tonic::service::Routes;

/// The message length every answer announces: the most a gRPC length
/// prefix can say (4 GiB).
pub const ANNOUNCED: u32 = u32::MAX;
/// Filler sent after the prefix, in chunks, at most: a quarter of what
/// was announced, far above any limit a test sets.
const SENT: usize = 1 << 30;
const CHUNK: usize = 64 << 10;

/// A running flood server; dropping it stops it.
pub struct Flood {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Flood {
    /// Starts one on a free loopback port; returns once it listens.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let process = Process::new("flood", &[LEAF, MERGE]);
        let stop = process.shutdown.clone();
        let routes = Routes::new(Flooding::<false>).add_service(Flooding::<true>);
        let options = ServeOptions {
            handle_signals: false,
            grace: std::time::Duration::ZERO,
            ..ServeOptions::default()
        };
        tokio::spawn(scatter_management::serve(
            process, routes, listener, options,
        ));
        Self { addr, stop }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

const LEAF: &str = "scatter.v1.Leaf";
const MERGE: &str = "scatter.v1.Merge";

/// The service: `MERGE` picks the name it is routed under.
#[derive(Clone, Copy)]
struct Flooding<const MERGE_SERVICE: bool>;

impl NamedService for Flooding<false> {
    const NAME: &'static str = LEAF;
}

impl NamedService for Flooding<true> {
    const NAME: &'static str = MERGE;
}

impl<B, const M: bool> Service<http::Request<B>> for Flooding<M>
where
    B: Send + 'static,
{
    type Response = http::Response<TonicBody>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<B>) -> Self::Future {
        Box::pin(async {
            let response = http::Response::builder()
                .header("content-type", "application/grpc")
                .body(TonicBody::new(FloodBody::default()))
                .expect("a static response is valid");
            Ok(response)
        })
    }
}

/// The body: the length prefix, then filler until [`SENT`] or the caller
/// resets the stream (HTTP/2 flow control paces it to the caller's reads).
#[derive(Default)]
struct FloodBody {
    sent: usize,
}

impl http_body::Body for FloodBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent == 0 {
            let mut prefix = BytesMut::with_capacity(5);
            prefix.put_u8(0); // not compressed
            prefix.put_u32(ANNOUNCED);
            self.sent = prefix.len();
            return Poll::Ready(Some(Ok(Frame::data(prefix.freeze()))));
        }
        if self.sent >= SENT {
            return Poll::Ready(None);
        }
        self.sent += CHUNK;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&[0; CHUNK])))))
    }
}
