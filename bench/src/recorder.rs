//! Recording one measured phase: every request's latency from its due time
//! (not its send time) into an HdrHistogram, plus one histogram per second
//! of completions for the `.hlog` interval log, plus error counts; for a
//! streaming mode, also the times from due to half the shards and to every
//! shard but one, each in a histogram of its own.
//!
//! Only successful requests enter the latency histograms; errors are
//! counted apart (an error that comes back fast must not flatter a mode's
//! percentiles). Sheds (requests the system refused at once) are counted
//! apart from both, with their own histogram of time from send to
//! refusal; every request that was not shed, failures included, enters the
//! admitted histogram. Goodput — successful answers within the deadline —
//! is counted in total, per priority class, and per [`GOODPUT_BUCKET`] of
//! completion time.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use hdrhistogram::Histogram;
use hdrhistogram::serialization::V2Serializer;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use scatter_proto::v1::Priority;

use crate::modes::Failure;

/// One finished request.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was due, from the phase start.
    pub due: Duration,
    /// From its due time to its response (a streaming mode's final answer).
    pub latency: Duration,
    /// How late it was sent after its due time.
    pub send_lag: Duration,
    /// `Err` with a shed or an error when it did not succeed.
    pub outcome: Result<(), Failure>,
    /// The class it was sent with (`Unspecified` when none).
    pub priority: Priority,
    /// From its due time to the first update with half the shards answered
    /// (streaming modes).
    pub half: Option<Duration>,
    /// From its due time to the first update with every shard but one
    /// answered (streaming modes).
    pub all_but_one: Option<Duration>,
    /// The leaf busy time its answer's partials report (the work it used).
    pub leaf_busy: Duration,
    /// It carried the deadly marker: counted apart from every other figure.
    pub deadly: bool,
}

/// A new latency histogram: 1 µs to 1 h at 3 significant digits, in µs.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds are valid")
}

/// Records `value` into `histogram` in µs (at least 1).
pub fn record(histogram: &mut Histogram<u64>, value: Duration) {
    let us = u64::try_from(value.as_micros()).unwrap_or(u64::MAX).max(1);
    histogram.saturating_record(us);
}

/// The latencies and errors of one phase.
pub struct Recorder {
    deadline: Duration,
    total: Histogram<u64>,
    half: Histogram<u64>,
    all_but_one: Histogram<u64>,
    admitted: Histogram<u64>,
    shed: Histogram<u64>,
    intervals: BTreeMap<u64, Histogram<u64>>,
    ok: u64,
    good: u64,
    good_by_priority: BTreeMap<Priority, u64>,
    good_buckets: BTreeMap<u64, u64>,
    errors: BTreeMap<String, u64>,
    sheds: BTreeMap<String, u64>,
    first_due: Option<Duration>,
    last_end: Duration,
    used_leaf_busy: Duration,
    deadly: BTreeMap<String, u64>,
}

/// A recorder with no deadline: every success counts toward goodput.
impl Default for Recorder {
    fn default() -> Self {
        Self::with_deadline(Duration::MAX)
    }
}

/// Interval length of the `.hlog` files.
const INTERVAL: Duration = Duration::from_secs(1);
/// Width of the goodput buckets (by completion time): fine enough to time
/// a settle against a 2 s target.
pub const GOODPUT_BUCKET: Duration = Duration::from_millis(250);

impl Recorder {
    /// A recorder whose goodput counts successes within `deadline` of their due time.
    pub fn with_deadline(deadline: Duration) -> Self {
        Self {
            deadline,
            total: histogram(),
            half: histogram(),
            all_but_one: histogram(),
            admitted: histogram(),
            shed: histogram(),
            intervals: BTreeMap::new(),
            ok: 0,
            good: 0,
            good_by_priority: BTreeMap::new(),
            good_buckets: BTreeMap::new(),
            errors: BTreeMap::new(),
            sheds: BTreeMap::new(),
            first_due: None,
            last_end: Duration::ZERO,
            used_leaf_busy: Duration::ZERO,
            deadly: BTreeMap::new(),
        }
    }

