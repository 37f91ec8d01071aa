//! The capacity probe of `overload`: short steps of `plain-fanout` against
//! a variant's leaves, at the rates [`CapacitySearch`] asks for, until it
//! has found the highest rate that meets its [`Criterion`].

use std::sync::Arc;
use std::time::Duration;

use super::{Harness, RunOptions, WARMUP_IDS};
use crate::capacity::{CapacityProbe, CapacitySearch, Criterion, ProbeStep, StepResult};
use crate::fleet::Fleet;
use crate::modes::{CallSettings, PlainFanout, Target};
use crate::report::micros;
use crate::scenarios::Variant;
use crate::schedule::plan;

/// How long each step of the probe sends: long enough for a p99 over a
/// few hundred requests, short enough for six steps in half a minute.
const STEP: Duration = Duration::from_secs(3);
/// Connections and first calls, before the first step (excluded).
const WARMUP: Duration = Duration::from_secs(1);

impl Harness {
    /// Finds the capacity of `variant`'s leaves for plain-fanout with the
    /// client deadline `deadline` (see [`crate::capacity`]).
    pub(super) async fn probe_capacity(
        &self,
        variant: &Variant,
        deadline: Duration,
        options: &RunOptions,
    ) -> anyhow::Result<CapacityProbe> {
        let model = &variant.leaf.model;
        let slots = variant.leaf.concurrency.unwrap_or(1) as f64;
        let ceiling = slots * f64::from(variant.shape.replicas)
            / model.mean_service().as_secs_f64().max(1e-6);
        let criterion = Criterion::for_deadline(deadline);
        let fleet = Fleet::start(variant.shape, &variant.leaf).await?;
        let settings = CallSettings {
            request_bytes: variant.request_bytes,
            timeout: deadline,
            priorities: None,
            deadly: None,
            fingerprints: false,
        };
        let leaves = fleet.leaves().to_vec();
        let target = self
            .on_client(async move { PlainFanout::connect(&leaves, settings).await })
            .await
            .map(|t| Arc::new(t) as Arc<dyn Target>);
        let result = match target {
            Ok(target) => Ok(self
                .search(&target, settings, criterion, ceiling, options)
                .await),
            Err(e) => Err(e),
        };
        fleet.stop().await;
        let (steps, capacity) = result?;
        let Some(capacity_rps) = capacity else {
            anyhow::bail!(
                "the capacity probe found no rate where {} (tried {:?} requests/s)",
                criterion.describe(),
                steps.iter().map(|s| s.rate_rps.round()).collect::<Vec<_>>()
            );
        };
        eprintln!(
            "capacity: {capacity_rps:.0} requests/s, the highest rate tried where {} \
             (ceiling {ceiling:.0}: {} replicas × {slots} slot(s) / {:.2} ms mean service)",
            criterion.describe(),
            variant.shape.replicas,
            model.mean_service().as_secs_f64() * 1e3
        );
        Ok(CapacityProbe {
            capacity_rps,
            method: "search".into(),
            criterion: criterion.describe(),
            ceiling_rps: ceiling,
            step_s: STEP.as_secs_f64(),
            steps,
        })
    }

    /// Runs the search's steps, one after another, each after the last
    /// drained; returns them with the capacity found, if any.
    async fn search(
        &self,
        target: &Arc<dyn Target>,
        settings: CallSettings,
        criterion: Criterion,
        ceiling: f64,
        options: &RunOptions,
    ) -> (Vec<ProbeStep>, Option<f64>) {
        let mut search = CapacitySearch::new(ceiling);
        let mut first_id = WARMUP_IDS * 2;
        if let Some(light) = search.next_rate() {
            let warm = plan(light, WARMUP, options.arrivals, options.seed ^ 2);
            self.phase(target, &warm, first_id, settings, "capacity probe warm-up")
                .await;
            first_id += warm.len() as u64;
        }
        let mut steps = Vec::new();
        while let Some(rate) = search.next_rate() {
            let seed = options.seed.wrapping_add(100 + steps.len() as u64);
            let due = plan(rate, STEP, options.arrivals, seed);
            let label = format!("capacity probe {rate:.0} rps");
            let (recorder, _) = self.phase(target, &due, first_id, settings, &label).await;
            first_id += due.len() as u64;
            let result = StepResult {
                requests: due.len() as u64,
                ok: recorder.ok(),
                errors: recorder.errors() + recorder.sheds(),
                p99: Duration::from_micros(recorder.histogram().value_at_quantile(0.99)),
            };
            let passed = criterion.passes(&result);
            search.observe(rate, passed);
            eprintln!(
                "  probe {rate:>7.1} rps: {} ok of {}, {} errors, p99 {:.2} ms — {}",
                result.ok,
                result.requests,
                result.errors,
                result.p99.as_secs_f64() * 1e3,
                if passed { "within" } else { "beyond" }
            );
            steps.push(ProbeStep {
                rate_rps: rate,
                requests: result.requests,
                ok: result.ok,
                errors: result.errors,
                p99_us: micros(result.p99),
                passed,
            });
        }
        (steps, search.capacity())
    }
}
