//! `eoscheck smoke`: the shortest real proof that the foundation works. A real
//! cluster, one idempotent rdkafka producer, a raw read of every partition, and
//! counts that must all agree.

use std::{collections::BTreeSet, time::Duration};

use anyhow::Result;
use futures::StreamExt;
use rdkafka::{
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
    ClientConfig,
};
use tracing::info;

use crate::{cluster::Cluster, logread};

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

pub async fn run(
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
        let leader = cluster.leader_address(TOPIC, partition).await?;
        let file = log_dir.join(format!("partition-{partition}.bin"));
        logread::read_partition(&leader, TOPIC, partition, &file, Duration::from_secs(30)).await?;
        let mut bytes = bytes::Bytes::from(std::fs::read(&file)?);
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
