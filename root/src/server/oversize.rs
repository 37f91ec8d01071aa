//! Oversized requests get RESOURCE_EXHAUSTED, as gRPC users expect.
//!
//! tonic refuses a message above its decoding limit as soon as it reads the
//! length prefix (nothing is buffered), but answers OUT_OF_RANGE. This layer
//! rewrites that one answer to RESOURCE_EXHAUSTED with a message that says
//! what to change.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Request, Response};
use tonic::{Code, Status};
use tower::{Layer, Service};

/// Wraps a gRPC service; see the module docs.
#[derive(Clone, Copy, Debug)]
pub struct OversizeLayer {
    /// The payload limit in bytes, quoted in the message.
    pub limit: usize,
}

impl<S> Layer<S> for OversizeLayer {
    type Service = Oversize<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Oversize {
            inner,
            limit: self.limit,
        }
    }
}

/// The service [`OversizeLayer`] makes.
#[derive(Clone, Debug)]
pub struct Oversize<S> {
    inner: S,
    limit: usize,
}

impl<S, B, R> Service<Request<B>> for Oversize<S>
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

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let limit = self.limit;
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            if let Some(status) = Status::from_header_map(response.headers())
                && status.code() == Code::OutOfRange
                && status
                    .message()
                    .contains("decoded message length too large")
            {
                let status = Status::resource_exhausted(format!(
                    "request is larger than this root accepts (payload limit {limit} bytes; \
                         raise --max-request-bytes or send less): {}",
                    status.message()
                ));
                let _ = status.add_header(response.headers_mut());
            }
            Ok(response)
        })
    }
}
