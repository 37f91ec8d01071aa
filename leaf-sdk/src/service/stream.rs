//! The response of an `AnswerStream` call: the updates the call sends while
//! it works (started, slow), then its answer or its failure, then the end.
//! The work runs inside the stream, so a root that resets the call drops
//! the stream and with it the leaf's work, as for `Answer`. Every update
//! said before the work ended is sent before its outcome.
//!
//! The response begins only when the call has something to say: a call
//! that says nothing before its answer goes out as one write (headers,
//! answer and trailers together, as `Answer`'s would) rather than headers
//! at once and the answer later, which cost the root a second read and
//! wake-up per call; and a call that fails first fails with a plain gRPC
//! status. What a leaf says early (started, slow) still goes at once.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt as _, stream};
use scatter_proto::v1::{LeafResponse, LeafUpdate, leaf_update};
use tokio::sync::mpsc::UnboundedReceiver;
use tonic::Status;

/// Interleaves the updates `heard` with the outcome of `work`.
pub(super) fn with_updates<F>(heard: UnboundedReceiver<LeafUpdate>, work: Pin<Box<F>>) -> Updates<F>
where
    F: Future<Output = Result<LeafResponse, Status>>,
{
    Updates {
        heard,
        work: Some(work),
        outcome: None,
        ended: false,
    }
}

/// Waits for the first thing `updates` has to say, then gives the stream
/// that begins with it; the failure itself, when the call failed first.
pub(super) async fn from_first_said<F>(
    mut updates: Updates<F>,
) -> Result<impl Stream<Item = Result<LeafUpdate, Status>>, Status>
where
    F: Future<Output = Result<LeafResponse, Status>>,
{
    match updates.next().await {
        Some(Ok(first)) => Ok(stream::iter([Ok(first)]).chain(updates)),
        Some(Err(status)) => Err(status),
        // `Updates` ends only after its outcome.
        None => Err(Status::internal(
            "the leaf's AnswerStream ended before its answer",
        )),
    }
}

/// See [`with_updates`].
pub(super) struct Updates<F> {
    heard: UnboundedReceiver<LeafUpdate>,
    /// `None` once the work has ended.
    work: Option<Pin<Box<F>>>,
    /// The work's outcome, held until the updates said before it are sent.
    outcome: Option<Result<LeafResponse, Status>>,
    /// Whether the outcome was sent: the stream is over.
    ended: bool,
}

impl<F> Stream for Updates<F>
where
    F: Future<Output = Result<LeafResponse, Status>>,
{
    type Item = Result<LeafUpdate, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(work) = self.work.as_mut()
            && let Poll::Ready(outcome) = work.as_mut().poll(cx)
        {
            self.work = None;
            self.outcome = Some(outcome);
        }
        // Updates first, in the order they were said; the outcome after
        // the last of them.
        if let Ok(update) = self.heard.try_recv() {
            return Poll::Ready(Some(Ok(update)));
        }
        if let Some(outcome) = self.outcome.take() {
            self.ended = true;
            return Poll::Ready(Some(outcome.map(|answer| LeafUpdate {
                kind: Some(leaf_update::Kind::Answer(answer)),
            })));
        }
        match self.heard.poll_recv(cx) {
            Poll::Ready(Some(update)) => Poll::Ready(Some(Ok(update))),
            // Every sender is with the work, which is still running.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}
