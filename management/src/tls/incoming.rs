//! The connections a process serves: plain TCP, or TLS accepted here rather
//! than by tonic, so that the handshake offers both `h2` and `http/1.1`
//! (ALPN). tonic's own TLS offers only `h2`, which locks HTTP/1.1 callers —
//! Kubernetes HTTPS probes, Prometheus scrapes, `curl --http1.1` — out of
//! the admin endpoints that share the port.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::HANDSHAKE_TIMEOUT;

/// Handshakes run at once; more connections wait for a slot, so a flood
/// of silent peers cannot pile up without bound.
const HANDSHAKES: usize = 256;

/// One accepted connection.
pub enum Conn {
    /// Plaintext.
    Plain(TcpStream),
    /// After a TLS handshake.
    Tls(Box<TlsStream<TcpStream>>),
}

/// The connections `listener` accepts, through TLS with `tls` when given.
/// A failed or timed-out handshake drops that connection only (logged at
/// debug: scanners and health checkers that only open a socket are common).
pub fn incoming(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
) -> Pin<Box<dyn Stream<Item = io::Result<Conn>> + Send>> {
    let accepted = TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|stream| {
            // Small RPCs on loopback: Nagle only adds latency.
            let _ = stream.set_nodelay(true);
        })
    });
    let Some(tls) = tls else {
        return Box::pin(accepted.map(|conn| conn.map(Conn::Plain)));
    };
    let acceptor = TlsAcceptor::from(tls);
    let handshakes = accepted.map(move |conn| {
        let acceptor = acceptor.clone();
        async move {
            let tcp = conn?;
            let peer = tcp.peer_addr().ok();
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => Ok(Some(Conn::Tls(Box::new(stream)))),
                Ok(Err(error)) => {
                    tracing::debug!(?peer, %error, "TLS handshake failed");
                    Ok(None)
                }
                Err(_) => {
                    tracing::debug!(?peer, "TLS handshake timed out");
                    Ok(None)
                }
            }
        }
    });
    Box::pin(
        handshakes
            .buffer_unordered(HANDSHAKES)
            .filter_map(|done| async move { done.transpose() }),
    )
}

impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        match self {
            Self::Plain(stream) => stream.connect_info(),
            Self::Tls(stream) => stream.get_ref().0.connect_info(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Self::Tls(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(stream) => stream.is_write_vectored(),
            Self::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}
