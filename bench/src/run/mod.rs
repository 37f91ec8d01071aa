//! Driving a scenario: for each variant, start the leaves; for each mode,
//! start the system under test, warm it up (excluded), take readings
//! (leaf calls, root counters, CPU), run the measured phase on the open-loop
//! schedule, take readings again, stop it. Every mode of a variant gets the
//! same schedule and the same request ids, so the same world. For
//! `overload`, first find the capacity the variants are multiples of.

mod capacity;
mod overload;
mod phase;
mod system;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use futures::future::join_all;
use tokio::runtime::Handle;

use crate::capacity::CapacityProbe;
use crate::counters::RootCounters;
use crate::cpu;
use crate::fleet::Fleet;
use crate::metrics::Reading;
use crate::modes::{CallSettings, Mode, Target};
use crate::pauses::Pauser;
use crate::plot::{self, Series};
use crate::query_of_death::DeadlyMix;
use crate::recorder::Recorder;
use crate::report::{
    self, FULL_RUN_REQUESTS, Machine, ModeReport, Oracle, Progressive, QueryOfDeathFigures, Report,
    TailIntervals, VariantReport, percentiles,
};
use crate::scenarios::{Scenario, Variant};
use crate::schedule::{Arrivals, plan, plan_steps};
use crate::timer::PreciseTimer;
use crate::work;
use system::SystemUnderTest;

/// Thread-name prefix of the client runtime (see [`crate::modes`]).
pub const CLIENT_THREADS: &str = "bench-client";
/// Warm-up requests draw from ids above this, apart from measured ones.
const WARMUP_IDS: u64 = 1 << 40;
/// How long the harness waits for dead leaves to be back (restarted after
/// [`crate::fleet::RESTART_DELAY`]) before it reads their counters.
const LEAVES_BACK: Duration = Duration::from_secs(30);

/// How to run a scenario (the command line, resolved).
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Requests per second (for `overload`: the capacity, skipping the probe).
    pub rate: Option<f64>,
    /// Measured seconds per mode.
    pub duration: Option<Duration>,
    /// Warm-up per mode, excluded from every figure.
    pub warmup: Duration,
    /// Arrival process.
    pub arrivals: Arrivals,
    /// Seed of the model and the arrivals.
    pub seed: u64,
    /// Only these modes (default: the scenario's).
    pub modes: Option<Vec<Mode>>,
    /// Hedge percentile for Scatter and tower (default: the scenario's).
    pub hedge_percentile: Option<f64>,
    /// Where report.json, the .hlog files and the plots go.
    pub out: PathBuf,
    /// The command line, for the report.
    pub command: String,
}

/// The harness's shared pieces.
pub struct Harness {
    client: Handle,
    timer: PreciseTimer,
}

/// What one mode produced.
struct ModeRun {
    report: ModeReport,
    recorder: Recorder,
}

impl Harness {
    /// A harness whose client work runs on `client`.
    pub fn new(client: Handle) -> anyhow::Result<Self> {
        Ok(Self {
            client,
            timer: PreciseTimer::start()?,
        })
    }

