//! `eoscheck bench checker`: the checker's speed and memory on a synthetic run of
//! N records, encoded as real RecordBatch v2 bytes so that decoding is measured too.
//! Generating the run is not timed; replaying its history and decoding and
//! analysing its log is.

use std::time::Instant;

use anyhow::{bail, Result};
use checker::{synth, Checker, Guarantee, Options};

/// Runs the benchmark and returns its report line.
pub fn checker(records: u64) -> Result<String> {
    if records == 0 {
        bail!(crate::failure::Failure::usage(
            "--records must be at least 1"
        ));
    }
    let generated = Instant::now();
    let run =
        synth::generate(&synth::SynthConfig::benchmark(records)).map_err(anyhow::Error::msg)?;
    let bytes: usize = run.logs.iter().map(|l| l.len()).sum();
    eprintln!(
        "generated {records} records, {} MiB of batches, in {:.1?}",
        bytes >> 20,
        generated.elapsed()
    );

    let started = Instant::now();
    let mut checker = Checker::new(Options::new(Guarantee::ALL.to_vec()));
    let mut consistent = Ok(());
    run.for_each_event(|e| {
        if consistent.is_ok() {
            consistent = checker.observe(e);
        }
    });
    consistent.map_err(anyhow::Error::msg)?;
    checker.begin_log(&run.manifest);
    for (entry, log) in run.manifest.partitions.iter().zip(&run.logs) {
        checker.read_partition(entry, log.clone())?;
    }
    let results = checker.finish();
    let seconds = started.elapsed().as_secs_f64();
    if results.exit_code() != 0 {
        bail!(
            "the synthetic run should be valid, but: {}",
            crate::check::summary(&results)
        );
    }
    let read = results.stats.records_read;
    Ok(format!(
        "bench checker: records {read}, seconds {seconds:.3}, records/s {:.0}, peak RSS {} MiB",
        read as f64 / seconds,
        peak_rss_kib() / 1024
    ))
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `eoscheck bench overhead`: what recording every send costs. Against one cluster,
/// a bare rdkafka loop (no history, nothing but a counter in the delivery callback)
/// and eoscheck's own workload (`--rate 0`, history written) take turns, after an
/// untimed warm-up turn each, `rounds` times each for `seconds` in ABBA order, so
/// that the growing log and the machine's other load weigh on both alike; the line
/// compares acknowledged messages per second.
pub async fn overhead(
    docker: &bollard::Docker,
    image: &str,
    run_id: &str,
    seconds: u64,
    rounds: u32,
) -> Result<String> {
    use crate::{cluster::Cluster, preset::Preset};

    let cluster = Cluster::start(docker, run_id, image, None).await?;
    let partitions = 3;
    cluster.create_topic(run_id, partitions).await?;
    // Both sides get exactly the settings of an `eoscheck run`.
    let preset = Preset::Idempotent.settings();
    let settings = crate::inprocess::librdkafka_settings(&cluster.bootstrap_servers(), &preset);
    let duration = std::time::Duration::from_secs(seconds);
    let bare_turn = |duration| {
        let (settings, topic) = (settings.clone(), run_id.to_owned());
        async move {
            tokio::task::spawn_blocking(move || {
                bare_loop(&settings, &topic, partitions, OVERHEAD_MESSAGE, duration)
            })
            .await?
        }
    };
    let eoscheck_turn = |duration| {
        let launcher = crate::client::Launcher::InProcess {
            bootstrap: cluster.bootstrap_servers(),
            settings: preset,
        };
        workload_rate(launcher, run_id, partitions, duration)
    };
    // Untimed first turns: the first writes to a new topic pay for the brokers'
    // warm-up (JIT, segment creation), which would count against whichever
    // side went first.
    let warm_up = std::time::Duration::from_secs(5);
    bare_turn(warm_up).await?;
    eoscheck_turn(warm_up).await?;
    // Then turns in ABBA order, so the log's growth weighs on both sides alike.
    let (mut bare, mut eoscheck) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            bare.push(bare_turn(duration).await?);
            eoscheck.push(eoscheck_turn(duration).await?);
        } else {
            eoscheck.push(eoscheck_turn(duration).await?);
            bare.push(bare_turn(duration).await?);
        }
    }
    let (bare_rate, eoscheck_rate) = (mean(&bare), mean(&eoscheck));
    Ok(format!(
        "bench overhead: bare rdkafka {bare_rate:.0} acked/s ({}), eoscheck workload {eoscheck_rate:.0} acked/s ({}), ratio {:.2}",
        list(&bare),
        list(&eoscheck),
        eoscheck_rate / bare_rate
    ))
}

const OVERHEAD_MESSAGE: usize = 100;

fn mean(rates: &[f64]) -> f64 {
    rates.iter().sum::<f64>() / rates.len() as f64
}

fn list(rates: &[f64]) -> String {
    rates
        .iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// eoscheck's workload, one producer, unthrottled, history written to a temp file.
async fn workload_rate(
    launcher: crate::client::Launcher,
    topic: &str,
    partitions: i32,
    duration: std::time::Duration,
) -> Result<f64> {
    use std::sync::atomic::Ordering;

    use crate::{recorder::Recorder, workload};

    let history = tempfile_path(topic);
    let recorder = Recorder::create(&history, topic, Instant::now())?;
    let load = workload::Workload::start(
        workload::WorkloadConfig {
            topic: topic.to_owned(),
            producers: 1,
            partitions,
            rate: 0,
            message_size: OVERHEAD_MESSAGE,
            launcher,
            app_resend: false,
        },
        recorder.clone(),
    )
    .await;
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    let rate = recorder.counts.ok.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    load.stop(std::time::Duration::from_secs(10)).await;
    let _ = std::fs::remove_file(&history);
    Ok(rate)
}

fn tempfile_path(run_id: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("eoscheck-bench-{run_id}.jsonl"))
}

/// A plain producer loop: one idempotent producer, messages round-robin over the
/// partitions, a counter of acknowledgements and nothing else.
fn bare_loop(
    settings: &[(String, String)],
    topic: &str,
    partitions: i32,
    size: usize,
    duration: std::time::Duration,
) -> Result<f64> {
    use std::sync::atomic::{AtomicU64, Ordering};

    use rdkafka::{
        error::{KafkaError, RDKafkaErrorCode},
        producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer},
        ClientConfig, ClientContext,
    };

    struct Acks(AtomicU64);
    impl ClientContext for Acks {}
    impl ProducerContext for Acks {
        type DeliveryOpaque = ();
        fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
            if result.is_ok() {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    let mut config = ClientConfig::new();
    for (k, v) in settings {
        config.set(k, v);
    }
    let producer: ThreadedProducer<Acks> = config.create_with_context(Acks(AtomicU64::new(0)))?;
    let payload = vec![b'.'; size];
    let started = Instant::now();
    let mut i = 0u64;
    while started.elapsed() < duration {
        let record = BaseRecord::<(), [u8]>::to(topic)
            .partition((i % partitions as u64) as i32)
            .payload(&payload);
        match producer.send(record) {
            Ok(()) => i += 1,
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
    let rate =
        producer.context().0.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    producer.flush(std::time::Duration::from_secs(10))?;
    Ok(rate)
}
