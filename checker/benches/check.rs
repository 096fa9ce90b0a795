//! Decode + analysis throughput on a 300,000-message synthetic run (the
//! `bench` example and `eoscheck bench checker` cover ten million).

use checker::{synth, Checker, Guarantee, Options, Results};
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

criterion_group!(benches, bench);
criterion_main!(benches);
