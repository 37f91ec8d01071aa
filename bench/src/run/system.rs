//! The system under test of each mode: what the harness starts for it (a
//! root process, a merge process), the target its requests go to (clients
//! connected on the client runtime), and how it stops again.

use std::sync::Arc;
use std::time::Duration;

use super::{Context, Harness};
use crate::modes::{
    Direct, Mode, PlainFanout, ScatterEmbedded, ScatterQuery, ScatterStream, Target, TowerHedge,
};
use crate::topology::{MergeProcess, RootProcess};

/// The processes a mode starts, stopped when the mode ends.
#[derive(Default)]
pub(super) struct SystemUnderTest {
    /// The root process (Scatter's or the hand-written one), if the mode has one.
    pub(super) root: Option<RootProcess>,
    merge: Option<MergeProcess>,
}

impl SystemUnderTest {
    /// Stops the root first, so no query reaches a merge that is gone.
    pub(super) async fn stop(self) {
        if let Some(root) = self.root {
            root.stop().await;
        }
        if let Some(merge) = self.merge {
            merge.stop().await;
        }
    }
}

impl Harness {
    /// Starts what `mode` needs and connects its target. Processes started
    /// are left in `sut` even when a later step fails, for the caller to stop.
    pub(super) async fn start_target(
        &self,
        mode: Mode,
        context: &Context<'_>,
        sut: &mut SystemUnderTest,
    ) -> anyhow::Result<Arc<dyn Target>> {
        let settings = context.settings();
        let leaves = context.leaves.clone();
        Ok(match mode {
            Mode::Direct => Arc::new(
                self.on_client(async move { Direct::connect(&leaves, settings).await })
                    .await?,
            ),
            Mode::PlainFanout => Arc::new(
                self.on_client(async move { PlainFanout::connect(&leaves, settings).await })
                    .await?,
            ),
            Mode::TowerHedge => {
                let percentile = context.percentile;
                Arc::new(
                    self.on_client(async move {
                        TowerHedge::connect(&leaves, settings, percentile).await
                    })
                    .await?,
                )
            }
            // On the client runtime, so its connections, tasks and CPU are there.
            Mode::ScatterEmbedded => Arc::new(
                self.on_client(async move { ScatterEmbedded::connect(&leaves, settings).await })
                    .await?,
            ),
            Mode::PlainRoot => {
                let root = RootProcess::start_plain(&leaves).await?;
                let addr = root.addr;
                sut.root = Some(root);
                Arc::new(
                    self.on_client(ScatterQuery::connect(addr, settings))
                        .await?,
                )
            }
            Mode::Scatter
            | Mode::ScatterHedge
            | Mode::ScatterHints
            | Mode::ScatterTied
            | Mode::ScatterCanary
            | Mode::ScatterStream
            | Mode::ScatterMerge => {
                let merge = if mode == Mode::ScatterMerge {
                    let process = MergeProcess::start().await?;
                    let addr = format!("http://{}", process.addr);
                    sut.merge = Some(process);
                    addr
                } else {
                    "builtin:concat".to_owned()
                };
                let root = RootProcess::start(&leaves, &merge, &root_flags(mode, context)).await?;
                let addr = root.addr;
                sut.root = Some(root);
                if mode.streams() {
                    Arc::new(
                        self.on_client(ScatterStream::connect(addr, settings))
                            .await?,
                    )
                } else {
                    Arc::new(
                        self.on_client(ScatterQuery::connect(addr, settings))
                            .await?,
                    )
                }
            }
        })
    }
}

/// How long a tied request waits before its second copy goes out
/// (`scatter-tied`'s `--tied-delay-ms`): long enough that a replica which
/// starts at once cancels the copy before it is sent, short enough that a
/// frozen or queued replica costs little.
pub const TIED_DELAY: Duration = Duration::from_millis(1);

/// `scatter serve` flags of each Scatter mode: `scatter-stream` queries
/// `scatter-hedge`'s root; `scatter-hints`, `scatter-tied` and
/// `scatter-canary` are `scatter-hedge`'s root and one more thing each.
fn root_flags(mode: Mode, context: &Context<'_>) -> Vec<String> {
    let hedged = matches!(
        mode,
        Mode::ScatterHedge
            | Mode::ScatterHints
            | Mode::ScatterTied
            | Mode::ScatterCanary
            | Mode::ScatterStream
    );
    let mut flags: Vec<String> = if hedged {
        vec![
            "--hedge".into(),
            "on".into(),
            "--hedge-percentile".into(),
            context.percentile.to_string(),
        ]
    } else {
        vec!["--hedge".into(), "off".into()]
    };
    if matches!(mode, Mode::ScatterHints | Mode::ScatterTied) {
        flags.extend(["--hints".into(), "on".into()]);
    }
    if mode == Mode::ScatterTied {
        flags.extend([
            "--tied-delay-ms".into(),
            format!("{}", TIED_DELAY.as_secs_f64() * 1e3),
        ]);
    }
    if mode == Mode::ScatterCanary {
        flags.extend(["--canary".into(), "on".into()]);
    }
    flags
}
