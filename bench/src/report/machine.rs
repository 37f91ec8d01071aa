//! The machine a run measured, as `report.json` and the table's header
//! describe it: on a shared 2-core machine every tail depends on it.

use serde::Serialize;

/// The machine the run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// CPU model name.
    pub cpu_model: String,
    /// Kernel release.
    pub kernel: String,
    /// Memory in GiB.
    pub memory_gib: f64,
    /// The caveat that goes with every figure.
    pub note: String,
    /// `/proc/loadavg` when the run started: other work on the machine
    /// shows up in every tail.
    pub loadavg_at_start: String,
}

impl Machine {
    /// Reads this machine's description from `/proc`.
    pub fn this() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".into(), |(_, m)| m.trim().to_owned());
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0);
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Self {
            cpus,
            cpu_model,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
            memory_gib,
            note: format!(
                "{cpus}-core machine shared by the harness, the root and every leaf process"
            ),
            loadavg_at_start: std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}
