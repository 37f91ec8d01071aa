//! The capacity probe of `overload`: how many requests per second the
//! leaves of a variant can answer, measured before the run.

use std::sync::Arc;
use std::time::Duration;

use super::{Harness, PROBE, RunOptions, WARMUP_IDS};
use crate::modes::{CallSettings, PlainFanout, Target};
use crate::scenarios::Variant;
use crate::schedule::{Arrivals, plan};
use crate::topology::Fleet;

impl Harness {
    /// Measures the capacity of `variant`'s leaves: plain-fanout offered
    /// 1.5× the model's prediction for [`PROBE`]; capacity is the rate of
    /// completions after the first second, when the leaves' queues are full.
    pub(super) async fn measure_capacity(
        &self,
        variant: &Variant,
        options: &RunOptions,
    ) -> anyhow::Result<f64> {
        let model = &variant.leaf.model;
        let per_leaf = variant.leaf.concurrency.unwrap_or(1) as f64
            / model.mean_service().as_secs_f64().max(1e-6);
        let predicted = per_leaf * f64::from(variant.shape.replicas);
        let fleet = Fleet::start(variant.shape, &variant.leaf).await?;
        let settings = CallSettings {
            request_bytes: variant.request_bytes,
            timeout: Duration::from_secs(20),
        };
        let leaves = fleet.leaves().to_vec();
        let target: anyhow::Result<Arc<dyn Target>> = self
            .on_client(async move { PlainFanout::connect(&leaves, settings).await })
            .await
            .map(|t| Arc::new(t) as Arc<dyn Target>);
        let target = match target {
            Ok(t) => t,
            Err(e) => {
                fleet.stop().await;
                return Err(e);
            }
        };
        let due = plan(predicted * 1.5, PROBE, Arrivals::Uniform, options.seed);
        let (recorder, _) = self
            .phase(
                &target,
                &due,
                WARMUP_IDS * 2,
                settings.timeout,
                "capacity probe",
            )
            .await;
        fleet.stop().await;
        let seconds = PROBE.as_secs() - 1;
        let capacity = recorder.completions_between(1, PROBE.as_secs()) as f64 / seconds as f64;
        eprintln!(
            "capacity: {capacity:.0} requests/s measured (the model predicts {predicted:.0}: \
             {} replicas × {} slot(s) / {:.2} ms mean service)",
            variant.shape.replicas,
            variant.leaf.concurrency.unwrap_or(1),
            model.mean_service().as_secs_f64() * 1e3
        );
        anyhow::ensure!(capacity > 0.0, "the capacity probe completed no request");
        Ok(capacity)
    }
}
