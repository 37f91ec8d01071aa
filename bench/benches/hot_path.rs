//! Microbenchmarks of the hot-path pieces that run in process: building
//! the per-leaf requests from one shared payload (and encoding them, as
//! tonic does per call), forwarding partials into the built-in merge (as
//! the root does, through `DynMerge`), and building the coverage report.
//!
//! `cargo bench -p scatter-bench --bench hot_path`

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use prost::Message as _;
use scatter_merge::{Concat, DynMerge, MergeBegin};
use scatter_proto::v1::{LeafRequest, Payload};
use scatter_root::fanout::coverage::{Missing, ShardEnd, report};

const FANOUTS: [u32; 3] = [4, 16, 64];

fn payload(bytes: usize) -> Payload {
    Payload::new("application/octet-stream", Bytes::from(vec![7u8; bytes]))
}

fn leaf_requests(c: &mut Criterion) {
    let mut group = c.benchmark_group("leaf_requests");
    for n in FANOUTS {
        for bytes in [100usize, 64 << 10] {
            let shared = payload(bytes);
            group.throughput(Throughput::Elements(u64::from(n)));
            let id = format!("{n}x{bytes}B");
            group.bench_function(BenchmarkId::new("build", &id), |b| {
                b.iter(|| {
                    let requests: Vec<LeafRequest> = (0..n)
                        .map(|shard| LeafRequest {
                            payload: Some(shared.clone()),
                            shard,
                            shard_count: n,
                            request_id: 42,
                            attempt: 0,
                            report_start: false,
                        })
                        .collect();
                    black_box(requests)
                });
            });
            group.bench_function(BenchmarkId::new("build_and_encode", &id), |b| {
                let mut buffer = Vec::with_capacity(bytes + 64);
                b.iter(|| {
                    for shard in 0..n {
                        let request = LeafRequest {
                            payload: Some(shared.clone()),
                            shard,
                            shard_count: n,
                            request_id: 42,
                            attempt: 0,
                            report_start: false,
                        };
                        buffer.clear();
                        request.encode(&mut buffer).expect("a Vec grows");
                        black_box(&buffer);
                    }
                });
            });
        }
    }
    group.finish();
}

fn merge_forwarding(c: &mut Criterion) {
    let mut group = c.benchmark_group("merge_concat");
    let merge: Arc<dyn DynMerge> = Arc::new(Concat);
    for n in FANOUTS {
        let partials: Vec<Payload> = (0..n).map(|_| payload(100)).collect();
        let begin = MergeBegin {
            request: Some(payload(100)),
            shard_count: n,
            request_id: 1,
            ..MergeBegin::default()
        };
        group.throughput(Throughput::Elements(u64::from(n)));
        // As the root's in-process session does: through `&dyn DynMerge`.
        // (Calling `Merge::begin` on the `Arc<dyn DynMerge>` itself recurses
        // without end in merge-sdk's `dynamic.rs`; see the bench README.)
        let merge: &dyn DynMerge = merge.as_ref();
        group.bench_function(BenchmarkId::new("fold_and_finish", n), |b| {
            b.iter(|| {
                let mut fold = merge.begin_dyn(&begin).expect("concat begins");
                for (shard, partial) in partials.iter().enumerate() {
                    fold.accept_dyn(shard as u32, partial.clone())
                        .expect("concat accepts");
                }
                black_box(fold.finish_dyn().expect("concat finishes"))
            });
        });
    }
    group.finish();
}

fn coverage(c: &mut Criterion) {
    let mut group = c.benchmark_group("coverage");
    for n in FANOUTS {
        let all: Vec<ShardEnd> = (0..n).map(|_| ShardEnd::Answered).collect();
        let some_missing: Vec<ShardEnd> = (0..n)
            .map(|i| {
                if i % 8 == 3 {
                    ShardEnd::TimedOut(Missing {
                        code: tonic::Code::DeadlineExceeded,
                        message: "no answer before the request deadline".into(),
                        replica: "http://127.0.0.1:7000".into(),
                        attempts: 2,
                    })
                } else {
                    ShardEnd::Answered
                }
            })
            .collect();
        group.bench_function(BenchmarkId::new("all_answered", n), |b| {
            b.iter(|| black_box(report(black_box(&all))));
        });
        group.bench_function(BenchmarkId::new("one_in_eight_timed_out", n), |b| {
            b.iter(|| black_box(report(black_box(&some_missing))));
        });
    }
    group.finish();
}

criterion_group!(benches, leaf_requests, merge_forwarding, coverage);
criterion_main!(benches);
