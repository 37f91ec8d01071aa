//! The leaf of the end-to-end tests. What it does for a call — wait, fail,
//! exit or answer — is chosen by the request payload, a [`Script`], per shard and
//! replica; its partial says who answered. With `--garbage` it answers every
//! call with a well-framed gRPC message that is not a `LeafResponse`.
//!
//! `test-leaf --listen ADDR --shard S --shard-count N [--replica R] [--garbage]`

use scatter_leaf::{Flag, Flags, Leaf, LeafOptions, Payload, ShardRequest, Status};
use scatter_proto::v1::{LeafResponse, LoadReport};
use scatter_tests::script::sized_payload;
use scatter_tests::{LeafPartial, Script};

/// The test leaf's own flags, besides the SDK's.
const TEST_FLAGS: &[Flag] = &[
    Flag {
        name: "replica",
        env: "SCATTER_REPLICA",
        value: Some("R"),
        help: "its replica number within the shard, for \"S.R\" script keys [default: 0]",
    },
    Flag {
        name: "unary-only",
        env: "SCATTER_TEST_UNARY_ONLY",
        value: None,
        help: "serve scatter.v1.Leaf as it was before AnswerStream: that method is UNIMPLEMENTED",
    },
    Flag {
        name: "garbage",
        env: "SCATTER_TEST_GARBAGE",
        value: None,
        help: "answer every call with bytes that are not a LeafResponse",
    },
];

/// Answers as the request's script says.
struct ScriptedLeaf {
    shard: u32,
    replica: u32,
}

impl Leaf for ScriptedLeaf {
    async fn answer(&self, request: ShardRequest) -> Result<Payload, Status> {
        let script = Script::from_payload(&request.payload);
        let call = script.call(self.shard, self.replica);
        if let Some(expected) = call.slow_hint {
            let expected = (!expected.is_zero()).then_some(expected);
            request.hints.slow(expected, "the script says so");
        }
        if let Some(delay) = call.delay {
            // Dropped here when the root cancels the call.
            tokio::time::sleep(delay).await;
        }
        if let Some(code) = call.exit {
            eprintln!("test-leaf: exiting ({code}) as the request's script says");
            std::process::exit(code);
        }
        if let Some(status) = call.failure {
            return Err(status);
        }
        if let Some(bytes) = call.partial_bytes {
            // The SDK adds its load report (this call alone running) to
            // the response whose size the script sets.
            let wrap = |partial| LeafResponse {
                partial: Some(partial),
                load: Some(LoadReport {
                    in_flight: 1,
                    queued: 0,
                }),
            };
            return Ok(sized_payload(bytes, wrap));
        }
        Ok(LeafPartial {
            shard: request.shard,
            replica: self.replica,
            attempt: request.attempt,
            text: script.partial,
        }
        .payload())
    }
}

#[tokio::main]
async fn main() -> Result<(), scatter_leaf::Error> {
    scatter_management::init_logging();
    let flags = Flags::from_env(&[LeafOptions::FLAGS, TEST_FLAGS]);
    let options = LeafOptions::from_flags(&flags)?;
    if flags.is_set("garbage") {
        return garbage::serve(options).await;
    }
    let replica = flags.parse("replica", 0)?;
    let leaf = ScriptedLeaf {
        shard: options.shard,
        replica,
    };
    if flags.is_set("unary-only") {
        return unary_only::serve(leaf, options).await;
    }
    scatter_leaf::serve(leaf, options).await
}

/// A `scatter.v1.Leaf` that answers every method with the bytes of a
/// `LeafInfo`: field 1 is a varint there where a `LeafResponse` has a
/// message, so the caller cannot decode it.
mod garbage {
    use std::convert::Infallible;
    use std::future::{Ready, ready};
    use std::task::{Context, Poll};

    use scatter_leaf::{LeafOptions, Process, Status};
    use scatter_proto::v1::{LeafInfo, LeafRequest};
    use tonic::body::Body as TonicBody;
    use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
    use tonic::server::{Grpc, NamedService, UnaryService};
    use tonic::service::Routes;
    use tonic_prost::ProstCodec;

    const SERVICE: &str = "scatter.v1.Leaf";

    pub(crate) async fn serve(options: LeafOptions) -> Result<(), scatter_leaf::Error> {
        let listener = scatter_management::bind(options.listen).await?;
        let process = Process::new("leaf", &[SERVICE]);
        scatter_management::serve(process, Routes::new(Garbage), listener, options.serve).await
    }

    #[derive(Clone)]
    struct Garbage;

    impl NamedService for Garbage {
        const NAME: &'static str = SERVICE;
    }

    impl<B> Service<http::Request<B>> for Garbage
    where
        B: Body + Send + 'static,
        B::Error: Into<StdError> + Send + 'static,
    {
        type Response = http::Response<TonicBody>;
        type Error = Infallible;
        type Future = BoxFuture<Self::Response, Self::Error>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<B>) -> Self::Future {
            Box::pin(async move {
                let mut grpc = Grpc::new(ProstCodec::<LeafInfo, LeafRequest>::default());
                Ok(grpc.unary(NotALeafResponse, request).await)
            })
        }
    }

    struct NotALeafResponse;

    impl UnaryService<LeafRequest> for NotALeafResponse {
        type Response = LeafInfo;
        type Future = Ready<Result<tonic::Response<LeafInfo>, Status>>;

        fn call(&mut self, _: tonic::Request<LeafRequest>) -> Self::Future {
            ready(Ok(tonic::Response::new(LeafInfo {
                shard: 7,
                shard_count: 7,
            })))
        }
    }
}

/// The SDK's leaf service without `AnswerStream`, as a leaf written against
/// the contract before it was added (or in a language whose leaf has not
/// added it) serves it: the root must fall back to `Answer`.
mod unary_only {
    use scatter_leaf::{Leaf, LeafOptions, LeafService, Process, Status};
    use scatter_proto::v1::leaf_server::{self, LeafServer};
    use scatter_proto::v1::{LeafInfo, LeafInfoRequest, LeafRequest, LeafResponse, LeafUpdate};
    use tonic::service::Routes;
    use tonic::{Request, Response};

    const SERVICE: &str = "scatter.v1.Leaf";

    pub(crate) async fn serve<L: Leaf>(
        leaf: L,
        options: LeafOptions,
    ) -> Result<(), scatter_leaf::Error> {
        let listener = scatter_management::bind(options.listen).await?;
        let process = Process::new("leaf", &[SERVICE]);
        let service = UnaryOnly(LeafService::new(leaf, &options, &process));
        let routes = Routes::new(LeafServer::new(service));
        scatter_management::serve(process, routes, listener, options.serve).await
    }

    struct UnaryOnly<L>(LeafService<L>);

    #[tonic::async_trait]
    impl<L: Leaf> leaf_server::Leaf for UnaryOnly<L> {
        async fn answer(
            &self,
            request: Request<LeafRequest>,
        ) -> Result<Response<LeafResponse>, Status> {
            self.0.answer(request).await
        }

        type AnswerStreamStream = futures::stream::Empty<Result<LeafUpdate, Status>>;

        async fn answer_stream(
            &self,
            _: Request<LeafRequest>,
        ) -> Result<Response<Self::AnswerStreamStream>, Status> {
            Err(Status::unimplemented(
                "this leaf predates Leaf/AnswerStream",
            ))
        }

        async fn info(
            &self,
            request: Request<LeafInfoRequest>,
        ) -> Result<Response<LeafInfo>, Status> {
            self.0.info(request).await
        }
    }
}
