//! Judging a pipeline once both logs, the group's offsets and the history
//! are in.
//!
//! Per input partition, the committed input records are walked in offset
//! order against the committed output copies each has:
//!
//! - one copy: processed once; more: `pipeline-duplicate`;
//! - none, before the last input that has one: `pipeline-lost` (a hole);
//! - none, after it and before the group's committed offset:
//!   `offset-ahead` (one finding per partition, the range named);
//! - none, after both: not processed by the end, which leaves the answer
//!   unknown rather than claiming a loss;
//! - copies at or past the group's committed offset: `offset-behind`.

use std::collections::{BTreeMap, BTreeSet};

use super::logs::{FateLog, InRecord};
use super::polls::Step;
use super::Pipeline;
use crate::anomaly::{
    AbortedRead, Anomalies, ConsumerMiss, Fate, OffsetAhead, OffsetBehind, OffsetGap,
    PipelineDuplicate, PipelineInput, PipelineLost, PipelineOutput, PipelineReorder, PollRegress,
    PollSkip, PollStep,
};
use crate::check::hashing::FastMap;
use crate::ids::{Offset, Partition, NO_PRODUCER_ID};
use crate::results::PipelineStats;

/// What the pipeline judge concluded besides its anomalies.
pub(crate) struct Judged {
    pub stats: PipelineStats,
    /// Why the pipeline's answer is not established, if it is not.
    pub unknown: Vec<String>,
}

/// The committed output copies of each input place, in output log order.
type Copies = BTreeMap<(Partition, Offset), Vec<PipelineOutput>>;

/// Committed inputs of one partition with no committed output, by where
/// they lie.
#[derive(Default)]
struct Uncovered {
    /// After the last processed input, before the group's offset.
    ahead: Vec<Offset>,
    /// After both: not reached by the end.
    unprocessed: u64,
    /// Only uncommitted (no-marker) output yet.
    undecided: u64,
}

impl Pipeline {
    pub fn finish(self, anomalies: &mut Anomalies, limit: usize) -> Judged {
        let mut stats = self.counted();
        let copies = self.copies(&mut stats);
        let undecided = self.undecided_inputs();
        self.reorders(anomalies, limit);
        let mut reported = BTreeSet::new();
        self.uncommitted_inputs(&copies, &mut stats, &mut reported, anomalies, limit);
        let mut pending = 0;
        let whole = self.output_whole();
        for (&p, log) in &self.input {
            let missing = whole.then_some(&undecided);
            let uncovered = self.partition(p, log, &copies, missing, &mut stats, anomalies, limit);
            stats.unprocessed += uncovered.unprocessed;
            pending += uncovered.undecided;
            self.offset_ahead(p, &uncovered.ahead, anomalies, limit);
        }
        for step in &self.polls.steps {
            self.step(step, &mut reported, anomalies, limit);
        }
        let unknown = self.unknown(&stats, pending);
        Judged { stats, unknown }
    }

    /// The counts the history and the logs give without judging anything.
    fn counted(&self) -> PipelineStats {
        let mut stats = PipelineStats {
            input_topic: self.input_topic.clone(),
            output_topic: self.header.output.clone(),
            processors: self.header.processors,
            instances: self.instances,
            assignments: self.assignments,
            lost_assignments: self.lost_assignments,
            polled: self.polls.delivered,
            transactions: self
                .transactions
                .iter()
                .map(|(result, n)| (result_name(*result), *n))
                .collect(),
            stops: self.stops.clone(),
            group_offsets: self.group.clone(),
            ..PipelineStats::default()
        };
        for (_, fate) in self.input.values().flat_map(|l| &l.records) {
            match fate {
                Fate::Committed => stats.inputs_committed += 1,
                Fate::Aborted => stats.inputs_aborted += 1,
                Fate::NoMarker => stats.inputs_unmarked += 1,
            }
        }
        stats
    }

    /// Every committed output by the input it names; counts the output.
    fn copies(&self, stats: &mut PipelineStats) -> Copies {
        let mut copies = Copies::new();
        for (&partition, log) in &self.output {
            for (out, fate) in &log.records {
                match fate {
                    Fate::Aborted => stats.outputs_aborted += 1,
                    Fate::NoMarker => stats.outputs_unmarked += 1,
                    Fate::Committed => stats.outputs_committed += 1,
                }
                let (Fate::Committed, Some(of)) = (fate, out.of) else {
                    stats.outputs_foreign += u64::from(*fate == Fate::Committed);
                    continue;
                };
                copies
                    .entry((of.partition, of.offset))
                    .or_default()
                    .push(out.named(partition, of));
            }
        }
        copies
    }

    /// Input places with output that no marker has ended yet.
    fn undecided_inputs(&self) -> BTreeSet<(Partition, Offset)> {
        let unmarked = self.output.values().flat_map(|l| &l.records);
        unmarked
            .filter(|(_, fate)| *fate == Fate::NoMarker)
            .filter_map(|(out, _)| out.of.map(|of| (of.partition, of.offset)))
            .collect()
    }

