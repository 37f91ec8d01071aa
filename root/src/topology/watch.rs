//! Health-driven membership: the root watches each replica's gRPC health
//! stream (`grpc.health.v1.Health/Watch`), so a leaf that reports
//! NOT_SERVING — it was sent SIGTERM and drains, or is not ready yet —
//! leaves rotation the moment it says so, before discovery re-resolves its
//! name or a call fails there; and comes back the moment it says SERVING.
//!
//! Only what the leaf says counts: a watch that cannot connect, or breaks,
//! changes nothing (failed calls and probation deal with a dead leaf), and
//! a leaf without `Watch` (UNIMPLEMENTED) is simply not watched. A broken
//! watch is opened again after a backoff, so a leaf that restarts at the
//! same address is heard again.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::Replica;
use super::health::Checked;

/// The first wait before a broken watch is opened again.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts watching `replica`'s health over `channel`. The watch ends when
/// the replica is dropped (it leaves the tree).
pub fn start(replica: &Arc<Replica>, channel: Channel) {
    let task = tokio::spawn(follow(Arc::downgrade(replica), channel));
    replica.stats.health.hold_watch(task.abort_handle());
}

/// Follows the health stream until the replica is gone or has no `Watch`.
async fn follow(replica: Weak<Replica>, channel: Channel) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let request = HealthCheckRequest {
            service: String::new(),
        };
        match HealthClient::new(channel.clone()).watch(request).await {
            Ok(stream) => {
                let mut stream = stream.into_inner();
                while let Ok(Some(update)) = stream.message().await {
                    let Some(replica) = replica.upgrade() else {
                        return;
                    };
                    apply(&replica, update.status);
                    backoff = FIRST_BACKOFF;
                }
            }
            Err(status) if status.code() == Code::Unimplemented => return,
            Err(_) => {}
        }
        if replica.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Takes one status the replica reported.
fn apply(replica: &Replica, status: i32) {
    let health = &replica.stats.health;
    let serving = status == ServingStatus::Serving as i32;
    if serving != health.takes_work() {
        tracing::info!(
            replica = %replica.addr,
            status = ServingStatus::try_from(status).map_or("UNKNOWN", |s| s.as_str_name()),
            "{}",
            if serving { "back in rotation" } else { "out of rotation" }
        );
    }
    health.set_takes_work(serving);
    health.set_checked(if serving {
        Checked::Serving
    } else {
        Checked::NotServing
    });
}
