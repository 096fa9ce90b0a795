//! `eoscheck smoke`: the shortest real proof that the foundation works. A real
//! cluster, one idempotent rdkafka producer, a raw read of every partition, and
//! counts that must all agree.

use std::{collections::BTreeSet, path::PathBuf, time::Duration};

use anyhow::Result;
use futures::StreamExt;
use rdkafka::{
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
    ClientConfig,
};
use tracing::info;

use super::images::{ready_engine, ImageArgs};
use crate::{
    cluster::{self, final_read, Cluster},
    run_dir::RunDir,
};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    image: ImageArgs,
    /// How many messages to send.
    #[arg(long, default_value_t = 10_000)]
    messages: u64,
    /// The runs folder; this run goes to DIR/<id>/.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
}

/// A cluster of the run's own, the sends and the read-back; exit 0 when every
/// count agrees.
pub async fn execute(args: Args) -> Result<i32> {
    let image = args.image.broker_image()?;
    let docker = ready_engine(&image).await?;
    let run = RunDir::create(&args.out, "smoke-")?;
    let job = {
        let docker = docker.clone();
        async move {
            let started = std::time::Instant::now();
            let nodes = run.join("nodes");
            let cluster =
                Cluster::start(&docker, &run.id, &image.reference(), Some(&nodes)).await?;
            info!(
                "cluster ready after {:.1}s",
                started.elapsed().as_secs_f64()
            );
            let report = send_and_read_back(&cluster, args.messages, &run.join("log")).await?;
            println!("run directory: {}", run.path.display());
            println!(
                "smoke: sent {} acked {} read {} producers {}",
                report.sent, report.acked, report.read, report.producers
            );
            Ok(if report.passed() { 0 } else { 1 })
        }
    };
    cluster::guarded(&docker, job).await
}

pub struct SmokeReport {
    pub sent: u64,
    pub acked: u64,
    pub read: u64,
    pub producers: usize,
}

impl SmokeReport {
    pub fn passed(&self) -> bool {
        self.acked == self.sent && self.read == self.sent && self.producers == 1
    }
}

pub const TOPIC: &str = "eoscheck-smoke";
const PARTITIONS: i32 = 3;

/// Sends `messages` with one idempotent producer, then reads every partition
/// back raw into `log_dir` and counts what it holds.
pub async fn send_and_read_back(
    cluster: &Cluster,
    messages: u64,
    log_dir: &std::path::Path,
) -> Result<SmokeReport> {
    cluster.create_topic(TOPIC, PARTITIONS).await?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()?;
    let acked = futures::stream::iter(0..messages)
        .map(|i| {
            let producer = &producer;
            async move {
                let payload = format!("smoke {i}");
                let record = FutureRecord::<(), _>::to(TOPIC)
                    .partition((i % PARTITIONS as u64) as i32)
                    .payload(&payload);
                producer
                    .send(record, Timeout::After(Duration::from_secs(30)))
                    .await
                    .is_ok()
            }
        })
        .buffer_unordered(1000)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await as u64;
    info!("{acked} of {messages} sends acknowledged");

    std::fs::create_dir_all(log_dir)?;
    let mut read = 0;
    let mut producers = BTreeSet::new();
    for partition in 0..PARTITIONS {
        let file = log_dir.join(checker::log::file_name(partition));
        let mut bytes = final_read::read_raw(cluster, TOPIC, partition, &file).await?;
        while !bytes.is_empty() {
            let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes)?;
            for record in set.records.iter().filter(|r| !r.control) {
                read += 1;
                producers.insert(record.producer_id);
            }
        }
    }
    Ok(SmokeReport {
        sent: messages,
        acked,
        read,
        producers: producers.len(),
    })
}