    /// Per output partition, the first copies of each input partition's
    /// records must come in input order.
    fn reorders(&self, anomalies: &mut Anomalies, limit: usize) {
        for (&partition, log) in &self.output {
            let mut seen = BTreeSet::new();
            let mut highest: FastMap<Partition, Offset> = FastMap::default();
            let committed = log.records.iter().filter(|(_, f)| *f == Fate::Committed);
            for (out, of) in committed.filter_map(|(out, _)| out.of.map(|of| (out, of))) {
                if !seen.insert((of.partition, of.offset)) {
                    continue;
                }
                let top = highest.entry(of.partition).or_insert(of.offset);
                if of.offset < *top {
                    let after = *top;
                    anomalies.pipeline_reorder.add(limit, || PipelineReorder {
                        input: self.input_at(of.partition, of.offset),
                        after,
                        output: out.named(partition, of),
                    });
                }
                *top = (*top).max(of.offset);
            }
        }
    }

    /// Outputs made from input records that are not committed: a processor
    /// delivered what a `read_committed` consumer must not.
    fn uncommitted_inputs(
        &self,
        copies: &Copies,
        stats: &mut PipelineStats,
        reported: &mut BTreeSet<(Partition, Offset)>,
        anomalies: &mut Anomalies,
        limit: usize,
    ) {
        for (&(p, o), outputs) in copies {
            let Some(log) = self.input.get(&p).filter(|l| l.complete) else {
                continue;
            };
            match log.at(o) {
                Some((_, Fate::Committed)) => {}
                found => {
                    stats.outputs_of_uncommitted += outputs.len() as u64;
                    let found = found.map(|(r, f)| (*r, *f));
                    aborted_read(p, o, found, reported, anomalies, limit);
                }
            }
        }
    }

    /// Judges one input partition's committed records against their copies.
    #[allow(clippy::too_many_arguments)]
    fn partition(
        &self,
        p: Partition,
        log: &FateLog<InRecord>,
        copies: &Copies,
        missing: Option<&BTreeSet<(Partition, Offset)>>,
        stats: &mut PipelineStats,
        anomalies: &mut Anomalies,
        limit: usize,
    ) -> Uncovered {
        let committed: Vec<&InRecord> = log
            .records
            .iter()
            .filter(|(_, f)| *f == Fate::Committed)
            .map(|(r, _)| r)
            .collect();
        let copies_of = |o: Offset| copies.get(&(p, o)).map_or(&[][..], Vec::as_slice);
        let last_processed = committed
            .iter()
            .rev()
            .find(|r| !copies_of(r.offset).is_empty())
            .map(|r| r.offset);
        let group = self
            .group
            .as_ref()
            .map(|g| g.get(&p).copied().unwrap_or(-1));
        let mut uncovered = Uncovered::default();
        for r in &committed {
            let input = PipelineInput {
                partition: p,
                offset: r.offset,
                message: r.message,
            };
            match copies_of(r.offset) {
                [_] => stats.processed_once += 1,
                // Output missing from an output read that is not whole
                // proves nothing.
                [] if missing.is_none() => {}
                [] if missing.is_some_and(|u| u.contains(&(p, r.offset))) => {
                    uncovered.undecided += 1
                }
                [] => match (last_processed, group) {
                    (Some(next), _) if r.offset < next => {
                        let next_processed = committed
                            .iter()
                            .map(|c| c.offset)
                            .find(|&o| o > r.offset && !copies_of(o).is_empty())
                            .unwrap_or(next);
                        anomalies.pipeline_lost.add(limit, || PipelineLost {
                            input,
                            next_processed,
                            polled_by: self.polls.delivered_by(p, r.offset),
                        })
                    }
                    (_, Some(g)) if r.offset < g => uncovered.ahead.push(r.offset),
                    _ => uncovered.unprocessed += 1,
                },
                outputs => {
                    stats.processed_more += 1;
                    anomalies
                        .pipeline_duplicate
                        .add(limit, || PipelineDuplicate {
                            input,
                            outputs: outputs.to_vec(),
                        });
                }
            }
        }
        if let (Some(g), Some(_)) = (group, last_processed) {
            let behind: Vec<Offset> = committed
                .iter()
                .map(|r| r.offset)
                .filter(|&o| o >= g && !copies_of(o).is_empty())
                .collect();
            if let (Some(&first), Some(&last)) = (behind.first(), behind.last()) {
                anomalies.offset_behind.add(limit, || {
                    OffsetBehind(OffsetGap {
                        partition: p,
                        committed: g,
                        first,
                        last,
                        records: behind.len() as u64,
                    })
                });
            }
        }
        uncovered
    }

    fn offset_ahead(
        &self,
        p: Partition,
        ahead: &[Offset],
        anomalies: &mut Anomalies,
        limit: usize,
    ) {
        let (Some(&first), Some(&last), Some(group)) = (ahead.first(), ahead.last(), &self.group)
        else {
            return;
        };
        anomalies.offset_ahead.add(limit, || {
            OffsetAhead(OffsetGap {
                partition: p,
                committed: group.get(&p).copied().unwrap_or(-1),
                first,
                last,
                records: ahead.len() as u64,
            })
        });
    }

