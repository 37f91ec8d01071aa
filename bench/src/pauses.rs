//! GC-like pauses (`pauses`): each leaf process freezes for real — SIGSTOP,
//! then SIGCONT [`PauseModel::length`] later — at seeded random times,
//! exponential gaps of mean [`PauseModel::mean_gap`]. A frozen process
//! answers nothing: every call in flight on it, and every call that
//! arrives, waits out the pause. The schedule is a pure function of (seed,
//! leaf, time from the phase start), so every mode meets the same pauses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Serialize;

/// When and for how long leaves freeze.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PauseModel {
    /// Mean time between the starts of two pauses of one leaf.
    pub mean_gap: Duration,
    /// How long a pause lasts.
    pub length: Duration,
}

impl PauseModel {
    /// Once every 2 s on average, 30 ms each.
    pub const GC: Self = Self {
        mean_gap: Duration::from_secs(2),
        length: Duration::from_millis(30),
    };

    /// The starts of leaf `leaf`'s pauses within `horizon` of the phase
    /// start: exponential gaps, the next pause starting no sooner than the
    /// previous one ended.
    pub fn schedule(&self, seed: u64, leaf: usize, horizon: Duration) -> Vec<Duration> {
        let mut starts = Vec::new();
        let mut at = Duration::ZERO;
        for i in 0.. {
            let gap = self.mean_gap.mul_f64(-unit(seed, leaf as u64, i).ln());
            at += gap;
            if at >= horizon {
                break;
            }
            starts.push(at);
            at += self.length;
        }
        starts
    }
}

/// A uniform draw in (0, 1) for gap `i` of leaf `leaf` (splitmix64).
fn unit(seed: u64, leaf: u64, i: u64) -> f64 {
    let mut z = seed
        ^ (leaf + 1).wrapping_mul(0xA24B_AED4_963E_E407)
        ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03);
    for _ in 0..2 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// One signal at one time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Event {
    at: Duration,
    resume: bool,
    leaf: usize,
}

/// Freezes and resumes the leaves on their schedules, on a thread of its
/// own (signals are sent within a fraction of a millisecond of their time,
/// whatever the harness's runtimes are doing), until stopped.
pub struct Pauser {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl Pauser {
    /// Starts freezing the leaves whose current pids `pids` holds (0: down,
    /// skipped), times measured from `start`, for `horizon`.
    pub fn start(
        model: PauseModel,
        seed: u64,
        pids: Arc<Vec<AtomicU32>>,
        start: Instant,
        horizon: Duration,
    ) -> Self {
        let mut events: Vec<Event> = (0..pids.len())
            .flat_map(|leaf| {
                model
                    .schedule(seed, leaf, horizon)
                    .into_iter()
                    .flat_map(move |at| {
                        [
                            Event {
                                at,
                                resume: false,
                                leaf,
                            },
                            Event {
                                at: at + model.length,
                                resume: true,
                                leaf,
                            },
                        ]
                    })
            })
            .collect();
        events.sort();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("bench-pauser".into())
            .spawn(move || run(&events, &pids, start, &flag))
            .ok();
        Self { stop, thread }
    }

    /// Stops, resuming every leaf it froze; returns how many pauses it began.
    pub fn stop(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Pauser {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends each event's signal at its time; at the end resumes what is frozen.
fn run(events: &[Event], pids: &[AtomicU32], start: Instant, stop: &AtomicBool) -> usize {
    let mut frozen = vec![0u32; pids.len()];
    let mut began = 0;
    for event in events {
        // Short sleeps, so a stop is noticed soon.
        loop {
            if stop.load(Ordering::Relaxed) {
                resume_all(&mut frozen);
                return began;
            }
            let now = start.elapsed();
            if now >= event.at {
                break;
            }
            std::thread::sleep((event.at - now).min(Duration::from_millis(5)));
        }
        if event.resume {
            resume(&mut frozen[event.leaf]);
        } else {
            let pid = pids[event.leaf].load(Ordering::Relaxed);
            if pid != 0 && kill(Pid::from_raw(pid as i32), Signal::SIGSTOP).is_ok() {
                frozen[event.leaf] = pid;
                began += 1;
            }
        }
    }
    resume_all(&mut frozen);
    began
}

fn resume(pid: &mut u32) {
    if *pid != 0 {
        let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGCONT);
        *pid = 0;
    }
}

fn resume_all(frozen: &mut [u32]) {
    frozen.iter_mut().for_each(resume);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_the_same_for_the_same_seed_and_leaf_and_differs_otherwise() {
        let m = PauseModel::GC;
        let horizon = Duration::from_secs(60);
        assert_eq!(m.schedule(1, 3, horizon), m.schedule(1, 3, horizon));
        assert_ne!(m.schedule(1, 3, horizon), m.schedule(1, 4, horizon));
        assert_ne!(m.schedule(1, 3, horizon), m.schedule(2, 3, horizon));
        // A longer horizon only adds pauses at the end.
        let short = m.schedule(1, 3, Duration::from_secs(10));
        assert_eq!(short[..], m.schedule(1, 3, horizon)[..short.len()]);
    }

    #[test]
    fn pauses_come_once_every_two_seconds_on_average_and_never_overlap() {
        let m = PauseModel::GC;
        let horizon = Duration::from_secs(1_000);
        let mut count = 0;
        for leaf in 0..32 {
            let starts = m.schedule(7, leaf, horizon);
            for pair in starts.windows(2) {
                assert!(pair[1] >= pair[0] + m.length, "{pair:?}");
            }
            count += starts.len();
        }
        // 32 leaves × 1,000 s ÷ (2 s + 30 ms) ≈ 15,760; ± 3 %.
        let rate = count as f64 / 32.0 / 1_000.0;
        assert!((0.475..0.51).contains(&rate), "{rate} pauses per second");
    }

    #[test]
    fn a_frozen_process_is_resumed_when_its_pause_ends() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pids = Arc::new(vec![AtomicU32::new(child.id())]);
        let model = PauseModel {
            mean_gap: Duration::from_millis(20),
            length: Duration::from_millis(30),
        };
        let pauser = Pauser::start(
            model,
            1,
            Arc::clone(&pids),
            Instant::now(),
            Duration::from_millis(300),
        );
        std::thread::sleep(Duration::from_millis(400));
        let began = pauser.stop();
        assert!(began >= 2, "{began} pauses");
        let state = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
        let state = state.rsplit(')').next().unwrap().split_whitespace().next();
        assert_ne!(state, Some("T"), "left frozen");
        child.kill().unwrap();
        let _ = child.wait();
    }
}
