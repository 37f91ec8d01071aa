//! `scatter-stream`: the `scatter-hedge` root queried with `QueryStream`.
//! The client notes when the updates first covered half the shards, every
//! shard but one, and when the final answer came: how much sooner a
//! progressive client can act than one that waits for the slowest shard.
//! Success is as for `Query`: the stream ends with the final answer, every
//! shard answered.

use std::net::SocketAddr;
use std::time::Instant;

use scatter_proto::v1::Coverage;
use scatter_proto::v1::query_update::Kind;
use scatter_proto::v1::root_client::RootClient;
use tonic::transport::Channel;

use super::scatter::{answered_in_full, root_client, timed_query};
use super::{CallFuture, CallSettings, Milestones, Target, describe};

/// A streaming client of one root.
pub struct ScatterStream {
    client: RootClient<Channel>,
    settings: CallSettings,
}

impl ScatterStream {
    /// Connects to the root at `addr`.
    pub async fn connect(addr: SocketAddr, settings: CallSettings) -> anyhow::Result<Self> {
        Ok(Self {
            client: root_client(addr).await?,
            settings,
        })
    }
}

impl Target for ScatterStream {
    fn call(&self, request: u64) -> CallFuture {
        let mut client = self.client.clone();
        let query = timed_query(&self.settings, request);
        Box::pin(async move {
            let mut updates = client
                .query_stream(query)
                .await
                .map_err(|s| describe(&s))?
                .into_inner();
            let mut seen = Milestones::default();
            let mut answer = None;
            // Read to the trailers: a stream that errs after its answer failed.
            while let Some(update) = updates.message().await.map_err(|s| describe(&s))? {
                let now = Instant::now();
                if answer.is_some() {
                    return Err("an update after the answer".into());
                }
                match update.kind {
                    Some(Kind::Progress(progress)) => seen.note(progress.coverage.as_ref(), now),
                    Some(Kind::Done(response)) => {
                        seen.note(response.coverage.as_ref(), now);
                        seen.full = Some(now);
                        answer = Some(response);
                    }
                    None => {}
                }
            }
            let answer = answer.ok_or("the stream ended without an answer")?;
            seen.leaf_busy = answered_in_full(&answer)?.leaf_busy;
            Ok(seen)
        })
    }
}

impl Milestones {
    /// Marks the shares of the shards that `coverage`, seen at `now`, is
    /// the first to reach.
    fn note(&mut self, coverage: Option<&Coverage>, now: Instant) {
        let Some(c) = coverage else { return };
        if c.answered * 2 >= c.total {
            self.half.get_or_insert(now);
        }
        if c.answered + 1 >= c.total {
            self.all_but_one.get_or_insert(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn answered(answered: u32) -> Coverage {
        Coverage {
            total: 16,
            answered,
            ..Coverage::default()
        }
    }

    #[test]
    fn milestones_are_the_first_updates_to_reach_each_share() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut seen = Milestones::default();
        for (ms, n) in [(1, 1), (2, 7), (3, 8), (4, 9), (5, 15), (6, 16)] {
            seen.note(Some(&answered(n)), at(ms));
        }
        assert_eq!(seen.half, Some(at(3)), "8 of 16 is half");
        assert_eq!(seen.all_but_one, Some(at(5)), "15 of 16");
        assert_eq!(seen.full, None, "only the final answer sets it");
    }

    #[test]
    fn failed_shards_do_not_count_toward_a_milestone() {
        let mut seen = Milestones::default();
        seen.note(
            Some(&Coverage {
                failed: 8,
                ..answered(7)
            }),
            Instant::now(),
        );
        seen.note(None, Instant::now());
        assert_eq!(seen, Milestones::default());
    }
}
