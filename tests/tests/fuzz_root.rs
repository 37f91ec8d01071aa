//! The root's request handling, fuzzed against a real root over two test
//! leaves: any bytes as a `Query` body, and any well-formed `QueryRequest`
//! (any payload, policy values out of range, NaN, unknown priorities, tiny
//! deadlines), get an answer or the status the input calls for, with a
//! message, at once and progressively; the root keeps serving throughout.

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message as _;
use scatter_proto::v1::root_client::RootClient;
use scatter_proto::v1::{HedgePolicy, Payload, Policy, QueryRequest, QueryResponse};
use scatter_tests::fuzz::{check, runtime};
use scatter_tests::root::{StreamEnd, assert_full_coverage, done};
use scatter_tests::{Query, Script, Tree, raw};
use tonic::transport::Channel;
use tonic::{Code, Status};

const SHARDS: u32 = 2;
const CASES: u32 = 64;
/// A fixed concurrency limit and an ample default deadline: what is judged
/// is each request's own fields, not the machine's load.
const FLAGS: &[&str] = &["--admission", "fixed", "--default-deadline-ms", "10000"];

/// Floats with the edges a policy meets: NaN, infinities, just outside the range.
fn fraction() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.0..=1.0f64,
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(-0.0),
        Just(1.000_001),
        Just(100.0),
    ]
}

fn payload() -> impl Strategy<Value = Option<Payload>> {
    let payload = ("\\PC{0,12}", proptest::collection::vec(any::<u8>(), 0..64))
        .prop_map(|(content_type, body)| Payload::new(content_type, body));
    proptest::option::weighted(0.85, payload)
}

fn policy() -> impl Strategy<Value = Option<Policy>> {
    let hedge = proptest::option::of(
        (
            any::<bool>(),
            fraction().prop_map(|f| f * 100.0),
            any::<bool>(),
        )
            .prop_map(|(disabled, percentile, tied)| HedgePolicy {
                disabled,
                percentile,
                tied,
            }),
    );
    // No fingerprint, a name, or one too long to be a name.
    let fingerprint = prop_oneof![Just(String::new()), "[a-z]{1,8}", Just("x".repeat(257)),];
    let policy = (
        any::<bool>(),
        fraction(),
        hedge,
        any::<i32>(),
        fingerprint,
        any::<i32>(),
    )
        .prop_map(
            |(require_all_shards, min_coverage, hedge, priority, fingerprint, canary)| Policy {
                require_all_shards,
                min_coverage,
                hedge,
                priority,
                fingerprint,
                canary,
            },
        );
    proptest::option::of(policy)
}

/// No deadline (the root's default), one that leaves no time, or ample.
fn deadline() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        (0u64..20).prop_map(|ms| Some(Duration::from_millis(ms))),
        Just(Some(Duration::from_secs(5))),
    ]
}

/// The code a root must answer `request` with when time is ample: the
/// checks the contract promises, in the order they are documented.
fn expected(request: &QueryRequest) -> Code {
    let policy = request.policy.clone().unwrap_or_default();
    let bad_percentile = policy
        .hedge
        .is_some_and(|h| h.percentile != 0.0 && !(h.percentile > 0.0 && h.percentile < 100.0));
    let bad_fingerprint = policy.fingerprint.len() > 256;
    if request.payload.is_none()
        || !(0.0..=1.0).contains(&policy.min_coverage)
        || bad_percentile
        || bad_fingerprint
    {
        Code::InvalidArgument
    } else {
        Code::Ok
    }
}

/// Checks one outcome: the expected code (or, when the deadline left no
/// time, a deadline or coverage failure), a message on every error, and
/// full coverage on every answer.
fn judge(
    outcome: Result<&QueryResponse, &Status>,
    want: Code,
    short_deadline: bool,
) -> Result<(), TestCaseError> {
    match outcome {
        Ok(response) if want == Code::Ok => {
            if !short_deadline {
                assert_full_coverage(response, SHARDS);
            }
        }
        Ok(response) => prop_assert!(false, "answered {response:?}, wanted {want:?}"),
        Err(status) => {
            // Out of time: the root's DEADLINE_EXCEEDED, its coverage
            // failure, or the client's own timer (tonic: CANCELLED, "Timeout
            // expired") firing first.
            let late = short_deadline
                && matches!(
                    status.code(),
                    Code::DeadlineExceeded | Code::Unavailable | Code::Cancelled
                );
            prop_assert!(status.code() == want || late, "{status:?}, wanted {want:?}");
            prop_assert!(!status.message().is_empty(), "no message: {status:?}");
        }
    }
    Ok(())
}

/// Asserts the root still runs and answers a plain query in full.
async fn assert_still_serves(tree: &mut Tree) {
    assert!(
        tree.root.server.process.exited().is_none(),
        "the root exited"
    );
    let answer = tree.root.query(Query::script(&Script::new())).await;
    assert_full_coverage(&answer.expect("a plain query is answered"), SHARDS);
}

#[test]
fn any_bytes_as_a_query_body_get_an_answer_or_invalid_argument() {
    let runtime = runtime();
    let mut tree = runtime.block_on(Tree::start(SHARDS, FLAGS));
    let channel: Channel = runtime.block_on(tree.root.server.channel());
    let bodies = proptest::collection::vec(any::<u8>(), 0..256);
    check(&runtime, CASES, bodies, async |body: Vec<u8>| {
        let want = QueryRequest::decode(body.as_slice())
            .map_or(Code::InvalidArgument, |request| expected(&request));
        let path = "/scatter.v1.Root/Query";
        let answer = raw::call(channel.clone(), path, Bytes::from(body)).await;
        let answer = answer.map(|bytes| QueryResponse::decode(bytes).expect("a QueryResponse"));
        judge(answer.as_ref(), want, false)
    });
    runtime.block_on(assert_still_serves(&mut tree));
}

#[test]
fn any_query_request_gets_an_answer_or_a_clear_status_at_once_and_progressively() {
    let runtime = runtime();
    let mut tree = runtime.block_on(Tree::start(SHARDS, FLAGS));
    let channel: Channel = runtime.block_on(tree.root.server.channel());
    let requests = (payload(), policy(), deadline());
    check(
        &runtime,
        CASES,
        requests,
        async |(payload, policy, deadline)| {
            let request = QueryRequest { payload, policy };
            let want = expected(&request);
            let short = deadline.is_some_and(|d| d < Duration::from_secs(1));
            let call = || {
                let mut call = tonic::Request::new(request.clone());
                if let Some(deadline) = deadline {
                    call.set_timeout(deadline);
                }
                call
            };
            let mut root = RootClient::new(channel.clone());
            let unary = root.query(call()).await.map(tonic::Response::into_inner);
            judge(unary.as_ref(), want, short)?;

            let stream = match root.query_stream(call()).await {
                Ok(updates) => StreamEnd::read(updates.into_inner()).await,
                Err(status) => StreamEnd {
                    updates: Vec::new(),
                    end: Err(status),
                },
            };
            match (&stream.end, stream.updates.last().and_then(done)) {
                (Ok(()), Some(answer)) => judge(Ok(answer), want, short),
                (Ok(()), None) => Err(TestCaseError::fail("the stream ended without `done`")),
                (Err(status), _) => judge(Err(status), want, short),
            }
        },
    );
    runtime.block_on(assert_still_serves(&mut tree));
}
