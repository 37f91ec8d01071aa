//! Every Scatter process serves gRPC server reflection, `v1` and `v1alpha`,
//! listing exactly the services it answers — so a client that knows nothing
//! but the root's address (here grpcio-reflection, which speaks only
//! `v1alpha`) can find `scatter.v1.Root` and query it.
//!
//! The Python test needs grpcio and grpcio-reflection (see `tests/src/python.rs`
//! for which interpreter); where they are missing it is skipped visibly, and
//! fails where Python is required.

use http::uri::PathAndQuery;
use scatter_tests::{Server, Tree, python};
use tonic::Request;
use tonic_prost::ProstCodec;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

/// What every process lists besides its own service.
const COMMON: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The services `server` lists over reflection `version` (`v1` or
/// `v1alpha`), sorted. The two versions share their wire format, so the
/// `v1` messages read both.
async fn listed(server: &Server, version: &str) -> Vec<String> {
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.expect("the connection is ready");
    let path = format!("/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo");
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let codec = ProstCodec::<ServerReflectionRequest, ServerReflectionResponse>::default();
    let response = grpc
        .unary(
            Request::new(request),
            PathAndQuery::try_from(path).expect("a valid path"),
            codec,
        )
        .await
        .unwrap_or_else(|status| panic!("reflection {version}: {status:?}"))
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("reflection {version} did not list services: {response:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort_unstable();
    names
}

/// `own` and the services every process lists, sorted.
fn with_common(own: &str) -> Vec<String> {
    let mut names: Vec<String> = COMMON
        .iter()
        .chain([&own])
        .map(|s| (*s).to_owned())
        .collect();
    names.sort_unstable();
    names
}

#[tokio::test]
async fn root_leaf_and_merge_list_only_the_services_they_answer_on_v1_and_v1alpha() {
    let tree = Tree::start(1, &[]).await;
    let processes = [
        (&tree.root.server, "scatter.v1.Root"),
        (&tree.leaves[0], "scatter.v1.Leaf"),
        (&tree.merge, "scatter.v1.Merge"),
    ];
    for (server, own) in processes {
        for version in ["v1", "v1alpha"] {
            assert_eq!(
                listed(server, version).await,
                with_common(own),
                "{own} {version}"
            );
        }
    }
}

#[tokio::test]
async fn python_client_knowing_only_the_address_finds_the_root_by_reflection_and_queries_it() {
    if !python::ready(&["grpc", "grpc_reflection"]) {
        return;
    }
    let tree = Tree::start(2, &[]).await;
    let addr = tree.root.server.addr().to_string();
    let script = python::example("python-reflection", "query.py");
    let stdout = python::run(&script, &["--addr", &addr, "hello", "world"]).await;

    let services: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("service: "))
        .collect();
    assert_eq!(services, with_common("scatter.v1.Root"), "{stdout}");
    let coverage = stdout.lines().find(|line| line.starts_with("coverage: "));
    assert_eq!(
        coverage,
        Some("coverage: 2/2 answered, 0 failed, 0 timed out, 0 skipped"),
        "{stdout}"
    );
}
