//! Decode + analysis throughput on a 300,000-message synthetic run (the
//! `bench` example and `eoscheck bench checker` cover ten million), and the
//! workload's value encoding, which runs once per send on the client's thread.

use checker::{ids::MessageId, payload, synth, Checker, Guarantee, Options, Results};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn check(run: &synth::SynthRun) -> Results {
    let mut checker = Checker::new(Options::new(Guarantee::ALL.to_vec()));
    run.for_each_event(|e| checker.observe(e).expect("consistent history"));
    checker.begin_log(&run.manifest);
    for (entry, bytes) in run.manifest.partitions.iter().zip(&run.logs) {
        checker
            .read_partition(entry, bytes.clone())
            .expect("decodable log");
    }
    checker.finish()
}

fn bench(c: &mut Criterion) {
    let run = synth::generate(&synth::SynthConfig::benchmark(300_000)).expect("generate");
    let records = check(&run).stats.records_read;
    let mut group = c.benchmark_group("checker");
    group.sample_size(10);
    group.throughput(Throughput::Elements(records));
    group.bench_function("check 300k messages", |b| {
        b.iter(|| check(std::hint::black_box(&run)))
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    const SENDS: u64 = 65_536;
    let mut group = c.benchmark_group("payload");
    group.throughput(Throughput::Elements(SENDS));
    group.bench_function("encode 64k values of 100 bytes", |b| {
        let mut values = payload::Values::new(100);
        // Indexes of the length a long run's have.
        let mut index = 10_000_000;
        b.iter(|| {
            for _ in 0..SENDS {
                index += 1;
                let message = MessageId { producer: 1, index };
                std::hint::black_box(values.encode(message, 0, 100));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench, encode);
criterion_main!(benches);
