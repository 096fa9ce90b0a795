//! A synthetic pipeline run: a transactional feeder fills the input topic
//! (aborting some of its transactions, at least one per partition), two
//! processors consume it with a rebalance half-way, write one committed
//! output per committed input to the same partition number of the output
//! topic, and commit the group's offsets with each transaction. One
//! pipeline anomaly may be planted by changing what a processor wrote,
//! polled or committed.

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::Compression;

use super::{encode_batch, encode_marker, BatchSpec, Rng};
use crate::anomaly::Kind;
use crate::history::{Event, PipelineHeader, ProcResult, TxnAction, FORMAT};
use crate::ids::{MessageId, Offset, Partition, Processor};
use crate::log::{self, Manifest, PartitionLog};
use crate::payload::{self, OutputOf};
use crate::{Checker, Options, Results};

const PARTITIONS: usize = 3;
const PROCESSORS: Processor = 2;
const FEEDER_PID: i64 = 1000;
const INPUT: &str = "in";
const OUTPUT: &str = "out";

/// A pipeline anomaly to plant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineInjection {
    /// An input in the middle of a partition gets no output.
    Lost,
    /// An input gets a second committed output.
    Duplicate,
    /// Two outputs of one transaction are written in the wrong order.
    Reorder,
    /// A partition's last transaction writes nothing, its offsets committed.
    OffsetAhead,
    /// A partition's committed offset stays before its last transaction.
    OffsetBehind,
    /// A poll leaves out one committed input (another copy of it is written).
    PollSkip,
    /// A poll delivers again the last input of the poll before.
    PollRegress,
    /// A processor delivers an aborted input and commits its output.
    AbortedRead,
}

impl PipelineInjection {
    pub const ALL: [PipelineInjection; 8] = [
        PipelineInjection::Lost,
        PipelineInjection::Duplicate,
        PipelineInjection::Reorder,
        PipelineInjection::OffsetAhead,
        PipelineInjection::OffsetBehind,
        PipelineInjection::PollSkip,
        PipelineInjection::PollRegress,
        PipelineInjection::AbortedRead,
    ];

    /// The kind of anomaly it plants.
    pub fn kind(self) -> Kind {
        match self {
            PipelineInjection::Lost => Kind::PipelineLost,
            PipelineInjection::Duplicate => Kind::PipelineDuplicate,
            PipelineInjection::Reorder => Kind::PipelineReorder,
            PipelineInjection::OffsetAhead => Kind::OffsetAhead,
            PipelineInjection::OffsetBehind => Kind::OffsetBehind,
            PipelineInjection::PollSkip => Kind::PollSkip,
            PipelineInjection::PollRegress => Kind::PollRegress,
            PipelineInjection::AbortedRead => Kind::AbortedRead,
        }
    }
}

/// A generated pipeline run: everything a check reads.
pub struct PipelineRun {
    pub history: String,
    pub input: (Manifest, Vec<Bytes>),
    pub output: (Manifest, Vec<Bytes>),
    /// The group's committed offsets, when they were read.
    pub group: Option<BTreeMap<Partition, Offset>>,
    /// The input place the planted anomaly is about.
    pub planted: Option<(Partition, Offset)>,
}

impl PipelineRun {
    /// Checks the run as `eoscheck check` would.
    pub fn check(&self, options: Options) -> Result<Results, String> {
        let mut checker = Checker::new(options);
        checker
            .read_history(&self.history)
            .map_err(|e| e.to_string())?;
        checker.begin_log(&self.input.0);
        for (entry, bytes) in self.input.0.partitions.iter().zip(&self.input.1) {
            checker
                .read_partition(entry, bytes.clone())
                .map_err(|e| e.to_string())?;
        }
        checker.begin_output(&self.output.0);
        for (entry, bytes) in self.output.0.partitions.iter().zip(&self.output.1) {
            checker
                .read_output_partition(entry, bytes.clone())
                .map_err(|e| e.to_string())?;
        }
        if let Some(group) = &self.group {
            checker.group_offsets(group.clone());
        }
        Ok(checker.finish())
    }
}

/// One processor transaction: the committed inputs of one partition it
/// handles, in offset order.
struct Item {
    partition: Partition,
    inputs: Vec<Offset>,
    /// Inputs it outputs (normally `inputs`), in output order.
    outputs: Vec<Offset>,
}

