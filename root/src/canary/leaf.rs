//! The canary's leaf call: the request's leaf stack, watched. A call whose
//! connection broke (the leaf died, most likely of this payload) is noted
//! as the canary's [`Death`], and every later call of the canary is
//! refused here, before any leaf: the shard's fast retry would otherwise
//! hand the same payload to a second replica and kill it too. A leaf that
//! answers an error of its own is alive, and its shard retries as always.

use std::sync::{Arc, OnceLock};

use scatter_proto::v1::Payload;
use tonic::Status;
use tower::{Service, ServiceExt as _};

use crate::call_status::is_broken_connection;
use crate::fanout::LeafCall;

/// What the root saw of a canary's leaf dying.
#[derive(Clone, Debug)]
pub struct Death {
    /// The shard called.
    pub shard: u32,
    /// The replica whose connection broke.
    pub replica: String,
    /// The call's status message.
    pub cause: String,
}

/// `leaf`, noting in `death` the first call whose connection broke and
/// refusing every call after it with FAILED_PRECONDITION (not retried).
pub fn watched<S>(
    leaf: &S,
    death: Arc<OnceLock<Death>>,
) -> impl Service<LeafCall, Response = Payload, Error = Status, Future: Send> + Clone + use<S>
where
    S: Service<LeafCall, Response = Payload, Error = Status, Future: Send> + Clone + Send,
{
    let leaf = leaf.clone();
    tower::service_fn(move |call: LeafCall| {
        let leaf = leaf.clone();
        let death = Arc::clone(&death);
        async move {
            if let Some(dead) = death.get() {
                return Err(Status::failed_precondition(format!(
                    "not sent: this payload's canary broke the connection of {} a moment ago",
                    dead.replica
                )));
            }
            let shard = call.request.shard;
            let replica = call.replica.addr.clone();
            let result = leaf.oneshot(call).await;
            if let Err(status) = &result
                && is_broken_connection(status)
            {
                let _ = death.set(Death {
                    shard,
                    replica,
                    cause: status.message().to_owned(),
                });
            }
            result
        }
    })
}
