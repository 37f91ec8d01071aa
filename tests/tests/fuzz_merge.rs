//! The merge SDK's stream handling, fuzzed against a real test merge: any
//! sequence of messages (begin, partials, empty ones, in any order, many
//! of them) gets the merged partials in the order sent or INVALID_ARGUMENT
//! with a message, on `Merge` and on `MergeProgressive`. Any bytes as
//! frames get the same, or, for a frame that is not protobuf, gRPC's own
//! INTERNAL "failed to decode Protobuf message" (the merge's only client is
//! the root, which never sends one). The merge keeps serving throughout.

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message as _;
use scatter_proto::v1::merge_client::MergeClient;
use scatter_proto::v1::merge_message::Kind;
use scatter_proto::v1::merge_update::Kind as UpdateKind;
use scatter_proto::v1::{MergeBegin, MergeMessage, MergeResponse, Payload, ShardPartial};
use scatter_tests::fuzz::{check, runtime};
use scatter_tests::tree::test_merge;
use scatter_tests::{MergedResult, Server, raw};
use tonic::transport::Channel;
use tonic::{Code, Status};

const CASES: u32 = 64;

fn payload() -> impl Strategy<Value = Option<Payload>> {
    let payload = ("\\PC{0,8}", proptest::collection::vec(any::<u8>(), 0..32))
        .prop_map(|(content_type, body)| Payload::new(content_type, body));
    proptest::option::of(payload)
}

fn begin() -> impl Strategy<Value = MergeMessage> {
    (payload(), any::<u32>(), any::<u64>(), any::<u64>()).prop_map(
        |(request, shard_count, request_id, deadline_ms)| MergeMessage {
            kind: Some(Kind::Begin(MergeBegin {
                request,
                shard_count,
                request_id,
                deadline_ms,
            })),
        },
    )
}

fn partial() -> impl Strategy<Value = MergeMessage> {
    (any::<u32>(), payload()).prop_map(|(shard, partial)| MergeMessage {
        kind: Some(Kind::Partial(ShardPartial { shard, partial })),
    })
}

/// Mostly well-formed streams (a begin, then up to 64 partials), and
/// streams of any messages in any order, empty ones included.
fn stream() -> impl Strategy<Value = Vec<MergeMessage>> {
    let any_message = prop_oneof![begin(), partial(), Just(MergeMessage { kind: None })];
    prop_oneof![
        (begin(), proptest::collection::vec(partial(), 0..64))
            .prop_map(|(begin, partials)| { std::iter::once(begin).chain(partials).collect() }),
        proptest::collection::vec(any_message, 0..8),
    ]
}

/// What a merge must answer.
#[derive(Debug)]
enum Want {
    /// The result, with these shards' partials in this order.
    Merged(Vec<u32>),
    /// INVALID_ARGUMENT: the stream breaks the contract.
    Invalid,
    /// INTERNAL from gRPC itself: a frame is not protobuf.
    Undecodable,
}

impl Want {
    fn of(stream: &[MergeMessage]) -> Self {
        expected(stream).map_or(Self::Invalid, Self::Merged)
    }
}

/// The shards a merge of `stream` must report in order, or `None` when the
/// stream breaks the contract: no `begin` first, a second `begin`, or a
/// message with no content.
fn expected(stream: &[MergeMessage]) -> Option<Vec<u32>> {
    let (first, rest) = stream.split_first()?;
    if !matches!(first.kind, Some(Kind::Begin(_))) {
        return None;
    }
    rest.iter()
        .map(|message| match &message.kind {
            Some(Kind::Partial(partial)) => Some(partial.shard),
            _ => None,
        })
        .collect()
}