    /// Adds one finished request.
    pub fn record(&mut self, sample: &Sample) {
        if sample.deadly {
            let outcome = match &sample.outcome {
                Ok(()) => "answered".to_owned(),
                Err(failure) => {
                    without_numbers(&failure.message().chars().take(160).collect::<String>())
                }
            };
            *self.deadly.entry(outcome).or_default() += 1;
            return;
        }
        let end = sample.due + sample.latency;
        self.last_end = self.last_end.max(end);
        self.first_due = Some(self.first_due.map_or(sample.due, |d| d.min(sample.due)));
        if !sample.outcome.as_ref().is_err_and(Failure::is_shed) {
            record(&mut self.admitted, sample.latency);
        }
        match &sample.outcome {
            Ok(()) => {
                self.ok += 1;
                self.used_leaf_busy += sample.leaf_busy;
                if sample.latency <= self.deadline {
                    self.good += 1;
                    *self.good_by_priority.entry(sample.priority).or_default() += 1;
                    let bucket = end.as_nanos() / GOODPUT_BUCKET.as_nanos();
                    *self
                        .good_buckets
                        .entry(u64::try_from(bucket).unwrap_or(u64::MAX))
                        .or_default() += 1;
                }
                record(&mut self.total, sample.latency);
                if let Some(half) = sample.half {
                    record(&mut self.half, half);
                }
                if let Some(all_but_one) = sample.all_but_one {
                    record(&mut self.all_but_one, all_but_one);
                }
                let slot = end.as_secs() / INTERVAL.as_secs();
                record(
                    self.intervals.entry(slot).or_insert_with(histogram),
                    sample.latency,
                );
            }
            Err(failure) => {
                let key: String = failure.message().chars().take(160).collect();
                if failure.is_shed() {
                    record(
                        &mut self.shed,
                        sample.latency.saturating_sub(sample.send_lag),
                    );
                    *self.sheds.entry(without_numbers(&key)).or_default() += 1;
                } else {
                    *self.errors.entry(key).or_default() += 1;
                }
            }
        }
    }

    /// Counts a request that never finished (the drain gave up on it).
    pub fn record_lost(&mut self) {
        *self
            .errors
            .entry("no response before the drain ended".into())
            .or_default() += 1;
    }

