//! Writes to a leaf or merge connection, gathered within one turn of the
//! runtime.
//!
//! hyper sends a unary gRPC request in two writes: the HEADERS frame, when
//! the connection task opens the stream, and the DATA frame, from the
//! request body's own task once the open stream has send capacity (h2
//! gives none to a stream not yet open). With `TCP_NODELAY` that is two
//! system calls and two segments per leaf call, and the leaf wakes twice.
//! [`Coalesce`] puts the first write of each burst off by one turn: the
//! connection task yields, the body task queues its DATA, and the next
//! turn sends both frames in one write. Frames that have nothing to wait
//! for (a PING, a WINDOW_UPDATE, a reset) go out one turn later, which on a
//! runtime with work queued is the time other tasks take, and on an idle
//! one none.
//!
//! [`Gathering`] wraps each connection a connector makes; TLS, when
//! configured, runs above it, so what it gathers is whole TLS records.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::TryFutureExt as _;
use futures::future::MapOk;
use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use tower::Service;

/// A connection whose first write of each burst waits one turn of the
/// runtime, so frames queued meanwhile go out with it.
#[derive(Debug)]
pub struct Coalesce<T> {
    inner: T,
    /// The current burst has waited its turn; cleared when it is flushed.
    waited: bool,
}

impl<T> Coalesce<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            waited: false,
        }
    }

    /// Whether this write must wait a turn first: the first of a burst
    /// does, and wakes its task at once so the turn is all it waits.
    fn wait_a_turn(&mut self, cx: &mut Context<'_>) -> bool {
        if std::mem::replace(&mut self.waited, true) {
            return false;
        }
        cx.waker().wake_by_ref();
        true
    }
}

impl<T: Read + Unpin> Read for Coalesce<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for Coalesce<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.wait_a_turn(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.wait_a_turn(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = std::task::ready!(Pin::new(&mut self.inner).poll_flush(cx));
        self.waited = false;
        Poll::Ready(flushed)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T: Connection> Connection for Coalesce<T> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

/// A connector whose connections are wrapped in [`Coalesce`].
#[derive(Clone, Debug)]
pub struct Gathering<C> {
    connect: C,
}

impl<C> Gathering<C> {
    /// Gathers the writes of `connect`'s connections.
    pub fn new(connect: C) -> Self {
        Self { connect }
    }
}

impl Gathering<HttpConnector> {
    /// Dials TCP as tonic's own connector does: `TCP_NODELAY` on, any
    /// scheme (tonic's TLS layer runs above and dials `https://` here).
    pub fn tcp() -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        Self::new(http)
    }
}

impl<C> Service<Uri> for Gathering<C>
where
    C: Service<Uri>,
{
    type Response = Coalesce<C::Response>;
    type Error = C::Error;
    type Future = MapOk<C::Future, fn(C::Response) -> Coalesce<C::Response>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.connect.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        self.connect.call(uri).map_ok(Coalesce::new as fn(_) -> _)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::future::BoxFuture;
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpStream;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;
    use crate::topology::Connector;
    use crate::topology::test_peer::health_server;

    /// A connection that counts the writes reaching its socket.
    struct Counted {
        inner: TokioIo<TcpStream>,
        writes: Arc<AtomicUsize>,
    }

    impl Counted {
        fn count<T>(&self, written: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
            if let Poll::Ready(Ok(_)) = written {
                self.writes.fetch_add(1, Ordering::Relaxed);
            }
            written
        }
    }

    impl Read for Counted {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            into: ReadBufCursor<'_>,
        ) -> Poll<io::Result<()>> {
            let socket = &mut self.get_mut().inner;
            Pin::new(socket).poll_read(cx, into)
        }
    }

    impl Write for Counted {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let written = Pin::new(&mut self.inner).poll_write(cx, buf);
            self.count(written)
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
            self.count(written)
        }

        fn is_write_vectored(&self) -> bool {
            self.inner.is_write_vectored()
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    impl Connection for Counted {
        fn connected(&self) -> Connected {
            self.inner.connected()
        }
    }

    /// TCP as the root dials it, each connection counting its writes.
    #[derive(Clone)]
    struct Counting {
        http: HttpConnector,
        writes: Arc<AtomicUsize>,
    }

    impl Service<Uri> for Counting {
        type Response = Counted;
        type Error = <HttpConnector as Service<Uri>>::Error;
        type Future = BoxFuture<'static, Result<Counted, Self::Error>>;

        fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.http.poll_ready(cx)
        }

        fn call(&mut self, uri: Uri) -> Self::Future {
            let writes = Arc::clone(&self.writes);
            Box::pin(
                self.http
                    .call(uri)
                    .map_ok(|inner| Counted { inner, writes }),
            )
        }
    }

    /// The writes `calls` unary calls to a gRPC server on loopback take,
    /// once the connection is up, with or without gathering.
    async fn writes_for(calls: usize, gathered: bool) -> usize {
        let addr = health_server().await;
        let writes = Arc::new(AtomicUsize::new(0));
        let counting = Counting {
            http: Gathering::tcp().connect,
            writes: Arc::clone(&writes),
        };
        let endpoint = Connector::default()
            .endpoint(&format!("http://{addr}"))
            .unwrap();
        let channel = if gathered {
            endpoint
                .connect_with_connector(Gathering::new(counting))
                .await
        } else {
            endpoint.connect_with_connector(counting).await
        };
        let mut client = HealthClient::new(channel.unwrap());
        // The first call settles the connection's SETTINGS exchange.
        client.check(HealthCheckRequest::default()).await.unwrap();
        let before = writes.load(Ordering::Relaxed);
        for _ in 0..calls {
            client.check(HealthCheckRequest::default()).await.unwrap();
        }
        writes.load(Ordering::Relaxed) - before
    }

    #[tokio::test]
    async fn a_unary_call_leaves_in_one_write_not_two() {
        const CALLS: usize = 20;
        let plain = writes_for(CALLS, false).await;
        let gathered = writes_for(CALLS, true).await;
        // hyper sends HEADERS, then DATA from the body's own task: were
        // this to fail, gathering would have nothing left to gather.
        assert!(plain >= 2 * CALLS, "{plain} writes for {CALLS} calls");
        assert!(
            gathered <= CALLS + 2,
            "{gathered} writes for {CALLS} calls (without gathering {plain})"
        );
    }
}
