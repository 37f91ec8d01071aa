//! Progressive answers: the request runs on a task of its own and sends an
//! update each time a shard ends, then the final answer. When the client
//! drops the stream the task stops at once, and dropping the request's
//! gather cancels every leaf call still out.

use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use scatter_proto::v1::query_update::Kind;
use scatter_proto::v1::{QueryRequest, QueryUpdate};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::{Engine, request};
use crate::admission::Permit;
use crate::error::QueryError;
use crate::fanout::{LeafService, RequestId};

/// Starts `request`, admitted with `permit` (held until the last update is
/// sent), and returns its updates; at most one per shard and a last one,
/// so the channel is bounded by the tree's size.
pub fn start<S>(
    engine: Arc<Engine<S>>,
    request: QueryRequest,
    timeout: Option<Duration>,
    permit: Permit,
    id: RequestId,
) -> impl Stream<Item = Result<QueryUpdate, QueryError>> + Send + 'static
where
    S: LeafService,
{
    let (updates, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let progress = updates.clone();
        tokio::select! {
            result = request::run(&engine, request, timeout, Some(&progress), &id) => {
                engine.settle(permit, &result);
                let last = result.map(|response| QueryUpdate {
                    request_id: response.request_id,
                    kind: Some(Kind::Done(response)),
                });
                let _ = updates.send(last);
            }
            // The client went away: dropping the request cancels its leaf calls.
            () = updates.closed() => {}
        }
    });
    UnboundedReceiverStream::new(receiver)
}
