//! The response of an `AnswerStream` call: the updates the call sends while
//! it works (started, slow), then its answer or its failure, then the end.
//! The work runs inside the stream, so a root that resets the call drops
//! the stream and with it the leaf's work, as for `Answer`.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
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
    }
}

/// See [`with_updates`].
pub(super) struct Updates<F> {
    heard: UnboundedReceiver<LeafUpdate>,
    /// `None` once the outcome is sent.
    work: Option<Pin<Box<F>>>,
}

impl<F> Stream for Updates<F>
where
    F: Future<Output = Result<LeafResponse, Status>>,
{
    type Item = Result<LeafUpdate, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(work) = self.work.as_mut() else {
            return Poll::Ready(None);
        };
        // The work's outcome first: an update said before it is of no use
        // once the answer is known, and polling the work is what makes
        // updates in the first place.
        if let Poll::Ready(outcome) = work.as_mut().poll(cx) {
            self.work = None;
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
