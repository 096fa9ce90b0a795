//! Helpers shared by the integration tests: running the checker over a
//! synthetic or hand-built run, and finding what its examples point at.
#![allow(dead_code)] // each test file uses its own part

use bytes::{Bytes, BytesMut};
use checker::anomaly::{ConsumerMiss, TxnStory};
use checker::history::{Event, FORMAT};
use checker::ids::{Epoch, Offset, Partition, ProducerId, Sequence};
use checker::log::{self, Manifest, PartitionLog};
use checker::synth::{encode_batch, encode_marker, BatchSpec, Compression, SynthRun};
use checker::{payload, Checker, Guarantee, Kind, MessageId, Options, Results};

pub fn options(guarantees: &[Guarantee]) -> Options {
    let mut options = Options::new(guarantees.to_vec());
    options.max_examples = usize::MAX;
    options.decode_threads = 2;
    options
}

/// Checks a synthetic run, with the idempotence it asked for.
pub fn check_synth(run: &SynthRun, guarantees: &[Guarantee]) -> Results {
    let mut checker = Checker::new(Options {
        idempotence: run.asked,
        ..options(guarantees)
    });
    run.for_each_event(|e| {
        checker
            .observe(e)
            .expect("synthetic histories are consistent")
    });
    checker.consumed(run.consumed.clone());
    judge(checker, &run.manifest, run.logs.iter().cloned())
}

/// The synthetic run's history as the lines of its file.
pub fn history_lines(run: &SynthRun) -> Vec<String> {
    let mut lines = Vec::new();
    run.for_each_event(|e| lines.push(serde_json::to_string(e).unwrap()));
    lines
}

/// Checks the synthetic run's log against `history`, a text of its history.
pub fn check_synth_text(run: &SynthRun, history: &str, guarantees: &[Guarantee]) -> Results {
    let mut checker = Checker::new(options(guarantees));
    checker
        .read_history(history)
        .expect("a history cut at its end reads");
    judge(checker, &run.manifest, run.logs.iter().cloned())
}

/// Reads a log (the manifest, each partition's bytes in its order) into
/// `checker`, which has read a history, and judges.
fn judge(mut checker: Checker, manifest: &Manifest, logs: impl Iterator<Item = Bytes>) -> Results {
    checker.begin_log(manifest);
    for (entry, bytes) in manifest.partitions.iter().zip(logs) {
        checker.read_partition(entry, bytes).expect("decodable log");
    }
    checker.finish()
}

/// Where an example points: the message it is about and the record.
pub type Locus = (Option<MessageId>, Option<(Partition, Offset)>);

