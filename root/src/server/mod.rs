//! The `Root` gRPC service: input checks, the client's deadline and its
//! request id (`x-request-id`, echoed in the response's metadata, success
//! or error), then the engine's [`Fanout`] (which admits or refuses);
//! errors leave here as gRPC statuses. Answers above the response limit
//! leave as one too.

mod size;
mod unread;

use std::pin::Pin;

use futures::{Stream, StreamExt as _};
use scatter_management::metrics::Gauge;
use scatter_management::trace::TraceContext;
use scatter_proto::v1::root_server::{self, RootServer};
use scatter_proto::v1::{QueryRequest, QueryResponse, QueryUpdate};
use tonic::service::{LayerExt as _, Routes};
use tonic::{Code, Request, Response, Status};

use crate::admission::Class;
use crate::engine::Fanout;
use crate::error::QueryError;
use crate::fanout::RequestId;
use crate::metrics::RootMetrics;
use unread::{Read, UnreadLayer};

/// Bytes a request may carry beyond its payload (policy, content type, framing).
const ENVELOPE_BYTES: usize = 4096;

/// The `scatter.v1.Root` service.
pub struct RootService {
    fanout: Fanout,
}

impl RootService {
    /// A service answering with `fanout`.
    pub fn new(fanout: Fanout) -> Self {
        Self { fanout }
    }

    /// The gRPC routes of the root: `Root`, behind the layer that answers
    /// requests it cannot read. (Health and reflection are added by
    /// [`scatter_management::serve`].)
    pub fn routes(self) -> Routes {
        let limit = self.fanout.engine().config.limits.max_request_bytes;
        let unread = UnreadLayer {
            limit,
            metrics: self.metrics().clone(),
        };
        let root = RootServer::new(self)
            .max_decoding_message_size(limit.saturating_add(ENVELOPE_BYTES))
            .max_encoding_message_size(usize::MAX);
        Routes::new(unread.named_layer(root))
    }

    fn metrics(&self) -> &RootMetrics {
        &self.fanout.engine().metrics
    }

    /// Checks a request's size and its `x-request-id`, reads the client's
    /// deadline, and gives the request its id.
    fn check(&self, request: Request<QueryRequest>) -> Result<Checked, QueryError> {
        Read::mark(request.extensions());
        let limits = &self.fanout.engine().config.limits;
        size::check_metadata(request.metadata(), limits.max_metadata_bytes)?;
        let client_timeout = scatter_management::grpc_timeout(request.metadata());
        let client_id = scatter_management::request_id(request.metadata())
            .map_err(QueryError::InvalidRequest)?;
        let trace = TraceContext::continue_or_start(request.metadata());
        let id = self.fanout.engine().request_id(client_id.as_deref(), trace);
        let query = request.into_inner();
        let size = query.payload.as_ref().map_or(0, |p| p.body.len());
        let limit = limits.max_request_bytes;
        if size > limit {
            return Err(QueryError::TooLarge { size, limit });
        }
        Ok(Checked {
            query,
            timeout: client_timeout,
            id,
        })
    }

    /// Counts a finished request by its code and priority class.
    fn settle<T>(&self, result: Result<T, QueryError>, class: Class) -> Result<T, Status> {
        let result = result.map_err(Status::from);
        let code = match &result {
            Ok(_) => Code::Ok,
            Err(status) => status.code(),
        };
        self.metrics().record_request(code, Some(class));
        result
    }

    /// Counts a request that ends before it is answered (refused by the
    /// checks, or a stream that could not start); one that goes on is
    /// counted once, when it ends.
    fn refuse<T>(&self, result: Result<T, QueryError>, class: Option<Class>) -> Result<T, Status> {
        result.map_err(|error| {
            let status = Status::from(error);
            self.metrics().record_request(status.code(), class);
            status
        })
    }
}

/// The priority class `query` asks for.
fn class_of(query: &QueryRequest) -> Class {
    Class::of(query.policy.as_ref().map_or(0, |p| p.priority))
}

/// A request that passed the checks.
struct Checked {
    query: QueryRequest,
    timeout: Option<std::time::Duration>,
    id: RequestId,
}

/// `result` with the request's id in its metadata, answer or status.
fn tagged<T>(id: &RequestId, result: Result<T, Status>) -> Result<Response<T>, Status> {
    match result {
        Ok(answer) => {
            let mut response = Response::new(answer);
            id.tag(response.metadata_mut());
            Ok(response)
        }
        Err(mut status) => {
            id.tag(status.metadata_mut());
            Err(status)
        }
    }
}

/// The stream `QueryStream` answers with.
type UpdateStream = Pin<Box<dyn Stream<Item = Result<QueryUpdate, Status>> + Send>>;

#[tonic::async_trait]
impl root_server::Root for RootService {
    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<QueryResponse>, Status> {
        let _in_flight = InFlight::enter(&self.metrics().in_flight);
        let Checked { query, timeout, id } = self.refuse(self.check(request), None)?;
        let class = class_of(&query);
        let limit = self.fanout.engine().config.limits.max_response_bytes;
        let result = self.fanout.query_as(query, timeout, &id).await;
        let result = result.and_then(|answer| size::check_answer(answer, limit));
        tagged(&id, self.settle(result, class))
    }

    type QueryStreamStream = UpdateStream;

    async fn query_stream(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<UpdateStream>, Status> {
        let in_flight = InFlight::enter(&self.metrics().in_flight);
        let Checked { query, timeout, id } = self.refuse(self.check(request), None)?;
        let class = Some(class_of(&query));
        let updates = self.fanout.try_query_stream_as(query, timeout, id.clone());
        let updates = tagged(&id, self.refuse(updates, class))?.into_inner();
        let metrics = self.metrics().clone();
        let limit = self.fanout.engine().config.limits.max_response_bytes;
        let updates = updates.map(move |update| {
            // Held until the stream is dropped: the request counts in
            // in-flight for as long as it runs.
            let _ = &in_flight;
            let update = update.and_then(|update| size::check_answer(update, limit));
            match &update {
                Ok(QueryUpdate {
                    kind: Some(scatter_proto::v1::query_update::Kind::Done(_)),
                    ..
                }) => metrics.record_request(Code::Ok, class),
                Err(error) => metrics.record_request(error.code(), class),
                Ok(_) => {}
            }
            update.map_err(Status::from)
        });
        let stream: UpdateStream = Box::pin(updates);
        tagged(&id, Ok(stream))
    }
}

/// Counts a request in the in-flight gauge until dropped, so a request the
/// client cancels is counted out too.
struct InFlight(Gauge);

impl InFlight {
    fn enter(gauge: &Gauge) -> Self {
        gauge.add(1);
        Self(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}
