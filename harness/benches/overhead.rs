//! What recording every send costs a run, on a real cluster: bare rdkafka
//! loops (no history, nothing but a counter in the delivery callback) and
//! eoscheck's own workload (`--rate 0`, history written), with as many producers
//! each as `eoscheck run` has (2 by default), take turns, each on a fresh topic,
//! after untimed warm-up turns, `rounds` times each for `seconds` in ABBA order,
//! so that drift in the machine's load weighs on both alike. The lines compare
//! acknowledged messages per second (the ratio is the median over pairs of
//! neighbouring turns), and this process's CPU time per acknowledged message.
//! With `--control`, the bare loop takes both sides: the spread of its ratios is
//! what the bench cannot resolve on this machine. With `--keyed CODEC`, eoscheck's
//! workload takes both sides: as it is by default (explicit partitions, no
//! compression) against 100 keys placed by librdkafka's partitioner with
//! `compression.type=CODEC`.
//!
//! A benchmark of the repository's own, not a user command: it measures
//! eoscheck's implementation, not a producer under test.
//!
//! ```sh
//! cargo bench -p harness --bench overhead -- --seconds 10 --rounds 8
//! ```

mod common;

use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use harness::{
    clients::{librdkafka_settings, Launcher, Library, Preset, ProducerConfig, UserSettings},
    cluster::{self, engine, images, BrokerImage, Cluster},
    recording::Recorder,
    workload::{self, MessageSize},
};

#[derive(Parser)]
#[command(about = "Acknowledged messages/s of a bare rdkafka loop versus eoscheck's workload")]
struct Args {
    /// Seconds each turn sends.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    seconds: u64,
    /// Turns of each, alternating.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Producers on each side, as `eoscheck run --producers`.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    producers: u32,
    /// Run the bare loop on both sides: the ratios' spread is the bench's
    /// noise floor on this machine.
    #[arg(long, conflicts_with = "keyed")]
    control: bool,
    /// Compare eoscheck's default workload with a keyed one compressed with
    /// this codec (gzip, snappy, lz4, zstd).
    #[arg(long)]
    keyed: Option<String>,
    /// Kafka release to run.
    #[arg(long, default_value = images::DEFAULT_KAFKA_VERSION)]
    kafka_version: String,
    /// What `cargo bench` passes to every bench binary.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("info,librdkafka=warn,rdkafka=warn")
        .init();
    let args = Args::parse();
    tokio::runtime::Runtime::new()?.block_on(async {
        images::validate_version(&args.kafka_version)?;
        let image = BrokerImage::Local {
            version: args.kafka_version.clone(),
        };
        let docker = engine::connect().await?;
        images::ensure(&docker, &image).await?;
        let id = format!("bench-{:04x}", rand::random::<u16>());
        let job = {
            let docker = docker.clone();
            async move {
                println!(
                    "{}",
                    overhead(&docker, &image.reference(), &id, &args).await?
                );
                Ok(0)
            }
        };
        cluster::guarded(&docker, job).await.map(|_| ())
    })
}

