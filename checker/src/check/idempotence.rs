//! Whether the producers were idempotent, as the run asked and as the log
//! shows.
//!
//! Idempotence is what a producer's no-duplicates and order promises rest
//! on: the broker drops a retried batch by its PID and sequence. A record
//! written without a PID (-1) was not protected, whether or not a retry
//! happened to duplicate it, so a producer the run asked to be idempotent that
//! wrote one is an anomaly of its own (`idempotence-off`), found even in a run
//! with no fault. What was asked comes from the run's configuration
//! ([`Idempotence`]); the checker knows no presets, so a run that does not say
//! ([`Idempotence::Unknown`]) is never judged this way.

use crate::anomaly::{Anomalies, IdempotenceOff};
use crate::ids::{Offset, Partition, Producer, ProducerId, NO_PRODUCER_ID};
use crate::log::Record;
use crate::results::{InEffect, ProducerIdempotence};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the run asked of its producers' idempotence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Idempotence {
    /// `enable.idempotence=true` in the producer configuration.
    ExplicitTrue,
    /// `enable.idempotence=false` in the producer configuration.
    ExplicitFalse,
    /// Not set: the library's default decides.
    LeftToLibrary,
    /// Not known (a run from before eoscheck recorded it): nothing is judged.
    #[default]
    Unknown,
}

impl Idempotence {
    /// Whether a producer writing without a PID broke what was asked.
    pub fn expected(self) -> bool {
        matches!(self, Idempotence::ExplicitTrue | Idempotence::LeftToLibrary)
    }

    /// What was asked, for a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            Idempotence::ExplicitTrue => "asked for enable.idempotence=true",
            Idempotence::ExplicitFalse => "asked for enable.idempotence=false",
            Idempotence::LeftToLibrary => "idempotence left to the library's default",
            Idempotence::Unknown => "idempotence asked for not known",
        }
    }
}

/// One producer's records, with and without a PID.
#[derive(Default)]
struct Use {
    with_pid: u64,
    without_pid: u64,
    /// Where its first record without a PID sits.
    first_without: Option<(Partition, Offset)>,
}

impl Use {
    fn in_effect(&self) -> InEffect {
        match (self.with_pid, self.without_pid) {
            (0, 0) => InEffect::NoRecords,
            (_, 0) => InEffect::Yes,
            (0, _) => InEffect::No,
            _ => InEffect::Mixed,
        }
    }
}

/// The records of each producer instance (named by their payloads), by
/// whether their batch carries a PID.
#[derive(Default)]
pub(crate) struct PidUse {
    by_producer: BTreeMap<Producer, Use>,
}

impl PidUse {
    /// Counts the records of one data batch of `partition` written under `pid`,
    /// a lookup per run of one producer's records (a batch is nearly always
    /// one run).
    pub fn batch(&mut self, partition: Partition, pid: ProducerId, records: &[Record]) {
        let mut decoded = records.iter().filter(|r| r.decoded).peekable();
        while let Some(first) = decoded.next() {
            let mut count = 1;
            while decoded.next_if(|r| r.producer == first.producer).is_some() {
                count += 1;
            }
            let used = self.by_producer.entry(first.producer).or_default();
            if pid == NO_PRODUCER_ID {
                used.without_pid += count;
                used.first_without.get_or_insert((partition, first.offset));
            } else {
                used.with_pid += count;
            }
        }
    }

    /// What was asked and what was in effect for each of the run's
    /// `producers`; reports `idempotence-off` for each that wrote without a
    /// PID although `asked` expected idempotence.
    pub fn finish(
        mut self,
        producers: impl Iterator<Item = Producer>,
        asked: Idempotence,
        anomalies: &mut Anomalies,
        limit: usize,
    ) -> Vec<ProducerIdempotence> {
        producers
            .map(|producer| {
                let used = self.by_producer.remove(&producer).unwrap_or_default();
                if let Some((partition, offset)) = used.first_without.filter(|_| asked.expected()) {
                    anomalies.idempotence_off.add(limit, || IdempotenceOff {
                        producer,
                        partition,
                        offset,
                        records: used.without_pid,
                        asked,
                    });
                }
                ProducerIdempotence {
                    producer,
                    asked,
                    in_effect: used.in_effect(),
                }
            })
            .collect()
    }
}