pub fn loci(results: &Results, kind: Kind) -> Vec<Locus> {
    let a = &results.anomalies;
    let at = |p: Partition, o: Offset| Some((p, o));
    let input = |i: &checker::anomaly::PipelineInput| (i.message, at(i.partition, i.offset));
    match kind {
        Kind::PipelineLost => a
            .pipeline_lost
            .examples
            .iter()
            .map(|e| input(&e.detail.input))
            .collect(),
        Kind::PipelineDuplicate => a
            .pipeline_duplicate
            .examples
            .iter()
            .map(|e| input(&e.detail.input))
            .collect(),
        Kind::PipelineReorder => a
            .pipeline_reorder
            .examples
            .iter()
            .map(|e| input(&e.detail.input))
            .collect(),
        Kind::OffsetAhead => a
            .offset_ahead
            .examples
            .iter()
            .map(|e| (None, at(e.detail.0.partition, e.detail.0.first)))
            .collect(),
        Kind::OffsetBehind => a
            .offset_behind
            .examples
            .iter()
            .map(|e| (None, at(e.detail.0.partition, e.detail.0.first)))
            .collect(),
        Kind::PollSkip => a
            .poll_skip
            .examples
            .iter()
            .map(|e| (None, at(e.detail.step.partition, e.detail.first_skipped)))
            .collect(),
        Kind::PollRegress => a
            .poll_regress
            .examples
            .iter()
            .map(|e| (None, at(e.detail.0.partition, e.detail.0.after)))
            .collect(),
        Kind::Lost => a
            .lost
            .examples
            .iter()
            .map(|e| (Some(e.detail.send.message), None))
            .collect(),
        Kind::Duplicate => a
            .duplicate
            .examples
            .iter()
            .map(|e| (Some(e.detail.send.message), None))
            .collect(),
        Kind::Reorder => a
            .reorder
            .examples
            .iter()
            .map(|e| {
                (
                    Some(e.detail.send.message),
                    at(e.detail.copy.partition, e.detail.copy.offset),
                )
            })
            .collect(),
        Kind::SequenceGap => a
            .sequence_gap
            .examples
            .iter()
            .map(|e| {
                (
                    e.detail.0.message,
                    at(e.detail.0.partition, e.detail.0.offset),
                )
            })
            .collect(),
        Kind::SequenceRepeat => a
            .sequence_repeat
            .examples
            .iter()
            .map(|e| {
                (
                    e.detail.0.message,
                    at(e.detail.0.partition, e.detail.0.offset),
                )
            })
            .collect(),
        Kind::SequenceRegress => a
            .sequence_regress
            .examples
            .iter()
            .map(|e| {
                (
                    e.detail.0.message,
                    at(e.detail.0.partition, e.detail.0.offset),
                )
            })
            .collect(),
        Kind::OffsetMismatch => a
            .offset_mismatch
            .examples
            .iter()
            .map(|e| (Some(e.detail.send.message), None))
            .collect(),
        Kind::FailedButPresent => a
            .failed_but_present
            .examples
            .iter()
            .map(|e| {
                (
                    Some(e.detail.send.message),
                    at(e.detail.copy.partition, e.detail.copy.offset),
                )
            })
            .collect(),
        Kind::Phantom => a
            .phantom
            .examples
            .iter()
            .map(|e| (e.detail.message, at(e.detail.partition, e.detail.offset)))
            .collect(),
        // One locus per partition the key landed in.
        Kind::KeySplit => a
            .key_split
            .examples
            .iter()
            .flat_map(|e| e.detail.0.partitions.iter().map(|p| (p.message, None)))
            .collect(),
        Kind::IdempotenceOff => a
            .idempotence_off
            .examples
            .iter()
            .map(|e| (None, at(e.detail.partition, e.detail.offset)))
            .collect(),
        Kind::TornTransaction => stories(a.torn_transaction.examples.iter().map(|e| &e.detail.0)),
        Kind::CommitLost => stories(a.commit_lost.examples.iter().map(|e| &e.detail.0)),
        Kind::AbortCommitted => stories(a.abort_committed.examples.iter().map(|e| &e.detail.0)),
        Kind::ZombieWrite => stories(a.zombie_write.examples.iter().map(|e| &e.detail.story)),
        Kind::AbortedRead => misses(a.aborted_read.examples.iter().map(|e| &e.detail.0)),
        Kind::CommittedSkipped => misses(a.committed_skipped.examples.iter().map(|e| &e.detail.0)),
    }
}

/// A consumer's miss's locus: the record's message and place.
fn misses<'a>(misses: impl Iterator<Item = &'a ConsumerMiss>) -> Vec<Locus> {
    misses
        .map(|m| (m.message, Some((m.partition, m.offset))))
        .collect()
}

/// A transaction's locus: its first message and its first part's first record.
fn stories<'a>(stories: impl Iterator<Item = &'a TxnStory>) -> Vec<Locus> {
    stories
        .map(|s| {
            let part = &s.parts[0];
            (
                s.messages.first().map(|m| m.message),
                Some((part.partition, part.first_offset)),
            )
        })
        .collect()
}

/// Kinds with at least one anomaly.
pub fn found_kinds(results: &Results) -> Vec<Kind> {
    Kind::ALL
        .iter()
        .copied()
        .filter(|k| results.anomalies.count(*k) > 0)
        .collect()
}

/// A batch of no records with what its records share, to fill in.
pub fn batch(
    pid: ProducerId,
    epoch: Epoch,
    base_sequence: Sequence,
    transactional: bool,
) -> BatchSpec<'static> {
    BatchSpec {
        first_offset: 0,
        pid,
        epoch,
        base_sequence,
        transactional,
        values: &[],
        keys: &[],
        compression: Compression::None,
    }
}

/// A hand-built run: history events and per-partition batches.
pub struct Run {
    pub events: Vec<Event>,
    pub logs: Vec<BytesMut>,
    pub entries: Vec<PartitionLog>,
    /// How the batches [`Run::write`] appends are compressed.
    pub compression: Compression,
    /// The run's keys, if keyed: [`Run::write`] gives each record its key.
    keys: Option<u32>,
}

/// How many producers a hand-built run's header lists (0 to 9).
pub const PRODUCERS: u32 = 10;

pub fn msg(producer: u32, index: u64) -> MessageId {
    MessageId { producer, index }
}

impl Run {
    pub fn new(partitions: Partition) -> Run {
        Run::with_keys(partitions, None)
    }

    /// A keyed run: its header names `keys`.
    pub fn keyed(partitions: Partition, keys: u32) -> Run {
        Run::with_keys(partitions, Some(keys))
    }