async fn overhead(
    docker: &bollard::Docker,
    image: &str,
    run_id: &str,
    config: &Args,
) -> Result<String> {
    let &Args {
        producers,
        seconds,
        rounds,
        control,
        ref keyed,
        ..
    } = config;
    let cluster = Cluster::start(docker, run_id, image, None).await?;
    let mut taken = 0;
    let mut turn = |side, duration| {
        taken += 1;
        let topic = format!("{run_id}-{taken}");
        let cluster = &cluster;
        async move {
            // Every turn on a fresh topic: no turn inherits a longer log, and
            // deleting it afterwards keeps a long benchmark from filling the disk.
            cluster.create_topic(&topic, PARTITIONS).await?;
            let turn = take_turn(cluster, side, &topic, producers, duration, keyed).await?;
            tracing::info!(
                "{} turn: {:.0} acked/s, {:.2} µs CPU per ack",
                side.name(),
                turn.rate,
                turn.cpu_per_ack
            );
            cluster.delete_topic(&topic).await?;
            // The brokers unlink the topic's gigabytes a second after the delete
            // (LOG_SEGMENT_DELETE_DELAY_MS): let that happen between turns, not
            // at the start of the next one.
            tokio::time::sleep(SETTLE).await;
            anyhow::Ok(turn)
        }
    };
    // Untimed turns first, until the brokers are warm: at full load their JIT
    // compilers take 15-30% of this 2-core machine for about 90 s (measured with
    // `perf record -a`), which would fall on the first timed turns unevenly.
    // Turns as long as the timed ones, so that no topic grows bigger than theirs.
    let duration = std::time::Duration::from_secs(seconds);
    let sides = match (control, keyed) {
        (true, _) => [Side::Bare, Side::Control],
        (false, Some(_)) => [Side::Eoscheck, Side::Keyed],
        (false, None) => [Side::Bare, Side::Eoscheck],
    };
    for _ in 0..WARM_UP_SECONDS.div_ceil(2 * seconds) {
        for side in sides {
            turn(side, duration).await?;
        }
    }
    // Then turns in ABBA order, so that a drift in the machine's other load
    // weighs on both sides alike.
    let mut turns: [Vec<Turn>; 2] = Default::default();
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            turns[i].push(turn(sides[i], duration).await?);
        }
    }
    // Turn i of each side ran next to each other: their ratio is paired against
    // the same machine state, and the median of the pairs shrugs off a turn that
    // a burst of outside load fell on.
    let [base, other] = &turns;
    let mut pairs: Vec<f64> = base
        .iter()
        .zip(other)
        .map(|(b, o)| o.rate / b.rate)
        .collect();
    pairs.sort_by(f64::total_cmp);
    let (base_cpu, other_cpu) = (
        mean(base, |t| t.cpu_per_ack),
        mean(other, |t| t.cpu_per_ack),
    );
    let [a, b] = sides.map(Side::name);
    let plural = if producers == 1 { "" } else { "s" };
    Ok(format!(
        "bench overhead, {producers} producer{plural} a side: {a} {:.0} acked/s ({}), {b} {:.0} acked/s ({})\n\
         ratio {:.2} (median of the paired turns: {})\n\
         client CPU per acked message: {a} {base_cpu:.2} µs, {b} {other_cpu:.2} µs ({:+.2} µs {})",
        mean(base, |t| t.rate),
        list(base),
        mean(other, |t| t.rate),
        list(other),
        (pairs[(pairs.len() - 1) / 2] + pairs[pairs.len() / 2]) / 2.0,
        pairs
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        other_cpu - base_cpu,
        sides[1].difference()
    ))
}

/// One timed turn: acknowledged messages per second, and this process's CPU time
/// (user + system, µs) per acknowledged message, which the brokers' share of the
/// machine does not blur the way throughput is blurred.
struct Turn {
    rate: f64,
    cpu_per_ack: f64,
}

impl Turn {
    /// Starts a turn; the returned closure ends it, given the acknowledgements
    /// counted since the start.
    fn start() -> impl FnOnce(u64) -> Turn {
        let (started, cpu) = (Instant::now(), common::cpu_seconds());
        move |acked| {
            let (elapsed, cpu) = (started.elapsed().as_secs_f64(), common::cpu_seconds() - cpu);
            let acked = acked.max(1) as f64;
            Turn {
                rate: acked / elapsed,
                cpu_per_ack: cpu * 1e6 / acked,
            }
        }
    }
}

const OVERHEAD_MESSAGE: usize = 100;
/// Keys of the `--keyed` side.
const KEYS: u32 = 100;
/// Pause after each turn's topic is deleted.
const SETTLE: std::time::Duration = std::time::Duration::from_secs(3);
/// Full-load time before the timed turns (see `overhead`).
const WARM_UP_SECONDS: u64 = 100;
const PARTITIONS: i32 = 3;

#[derive(Clone, Copy)]
enum Side {
    Bare,
    Eoscheck,
    /// The bare loop again, in the other side's place.
    Control,
    /// eoscheck's workload with keys and compression (`--keyed`).
    Keyed,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Bare => "bare rdkafka",
            Side::Eoscheck => "eoscheck workload",
            Side::Control => "bare rdkafka (control)",
            Side::Keyed => "eoscheck keyed, compressed",
        }
    }

    /// What the CPU difference against the bare loop is.
    fn difference(self) -> &'static str {
        match self {
            Side::Eoscheck => "for the workload and its history",
            Side::Keyed => "for keys, the partitioner and compression",
            _ => "between two runs of the same loop: noise",
        }
    }
}

