//! One phase of requests: the open-loop sender and the recorder side by
//! side on the harness's own thread, the calls on the client runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;

use scatter_proto::v1::Priority;

use super::Harness;
use crate::modes::{CallSettings, Target};
use crate::recorder::{Recorder, Sample};
use crate::schedule::{PrecisePace, SendLag, run_open_loop};

impl Harness {
    /// Sends `due` on the open-loop schedule (ids from `first_id`) and
    /// records every response, waiting at most the deadline + 2 s after the
    /// last send for stragglers. `settings` gives the deadline (goodput
    /// counts answers within it) and each request's priority class, which
    /// `target` sends too.
    pub(super) async fn phase(
        &self,
        target: &Arc<dyn Target>,
        due: &[Duration],
        first_id: u64,
        settings: CallSettings,
        label: &str,
    ) -> (Recorder, SendLag) {
        let timeout = settings.timeout;
        let bar = progress(due.len() as u64, label);
        let (tx, mut rx) = mpsc::unbounded_channel::<Sample>();
        let pace = PrecisePace::start_now(self.timer.clone());
        let start = pace.start();
        let issue = |i: usize, at: Duration| {
            let (target, tx) = (Arc::clone(target), tx.clone());
            let request = first_id + i as u64;
            let priority = settings
                .priorities
                .map_or(Priority::Unspecified, |mix| mix.of(request));
            let deadly = settings.is_deadly(request);
            // The call is built and run on the client runtime, so its CPU is
            // counted there and the sender stays free.
            self.client.spawn(async move {
                // From the due time, not the send time (see `schedule`).
                let since_due = |t: Instant| t.saturating_duration_since(start).saturating_sub(at);
                // Sent when the call starts: a shed is timed from here.
                let send_lag = since_due(Instant::now());
                let outcome = target.call(request).await;
                let ended = Instant::now();
                let seen = outcome.as_ref().ok().copied().unwrap_or_default();
                let _ = tx.send(Sample {
                    due: at,
                    latency: since_due(seen.full.unwrap_or(ended)),
                    send_lag,
                    outcome: outcome.map(|_| ()),
                    priority,
                    half: seen.half.map(since_due),
                    all_but_one: seen.all_but_one.map(since_due),
                    leaf_busy: seen.leaf_busy,
                    deadly,
                });
            });
        };
        let sending = run_open_loop(&pace, due, issue);
        tokio::pin!(sending);
        let mut recorder = Recorder::with_deadline(timeout);
        let (mut lag, mut received) = (None, 0usize);
        let mut drain_until = None;
        while received < due.len() {
            let drain = async {
                match drain_until {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                sent = &mut sending, if lag.is_none() => {
                    lag = Some(sent);
                    drain_until = Some(tokio::time::Instant::now() + timeout + Duration::from_secs(2));
                }
                Some(sample) = rx.recv() => {
                    recorder.record(&sample);
                    received += 1;
                    bar.inc(1);
                }
                () = drain => break,
            }
        }
        let lag = match lag {
            Some(lag) => lag,
            None => sending.await,
        };
        for _ in received..due.len() {
            recorder.record_lost();
        }
        bar.finish_and_clear();
        (recorder, lag)
    }
}

fn progress(len: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:40} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label.to_owned());
    bar
}
