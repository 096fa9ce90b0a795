//! `consumed.json`: what a real `read_committed` consumer delivered when it
//! read every partition once more after the raw read.
//!
//! The raw read says what the brokers kept, markers and aborted records
//! included; the checker decides from it which records are committed. A
//! consumer decides the same thing its own way (the fetch response's
//! aborted-transaction list and the last stable offset), and applications
//! see only what it delivers. So the run keeps the offsets it delivered, as
//! ranges (committed data is nearly contiguous, so a partition of millions
//! of records takes a few ranges), and the checker compares them, within
//! what the consumer covered, with its own committed view: an aborted
//! record delivered is `aborted-read`, a committed one not delivered
//! `committed-skipped`.

use crate::ids::{Offset, Partition};
use serde::{Deserialize, Serialize};

/// The file's name in the run directory.
pub const FILE: &str = "consumed.json";
/// The layout this crate reads and writes.
pub const FORMAT: u32 = 1;

/// `consumed.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Consumed {
    pub format: u32,
    /// The consumer's library and version.
    pub consumer: String,
    pub partitions: Vec<ConsumedPartition>,
}

/// What the consumer delivered from one partition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsumedPartition {
    pub partition: Partition,
    /// The offset it began at (the log start).
    pub from: Offset,
    /// The position it reached: every offset below it was delivered or
    /// skipped on purpose (markers, aborted records).
    pub position: Offset,
    /// Whether it reached the last stable offset the brokers reported.
    pub complete: bool,
    /// The offsets of the records it delivered, as `[first, end)` ranges in
    /// offset order.
    pub delivered: Vec<(Offset, Offset)>,
}

impl Consumed {
    /// Parses `consumed.json`, refusing a layout this crate does not know or
    /// ranges that do not hold together (damage, never an anomaly).
    pub fn parse(text: &str) -> Result<Consumed, String> {
        let consumed: Consumed = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if consumed.format != FORMAT {
            return Err(format!(
                "consumed.json format {} is not supported (this checker reads format {FORMAT})",
                consumed.format
            ));
        }
        for p in &consumed.partitions {
            p.check()
                .map_err(|e| format!("partition {}: {e}", p.partition))?;
        }
        Ok(consumed)
    }
}

impl ConsumedPartition {
    /// Ranges must be non-empty, in order, apart, and within [from, position).
    fn check(&self) -> Result<(), String> {
        let mut last = self.from;
        for &(first, end) in &self.delivered {
            if first < last || end <= first || end > self.position {
                return Err(format!(
                    "delivered range [{first}, {end}) is empty, out of order or outside [{}, {})",
                    self.from, self.position
                ));
            }
            last = end;
        }
        Ok(())
    }

    /// Whether the consumer delivered the record at `offset`.
    pub fn delivered(&self, offset: Offset) -> bool {
        let after = self
            .delivered
            .partition_point(|&(first, _)| first <= offset);
        after > 0 && offset < self.delivered[after - 1].1
    }

    /// Whether `offset` is within what the consumer covered.
    pub fn covers(&self, offset: Offset) -> bool {
        (self.from..self.position).contains(&offset)
    }

    /// How many records it delivered.
    pub fn count(&self) -> u64 {
        self.delivered.iter().map(|(a, b)| (b - a) as u64).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(delivered: Vec<(Offset, Offset)>) -> ConsumedPartition {
        ConsumedPartition {
            partition: 0,
            from: 0,
            position: 20,
            complete: true,
            delivered,
        }
    }

    #[test]
    fn ranges_answer_membership_and_bad_ones_are_refused() {
        let p = partition(vec![(0, 3), (5, 9)]);
        let got: Vec<Offset> = (0..12).filter(|&o| p.delivered(o)).collect();
        assert_eq!(got, [0, 1, 2, 5, 6, 7, 8]);
        assert_eq!(p.count(), 7);
        assert!(p.check().is_ok());
        for bad in [
            vec![(3, 3)],
            vec![(5, 9), (0, 3)],
            vec![(0, 21)],
            vec![(0, 4), (3, 5)],
        ] {
            assert!(partition(bad).check().is_err());
        }
        let text = serde_json::to_string(&Consumed {
            format: 2,
            consumer: "x".into(),
            partitions: vec![],
        })
        .unwrap();
        assert!(Consumed::parse(&text).unwrap_err().contains("format 2"));
    }
}