    /// Runs `scenario`, writes its outputs into `options.out`, returns the report.
    pub async fn run(&self, scenario: &Scenario, options: &RunOptions) -> anyhow::Result<Report> {
        std::fs::create_dir_all(&options.out)
            .with_context(|| format!("cannot create {}", options.out.display()))?;
        let duration = options.duration.unwrap_or(scenario.default_duration);
        let modes = options
            .modes
            .clone()
            .unwrap_or_else(|| scenario.modes.clone());
        let percentile = options
            .hedge_percentile
            .unwrap_or(scenario.hedge_percentile);
        let probe = if scenario.measure_capacity {
            Some(match options.rate {
                Some(rate) => CapacityProbe {
                    capacity_rps: rate,
                    method: "--rate".into(),
                    ..CapacityProbe::default()
                },
                None => {
                    self.probe_capacity(&scenario.variants[0], scenario.timeout, options)
                        .await?
                }
            })
        } else {
            None
        };
        let capacity = probe.as_ref().map(|p| p.capacity_rps);
        let base_rate = capacity.or(options.rate).unwrap_or(scenario.default_rate);

        let mut report = Report {
            scenario: scenario.name.into(),
            command: options.command.clone(),
            machine: Machine::this(),
            quick_look: false,
            duration_s: duration.as_secs_f64(),
            warmup_s: options.warmup.as_secs_f64(),
            arrivals: options.arrivals,
            timeout_ms: report::micros(scenario.timeout) / 1000,
            hedge_percentile: percentile,
            capacity_rps: capacity,
            capacity_probe: probe,
            modes: Vec::new(),
            oracle: Oracle::default(),
            variants: Vec::new(),
            baseline_variant: scenario.baseline_variant.map(Into::into),
        };
        for variant in &scenario.variants {
            let phases = variant.load.phases(base_rate, duration);
            let (due, arrivals) = if variant.load.is_stepped() {
                // Uniform, so short goodput buckets show the system (see `Load`).
                let arrivals = Arrivals::Uniform;
                (plan_steps(&phases, arrivals, options.seed), arrivals)
            } else {
                let (rate, length) = phases[0];
                let arrivals = options.arrivals;
                (plan(rate, length, arrivals, options.seed), arrivals)
            };
            let rate = mean_rate(&phases);
            let warm = plan(phases[0].0, options.warmup, arrivals, options.seed ^ 1);
            let oracle_h =
                report::oracle_histogram(&variant.leaf.model, variant.shape, 0..due.len() as u64);
            let oracle = Oracle::from(percentiles(&oracle_h));
            let bound = report::hedging_bound(
                &variant.leaf.model,
                variant.shape,
                0..due.len() as u64,
                percentile,
            );
            report.variants.push(VariantReport {
                label: variant.label.clone(),
                shape: variant.shape,
                rate_rps: rate,
                request_bytes: variant.request_bytes,
                leaf: variant.leaf.clone(),
                oracle,
                bound,
                phases: if variant.load.is_stepped() {
                    phases.iter().map(|(r, d)| (*r, d.as_secs_f64())).collect()
                } else {
                    Vec::new()
                },
                priorities: variant.priorities,
            });
            let fleet = Fleet::start(variant.shape, &variant.leaf)
                .await
                .context("starting the bench leaves")?;
            let mut runs = Vec::new();
            for &mode in &modes {
                let context = Context {
                    scenario,
                    variant,
                    fleet: &fleet,
                    seed: options.seed,
                    deadly: variant.deadly.then(|| DeadlyMix::over(due.len() as u64)),
                    leaves: fleet.leaves().to_vec(),
                    percentile,
                    rate,
                    phases: phases.clone(),
                    capacity,
                };
                match self.run_mode(mode, &context, &due, &warm).await {
                    Ok(run) => {
                        eprintln!("{}", one_line(&run.report));
                        runs.push((mode, run));
                    }
                    Err(error) => {
                        fleet.stop().await;
                        return Err(error.context(format!(
                            "mode {} of {} {}",
                            mode.name(),
                            scenario.name,
                            variant.label
                        )));
                    }
                }
            }
            fleet.stop().await;
            self.write_variant(scenario, variant, &runs, &oracle_h, options)?;
            report.modes.extend(runs.into_iter().map(|(_, r)| r.report));
        }
        report.oracle = report
            .variants
            .first()
            .map(|v| v.oracle)
            .unwrap_or_default();
        report.quick_look = report.modes.iter().any(|m| m.requests < FULL_RUN_REQUESTS);
        report.compute_ratios();
        std::fs::write(
            options.out.join("report.json"),
            serde_json::to_string_pretty(&report)?,
        )?;
        Ok(report)
    }

    /// One mode of one variant, from start-up to shut-down.
    async fn run_mode(
        &self,
        mode: Mode,
        context: &Context<'_>,
        due: &[Duration],
        warm: &[Duration],
    ) -> anyhow::Result<ModeRun> {
        let mut sut = SystemUnderTest::default();
        let target = self.start_target(mode, context, &mut sut).await;
        let result = match target {
            Ok(target) => self.measure(mode, context, &target, &sut, due, warm).await,
            Err(e) => Err(e),
        };
        sut.stop().await;
        result
    }

