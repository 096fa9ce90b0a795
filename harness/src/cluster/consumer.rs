//! The consumer's read: after the raw final read, every partition read once
//! more by a real `read_committed` consumer (librdkafka in process), which
//! keeps the offsets of what it delivered for the checker to compare with
//! the committed view it computes from the raw log (`checker::consumed`).
//!
//! The raw read says what the brokers kept; this says what an application
//! reading with `isolation.level=read_committed` is shown, which the
//! brokers decide with the last stable offset and the aborted-transaction
//! index, and the consumer with both. The two can disagree only through a
//! broker or consumer bug, which is what the comparison is there to see.
//!
//! The consumer is assigned every partition from the log start (no group,
//! no committed offsets), and stops on each at the last stable offset it
//! asks for first (librdkafka lists offsets at the consumer's isolation
//! level), or at a time bound.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use checker::consumed::{Consumed, ConsumedPartition, FORMAT};
use checker::ids::{Offset, Partition};
use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, Consumer},
    Message, Offset as KafkaOffset, TopicPartitionList,
};

/// How long one partition's read may take; a partition of millions of
/// records reads in seconds.
const READ_BOUND: Duration = Duration::from_secs(120);
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads every partition of `topic` with a `read_committed` consumer.
pub fn read(bootstrap: &str, topic: &str, partitions: i32) -> Result<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "eoscheck-final-read")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .context("creating the read_committed consumer")?;
    let partitions = (0..partitions)
        .map(|p| read_partition(&consumer, topic, p))
        .collect::<Result<_>>()?;
    Ok(Consumed {
        format: FORMAT,
        consumer: format!("librdkafka {}", rdkafka::util::get_rdkafka_version().1),
        partitions,
    })
}

/// One partition, from its log start to its last stable offset.
fn read_partition(
    consumer: &BaseConsumer,
    topic: &str,
    partition: Partition,
) -> Result<ConsumedPartition> {
    let (from, stable) = consumer
        .fetch_watermarks(topic, partition, LIST_TIMEOUT)
        .with_context(|| format!("listing partition {partition}'s offsets"))?;
    let mut assignment = TopicPartitionList::new();
    assignment.add_partition_offset(topic, partition, KafkaOffset::Offset(from))?;
    consumer.assign(&assignment)?;
    let mut delivered = Delivered::default();
    let started = Instant::now();
    let mut position = from;
    while position < stable && started.elapsed() < READ_BOUND {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.with_context(|| format!("reading partition {partition}"))?;
            delivered.push(message.offset());
        }
        position = position_of(consumer, topic, partition).unwrap_or(position);
    }
    Ok(ConsumedPartition {
        partition,
        from,
        position: position.max(delivered.end()),
        complete: position >= stable,
        delivered: delivered.ranges,
    })
}

/// Where the consumer will fetch next: past control records and aborted
/// ones too, which it skips without delivering.
fn position_of(consumer: &BaseConsumer, topic: &str, partition: Partition) -> Option<Offset> {
    let positions = consumer.position().ok()?;
    match positions.find_partition(topic, partition)?.offset() {
        KafkaOffset::Offset(o) => Some(o),
        _ => None,
    }
}

/// Delivered offsets as `[first, end)` ranges.
#[derive(Default)]
struct Delivered {
    ranges: Vec<(Offset, Offset)>,
}

impl Delivered {
    fn push(&mut self, offset: Offset) {
        match self.ranges.last_mut() {
            Some(last) if last.1 == offset => last.1 += 1,
            _ => self.ranges.push((offset, offset + 1)),
        }
    }

    fn end(&self) -> Offset {
        self.ranges.last().map_or(0, |r| r.1)
    }
}

/// The offsets consumer group `group` has committed for every partition of
/// `topic` (OffsetFetch; the group is not joined): -1 where it committed
/// none.
pub fn group_offsets(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Result<checker::group::GroupOffsets> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .context("creating the consumer that fetches the group's offsets")?;
    let mut list = TopicPartitionList::new();
    for partition in 0..partitions {
        list.add_partition(topic, partition);
    }
    let committed = consumer
        .committed_offsets(list, LIST_TIMEOUT)
        .with_context(|| format!("fetching the offsets group {group} committed"))?;
    let offsets = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            KafkaOffset::Offset(o) => (e.partition(), o),
            _ => (e.partition(), -1),
        })
        .collect();
    Ok(checker::group::GroupOffsets {
        format: checker::group::FORMAT,
        group: group.to_owned(),
        offsets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_offsets_join_into_ranges() {
        let mut d = Delivered::default();
        for o in [0, 1, 2, 5, 6, 9] {
            d.push(o);
        }
        assert_eq!(d.ranges, [(0, 3), (5, 7), (9, 10)]);
        assert_eq!(d.end(), 10);
    }
}
