//! What each processor's consumer delivered, step by step.
//!
//! Jepsen's queue checks judge a consumer by consecutive deliveries: within
//! one assignment, and with no rewind between, the next offset of a
//! partition must come after the last one, and nothing committed may lie
//! between them. The history gives the deliveries before the input log is
//! read, so they are kept as steps (the previous offset, and the run now
//! delivered) and judged against the log at the end.

use crate::check::hashing::FastMap;
use crate::history::Nanos;
use crate::ids::{Offset, Partition, Processor};

/// One run of consecutive offsets a poll delivered, and what the same
/// consumer delivered before it in the same assignment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub time: Nanos,
    pub processor: Processor,
    pub partition: Partition,
    /// The last offset delivered before, when there is one since the
    /// assignment (or the last rewind) began.
    pub after: Option<Offset>,
    pub first: Offset,
    pub last: Offset,
}

#[derive(Default)]
pub(crate) struct Polls {
    /// Each (processor, partition)'s last delivered offset in its current
    /// assignment.
    at: FastMap<(Processor, Partition), Offset>,
    pub steps: Vec<Step>,
    pub delivered: u64,
}

impl Polls {
    /// A new instance, a new assignment or a rewind: what comes next starts
    /// afresh.
    pub fn reset(&mut self, processor: Processor, partitions: Option<&[Partition]>) {
        match partitions {
            Some(parts) => parts.iter().for_each(|p| {
                self.at.remove(&(processor, *p));
            }),
            None => self.at.retain(|(proc, _), _| *proc != processor),
        }
    }

    pub fn poll(
        &mut self,
        time: Nanos,
        processor: Processor,
        runs: &[(Partition, Offset, Offset)],
    ) {
        for &(partition, first, last) in runs {
            let after = self.at.insert((processor, partition), last);
            self.delivered += (last - first + 1).max(0) as u64;
            self.steps.push(Step {
                time,
                processor,
                partition,
                after,
                first,
                last,
            });
        }
    }

    /// The processors whose polls delivered `offset` of `partition`.
    pub fn delivered_by(&self, partition: Partition, offset: Offset) -> Vec<Processor> {
        let mut by: Vec<Processor> = self
            .steps
            .iter()
            .filter(|s| s.partition == partition && (s.first..=s.last).contains(&offset))
            .map(|s| s.processor)
            .collect();
        by.sort_unstable();
        by.dedup();
        by
    }
}
