//! Requests tonic refuses before the `Root` handler reads them get a status a
//! client can act on, and are counted like every other request.
//!
//! tonic decodes a request before calling the handler, and answers on its
//! own when it cannot: OUT_OF_RANGE for a message above the decoding limit
//! (refused as soon as the length prefix is read, nothing buffered) and
//! INTERNAL for a body that is not protobuf. Both are the client's doing, so
//! this layer rewrites them to RESOURCE_EXHAUSTED and INVALID_ARGUMENT with a
//! message that says what to change. The handler marks each request it
//! reads ([`Read::mark`]); only unmarked answers are rewritten and counted
//! here, so an INTERNAL from the merge is never taken for a bad request and
//! no request is counted twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Request, Response};
use tonic::{Code, Status};
use tower::{Layer, Service};

use crate::metrics::RootMetrics;

/// Set by the handler once tonic has decoded the request.
#[derive(Clone, Default)]
pub struct Read(Arc<AtomicBool>);

impl Read {
    /// Marks the request behind `extensions` as read by the handler.
    pub fn mark(extensions: &http::Extensions) {
        if let Some(read) = extensions.get::<Self>() {
            read.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Wraps the `Root` service; see the module docs.
#[derive(Clone)]
pub struct UnreadLayer {
    /// The payload limit in bytes, quoted in the message.
    pub limit: usize,
    /// Where unread requests are counted.
    pub metrics: RootMetrics,
}

impl<S> Layer<S> for UnreadLayer {
    type Service = Unread<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Unread {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`UnreadLayer`] makes.
#[derive(Clone)]
pub struct Unread<S> {
    inner: S,
    layer: UnreadLayer,
}

impl<S, B, R> Service<Request<B>> for Unread<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<R>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let read = Read::default();
        request.extensions_mut().insert(read.clone());
        let layer = self.layer.clone();
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            if read.0.load(Ordering::Relaxed) {
                return Ok(response);
            }
            if let Some(status) = Status::from_header_map(response.headers()) {
                let status = layer.explain(status);
                layer.metrics.record_request(status.code(), None);
                let _ = status.add_header(response.headers_mut());
            }
            Ok(response)
        })
    }
}

impl UnreadLayer {
    /// The status a client sees for a request tonic refused unread.
    fn explain(&self, status: Status) -> Status {
        match status.code() {
            Code::OutOfRange
                if status
                    .message()
                    .contains("decoded message length too large") =>
            {
                Status::resource_exhausted(format!(
                    "request is larger than this root accepts (payload limit {} bytes; \
                     raise --max-request-bytes or send less): {}",
                    self.limit,
                    status.message()
                ))
            }
            Code::Internal => Status::invalid_argument(format!(
                "request body is not a valid protobuf scatter.v1.QueryRequest: {}",
                status.message()
            )),
            _ => status,
        }
    }
}