/// One timed turn of one side, with exactly the settings of an `eoscheck run`.
async fn take_turn(
    cluster: &Cluster,
    side: Side,
    topic: &str,
    producers: u32,
    duration: std::time::Duration,
    codec: &Option<String>,
) -> Result<Turn> {
    let mut user = UserSettings::default();
    let keys = match (side, codec) {
        (Side::Keyed, Some(codec)) => {
            user.compression(codec);
            Some(KEYS)
        }
        _ => None,
    };
    let settings = ProducerConfig::layer(Preset::Idempotent, Library::Rdkafka, &user);
    match side {
        Side::Bare | Side::Control => {
            let librdkafka = librdkafka_settings(&cluster.bootstrap_servers(), &settings.values());
            let topic = topic.to_owned();
            tokio::task::spawn_blocking(move || {
                bare_loops(&librdkafka, &topic, producers, duration)
            })
            .await?
        }
        Side::Eoscheck | Side::Keyed => {
            let launcher = Launcher::InProcess {
                bootstrap: cluster.bootstrap_servers(),
                settings,
            };
            workload_rate(launcher, topic, producers, duration, keys).await
        }
    }
}

fn mean(turns: &[Turn], of: impl Fn(&Turn) -> f64) -> f64 {
    turns.iter().map(of).sum::<f64>() / turns.len() as f64
}

fn list(turns: &[Turn]) -> String {
    turns
        .iter()
        .map(|t| format!("{:.0}", t.rate))
        .collect::<Vec<_>>()
        .join(", ")
}

/// eoscheck's workload, unthrottled, history written to a temp file.
async fn workload_rate(
    launcher: Launcher,
    topic: &str,
    producers: u32,
    duration: std::time::Duration,
    keys: Option<u32>,
) -> Result<Turn> {
    use std::sync::atomic::Ordering;

    let history = tempfile::NamedTempFile::new()?;
    let recorder = Recorder::create(history.path(), topic, Instant::now(), producers, keys, None)?;
    let load = workload::Workload::start(
        workload::WorkloadConfig {
            topic: topic.to_owned(),
            producers,
            partitions: PARTITIONS,
            rate: 0,
            message_size: MessageSize {
                least: OVERHEAD_MESSAGE,
                most: OVERHEAD_MESSAGE,
            },
            keys,
            launcher,
            app_resend: false,
            transactions: None,
            spares: 0,
            seed: 0,
        },
        recorder.clone(),
    )
    .await;
    let turn = Turn::start();
    tokio::time::sleep(duration).await;
    let turn = turn(recorder.counts.ok.load(Ordering::Relaxed));
    load.stop(std::time::Duration::from_secs(10)).await;
    Ok(turn)
}

/// Plain producer loops, one thread and one idempotent producer each, messages
/// round-robin over the partitions, a counter of acknowledgements and nothing else.
fn bare_loops(
    settings: &[(String, String)],
    topic: &str,
    producers: u32,
    duration: std::time::Duration,
) -> Result<Turn> {
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

    let send_loop = |producer: &ThreadedProducer<Acks>, started: Instant| -> Result<()> {
        let payload = [b'.'; OVERHEAD_MESSAGE];
        let mut i = 0u64;
        while started.elapsed() < duration {
            let record = BaseRecord::<(), [u8]>::to(topic)
                .partition((i % PARTITIONS as u64) as i32)
                .payload(&payload);
            match producer.send(record) {
                Ok(()) => i += 1,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        Ok(())
    };
    let mut config = ClientConfig::new();
    for (k, v) in settings {
        config.set(k, v);
    }
    let producers = (0..producers)
        .map(|_| config.create_with_context(Acks(AtomicU64::new(0))))
        .collect::<Result<Vec<ThreadedProducer<Acks>>, _>>()?;
    let (started, turn) = (Instant::now(), Turn::start());
    std::thread::scope(|scope| {
        let loops: Vec<_> = producers
            .iter()
            .map(|producer| scope.spawn(move || send_loop(producer, started)))
            .collect();
        loops
            .into_iter()
            .try_for_each(|l| l.join().expect("a send loop does not panic"))
    })?;
    let acked = producers
        .iter()
        .map(|p| p.context().0.load(Ordering::Relaxed));
    let turn = turn(acked.sum());
    for producer in &producers {
        producer.flush(std::time::Duration::from_secs(10))?;
    }
    Ok(turn)
}
