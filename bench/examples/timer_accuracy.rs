//! How late a wait wakes: the bench's [`PreciseTimer`] against tokio's
//! millisecond timer, for waits of 100 µs, 1 ms and 5 ms (200 each).
//! Run it on an idle machine: other load shows up in the tail.
//!
//! `cargo run --release -p scatter-bench --example timer_accuracy`

use std::time::{Duration, Instant};

use scatter_bench::timer::PreciseTimer;

const WAITS: usize = 200;

fn summary(mut late_us: Vec<i64>) -> String {
    late_us.sort_unstable();
    let at = |q: f64| late_us[((late_us.len() - 1) as f64 * q) as usize];
    format!("late by p50 {} µs, p99 {} µs", at(0.5), at(0.99))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let timer = PreciseTimer::start()?;
    for wait_us in [100u64, 1000, 5000] {
        let wait = Duration::from_micros(wait_us);
        let mut precise = Vec::with_capacity(WAITS);
        let mut tokio_late = Vec::with_capacity(WAITS);
        for _ in 0..WAITS {
            let t = Instant::now();
            timer.sleep(wait).await;
            precise.push(t.elapsed().as_micros() as i64 - wait_us as i64);
            let t = Instant::now();
            tokio::time::sleep(wait).await;
            tokio_late.push(t.elapsed().as_micros() as i64 - wait_us as i64);
        }
        println!("{wait_us:>5} µs wait: precise timer {}", summary(precise));
        println!(
            "{wait_us:>5} µs wait: tokio sleep   {}",
            summary(tokio_late)
        );
    }
    Ok(())
}
