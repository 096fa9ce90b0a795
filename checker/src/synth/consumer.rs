//! What a `read_committed` consumer of a synthetic run delivers: every
//! record that counts as written (outside any transaction, or committed),
//! as offset ranges, with the injected misses applied.

use crate::consumed::{Consumed, ConsumedPartition, FORMAT};
use crate::ids::{Offset, Partition};

/// Per partition: committed ranges so far, and the open transaction's.
pub(super) struct ConsumerView {
    committed: Vec<Vec<(Offset, Offset)>>,
    open: Vec<Vec<(Offset, Offset)>>,
    /// Committed offsets it fails to deliver, aborted ones it delivers.
    skipped: Vec<(Partition, Offset)>,
    extra: Vec<(Partition, Offset)>,
}

impl ConsumerView {
    pub fn new(partitions: usize) -> ConsumerView {
        ConsumerView {
            committed: vec![Vec::new(); partitions],
            open: vec![Vec::new(); partitions],
            skipped: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// `records` data records written at `offset`; a transactional batch
    /// waits for its marker.
    pub fn write(&mut self, q: Partition, offset: Offset, records: usize, transactional: bool) {
        let range = (offset, offset + records as Offset);
        match transactional {
            true => self.open[q as usize].push(range),
            false => self.committed[q as usize].push(range),
        }
    }

    /// The transactional producer's marker on `q`.
    pub fn mark(&mut self, q: Partition, commit: bool) {
        let open = std::mem::take(&mut self.open[q as usize]);
        if commit {
            self.committed[q as usize].extend(open);
        }
    }

    pub fn skip(&mut self, q: Partition, offset: Offset) {
        self.skipped.push((q, offset));
    }

    pub fn deliver(&mut self, q: Partition, offset: Offset) {
        self.extra.push((q, offset));
    }

    /// The consumer's read of every partition to its end (`ends`).
    pub fn finish(self, ends: &[Offset]) -> Consumed {
        let partitions = ends
            .iter()
            .enumerate()
            .map(|(q, &end)| {
                let q = q as Partition;
                let mut ranges = self.committed[q as usize].clone();
                ranges.extend(
                    self.extra
                        .iter()
                        .filter(|e| e.0 == q)
                        .map(|&(_, o)| (o, o + 1)),
                );
                for &(_, o) in self.skipped.iter().filter(|s| s.0 == q) {
                    ranges = ranges
                        .into_iter()
                        .flat_map(|(a, b)| match (a..b).contains(&o) {
                            true => vec![(a, o), (o + 1, b)],
                            false => vec![(a, b)],
                        })
                        .collect();
                }
                ConsumedPartition {
                    partition: q,
                    from: 0,
                    position: end,
                    complete: true,
                    delivered: merged(ranges),
                }
            })
            .collect();
        Consumed {
            format: FORMAT,
            consumer: "synthetic".into(),
            partitions,
        }
    }
}

/// Ranges sorted, empty ones dropped, touching ones joined.
fn merged(mut ranges: Vec<(Offset, Offset)>) -> Vec<(Offset, Offset)> {
    ranges.retain(|(a, b)| a < b);
    ranges.sort_unstable();
    let mut out: Vec<(Offset, Offset)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}