    /// Latencies of successful requests, in µs.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.total
    }

    /// Times to half the shards of successful streaming requests, in µs.
    pub fn half(&self) -> &Histogram<u64> {
        &self.half
    }

    /// Times to every shard but one of successful streaming requests, in µs.
    pub fn all_but_one(&self) -> &Histogram<u64> {
        &self.all_but_one
    }

    /// Latencies of every request that was not shed (failures included,
    /// at their time to failure), in µs.
    pub fn admitted(&self) -> &Histogram<u64> {
        &self.admitted
    }

    /// Times from send to refusal of shed requests, in µs.
    pub fn shed(&self) -> &Histogram<u64> {
        &self.shed
    }

    /// The leaf busy time the answers of successful requests used.
    pub fn used_leaf_busy(&self) -> Duration {
        self.used_leaf_busy
    }

    /// Deadly requests by outcome (`answered`, or the error with its
    /// numbers as `N`), most frequent first; none of them counts anywhere else.
    pub fn deadly_outcomes(&self) -> Vec<(String, u64)> {
        by_count(&self.deadly)
    }

    /// Successful requests.
    pub fn ok(&self) -> u64 {
        self.ok
    }

    /// Successful requests answered within the deadline.
    pub fn good(&self) -> u64 {
        self.good
    }

    /// [`Self::good`] by the class the requests were sent with.
    pub fn good_by_priority(&self) -> &BTreeMap<Priority, u64> {
        &self.good_by_priority
    }

    /// [`Self::good`] by [`GOODPUT_BUCKET`] of completion time (bucket
    /// `i` covers `[i, i + 1)` buckets from the phase start).
    pub fn good_buckets(&self) -> &BTreeMap<u64, u64> {
        &self.good_buckets
    }

    /// Failed requests (sheds not included).
    pub fn errors(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Shed requests.
    pub fn sheds(&self) -> u64 {
        self.sheds.values().sum()
    }

    /// Failed requests by message, most frequent first.
    pub fn error_kinds(&self) -> Vec<(String, u64)> {
        by_count(&self.errors)
    }

    /// Shed requests by message, most frequent first.
    pub fn shed_kinds(&self) -> Vec<(String, u64)> {
        by_count(&self.sheds)
    }

    /// Successful responses per second, from the first due time to the last
    /// response.
    pub fn throughput(&self) -> f64 {
        let span = self
            .last_end
            .saturating_sub(self.first_due.unwrap_or_default());
        if span.is_zero() {
            return 0.0;
        }
        self.ok as f64 / span.as_secs_f64()
    }

    /// Writes the per-second histograms as an HdrHistogram interval log
    /// (values in µs; the `max` column in ms), tagged with `tag`.
    pub fn write_interval_log(
        &self,
        out: &mut impl Write,
        tag: &str,
        started: SystemTime,
    ) -> anyhow::Result<()> {
        let mut serializer = V2Serializer::new();
        let tag: String = tag
            .chars()
            .map(|c| {
                if c == ',' || c.is_whitespace() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment("scatter-bench latency per second of completions, values in microseconds")
            .with_start_time(started)
            .with_base_time(started)
            .with_max_value_divisor(1000.0)
            .begin_log_with(out, &mut serializer)?;
        for (slot, h) in &self.intervals {
            log.write_histogram(h, INTERVAL * (*slot as u32), INTERVAL, Tag::new(&tag))?;
        }
        Ok(())
    }
}

/// `message` with every run of digits as one `N`: a refusal says how many
/// requests ran and when to retry, which would split one kind into many.
fn without_numbers(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut in_number = false;
    for c in message.chars() {
        let digit = c.is_ascii_digit();
        if !digit {
            out.push(c);
        } else if !in_number {
            out.push('N');
        }
        in_number = digit;
    }
    out
}

fn by_count(kinds: &BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut kinds: Vec<_> = kinds.iter().map(|(k, v)| (k.clone(), *v)).collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(due_ms: u64, latency_ms: u64) -> Sample {
        Sample {
            due: Duration::from_millis(due_ms),
            latency: Duration::from_millis(latency_ms),
            send_lag: Duration::ZERO,
            outcome: Ok(()),
            priority: Priority::Unspecified,
            half: None,
            all_but_one: None,
            leaf_busy: Duration::from_millis(latency_ms / 2),
            deadly: false,
        }
    }

    #[test]
    fn deadly_requests_count_apart_and_answers_sum_the_work_they_used() {
        let mut r = Recorder::with_deadline(Duration::from_secs(1));
        r.record(&ok(0, 10));
        r.record(&ok(1, 20));
        r.record(&Sample {
            outcome: Err("Unavailable: shard 3 failed at 12 ms".into()),
            ..ok(2, 5)
        });
        for due in [3, 4] {
            r.record(&Sample {
                deadly: true,
                outcome: Err(format!("FailedPrecondition: refused, seen {due} times").into()),
                ..ok(due, 1)
            });
        }
        assert_eq!((r.ok(), r.good(), r.errors()), (2, 2, 1));
        assert_eq!(r.histogram().len(), 2, "no deadly latency");
        assert_eq!(r.used_leaf_busy(), Duration::from_millis(15));
        assert_eq!(
            r.deadly_outcomes(),
            vec![("FailedPrecondition: refused, seen N times".into(), 2)]
        );
    }

    #[test]
    fn errors_are_counted_apart_from_latencies() {
        let mut r = Recorder::default();
        r.record(&ok(0, 10));
        r.record(&Sample {
            outcome: Err("UNAVAILABLE: down".into()),
            ..ok(5, 1)
        });
        r.record_lost();
        assert_eq!((r.ok(), r.errors()), (1, 2));
        assert_eq!(r.histogram().len(), 1);
        assert!(r.histogram().equivalent(r.histogram().max(), 10_000));
    }

    #[test]
    fn milestones_of_successful_streams_have_histograms_of_their_own() {
        let mut r = Recorder::default();
        let streamed = |due_ms| Sample {
            half: Some(Duration::from_millis(2)),
            all_but_one: Some(Duration::from_millis(4)),
            ..ok(due_ms, 10)
        };
        r.record(&streamed(0));
        r.record(&Sample {
            outcome: Err("UNAVAILABLE: 15/16 shards".into()),
            ..streamed(5)
        });
        r.record(&ok(10, 10));
        assert_eq!((r.half().len(), r.all_but_one().len()), (1, 1));
        assert!(r.half().equivalent(r.half().max(), 2_000));
        assert!(r.all_but_one().equivalent(r.all_but_one().max(), 4_000));
        assert_eq!(r.histogram().len(), 2, "the full answers, as for any mode");
    }

    #[test]
    fn sheds_are_counted_apart_and_timed_from_their_send() {
        let mut r = Recorder::with_deadline(Duration::from_secs(1));
        r.record(&ok(0, 10));
        // Sent 3 ms late, refused 4 ms after its due time: 1 ms to refuse.
        r.record(&Sample {
            send_lag: Duration::from_millis(3),
            outcome: Err(Failure::Shed("ResourceExhausted: limit".into())),
            ..ok(1, 4)
        });
        r.record(&Sample {
            outcome: Err("Cancelled: Timeout expired".into()),
            ..ok(2, 1000)
        });
        assert_eq!((r.ok(), r.errors(), r.sheds()), (1, 1, 1));
        assert!(
            r.shed().equivalent(r.shed().max(), 1_000),
            "{}",
            r.shed().max()
        );
        r.record(&Sample {
            outcome: Err(Failure::Shed(
                "ResourceExhausted: 17 running, retry after 40 ms".into(),
            )),
            ..ok(3, 1)
        });
        r.record(&Sample {
            outcome: Err(Failure::Shed(
                "ResourceExhausted: 9 running, retry after 125 ms".into(),
            )),
            ..ok(4, 1)
        });
        assert_eq!(r.sheds(), 3);
        assert_eq!(
            r.shed_kinds(),
            vec![
                ("ResourceExhausted: N running, retry after N ms".into(), 2),
                ("ResourceExhausted: limit".into(), 1)
            ],
            "one kind of refusal, whatever its numbers"
        );
        // Admitted: the success and the timeout, not the shed.
        assert_eq!(r.admitted().len(), 2);
        assert!(r.admitted().equivalent(r.admitted().max(), 1_000_000));
        assert_eq!(r.histogram().len(), 1, "only the success has a latency");
    }

    #[test]
    fn goodput_counts_successes_within_the_deadline_by_class_and_bucket() {
        let mut r = Recorder::with_deadline(Duration::from_millis(100));
        let high = |due_ms, latency_ms| Sample {
            priority: Priority::High,
            ..ok(due_ms, latency_ms)
        };
        r.record(&high(0, 10)); // ends at 10 ms: bucket 0
        r.record(&high(200, 100)); // ends at 300 ms, exactly at the deadline: bucket 1
        r.record(&ok(240, 20)); // ends at 260 ms: bucket 1
        r.record(&high(300, 150)); // too late: ok, not good
        assert_eq!((r.ok(), r.good()), (4, 3));
        assert_eq!(r.good_by_priority().get(&Priority::High), Some(&2));
        assert_eq!(r.good_by_priority().get(&Priority::Unspecified), Some(&1));
        let buckets: Vec<_> = r.good_buckets().iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(buckets, vec![(0, 1), (1, 2)]);
    }

    #[test]
    fn throughput_spans_first_due_to_last_response() {
        let mut r = Recorder::default();
        for i in 0..100 {
            r.record(&ok(i * 10, 10)); // last response at 1000 ms
        }
        assert!((r.throughput() - 100.0).abs() < 1e-9, "{}", r.throughput());
    }

    #[test]
    fn interval_log_has_one_histogram_per_second_of_completions() {
        let mut r = Recorder::default();
        for i in 0..30 {
            r.record(&ok(i * 100, 50)); // completions over 0.05 s .. 2.95 s
        }
        let mut out = Vec::new();
        r.write_interval_log(&mut out, "plain-fanout", SystemTime::UNIX_EPOCH)
            .unwrap();
        let entries = hdrhistogram::serialization::interval_log::IntervalLogIterator::new(&out)
            .filter(|e| {
                matches!(
                    e,
                    Ok(hdrhistogram::serialization::interval_log::LogEntry::Interval(_))
                )
            })
            .count();
        assert_eq!(entries, 3);
    }
}
