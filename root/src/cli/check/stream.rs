//! The leaf's optional `AnswerStream`: a leaf that does not implement it
//! passes (the root calls `Answer` instead); one that does must end every
//! successful stream with exactly one answer, last, and — asked with
//! `report_start` — say `started` before it, or every tied call to it would
//! be copied for nothing.

use std::time::{Duration, Instant};

use scatter_proto::v1::leaf_update::Kind;
use scatter_proto::v1::{LeafRequest, LeafUpdate};
use tonic::Code;

use super::leaf::LeafPlan;
use super::report::Outcome;
use super::shared::DEADLINE_SLACK;
use super::wire;

/// Calls `AnswerStream` with the quick payload, asking for `started`.
pub async fn answer_stream(uri: &str, plan: &LeafPlan) -> Outcome {
    let request = LeafRequest {
        report_start: true,
        ..plan.request(&plan.payload)
    };
    let started = Instant::now();
    let streamed = wire::answer_stream(
        wire::channel(uri),
        request,
        plan.deadline,
        plan.deadline + DEADLINE_SLACK,
    )
    .await;
    match streamed {
        Err(status) if status.code() == Code::Unimplemented => Outcome::pass(
            "not implemented (optional): the root calls Answer, and never ties this leaf's calls",
        ),
        Err(status) => Outcome::fail(EXPECTED, wire::describe(&status)),
        Ok(updates) => judge(&updates, started.elapsed()),
    }
}

const EXPECTED: &str = "OK: zero or more updates (`started` among them, as report_start was \
                        set), then exactly one answer with a partial, last";

/// Whether `updates` keep the contract of a successful stream.
fn judge(updates: &[LeafUpdate], took: Duration) -> Outcome {
    let kinds: Vec<Option<&Kind>> = updates.iter().map(|u| u.kind.as_ref()).collect();
    let answers = kinds
        .iter()
        .filter(|k| matches!(k, Some(Kind::Answer(_))))
        .count();
    let Some(Some(Kind::Answer(last))) = kinds.last() else {
        return Outcome::fail(
            EXPECTED,
            format!("the stream ended with {}", describe(&kinds)),
        );
    };
    if answers != 1 {
        return Outcome::fail(EXPECTED, format!("{answers} answers: {}", describe(&kinds)));
    }
    let Some(partial) = &last.partial else {
        return Outcome::fail(EXPECTED, "the answer has no partial");
    };
    if !kinds.iter().any(|k| matches!(k, Some(Kind::Started(_)))) {
        return Outcome::fail(
            EXPECTED,
            format!(
                "no `started` before the answer ({}): a tied call to this leaf is always copied",
                describe(&kinds)
            ),
        );
    }
    let load = last.load.as_ref().map_or_else(
        || "no load report".to_owned(),
        |l| format!("load {} running, {} queued", l.in_flight, l.queued),
    );
    Outcome::pass(format!(
        "{}; {} bytes of {:?}, {load}, in {} ms",
        describe(&kinds),
        partial.body.len(),
        partial.content_type,
        took.as_millis()
    ))
}

/// The stream's messages in a few words: `started, slow, answer`.
fn describe(kinds: &[Option<&Kind>]) -> String {
    if kinds.is_empty() {
        return "no message".into();
    }
    let names: Vec<&str> = kinds
        .iter()
        .map(|k| match k {
            Some(Kind::Started(_)) => "started",
            Some(Kind::Slow(_)) => "slow",
            Some(Kind::Answer(_)) => "answer",
            None => "an empty update",
        })
        .collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use scatter_proto::v1::{LeafResponse, Payload, Started};

    use super::*;

    fn update(kind: Kind) -> LeafUpdate {
        LeafUpdate { kind: Some(kind) }
    }

    fn answer() -> Kind {
        Kind::Answer(LeafResponse {
            partial: Some(Payload::new("text/plain", "ok")),
            load: None,
        })
    }

    fn verdict(updates: &[LeafUpdate]) -> (bool, String) {
        match judge(updates, Duration::from_millis(3)) {
            Outcome::Pass { detail } => (true, detail),
            Outcome::Fail { got, .. } => (false, got),
            Outcome::Skip { why } => (false, why),
        }
    }

    #[test]
    fn started_then_one_answer_last_passes() {
        let (passed, detail) = verdict(&[
            update(Kind::Started(Started { load: None })),
            update(answer()),
        ]);
        assert!(passed, "{detail}");
        assert!(detail.starts_with("started, answer; 2 bytes"), "{detail}");
    }

    #[test]
    fn a_stream_without_an_answer_last_or_with_two_or_without_started_fails_saying_so() {
        let started = || update(Kind::Started(Started { load: None }));
        let (passed, got) = verdict(&[started()]);
        assert!(!passed && got == "the stream ended with started", "{got}");
        let (passed, got) = verdict(&[]);
        assert!(
            !passed && got == "the stream ended with no message",
            "{got}"
        );
        let (passed, got) = verdict(&[started(), update(answer()), update(answer())]);
        assert!(!passed && got.starts_with("2 answers"), "{got}");
        let (passed, got) = verdict(&[update(answer())]);
        assert!(!passed && got.starts_with("no `started`"), "{got}");
        let (passed, got) = verdict(&[started(), update(Kind::Answer(LeafResponse::default()))]);
        assert!(!passed && got == "the answer has no partial", "{got}");
    }
}