    /// Warm-up, readings, measured phase, readings.
    async fn measure(
        &self,
        mode: Mode,
        context: &Context<'_>,
        target: &Arc<dyn Target>,
        sut: &SystemUnderTest,
        due: &[Duration],
        warm: &[Duration],
    ) -> anyhow::Result<ModeRun> {
        let label = format!(
            "{} {} {}",
            context.scenario.name,
            context.variant.label,
            mode.name()
        );
        let settings = context.settings();
        let pauses = context.pauses(warm, context.seed ^ 1);
        self.phase(
            target,
            warm,
            WARMUP_IDS,
            settings,
            &format!("{label} warm-up"),
        )
        .await;
        drop(pauses);
        // A leaf a deadly request killed is back before the next readings.
        context.fleet.wait_serving(LEAVES_BACK).await?;

        let root_pid = sut.root.as_ref().map(|r| r.pid);
        let fanout_cpu = || match root_pid {
            Some(pid) => cpu::process(pid),
            None => cpu::own_threads(CLIENT_THREADS),
        };
        let leaves_before = leaf_readings(&context.leaves).await?;
        let deaths_before = context.fleet.deaths();
        // Only Scatter's root has `/metrics`; the hand-written one counts nothing.
        let scatter_root = sut.root.as_ref().filter(|_| mode.is_scatter_root());
        let root_before = match scatter_root {
            Some(root) => Some(Reading::scrape(root.addr).await?),
            None => None,
        };
        let (cpu_before, client_before) = (fanout_cpu()?, cpu::own_threads(CLIENT_THREADS)?);

        let pauses = context.pauses(due, context.seed);
        let (recorder, lag) = self.phase(target, due, 0, settings, &label).await;
        let pauses = pauses.map(Pauser::stop);

        let (cpu_after, client_after) = (fanout_cpu()?, cpu::own_threads(CLIENT_THREADS)?);
        context.fleet.wait_serving(LEAVES_BACK).await?;
        let leaf_processes_lost = context.fleet.deaths() - deaths_before;
        let leaves = leaf_readings(&context.leaves)
            .await?
            .iter()
            .zip(&leaves_before)
            .fold(Reading::default(), |mut sum, (after, before)| {
                sum.add(&after.since_restart(before));
                sum
            });
        let leaf_calls = leaves.sum("scatter_leaf_calls_total");
        let leaf_busy = work::busy(&leaves);
        let root_counters = match (scatter_root, root_before) {
            (Some(root), Some(before)) => Some(RootCounters::from_reading(
                &Reading::scrape(root.addr).await?.since(&before),
                &context.leaves,
            )),
            _ => None,
        };

        let requests = due.len() as u64;
        let per_1k = |d: Duration| d.as_secs_f64() * 1000.0 / requests.max(1) as f64;
        let fanout = cpu_after.saturating_sub(cpu_before);
        let calls_per_request = leaf_calls / requests.max(1) as f64;
        let shards = if mode == Mode::Direct {
            1.0
        } else {
            f64::from(context.variant.shape.shards)
        };
        let report = ModeReport {
            mode: mode.name().into(),
            variant: context.variant.label.clone(),
            requests,
            ok: recorder.ok(),
            good: recorder.good(),
            throughput_rps: recorder.throughput(),
            offered_rps: context.rate,
            latency: percentiles(recorder.histogram()),
            latency_ci: TailIntervals::of(recorder.histogram()),
            leaf_calls_per_request: calls_per_request,
            extra_leaf_calls_pct: (calls_per_request - shards) / shards * 100.0,
            extra_leaf_work_pct: work::extra_pct(leaf_busy, recorder.used_leaf_busy()),
            cancelled_leaf_work_pct: work::extra_pct(
                leaf_busy,
                leaf_busy.saturating_sub(work::cancelled(&leaves)),
            ),
            leaf_busy_ms_per_request: Some(leaf_busy.as_secs_f64() * 1e3 / requests.max(1) as f64),
            pauses: pauses.map(|p| p as u64),
            query_of_death: context
                .deadly
                .map(|mix| QueryOfDeathFigures::new(&recorder, mix, leaf_processes_lost, due)),
            errors: recorder.errors(),
            error_kinds: recorder.error_kinds(),
            sheds: recorder.sheds(),
            shed_kinds: recorder.shed_kinds(),
            root_cpu_s_per_1k: per_1k(fanout),
            root_cpu_us_per_leaf_call: fanout.as_secs_f64() * 1e6 / leaf_calls.max(1.0),
            root_cpu_source: if root_pid.is_some() {
                format!("{} root process (/proc/PID/stat)", mode.name())
            } else {
                format!("harness client threads '{CLIENT_THREADS}*' (in-harness fan-out)")
            },
            client_cpu_s_per_1k: per_1k(client_after.saturating_sub(client_before)),
            max_send_lag_us: report::micros(lag.max),
            root_counters,
            counterpart: mode.counterpart().map(|c| c.name().to_owned()),
            progressive: mode.streams().then(|| {
                Progressive::new(
                    recorder.half(),
                    recorder.all_but_one(),
                    recorder.histogram(),
                )
            }),
            overload: context.capacity.map(|capacity| {
                let last_due = due.last().copied().unwrap_or_default();
                overload::figures(&recorder, context, capacity, requests, last_due)
            }),
            ..ModeReport::default()
        };
        Ok(ModeRun { report, recorder })
    }