/// Generates a pipeline run from `seed`, with `injection` planted.
pub fn pipeline(seed: u64, injection: Option<PipelineInjection>) -> PipelineRun {
    let mut rng = Rng(seed);
    let mut events = vec![Event::Header {
        format: FORMAT,
        topic: INPUT.into(),
        producers: Some(1),
        keys: None,
        pipeline: Some(PipelineHeader {
            output: OUTPUT.into(),
            processors: PROCESSORS,
        }),
    }];
    let feeder = feed(&mut rng, &mut events);
    let mut items = plan(&mut rng, &feeder.committed);
    let mut group = BTreeMap::new();
    for item in &items {
        group.insert(item.partition, item.inputs.last().unwrap() + 1);
    }
    let planted = injection.and_then(|i| plant(i, &mut items, &feeder, &mut group));
    let skip = (injection == Some(PipelineInjection::PollSkip))
        .then_some(planted)
        .flatten();
    let regress = injection == Some(PipelineInjection::PollRegress);
    let output = process(&items, &feeder.values, &mut events, skip, regress);
    events.push(Event::End { time: 10_000_000 });
    let history = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    PipelineRun {
        history,
        input: logs(INPUT, feeder.logs),
        output: logs(OUTPUT, output),
        group: Some(group),
        planted,
    }
}

/// The input topic as the feeder left it.
struct Feeder {
    logs: Vec<BytesMut>,
    /// Per partition, committed and aborted data offsets.
    committed: Vec<Vec<Offset>>,
    aborted: Vec<Vec<Offset>>,
    values: BTreeMap<(Partition, Offset), Vec<u8>>,
}

/// The feeder's transactions: the first aborts on each partition, the rest
/// commit four times in five.
fn feed(rng: &mut Rng, events: &mut Vec<Event>) -> Feeder {
    let mut feeder = Feeder {
        logs: vec![BytesMut::new(); PARTITIONS],
        committed: vec![Vec::new(); PARTITIONS],
        aborted: vec![Vec::new(); PARTITIONS],
        values: BTreeMap::new(),
    };
    let mut next = [0 as Offset; PARTITIONS];
    let mut sequence = [0; PARTITIONS];
    let mut index = 0;
    events.push(Event::TxnInit {
        time: 1,
        producer: 0,
        transactional_id: "feeder".into(),
    });
    let txns = 30 + rng.below(30) as u32;
    for txn in 0..txns {
        let p = if (txn as usize) < PARTITIONS {
            txn as usize
        } else {
            rng.below(PARTITIONS as u64) as usize
        };
        let commit = txn as usize >= PARTITIONS && rng.below(5) != 0;
        let time = 10 + u64::from(txn) * 100;
        events.push(Event::TxnBegin {
            time,
            producer: 0,
            txn,
        });
        let k = 1 + rng.below(4) as usize;
        let first = next[p];
        let mut values = Vec::new();
        for i in 0..k {
            let message = MessageId { producer: 0, index };
            index += 1;
            let value = payload::encode(message, 0, 24);
            let offset = first + i as Offset;
            feeder
                .values
                .insert((p as Partition, offset), value.clone());
            values.push(value);
            events.push(Event::Invoke {
                time: time + 1,
                message,
                attempt: 0,
                partition: Some(p as Partition),
            });
            events.push(Event::Ok {
                time: time + 2,
                message,
                attempt: 0,
                partition: p as Partition,
                offset,
            });
            match commit {
                true => feeder.committed[p].push(offset),
                false => feeder.aborted[p].push(offset),
            }
        }
        encode_batch(
            &mut feeder.logs[p],
            &BatchSpec {
                first_offset: first,
                pid: FEEDER_PID,
                epoch: 0,
                base_sequence: sequence[p],
                transactional: true,
                values: &values,
                keys: &[],
                compression: Compression::None,
            },
        );
        next[p] += k as Offset;
        sequence[p] += k as i32;
        let end = if commit {
            TxnAction::Commit
        } else {
            TxnAction::Abort
        };
        events.push(Event::TxnEnd {
            time: time + 3,
            producer: 0,
            txn,
            end,
        });
        events.push(Event::TxnOk {
            time: time + 4,
            producer: 0,
            txn,
            end,
        });
        encode_marker(&mut feeder.logs[p], next[p], FEEDER_PID, 0, commit);
        next[p] += 1;
    }
    feeder
}

