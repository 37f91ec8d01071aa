//! [`Fanout`] as a `tower::Service<QueryRequest>`, so it composes with
//! tower middleware (rate limits, timeouts, load shedding) like any other
//! client. The request's deadline is the configured default; call
//! [`Fanout::query`] to pass a client's own.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use scatter_proto::v1::{QueryRequest, QueryResponse};
use tower::Service;

use super::Fanout;
use crate::error::QueryError;
use crate::fanout::LeafService;

impl<S> Service<QueryRequest> for Fanout<S>
where
    S: LeafService,
{
    type Response = QueryResponse;
    type Error = QueryError;
    type Future = BoxFuture<'static, Result<QueryResponse, QueryError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), QueryError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: QueryRequest) -> Self::Future {
        let fanout = self.clone();
        Box::pin(async move { fanout.query(request, None).await })
    }
}
