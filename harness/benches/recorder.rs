//! What recording costs per acknowledged send: the CPU time (all threads, the
//! history writer's included) to record 64,000 sends as the workload does, an
//! invoke batch at a time and an ack each, and get them into the file. CPU time,
//! not wall time, because the writer works beside the caller: what it costs a
//! run is CPU taken from the brokers on the same machine.

use std::time::{Duration, Instant};

use checker::{MessageId, SendKey};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use harness::recording::Recorder;

mod common;

const SENDS: u64 = 64_000;
const BATCH: u64 = 64;

fn record(recorder: &Recorder) {
    let mut batch = Vec::with_capacity(BATCH as usize);
    for start in (0..SENDS).step_by(BATCH as usize) {
        batch.clear();
        batch.extend((start..start + BATCH).map(|index| SendKey {
            message: MessageId {
                producer: (start / BATCH % 2) as u32,
                index,
            },
            attempt: 0,
            partition: Some((index % 3) as i32),
        }));
        recorder.invoke_all(&batch);
        for &send in &batch {
            let partition = (send.message.index % 3) as i32;
            recorder.ok(send, partition, 1_000_000 + send.message.index as i64);
        }
    }
    recorder.flush();
}

/// This process's CPU time so far, all threads.
fn cpu_time() -> Duration {
    Duration::from_secs_f64(common::cpu_seconds())
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("history.jsonl");
    let mut group = c.benchmark_group("recorder");
    group.throughput(Throughput::Elements(SENDS));
    group.bench_function("record 64k sends (CPU time)", |b| {
        b.iter_custom(|iterations| {
            // One recorder a sample, warmed up first: a run's recorder reaches its
            // steady size within its first drains.
            let recorder = Recorder::create(&path, "bench", Instant::now(), 2, None, None).unwrap();
            record(&recorder);
            let before = cpu_time();
            for _ in 0..iterations {
                record(&recorder);
            }
            let spent = cpu_time() - before;
            drop(recorder);
            let _ = std::fs::remove_file(&path);
            spent
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