/// Cuts each partition's committed inputs into transactions of 1 to 4,
/// taken round-robin over the partitions.
fn plan(rng: &mut Rng, committed: &[Vec<Offset>]) -> Vec<Item> {
    let mut queues: Vec<Vec<Vec<Offset>>> = committed
        .iter()
        .map(|offsets| {
            let mut chunks = Vec::new();
            let mut rest = &offsets[..];
            while !rest.is_empty() {
                let n = (1 + rng.below(4) as usize).min(rest.len());
                chunks.push(rest[..n].to_vec());
                rest = &rest[n..];
            }
            chunks.reverse();
            chunks
        })
        .collect();
    let mut items = Vec::new();
    while queues.iter().any(|q| !q.is_empty()) {
        for (p, queue) in queues.iter_mut().enumerate() {
            if let Some(inputs) = queue.pop() {
                items.push(Item {
                    partition: p as Partition,
                    outputs: inputs.clone(),
                    inputs,
                });
            }
        }
    }
    items
}

/// Changes the plan (or the group's offsets) so that `injection` happens;
/// returns the input place it concerns, or None where this run has no room
/// for it.
fn plant(
    injection: PipelineInjection,
    items: &mut [Item],
    feeder: &Feeder,
    group: &mut BTreeMap<Partition, Offset>,
) -> Option<(Partition, Offset)> {
    let last_of = |items: &[Item], p: Partition| items.iter().rposition(|i| i.partition == p);
    match injection {
        PipelineInjection::Lost => {
            let at = (0..items.len()).find(|&k| Some(k) != last_of(items, items[k].partition))?;
            let input = items[at].outputs.remove(0);
            Some((items[at].partition, input))
        }
        PipelineInjection::Duplicate => {
            let item = items.first_mut()?;
            item.outputs.push(item.inputs[0]);
            Some((item.partition, item.inputs[0]))
        }
        PipelineInjection::Reorder => {
            let item = items.iter_mut().find(|i| i.outputs.len() >= 2)?;
            item.outputs.swap(0, 1);
            Some((item.partition, item.inputs[0]))
        }
        PipelineInjection::OffsetAhead => {
            let at = last_of(items, 0)?;
            items[at].outputs.clear();
            Some((0, items[at].inputs[0]))
        }
        PipelineInjection::OffsetBehind => {
            let at = last_of(items, 0)?;
            group.insert(0, items[at].inputs[0]);
            Some((0, items[at].inputs[0]))
        }
        PipelineInjection::PollSkip => {
            let item = items.iter().find(|i| i.inputs.len() >= 3)?;
            Some((item.partition, item.inputs[1]))
        }
        PipelineInjection::PollRegress => {
            let at = regress_at(items)?;
            let p = items[at].partition;
            let before = items[..at].iter().rfind(|i| i.partition == p)?;
            Some((p, *before.inputs.last()?))
        }
        PipelineInjection::AbortedRead => {
            let p = 0;
            let aborted = *feeder.aborted[p].first()?;
            let item = items
                .iter_mut()
                .find(|i| i.partition == p as Partition && *i.inputs.last().unwrap() > aborted)?;
            for list in [&mut item.inputs, &mut item.outputs] {
                list.push(aborted);
                list.sort_unstable();
            }
            Some((p as Partition, aborted))
        }
    }
}

/// Where a poll can deliver again what the one before it delivered: the
/// second transaction of partition 0 when the same processor, in the same
/// assignment, had the first.
fn regress_at(items: &[Item]) -> Option<usize> {
    let half = items.len() / 2;
    let mine: Vec<usize> = (0..half).filter(|&k| items[k].partition == 0).collect();
    mine.get(1).copied()
}

