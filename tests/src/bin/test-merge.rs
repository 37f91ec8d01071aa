//! The merge of the end-to-end tests: collects every partial, in arrival
//! order, into a JSON [`MergedResult`]; refuses a request whose [`Script`]
//! sets `merge_fail` with INTERNAL and the script's message; answers with
//! filler of the script's `result_bytes` when it sets them.
//!
//! `test-merge --listen ADDR`

use scatter_merge::{Fold, Merge, MergeBegin, MergeOptions, Payload, Status};
use scatter_proto::v1::MergeResponse;
use scatter_tests::script::sized_payload;
use scatter_tests::{MergedPartial, MergedResult, Script};

/// Starts a [`Collected`] per request.
struct Collect;

/// The partials of one request so far, and the size of filler to answer
/// with instead, when the script asks for it.
struct Collected(MergedResult, Option<usize>);

impl Merge for Collect {
    type Fold = Collected;

    fn begin(&self, begin: &MergeBegin) -> Result<Collected, Status> {
        let script = Script::from_payload(&begin.request.clone().unwrap_or_default());
        match script.merge_fail {
            Some(message) => Err(Status::internal(message)),
            None => Ok(Collected(MergedResult::default(), script.result_bytes)),
        }
    }
}

impl Fold for Collected {
    fn accept(&mut self, shard: u32, partial: Payload) -> Result<(), Status> {
        let partial = serde_json::from_slice(&partial.body).unwrap_or_else(|_| {
            serde_json::Value::String(String::from_utf8_lossy(&partial.body).into_owned())
        });
        self.0.partials.push(MergedPartial { shard, partial });
        Ok(())
    }

    fn finish(self) -> Result<Payload, Status> {
        Ok(match self.1 {
            Some(bytes) => sized_payload(bytes, |result| MergeResponse {
                result: Some(result),
            }),
            None => self.0.payload(),
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), scatter_merge::Error> {
    scatter_management::init_logging();
    scatter_merge::serve(Collect, MergeOptions::from_env()?).await
}
