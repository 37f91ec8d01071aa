//! The checker's HTTP/2 connection: a bare hyper client under tonic's
//! generated clients. A tonic `Channel` enforces the `grpc-timeout` it sends
//! on its own side — the call ends at the deadline whatever the process
//! does — which would hide the very behaviour the deadline checks look at.
//! This connection sends the header and waits for the process's answer.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tonic::body::Body;

/// A connection to one process, dialled on the first call and again after
/// it closes (the process was restarted). Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Conn {
    authority: String,
    origin: Uri,
    sender: Arc<Mutex<Option<SendRequest<Body>>>>,
}

/// The error of a call on a [`Conn`].
pub type ConnError = Box<dyn std::error::Error + Send + Sync>;

impl Conn {
    /// A connection to `uri` (`http://host:port`), not yet dialled.
    ///
    /// # Panics
    /// Never for a URI the target produced.
    pub fn new(uri: &str) -> Self {
        let origin: Uri = uri.parse().expect("the target's URI parses");
        let authority = origin
            .authority()
            .map(ToString::to_string)
            .unwrap_or_default();
        Self {
            authority,
            origin,
            sender: Arc::default(),
        }
    }

    /// The origin tonic's clients put before each method's path.
    pub fn origin(&self) -> Uri {
        self.origin.clone()
    }

    /// The open connection's sender, dialling first when there is none.
    async fn sender(&self) -> Result<SendRequest<Body>, ConnError> {
        let mut slot = self.sender.lock().await;
        if let Some(sender) = slot.as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let dial = TcpStream::connect(&self.authority);
        let stream = tokio::time::timeout(std::time::Duration::from_secs(2), dial)
            .await
            .map_err(|_| format!("no connection to {} within 2 s", self.authority))??;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the process closes the connection or every sender is gone.
            let _ = connection.await;
        });
        *slot = Some(sender.clone());
        Ok(sender)
    }
}

impl tower::Service<http::Request<Body>> for Conn {
    type Response = http::Response<Incoming>;
    type Error = ConnError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ConnError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let conn = self.clone();
        Box::pin(async move {
            let mut sender = conn.sender().await?;
            sender.ready().await?;
            Ok(sender.send_request(request).await?)
        })
    }
}