/// The processors' side: starts, assignments (swapped half-way), polls,
/// output transactions and their commits. Returns the output logs.
fn process(
    items: &[Item],
    values: &BTreeMap<(Partition, Offset), Vec<u8>>,
    events: &mut Vec<Event>,
    skip: Option<(Partition, Offset)>,
    regress: bool,
) -> Vec<BytesMut> {
    let mut out = vec![BytesMut::new(); PARTITIONS];
    let mut next = [0 as Offset; PARTITIONS];
    let mut txn = [0u32; PROCESSORS as usize];
    let mut last = [None::<Offset>; PARTITIONS];
    let mut time = 100_000;
    let owner = |p: Partition, swapped: bool| (p as u32 + u32::from(swapped)) % PROCESSORS;
    for proc in 0..PROCESSORS {
        events.push(Event::ProcStart {
            time,
            proc,
            transactional_id: Some(format!("proc-{proc}")),
        });
        assign(events, time, proc, false, owner);
    }
    let regress_item = if regress { regress_at(items) } else { None };
    for (k, item) in items.iter().enumerate() {
        time += 1_000;
        let swapped = k >= items.len() / 2;
        if k == items.len() / 2 {
            for proc in 0..PROCESSORS {
                events.push(Event::ProcRevoke {
                    time,
                    proc,
                    partitions: owned(proc, false, owner),
                    lost: false,
                });
                assign(events, time, proc, true, owner);
            }
        }
        let p = item.partition;
        let proc = owner(p, swapped);
        txn[proc as usize] += 1;
        let n = txn[proc as usize];
        let mut delivered: Vec<Offset> = item
            .inputs
            .iter()
            .copied()
            .filter(|&o| Some((p, o)) != skip)
            .collect();
        if regress_item == Some(k) {
            delivered.insert(
                0,
                last[p as usize].expect("an earlier transaction of the partition"),
            );
        }
        last[p as usize] = item.inputs.last().copied();
        events.push(Event::ProcPoll {
            time,
            proc,
            txn: n,
            records: runs(p, &delivered),
        });
        if !item.outputs.is_empty() {
            let outputs: Vec<Vec<u8>> = item
                .outputs
                .iter()
                .map(|&o| {
                    let of = OutputOf {
                        partition: p,
                        offset: o,
                        processor: proc,
                        txn: n,
                    };
                    of.encode(&values[&(p, o)])
                })
                .collect();
            let pid = 2000 + i64::from(proc);
            let q = p as usize;
            encode_batch(
                &mut out[q],
                &BatchSpec {
                    first_offset: next[q],
                    pid,
                    epoch: 0,
                    base_sequence: n as i32 * 10,
                    transactional: true,
                    values: &outputs,
                    keys: &[],
                    compression: Compression::None,
                },
            );
            next[q] += outputs.len() as Offset;
            encode_marker(&mut out[q], next[q], pid, 0, true);
            next[q] += 1;
        }
        events.push(Event::ProcCommit {
            time: time + 500,
            proc,
            txn: n,
            result: ProcResult::Committed,
            offsets: vec![(p, item.inputs.last().unwrap() + 1)],
            error: None,
        });
    }
    for proc in 0..PROCESSORS {
        events.push(Event::ProcStop {
            time: time + 1_000,
            proc,
            why: "closed".into(),
        });
    }
    out
}

fn owned(
    proc: Processor,
    swapped: bool,
    owner: impl Fn(Partition, bool) -> Processor,
) -> Vec<Partition> {
    (0..PARTITIONS as Partition)
        .filter(|&p| owner(p, swapped) == proc)
        .collect()
}

fn assign(
    events: &mut Vec<Event>,
    time: u64,
    proc: Processor,
    swapped: bool,
    owner: impl Fn(Partition, bool) -> Processor,
) {
    events.push(Event::ProcAssign {
        time,
        proc,
        partitions: owned(proc, swapped, owner),
    });
}

/// Offsets as runs of consecutive ones.
fn runs(p: Partition, offsets: &[Offset]) -> Vec<(Partition, Offset, Offset)> {
    let mut runs: Vec<(Partition, Offset, Offset)> = Vec::new();
    for &o in offsets {
        match runs.last_mut() {
            Some(run) if run.2 + 1 == o => run.2 = o,
            _ => runs.push((p, o, o)),
        }
    }
    runs
}

fn logs(topic: &str, logs: Vec<BytesMut>) -> (Manifest, Vec<Bytes>) {
    let bytes: Vec<Bytes> = logs.into_iter().map(BytesMut::freeze).collect();
    let partitions = (0..bytes.len())
        .map(|p| {
            let end = last_offset(&bytes[p]) + 1;
            PartitionLog {
                partition: p as Partition,
                log_start_offset: 0,
                high_watermark: end,
                last_stable_offset: Some(end),
                complete: true,
                file: log::file_name(p as Partition),
            }
        })
        .collect();
    let manifest = Manifest {
        format: log::FORMAT,
        topic: topic.into(),
        complete: true,
        partitions,
        storage: Default::default(),
    };
    (manifest, bytes)
}

/// The last offset in a partition file (-1 when empty).
fn last_offset(bytes: &Bytes) -> Offset {
    let mut last = -1;
    log::visit(bytes.clone(), 0, |batch, _| last = batch.last_offset)
        .expect("a synthetic log decodes");
    last
}