    fn with_keys(partitions: Partition, keys: Option<u32>) -> Run {
        Run {
            compression: Compression::None,
            keys,
            events: vec![Event::Header {
                format: FORMAT,
                topic: "t".into(),
                producers: Some(PRODUCERS),
                keys,
                pipeline: None,
            }],
            logs: (0..partitions).map(|_| BytesMut::new()).collect(),
            entries: (0..partitions)
                .map(|p| PartitionLog {
                    partition: p,
                    log_start_offset: 0,
                    high_watermark: 0,
                    last_stable_offset: None,
                    complete: true,
                    file: log::file_name(p),
                })
                .collect(),
        }
    }

    /// An invoke for `partition`; `None` leaves it to the library.
    pub fn invoke(
        &mut self,
        message: MessageId,
        attempt: u32,
        partition: impl Into<Option<Partition>>,
    ) -> &mut Run {
        self.events.push(Event::Invoke {
            time: 0,
            message,
            attempt,
            partition: partition.into(),
        });
        self
    }

    pub fn ok(
        &mut self,
        message: MessageId,
        attempt: u32,
        partition: Partition,
        offset: Offset,
    ) -> &mut Run {
        self.events.push(Event::Ok {
            time: 0,
            message,
            attempt,
            partition,
            offset,
        });
        self
    }

    pub fn event(&mut self, event: Event) -> &mut Run {
        self.events.push(event);
        self
    }

    /// Appends a batch of `messages` (with their attempts, and in a keyed
    /// run their keys) at the partition's end; returns the first offset.
    pub fn write(
        &mut self,
        partition: Partition,
        pid: ProducerId,
        epoch: Epoch,
        base_sequence: Sequence,
        messages: &[(MessageId, u32)],
    ) -> Offset {
        let keys: Vec<Bytes> = match self.keys {
            Some(n) => messages
                .iter()
                .map(|&(m, _)| {
                    let key = payload::key_bytes(payload::key_of(m, n));
                    Bytes::copy_from_slice(key.as_bytes())
                })
                .collect(),
            None => Vec::new(),
        };
        let values: Vec<Vec<u8>> = messages
            .iter()
            .map(|&(m, a)| payload::encode(m, a, 20))
            .collect();
        self.append(
            partition,
            BatchSpec {
                values: &values,
                keys: &keys,
                ..batch(pid, epoch, base_sequence, false)
            },
        )
    }

    pub fn write_values(
        &mut self,
        partition: Partition,
        pid: ProducerId,
        epoch: Epoch,
        base_sequence: Sequence,
        transactional: bool,
        values: Vec<Vec<u8>>,
    ) -> Offset {
        let values = BatchSpec {
            values: &values,
            ..batch(pid, epoch, base_sequence, transactional)
        };
        self.append(partition, values)
    }

    /// Appends a COMMIT (or ABORT) marker of `pid` at the partition's end;
    /// returns its offset.
    pub fn mark(
        &mut self,
        partition: Partition,
        pid: ProducerId,
        epoch: Epoch,
        commit: bool,
    ) -> Offset {
        let entry = &mut self.entries[partition as usize];
        let at = entry.high_watermark;
        encode_marker(&mut self.logs[partition as usize], at, pid, epoch, commit);
        entry.high_watermark += 1;
        at
    }

    /// Appends the batch `spec` at the partition's end, compressed as the run
    /// says; returns its first offset.
    pub fn append(&mut self, partition: Partition, spec: BatchSpec) -> Offset {
        let entry = &mut self.entries[partition as usize];
        let first_offset = entry.high_watermark;
        let spec = BatchSpec {
            first_offset,
            compression: self.compression,
            ..spec
        };
        encode_batch(&mut self.logs[partition as usize], &spec);
        entry.high_watermark += spec.values.len() as i64;
        first_offset
    }

    pub fn manifest(&self) -> Manifest {
        Manifest {
            format: log::FORMAT,
            topic: "t".into(),
            complete: self.entries.iter().all(|e| e.complete),
            partitions: self.entries.clone(),
            storage: Default::default(),
        }
    }

    /// The history as the recorder leaves it: the events, then the end line.
    pub fn closed(&self) -> Vec<Event> {
        let mut events = self.events.clone();
        events.push(Event::End { time: 0 });
        events
    }

    /// Checks the run with its closed history.
    pub fn check(&self, guarantees: &[Guarantee]) -> Results {
        self.check_with(options(guarantees))
    }

    /// Checks the run with its closed history, judged with `options`.
    pub fn check_with(&self, options: Options) -> Results {
        let mut checker = Checker::new(options);
        for e in &self.closed() {
            checker.observe(e).expect("consistent history");
        }
        self.read_log(checker)
    }

    /// Reads the run's log into `checker`, which has read a history, and
    /// judges.
    pub fn read_log(&self, checker: Checker) -> Results {
        let logs = self.logs.iter().map(|b| Bytes::from(b.to_vec()));
        judge(checker, &self.manifest(), logs)
    }
}