/// Checks a merge's outcome against `want`.
fn judge(outcome: Result<Payload, Status>, want: &Want) -> Result<(), TestCaseError> {
    match (outcome, want) {
        (Ok(result), Want::Merged(shards)) => {
            let merged = MergedResult::from_payload(&result);
            let got: Vec<u32> = merged.partials.iter().map(|p| p.shard).collect();
            prop_assert_eq!(&got, shards);
        }
        (Ok(result), _) => prop_assert!(false, "merged a malformed stream: {result:?}"),
        (Err(status), Want::Merged(_)) => {
            prop_assert!(false, "a well-formed stream failed: {status:?}");
        }
        (Err(status), Want::Invalid) => {
            prop_assert_eq!(status.code(), Code::InvalidArgument, "{:?}", status);
            prop_assert!(!status.message().is_empty(), "no message: {status:?}");
        }
        (Err(status), Want::Undecodable) => {
            prop_assert_eq!(status.code(), Code::Internal, "{:?}", status);
            prop_assert!(
                status
                    .message()
                    .contains("failed to decode Protobuf message"),
                "{status:?}"
            );
        }
    }
    Ok(())
}

/// What a merge must answer for `frames`, read in order as the merge reads
/// them: the first frame that does not decode ends the stream, unless the
/// frames before it already broke the contract.
fn want_for_frames(frames: &[Vec<u8>]) -> Want {
    let mut stream = Vec::new();
    for frame in frames {
        match MergeMessage::decode(frame.as_slice()) {
            Ok(message) => stream.push(message),
            Err(_) if !stream.is_empty() && expected(&stream).is_none() => return Want::Invalid,
            Err(_) => return Want::Undecodable,
        }
    }
    Want::of(&stream)
}

/// `MergeProgressive` read to its end: the result, or the status it ended with.
async fn progressive(
    client: &mut MergeClient<Channel>,
    stream: Vec<MergeMessage>,
) -> Result<Payload, Status> {
    let mut updates = client
        .merge_progressive(tokio_stream::iter(stream))
        .await?
        .into_inner();
    let mut result = None;
    while let Some(update) = updates.message().await? {
        if let Some(UpdateKind::Result(payload)) = update.kind {
            result = Some(payload);
        }
    }
    result.ok_or_else(|| Status::internal("the stream ended without a result"))
}

async fn assert_still_merges(merge: &mut Server) {
    assert!(merge.process.exited().is_none(), "the merge exited");
    let mut client = MergeClient::new(merge.channel().await);
    let stream = vec![
        MergeMessage {
            kind: Some(Kind::Begin(MergeBegin::default())),
        },
        MergeMessage {
            kind: Some(Kind::Partial(ShardPartial::default())),
        },
    ];
    let merged = client.merge(tokio_stream::iter(stream)).await;
    let result = merged.expect("a plain merge").into_inner().result;
    assert_eq!(
        MergedResult::from_payload(&result.unwrap_or_default()).shards(),
        [0]
    );
}

#[test]
fn any_message_sequence_is_merged_in_order_or_refused_as_invalid_argument() {
    let runtime = runtime();
    let mut merge = runtime.block_on(test_merge());
    let channel = runtime.block_on(merge.channel());
    check(
        &runtime,
        CASES,
        stream(),
        async |stream: Vec<MergeMessage>| {
            let want = Want::of(&stream);
            let mut client = MergeClient::new(channel.clone());
            let unary = client
                .merge(tokio_stream::iter(stream.clone()))
                .await
                .map(|r| r.into_inner().result.unwrap_or_default());
            judge(unary, &want)?;
            judge(progressive(&mut client, stream).await, &want)
        },
    );
    runtime.block_on(assert_still_merges(&mut merge));
}

#[test]
fn any_bytes_as_merge_frames_are_merged_or_refused_with_a_clear_status() {
    let runtime = runtime();
    let mut merge = runtime.block_on(test_merge());
    let channel = runtime.block_on(merge.channel());
    let frames = proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..48), 0..6);
    check(&runtime, CASES, frames, async |frames: Vec<Vec<u8>>| {
        let want = want_for_frames(&frames);
        let frames = frames.into_iter().map(Bytes::from).collect();
        let merged = raw::call_streaming(channel.clone(), "/scatter.v1.Merge/Merge", frames).await;
        let merged = merged.map(|bytes| {
            MergeResponse::decode(bytes)
                .expect("a MergeResponse")
                .result
                .unwrap_or_default()
        });
        judge(merged, &want)
    });
    runtime.block_on(assert_still_merges(&mut merge));
}