    /// Runs `work` on the client runtime (so channels it opens are driven there).
    async fn on_client<T: Send + 'static>(
        &self,
        work: impl Future<Output = anyhow::Result<T>> + Send + 'static,
    ) -> anyhow::Result<T> {
        self.client.spawn(work).await?
    }

    /// The `.hlog` files and the plot of one variant.
    fn write_variant(
        &self,
        scenario: &Scenario,
        variant: &Variant,
        runs: &[(Mode, ModeRun)],
        oracle: &hdrhistogram::Histogram<u64>,
        options: &RunOptions,
    ) -> anyhow::Result<()> {
        let prefix = slug(&variant.label);
        let started = SystemTime::now();
        for (mode, run) in runs {
            let path = options.out.join(format!("{prefix}{}.hlog", mode.name()));
            let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
            let tag = format!("{prefix}{}", mode.name());
            run.recorder.write_interval_log(&mut file, &tag, started)?;
        }
        let mut series: Vec<Series<'_>> = runs
            .iter()
            .map(|(mode, run)| Series {
                label: mode.name().into(),
                histogram: run.recorder.histogram(),
                dashed: false,
            })
            .collect();
        series.push(Series {
            label: "oracle".into(),
            histogram: oracle,
            dashed: true,
        });
        let title = format!(
            "{} {} — {} shards × {} replicas",
            scenario.name, variant.label, variant.shape.shards, variant.shape.replicas
        );
        std::fs::write(
            options.out.join(format!("{prefix}latency.svg")),
            plot::svg(&title, &series),
        )?;
        Ok(())
    }
}

/// What a mode needs to know of its scenario and variant.
struct Context<'a> {
    scenario: &'a Scenario,
    variant: &'a Variant,
    /// The leaves (their processes, for pauses and deaths).
    fleet: &'a Fleet,
    /// The run's seed (pause schedules).
    seed: u64,
    /// Which measured requests are deadly (warm-up ids never are).
    deadly: Option<DeadlyMix>,
    leaves: Vec<Vec<SocketAddr>>,
    percentile: f64,
    /// The offered rate (a stepped variant's mean).
    rate: f64,
    /// The offered load's phases, (rate, length): one unless stepped.
    phases: Vec<(f64, Duration)>,
    /// The capacity the rates are multiples of (`overload` only).
    capacity: Option<f64>,
}

impl Context<'_> {
    /// What every request of this variant carries.
    fn settings(&self) -> CallSettings {
        CallSettings {
            request_bytes: self.variant.request_bytes,
            timeout: self.scenario.timeout,
            priorities: self.variant.priorities,
            deadly: self.deadly,
            fingerprints: self.variant.fingerprints,
        }
    }

    /// The variant's pauses over a phase of `due` starting now, if it has
    /// any (the phase's own start is microseconds later, the same for
    /// every mode).
    fn pauses(&self, due: &[Duration], seed: u64) -> Option<Pauser> {
        let model = self.variant.pauses?;
        let horizon = due.last().copied().unwrap_or_default();
        Some(Pauser::start(
            model,
            seed,
            self.fleet.pids(),
            Instant::now(),
            horizon,
        ))
    }
}

/// The mean rate over `phases`, weighted by their lengths.
fn mean_rate(phases: &[(f64, Duration)]) -> f64 {
    let total: f64 = phases.iter().map(|(_, d)| d.as_secs_f64()).sum();
    let requests: f64 = phases.iter().map(|(r, d)| r * d.as_secs_f64()).sum();
    report::ratio(requests, total).unwrap_or(0.0)
}

/// Every leaf's `/metrics` (calls served, busy time), shard-major.
async fn leaf_readings(leaves: &[Vec<SocketAddr>]) -> anyhow::Result<Vec<Reading>> {
    join_all(leaves.iter().flatten().map(|a| Reading::scrape(*a)))
        .await
        .into_iter()
        .collect()
}

fn one_line(m: &ModeReport) -> String {
    format!(
        "  {:<8} {:<16} {} ok of {}, p50 {} p99 {} p99.9 {} max {}, {:.2} leaf calls/req, {} errors",
        m.variant,
        m.mode,
        m.ok,
        m.requests,
        report::ms(m.latency.p50_us),
        report::ms(m.latency.p99_us),
        report::ms(m.latency.p999_us),
        report::ms(m.latency.max_us),
        m.leaf_calls_per_request,
        m.errors
    )
}

/// A file-name prefix for a variant label: `N=16` → `n16-`, `90%` → `90pct-`.
fn slug(label: &str) -> String {
    if label.is_empty() {
        return String::new();
    }
    let s: String = label
        .to_lowercase()
        .replace('%', "pct")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{s}-")
}
