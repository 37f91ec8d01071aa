//! What the Scatter root did during one measured phase, from two readings
//! of its `/metrics`: per replica, first attempts, hedges sent and won,
//! retries, tied copies, cancellations, failures and probations; per shard, hedges and
//! retries refused by the budget, and those refused because the root was
//! saturated or the replica queueing.

use std::net::SocketAddr;

use serde::Serialize;

use crate::metrics::{Reading, label};

/// The root's counters for one replica (or summed over all of them).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReplicaCounters {
    /// Shard index (`None` in the totals).
    pub shard: Option<u32>,
    /// Replica index within the shard (`None` in the totals).
    pub replica: Option<u32>,
    /// First attempts of a shard sent here.
    pub first_attempts: u64,
    /// Hedges sent here.
    pub hedges: u64,
    /// Hedges sent here that answered first.
    pub hedges_won: u64,
    /// Fast retries sent here.
    pub retries: u64,
    /// Tied copies sent here (the first call had not started after the tie delay).
    pub tied: u64,
    /// Calls here cancelled (another attempt won, or the deadline came).
    pub cancellations: u64,
    /// Calls here that failed.
    pub failures: u64,
    /// Times this replica went on probation.
    pub probations: u64,
}

/// The root's counters over one phase.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RootCounters {
    /// Summed over replicas.
    pub total: ReplicaCounters,
    /// Hedges or retries the budget refused, over all shards.
    pub budget_refusals: u64,
    /// Hedges or retries refused for load (the root saturated, the replica
    /// queueing), over all shards.
    pub load_refusals: u64,
    /// One entry per replica, by shard then replica.
    pub replicas: Vec<ReplicaCounters>,
}

const SERIES: [&str; 8] = [
    "scatter_root_first_attempts_total",
    "scatter_root_hedges_total",
    "scatter_root_hedges_won_total",
    "scatter_root_retries_total",
    "scatter_root_tied_total",
    "scatter_root_cancellations_total",
    "scatter_root_leaf_errors_total",
    "scatter_root_probations_total",
];

impl RootCounters {
    /// Reads the counters out of `diff` (a reading minus an earlier one),
    /// naming replicas by their place in `leaves` (shard, then replica).
    pub fn from_reading(diff: &Reading, leaves: &[Vec<SocketAddr>]) -> Self {
        let mut replicas: Vec<ReplicaCounters> = leaves
            .iter()
            .enumerate()
            .flat_map(|(s, rs)| {
                (0..rs.len()).map(move |r| ReplicaCounters {
                    shard: Some(s as u32),
                    replica: Some(r as u32),
                    ..ReplicaCounters::default()
                })
            })
            .collect();
        let position = |addr: &str| {
            let mut i = 0;
            for rs in leaves {
                for leaf in rs {
                    if addr.strip_prefix("http://") == Some(leaf.to_string().as_str()) {
                        return Some(i);
                    }
                    i += 1;
                }
            }
            None
        };
        for (which, name) in SERIES.iter().enumerate() {
            for (labels, value) in diff.series(name) {
                let Some(i) = label(labels, "replica").as_deref().and_then(position) else {
                    continue;
                };
                let value = value.max(0.0).round() as u64;
                let c = &mut replicas[i];
                *match which {
                    0 => &mut c.first_attempts,
                    1 => &mut c.hedges,
                    2 => &mut c.hedges_won,
                    3 => &mut c.retries,
                    4 => &mut c.tied,
                    5 => &mut c.cancellations,
                    6 => &mut c.failures,
                    _ => &mut c.probations,
                } += value;
            }
        }
        let mut total = ReplicaCounters::default();
        for c in &replicas {
            total.first_attempts += c.first_attempts;
            total.hedges += c.hedges;
            total.hedges_won += c.hedges_won;
            total.retries += c.retries;
            total.tied += c.tied;
            total.cancellations += c.cancellations;
            total.failures += c.failures;
            total.probations += c.probations;
        }
        Self {
            total,
            budget_refusals: diff
                .sum("scatter_root_budget_refusals_total")
                .max(0.0)
                .round() as u64,
            load_refusals: diff
                .sum("scatter_root_load_refusals_total")
                .max(0.0)
                .round() as u64,
            replicas,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_placed_by_replica_address_and_summed() {
        let leaves: Vec<Vec<SocketAddr>> = vec![
            vec![
                "127.0.0.1:7001".parse().unwrap(),
                "127.0.0.1:7002".parse().unwrap(),
            ],
            vec![
                "127.0.0.1:7003".parse().unwrap(),
                "127.0.0.1:7004".parse().unwrap(),
            ],
        ];
        let text = r#"scatter_root_first_attempts_total{shard="0",replica="http://127.0.0.1:7001"} 90
scatter_root_first_attempts_total{shard="1",replica="http://127.0.0.1:7004"} 100
scatter_root_hedges_total{shard="0",replica="http://127.0.0.1:7002"} 3
scatter_root_hedges_won_total{shard="0",replica="http://127.0.0.1:7002"} 2
scatter_root_tied_total{shard="1",replica="http://127.0.0.1:7003"} 7
scatter_root_budget_refusals_total{shard="1"} 4
scatter_root_load_refusals_total{shard="0"} 5
scatter_root_load_refusals_total{shard="1"} 6
"#;
        let c = RootCounters::from_reading(&Reading::parse(text), &leaves);
        assert_eq!(c.total.first_attempts, 190);
        assert_eq!((c.total.hedges, c.total.hedges_won), (3, 2));
        assert_eq!((c.budget_refusals, c.load_refusals), (4, 11));
        assert_eq!((c.total.tied, c.replicas[2].tied), (7, 7));
        assert_eq!(c.replicas[1].hedges, 3);
        assert_eq!(
            (c.replicas[3].shard, c.replicas[3].replica),
            (Some(1), Some(1))
        );
        assert_eq!(c.replicas[3].first_attempts, 100);
    }
}