    /// One consumer step: in order, nothing committed skipped, nothing
    /// uncommitted delivered.
    fn step(
        &self,
        step: &Step,
        reported: &mut BTreeSet<(Partition, Offset)>,
        anomalies: &mut Anomalies,
        limit: usize,
    ) {
        let Some(log) = self.input.get(&step.partition).filter(|l| l.complete) else {
            return;
        };
        let at = |after: Offset| PollStep {
            processor: step.processor,
            partition: step.partition,
            after,
            delivered: step.first,
            time: step.time,
        };
        match step.after {
            Some(after) if step.first <= after => {
                anomalies.poll_regress.add(limit, || PollRegress(at(after)))
            }
            Some(after) if step.first > after + 1 => {
                let between = log.between(after + 1, step.first - 1);
                let mut skipped = between.iter().filter(|(_, f)| *f == Fate::Committed);
                if let Some((first, _)) = skipped.next() {
                    let count = 1 + skipped.count() as u64;
                    anomalies.poll_skip.add(limit, || PollSkip {
                        step: at(after),
                        skipped: count,
                        first_skipped: first.offset,
                    });
                }
            }
            _ => {}
        }
        let delivered = log.between(step.first, step.last);
        for (r, fate) in delivered.iter().filter(|(_, f)| *f != Fate::Committed) {
            aborted_read(
                step.partition,
                r.offset,
                Some((*r, *fate)),
                reported,
                anomalies,
                limit,
            );
        }
        if (delivered.len() as Offset) < step.last - step.first + 1 {
            let data: BTreeSet<Offset> = delivered.iter().map(|(r, _)| r.offset).collect();
            if let Some(o) = (step.first..=step.last).find(|o| !data.contains(o)) {
                aborted_read(step.partition, o, None, reported, anomalies, limit);
            }
        }
    }

    /// Whether the output topic was read whole: only then is an input's
    /// missing output a finding.
    fn output_whole(&self) -> bool {
        let Some((complete, listed)) = &self.output_manifest else {
            return false;
        };
        *complete
            && listed.iter().all(|p| self.output.contains_key(p))
            && self.output.values().all(|l| l.complete)
    }

    /// The input record at a place, as examples name it.
    fn input_at(&self, partition: Partition, offset: Offset) -> PipelineInput {
        let found = self.input.get(&partition).and_then(|l| l.at(offset));
        PipelineInput {
            partition,
            offset,
            message: found.and_then(|(r, _)| r.message),
        }
    }

    fn unknown(&self, stats: &PipelineStats, pending: u64) -> Vec<String> {
        let mut unknown = Vec::new();
        let output = &self.header.output;
        match &self.output_manifest {
            None => unknown.push(format!(
                "the output topic {output} was not read: its manifest is missing"
            )),
            Some((complete, listed)) => {
                if !complete {
                    unknown.push(format!(
                        "the final read of the output topic {output} did not complete"
                    ));
                }
                for p in listed.iter().filter(|p| !self.output.contains_key(p)) {
                    unknown.push(format!(
                        "output partition {p} is in the manifest but was not read"
                    ));
                }
            }
        }
        for (p, _) in self.output.iter().filter(|(_, l)| !l.complete) {
            unknown.push(format!("the read of output partition {p} did not complete"));
        }
        if self.group.is_none() {
            unknown.push(
                "the group's committed offsets were not read, so whether a restart would skip or redo input was not judged".into(),
            );
        }
        if stats.unprocessed > 0 {
            unknown.push(format!(
                "{} committed input records had no committed output at the end and lie at or past the group's committed offset: the processors had not reached them, so whether they would be processed once is not known",
                stats.unprocessed
            ));
        }
        if pending > 0 {
            unknown.push(format!(
                "{pending} committed input records have output only in transactions no marker has ended"
            ));
        }
        unknown
    }
}

/// An uncommitted input record (or a place holding no data record) that a
/// processor got: counted once per place.
fn aborted_read(
    partition: Partition,
    offset: Offset,
    found: Option<(InRecord, Fate)>,
    reported: &mut BTreeSet<(Partition, Offset)>,
    anomalies: &mut Anomalies,
    limit: usize,
) {
    if !reported.insert((partition, offset)) {
        return;
    }
    anomalies.aborted_read.add(limit, || {
        AbortedRead(ConsumerMiss {
            partition,
            offset,
            pid: found.map_or(NO_PRODUCER_ID, |(r, _)| r.pid),
            epoch: found.map_or(-1, |(r, _)| r.epoch),
            message: found.and_then(|(r, _)| r.message),
            fate: found.map(|(_, f)| f),
        })
    });
}

fn result_name(result: crate::history::ProcResult) -> String {
    serde_json::to_value(result)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}
