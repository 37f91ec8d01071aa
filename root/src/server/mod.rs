//! The `Root` gRPC service: admission, input checks, the client's deadline,
//! then the fan-out engine; errors leave here as gRPC statuses.

mod oversize;

use std::sync::Arc;

use scatter_proto::v1::root_server::{self, RootServer};
use scatter_proto::v1::{QueryRequest, QueryResponse};
use tonic::service::{LayerExt as _, Routes};
use tonic::{Code, Request, Response, Status};

use crate::RootError;
use crate::admission::Admission;
use crate::fanout::Engine;
use oversize::OversizeLayer;

/// Bytes a request may carry beyond its payload (policy, content type, framing).
const ENVELOPE_BYTES: usize = 4096;

/// The `scatter.v1.Root` service.
pub struct RootService {
    engine: Arc<Engine>,
    admission: Admission,
}

impl RootService {
    /// A service answering with `engine`, admitting as configured.
    pub fn new(engine: Arc<Engine>) -> Self {
        let admission = Admission::new(engine.config.limits.max_concurrent_requests);
        Self { engine, admission }
    }

    /// The gRPC routes of the root: `Root` and server reflection.
    pub fn routes(self) -> Routes {
        let limit = self.engine.config.limits.max_request_bytes;
        let root = RootServer::new(self)
            .max_decoding_message_size(limit.saturating_add(ENVELOPE_BYTES))
            .max_encoding_message_size(usize::MAX);
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(scatter_proto::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("the embedded descriptor sets are valid");
        Routes::new(OversizeLayer { limit }.named_layer(root)).add_service(reflection)
    }

    async fn answer(&self, request: Request<QueryRequest>) -> Result<QueryResponse, RootError> {
        let _permit = self.admission.admit()?;
        let client_timeout = scatter_management::grpc_timeout(request.metadata());
        let query = request.into_inner();
        let size = query.payload.as_ref().map_or(0, |p| p.body.len());
        let limit = self.engine.config.limits.max_request_bytes;
        if size > limit {
            return Err(RootError::TooLarge { size, limit });
        }
        self.engine.query(query, client_timeout).await
    }
}

#[tonic::async_trait]
impl root_server::Root for RootService {
    async fn query(
        &self,
        request: Request<QueryRequest>,
    ) -> Result<Response<QueryResponse>, Status> {
        let metrics = &self.engine.metrics;
        metrics.in_flight.add(1);
        // Decremented on drop, so a request the client cancels is counted out too.
        let _in_flight = scopeguard(metrics.in_flight.clone());
        let result = self.answer(request).await;
        match result {
            Ok(response) => {
                metrics.record_request(Code::Ok);
                Ok(Response::new(response))
            }
            Err(error) => {
                let status = Status::from(error);
                metrics.record_request(status.code());
                Err(status)
            }
        }
    }
}

struct InFlightGuard(scatter_management::metrics::Gauge);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}

fn scopeguard(gauge: scatter_management::metrics::Gauge) -> InFlightGuard {
    InFlightGuard(gauge)
}
