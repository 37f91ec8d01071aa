//! gRPC server reflection, `grpc.reflection.v1` and `v1alpha`, listing only
//! the services this process answers.
//!
//! Reflection lets a client that knows nothing but the address (grpcurl,
//! grpcui, Postman, evans, grpcio's reflection client) find the API. Many of
//! those clients still speak only `v1alpha`, so both are served. Only what
//! the process answers is listed: a name listed but not served would answer
//! UNIMPLEMENTED to a client that trusted the list.

use tonic::service::Routes;
use tonic_health::pb::health_server::SERVICE_NAME as HEALTH;
use tonic_reflection::pb::v1::server_reflection_server::SERVICE_NAME as REFLECTION_V1;
use tonic_reflection::pb::v1alpha::server_reflection_server::SERVICE_NAME as REFLECTION_V1ALPHA;
use tonic_reflection::server::Builder;

/// Adds both reflection services to `routes`, listing `services` (names
/// from `scatter.v1`), gRPC health and reflection itself.
pub(crate) fn add_reflection<'a>(
    routes: Routes,
    services: impl Iterator<Item = &'a str> + Clone,
) -> Routes {
    const VALID: &str = "the embedded descriptor sets are valid";
    let v1 = builder(services.clone()).build_v1().expect(VALID);
    let v1alpha = builder(services).build_v1alpha().expect(VALID);
    routes.add_service(v1).add_service(v1alpha)
}

/// A reflection builder knowing every file a listed service needs, each
/// version of reflection knowing the other's descriptors too.
fn builder<'a>(services: impl Iterator<Item = &'a str>) -> Builder<'static> {
    let builder = Builder::configure()
        .include_reflection_service(false)
        .register_encoded_file_descriptor_set(scatter_proto::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET);
    services
        .chain([HEALTH, REFLECTION_V1, REFLECTION_V1ALPHA])
        .fold(builder, Builder::with_service_name)
}
