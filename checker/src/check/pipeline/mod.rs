//! Pipelines: consume, transform, produce, and commit the consumed offsets.
//!
//! A pipeline promises that every committed input record has exactly one
//! committed output record, in input order, and that the group's committed
//! offsets stand where the committed output ends, so that a restart neither
//! skips nor redoes input. Each output value names its input's place
//! ([`crate::payload::OutputOf`]), so all of that is judged from the two
//! raw logs, their markers and the group's offsets, never from what a
//! processor says it did. What the processors say (their polls,
//! assignments and transactions, in the history) judges their consumers:
//! Jepsen's queue checks per assignment ([`polls`]), and whether a
//! `read_committed` consumer delivered an uncommitted input record.
//!
//! The input's own producer is eoscheck's feeder: its sends are judged as
//! any producer's, but they decide nothing here; a pipeline run's verdict
//! rests on [`crate::Kind::PIPELINE`].

mod judge;
mod logs;
mod polls;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::history::{Event, PipelineHeader, ProcResult};
use crate::ids::{Offset, Partition};
use crate::log::{LogError, Manifest, PartitionLog};
use logs::{FateLog, InRecord, OutRecord};
use polls::Polls;

pub(crate) use judge::Judged;

/// A pipeline run as the history and its logs leave it.
pub(crate) struct Pipeline {
    input_topic: String,
    header: PipelineHeader,
    input: BTreeMap<Partition, FateLog<InRecord>>,
    output: BTreeMap<Partition, FateLog<OutRecord>>,
    /// The output read's manifest: whether it completed, and what it listed.
    output_manifest: Option<(bool, BTreeSet<Partition>)>,
    group: Option<BTreeMap<Partition, Offset>>,
    polls: Polls,
    instances: u64,
    assignments: u64,
    lost_assignments: u64,
    transactions: BTreeMap<ProcResult, u64>,
    stops: BTreeMap<String, u64>,
}

impl Pipeline {
    pub fn new(input_topic: &str, header: PipelineHeader) -> Pipeline {
        Pipeline {
            input_topic: input_topic.to_string(),
            header,
            input: BTreeMap::new(),
            output: BTreeMap::new(),
            output_manifest: None,
            group: None,
            polls: Polls::default(),
            instances: 0,
            assignments: 0,
            lost_assignments: 0,
            transactions: BTreeMap::new(),
            stops: BTreeMap::new(),
        }
    }

    /// Takes one processor event of the history; other events are not its.
    pub fn observe(&mut self, event: &Event) -> Result<(), String> {
        match event {
            Event::ProcStart { proc, .. } => {
                self.check_slot(*proc)?;
                self.instances += 1;
                self.polls.reset(*proc, None);
            }
            Event::ProcAssign {
                proc, partitions, ..
            } => {
                self.check_slot(*proc)?;
                self.assignments += 1;
                self.polls.reset(*proc, Some(partitions));
            }
            Event::ProcRevoke {
                proc,
                partitions,
                lost,
                ..
            } => {
                self.lost_assignments += u64::from(*lost);
                self.polls.reset(*proc, Some(partitions));
            }
            Event::ProcSeek {
                proc, partition, ..
            } => self.polls.reset(*proc, Some(&[*partition])),
            Event::ProcPoll {
                time,
                proc,
                records,
                ..
            } => {
                self.check_slot(*proc)?;
                if let Some(&(p, first, last)) = records.iter().find(|(_, f, l)| l < f) {
                    return Err(format!(
                        "processor {proc}'s poll names the run {p}@{first}..={last}, which ends before it starts"
                    ));
                }
                self.polls.poll(*time, *proc, records);
            }
            Event::ProcCommit { result, .. } => {
                *self.transactions.entry(*result).or_default() += 1;
            }
            Event::ProcStop { why, .. } => {
                let word = why.split(':').next().unwrap_or(why).trim().to_string();
                *self.stops.entry(word).or_default() += 1;
            }
            _ => {}
        }
        Ok(())
    }

    fn check_slot(&self, proc: u32) -> Result<(), String> {
        match proc < self.header.processors {
            true => Ok(()),
            false => Err(format!(
                "processor {proc} is not one of the run's {} processor slots",
                self.header.processors
            )),
        }
    }

    /// One partition of the input topic's final read.
    pub fn read_input(&mut self, entry: &PartitionLog, bytes: Bytes) -> Result<(), LogError> {
        let log = FateLog::read(bytes, entry.complete)?;
        self.input.insert(entry.partition, log);
        Ok(())
    }

    pub fn begin_output(&mut self, manifest: &Manifest) {
        let listed = manifest.partitions.iter().map(|p| p.partition).collect();
        self.output_manifest = Some((manifest.complete, listed));
    }

    /// One partition of the output topic's final read.
    pub fn read_output(&mut self, entry: &PartitionLog, bytes: Bytes) -> Result<(), LogError> {
        let log = FateLog::read(bytes, entry.complete)?;
        self.output.insert(entry.partition, log);
        Ok(())
    }

    /// The group's committed offsets at the end (partitions with none
    /// committed left out).
    pub fn group_offsets(&mut self, offsets: BTreeMap<Partition, Offset>) {
        self.group = Some(offsets);
    }
}
