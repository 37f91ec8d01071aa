//! Property tests against real processes: proptest's runner, each case run
//! to its end on the test's runtime, a bounded number of cases so that a
//! whole run stays within seconds.

use std::fmt::Debug;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokio::runtime::Runtime;

/// A runtime for a property test: the processes it starts keep being read
/// between cases, on its worker threads.
///
/// # Panics
/// When the runtime cannot be built.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Runs `case` on `cases` inputs drawn from `strategy`, each on `runtime`.
///
/// # Panics
/// When a case fails, with the smallest failing input proptest found.
pub fn check<T: Debug>(
    runtime: &Runtime,
    cases: u32,
    strategy: impl Strategy<Value = T>,
    case: impl AsyncFn(T) -> Result<(), TestCaseError>,
) {
    let config = Config {
        cases,
        // The inputs are printed on failure; nothing is written to disk.
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    if let Err(failure) = runner.run(&strategy, |input| runtime.block_on(case(input))) {
        panic!("{failure}");
    }
}
