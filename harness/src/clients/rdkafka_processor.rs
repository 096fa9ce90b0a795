//! librdkafka's processor: the pipeline's consume-transform-produce loop
//! with the librdkafka linked into eoscheck (the `rdkafka` client), run as
//! a child process of eoscheck itself (`eoscheck processor`) that speaks
//! the processor part of `drivers/PROTOCOL.md` on its stdin and stdout.
//!
//! A child process rather than a thread of the run: the nemesis kills a
//! processor with SIGKILL and freezes it with SIGSTOP, which for a thread
//! inside eoscheck could only be imitated (dropping a consumer leaves the
//! group politely; a crashed one stays a member until its session ends).
//!
//! The loop is the one the libraries document. Exactly once: a poll's
//! records are produced inside a transaction, with the next offsets sent to
//! it under the group's metadata, then committed; a transaction that must
//! abort is aborted and the consumer rewinds to the group's committed
//! offsets; a fenced producer stops. At least once: the records are
//! produced and flushed, and the offsets of what was flushed committed,
//! outside any transaction, at most every [`ALO_COMMIT`] (as applications
//! do: the consumer's own auto-commit runs every 5 s), and at close. What
//! is pending when the group takes partitions away is not committed (the
//! rebalance callback runs inside librdkafka's poll, away from the loop):
//! their next owner processes it again, which at least once allows.
//!
//! Given a [`Mutation`], the loop makes that one mistake on purpose (the
//! sensitivity runs: `super::mutation`).

use std::{
    collections::BTreeMap,
    io::{BufRead, Write},
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        Arc, Mutex,
    },
    time::Duration,
};

use anyhow::{bail, Context as _, Result};
use checker::{
    ids::{Offset, Partition, Processor, Txn},
    payload::OutputOf,
};
use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance},
    error::KafkaError,
    message::Message,
    producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer},
    types::RDKafkaErrorCode,
    ClientContext, Offset as KafkaOffset, TopicPartitionList,
};
use serde::Deserialize;
use serde_json::json;

use super::{client::TxnAnswer, inprocess, mutation::Mutation, preset::Processing};

/// Records one poll hands to one transaction, at most.
const BATCH: usize = 500;
/// How long the first record of a poll is waited for.
const POLL: Duration = Duration::from_millis(100);
/// How long a transaction call, a flush or an offset commit may take.
const CALL: Duration = Duration::from_secs(10);
/// How often a commit whose outcome is open is asked again.
const COMMIT_CALLS: u32 = 3;
/// At least once, how often at most the offsets of what was written are
/// committed.
const ALO_COMMIT: Duration = Duration::from_secs(1);

/// `configure`, as this processor reads it.
#[derive(Deserialize)]
struct Configure {
    bootstrap: String,
    processor: Processor,
    input: String,
    output: String,
    group: String,
    transactional_id: Option<String>,
    guarantee: String,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    consumer: BTreeMap<String, String>,
    #[serde(default)]
    tuning: BTreeMap<String, String>,
    #[serde(default)]
    mutation: Option<Mutation>,
}

/// The processor's output, shared with the rebalance callbacks.
#[derive(Clone)]
struct Out(Arc<Mutex<std::io::Stdout>>);

impl Out {
    fn emit(&self, line: serde_json::Value) {
        let mut out = self.0.lock().unwrap();
        let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    }
}

/// Says what the group gave and took.
struct Rebalances(Out);

impl ClientContext for Rebalances {}

impl ConsumerContext for Rebalances {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            self.0
                .emit(json!({"type": "revoked", "partitions": partitions(list)}));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            self.0
                .emit(json!({"type": "assigned", "partitions": partitions(list)}));
        }
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<Partition> {
    list.elements().iter().map(|e| e.partition()).collect()
}

/// `eoscheck processor`: reads `configure`, runs until `close` (or the end
/// of its input), and says `closed`.
pub fn serve() -> Result<()> {
    let out = Out(Arc::new(Mutex::new(std::io::stdout())));
    let mut first = String::new();
    std::io::stdin().read_line(&mut first)?;
    if first.is_empty() {
        bail!("no configure line");
    }
    let configure: Configure = serde_json::from_str(&first).context("the configure line")?;
    let processing = match configure.guarantee.as_str() {
        "exactly-once" => Processing::ExactlyOnce,
        "at-least-once" => Processing::AtLeastOnce,
        other => bail!("guarantee {other:?} is neither exactly-once nor at-least-once"),
    };
    let closing = Arc::new(AtomicBool::new(false));
    let close = closing.clone();
    std::thread::spawn(move || {
        // `close`, or the harness gone: either way, finish.
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if line.contains("\"close\"") {
                break;
            }
        }
        close.store(true, Relaxed);
    });
    let mut processor = match Loop::start(&configure, processing, out.clone()) {
        Ok(processor) => processor,
        Err(Refusal::Config(reason)) => {
            out.emit(json!({"type": "config-rejected", "reason": reason}));
            return Ok(());
        }
        Err(Refusal::Fatal(error)) => {
            out.emit(json!({"type": "fatal", "error": error}));
            return Ok(());
        }
    };
    out.emit(json!({"type": "started", "library": "rdkafka", "version": inprocess::version()}));
    while !closing.load(Relaxed) && processor.step() {}
    if processing == Processing::AtLeastOnce {
        processor.commit_due(true);
    }
    // Dropping the producer discards what it still holds: `commit-on-poll`
    // never flushed it.
    drop(processor);
    out.emit(json!({"type": "closed"}));
    Ok(())
}

/// Why the processor did not start.
enum Refusal {
    /// The library refused a setting.
    Config(String),
    Fatal(String),
}

/// The running loop.
struct Loop {
    consumer: BaseConsumer<Rebalances>,
    producer: ThreadedProducer<DefaultProducerContext>,
    input: String,
    output: String,
    processor: Processor,
    processing: Processing,
    txn: Txn,
    out: Out,
    /// At least once: what was written and not committed yet, and when the
    /// last commit was.
    pending: BTreeMap<Partition, Offset>,
    last_commit: std::time::Instant,
    mutation: Option<Mutation>,
    /// `commit-on-poll`: the last batch, committed and not written yet, and
    /// the poll it came in.
    held: (Txn, Vec<Input>),
}

impl Loop {
    fn start(c: &Configure, processing: Processing, out: Out) -> Result<Loop, Refusal> {
        let consumer: BaseConsumer<Rebalances> = consumer_config(c)
            .create_with_context(Rebalances(out.clone()))
            .map_err(|e| Refusal::Config(format!("consumer: {e}")))?;
        let producer: ThreadedProducer<DefaultProducerContext> = producer_config(c)
            .create()
            .map_err(|e| Refusal::Config(format!("producer: {e}")))?;
        if c.transactional_id.is_some() {
            producer
                .init_transactions(CALL)
                .map_err(|e| Refusal::Fatal(format!("init_transactions: {e}")))?;
        }
        consumer
            .subscribe(&[&c.input])
            .map_err(|e| Refusal::Fatal(format!("subscribe: {e}")))?;
        Ok(Loop {
            consumer,
            producer,
            input: c.input.clone(),
            output: c.output.clone(),
            processor: c.processor,
            processing,
            txn: 0,
            out,
            pending: BTreeMap::new(),
            last_commit: std::time::Instant::now(),
            mutation: c.mutation,
            held: (0, Vec::new()),
        })
    }

    /// One poll and what it delivered, processed. False once the processor
    /// cannot go on.
    fn step(&mut self) -> bool {
        let mut batch = self.poll();
        if batch.is_empty() {
            if self.processing == Processing::AtLeastOnce {
                self.commit_due(false);
            }
            return true;
        }
        if self.processing == Processing::ExactlyOnce || self.pending.is_empty() {
            self.txn += 1;
        }
        let moved = self.planted_move(&mut batch);
        self.out
            .emit(json!({"type": "poll", "n": self.txn, "records": runs(&batch)}));
        let going_on = match (self.processing, self.mutation) {
            (_, Some(Mutation::CommitOnPoll)) => self.commit_then_produce(&batch),
            (Processing::ExactlyOnce, _) => self.transaction(&batch),
            (Processing::AtLeastOnce, _) => self.produce_then_commit(&batch),
        };
        if let Some((partition, offset)) = moved {
            let to = KafkaOffset::Offset(offset);
            let _ = self.consumer.seek(&self.input, partition, to, CALL);
        }
        going_on
    }

    /// `skip` and `replay`, every [`Mutation::EVERY`]th batch: where the
    /// consumer is moved, unannounced, once the batch is processed.
    /// `replay`: back to the batch's first record. `skip`: one record on
    /// from a record the batch delivered, where the batch shows the next
    /// one is data (a record a `read_committed` consumer delivers, not a
    /// marker); the batch is cut after that record, so the history shows
    /// the consumer going from it to the one after the next.
    fn planted_move(&self, batch: &mut Vec<Input>) -> Option<(Partition, Offset)> {
        if !self.txn.is_multiple_of(Mutation::EVERY) {
            return None;
        }
        match self.mutation? {
            Mutation::Replay => batch.first().map(|i| (i.partition, i.offset)),
            Mutation::Skip => {
                let delivered: std::collections::BTreeSet<(Partition, Offset)> =
                    batch.iter().map(|i| (i.partition, i.offset)).collect();
                let at = batch.iter().find(|i| {
                    delivered.contains(&(i.partition, i.offset + 1))
                        && delivered.contains(&(i.partition, i.offset + 2))
                })?;
                let (partition, offset) = (at.partition, at.offset);
                batch.retain(|i| i.partition != partition || i.offset <= offset);
                Some((partition, offset + 2))
            }
            _ => None,
        }
    }

    /// Up to [`BATCH`] records: the first waited for up to [`POLL`], the
    /// rest only if already fetched.
    fn poll(&self) -> Vec<Input> {
        let mut batch = Vec::new();
        let mut wait = POLL;
        while batch.len() < BATCH {
            match self.consumer.poll(wait) {
                Some(Ok(m)) => batch.push(Input {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().unwrap_or_default().to_vec(),
                }),
                Some(Err(e)) => eprintln!("poll: {e}"),
                None => break,
            }
            wait = Duration::ZERO;
        }
        batch
    }

    /// The records' outputs handed to the producer (`reverse`: last first).
    /// The outputs of `batch`, polled in `txn`, handed to the producer.
    fn produce(&self, batch: &[Input], txn: Txn) -> Result<(), KafkaError> {
        let mut ordered: Vec<&Input> = batch.iter().collect();
        if self.mutation == Some(Mutation::Reverse) {
            ordered.reverse();
        }
        for input in ordered {
            let of = OutputOf {
                partition: input.partition,
                offset: input.offset,
                processor: self.processor,
                txn,
            };
            let value = of.encode(&input.value);
            let mut record = BaseRecord::<Vec<u8>, Vec<u8>>::to(&self.output)
                .partition(input.partition)
                .payload(&value);
            if let Some(key) = &input.key {
                record = record.key(key);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        std::thread::sleep(Duration::from_millis(5));
                        record = r;
                    }
                    Err((e, _)) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Exactly once: one transaction for the batch, its offsets in it.
    fn transaction(&mut self, batch: &[Input]) -> bool {
        let offsets = self.offsets_to_commit(batch);
        let done = self.producer.begin_transaction().and_then(|()| {
            self.produce(batch, self.txn)?;
            let metadata = (self.consumer.group_metadata())
                .expect("a consumer with a group.id has the group's metadata");
            let list = self.offsets_list(&offsets);
            self.producer
                .send_offsets_to_transaction(&list, &metadata, CALL)?;
            self.commit()
        });
        let (result, error, going_on) = match done.map_err(inprocess::answer) {
            Ok(()) => ("committed", None, true),
            Err(TxnAnswer::Abortable(error)) => {
                let aborted = self.producer.abort_transaction(CALL);
                self.rewind();
                match aborted {
                    Ok(()) => ("aborted", Some(error), true),
                    Err(e) => ("fatal", Some(format!("{error}; abort: {e}")), false),
                }
            }
            Err(TxnAnswer::Retriable(error)) => ("unknown", Some(error), false),
            Err(TxnAnswer::Fatal { error, fenced }) => {
                (if fenced { "fenced" } else { "fatal" }, Some(error), false)
            }
            Err(TxnAnswer::Ok) => ("committed", None, true),
        };
        self.out.emit(json!({
            "type": "txn", "n": self.txn, "result": result,
            "offsets": offsets, "error": error,
        }));
        going_on
    }

    /// The commit, asked again while its outcome stays open.
    fn commit(&self) -> Result<(), KafkaError> {
        let mut calls = 0;
        loop {
            calls += 1;
            match self.producer.commit_transaction(CALL) {
                Err(KafkaError::Transaction(e)) if e.is_retriable() && calls < COMMIT_CALLS => {
                    continue
                }
                done => return done,
            }
        }
    }

    /// At least once: the outputs written; their offsets committed when due.
    fn produce_then_commit(&mut self, batch: &[Input]) -> bool {
        self.pending.extend(self.offsets_to_commit(batch));
        let written = self
            .produce(batch, self.txn)
            .and_then(|()| self.producer.flush(CALL));
        match written {
            Ok(()) => self.commit_due(false),
            Err(e) => {
                // Not all of it written: none of what is pending is committed,
                // and it is read again.
                let offsets = std::mem::take(&mut self.pending);
                self.commit_ended(&offsets, Err(e));
                self.rewind();
            }
        }
        true
    }

    /// `commit-on-poll`: the batch's offsets committed first, its outputs
    /// held until the next batch comes (an application that writes a
    /// batch's results on its next turn of the loop), then handed to the
    /// lingering producer and not waited for. The batch held when the
    /// processor stops or crashes is never written.
    fn commit_then_produce(&mut self, batch: &[Input]) -> bool {
        let offsets = next_offsets(batch);
        let list = self.offsets_list(&offsets);
        let committed = self.consumer.commit(&list, CommitMode::Sync);
        self.commit_ended(&offsets, committed);
        let (txn, held) = std::mem::replace(&mut self.held, (self.txn, batch.to_vec()));
        if let Err(e) = self.produce(&held, txn) {
            eprintln!("produce: {e}");
        }
        true
    }

    /// The offsets a batch's commit names: the next ones to read, or with
    /// `commit-last` the last ones read.
    fn offsets_to_commit(&self, batch: &[Input]) -> BTreeMap<Partition, Offset> {
        let mut offsets = next_offsets(batch);
        if self.mutation == Some(Mutation::CommitLast) {
            offsets.values_mut().for_each(|o| *o -= 1);
        }
        offsets
    }

    /// At least once: commits what is pending once [`ALO_COMMIT`] has passed
    /// since the last commit, or `now`.
    fn commit_due(&mut self, now: bool) {
        if self.pending.is_empty() || !now && self.last_commit.elapsed() < ALO_COMMIT {
            return;
        }
        let offsets = std::mem::take(&mut self.pending);
        self.last_commit = std::time::Instant::now();
        let list = self.offsets_list(&offsets);
        let committed = self.consumer.commit(&list, CommitMode::Sync);
        self.commit_ended(&offsets, committed);
    }

    fn commit_ended(&self, offsets: &BTreeMap<Partition, Offset>, result: Result<(), KafkaError>) {
        let (result, error) = match result {
            Ok(()) => ("ok", None),
            Err(e) => ("failed", Some(e.to_string())),
        };
        self.out.emit(json!({
            "type": "commit", "n": self.txn, "result": result,
            "offsets": offsets, "error": error,
        }));
    }

    fn offsets_list(&self, offsets: &BTreeMap<Partition, Offset>) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for (&p, &o) in offsets {
            let _ = list.add_partition_offset(&self.input, p, KafkaOffset::Offset(o));
        }
        list
    }

    /// Back to the group's committed offsets of every assigned partition,
    /// so that what the aborted transaction held is processed again.
    fn rewind(&self) {
        let Ok(committed) = self.consumer.committed(CALL) else {
            return;
        };
        for e in committed.elements() {
            let offset = match e.offset() {
                KafkaOffset::Offset(o) => o,
                _ => self
                    .consumer
                    .fetch_watermarks(e.topic(), e.partition(), CALL)
                    .map_or(0, |(low, _)| low),
            };
            let to = KafkaOffset::Offset(offset);
            if self
                .consumer
                .seek(e.topic(), e.partition(), to, CALL)
                .is_ok()
            {
                self.out
                    .emit(json!({"type": "seek", "partition": e.partition(), "offset": offset}));
            }
        }
    }
}

/// One input record, owned.
#[derive(Clone)]
struct Input {
    partition: Partition,
    offset: Offset,
    key: Option<Vec<u8>>,
    value: Vec<u8>,
}

/// The batch as runs of consecutive offsets per partition, in delivery
/// order: `[partition, first, last]`.
fn runs(batch: &[Input]) -> Vec<(Partition, Offset, Offset)> {
    let mut runs: Vec<(Partition, Offset, Offset)> = Vec::new();
    for input in batch {
        match runs.iter_mut().rev().find(|r| r.0 == input.partition) {
            Some(run) if run.2 + 1 == input.offset => run.2 = input.offset,
            _ => runs.push((input.partition, input.offset, input.offset)),
        }
    }
    runs
}

/// The next offset to read of every partition the batch holds.
fn next_offsets(batch: &[Input]) -> BTreeMap<Partition, Offset> {
    let mut next = BTreeMap::new();
    for input in batch {
        next.insert(input.partition, input.offset + 1);
    }
    next
}

fn consumer_config(c: &Configure) -> ClientConfig {
    let isolation = match c.mutation {
        Some(Mutation::ReadUncommitted) => "read_uncommitted",
        _ => "read_committed",
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &c.bootstrap)
        .set("group.id", &c.group)
        .set("isolation.level", isolation)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    for (k, v) in &c.consumer {
        config.set(k, v);
    }
    config
}

fn producer_config(c: &Configure) -> ClientConfig {
    let mut config = ClientConfig::new();
    let settings = c.tuning.iter().chain(&c.config);
    let settings: BTreeMap<String, String> =
        settings.map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, v) in inprocess::librdkafka_settings(&c.bootstrap, &settings) {
        config.set(k, v);
    }
    if let Some(id) = &c.transactional_id {
        config.set("transactional.id", id);
    }
    if c.mutation == Some(Mutation::CommitOnPoll) {
        config.set("linger.ms", Mutation::LINGER_MS.to_string());
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(partition: Partition, offset: Offset) -> Input {
        Input {
            partition,
            offset,
            key: None,
            value: Vec::new(),
        }
    }

    /// What `read_committed` skips (here 3, an aborted record or a marker)
    /// splits a partition's records into runs; partitions interleave.
    #[test]
    fn polls_are_runs_of_consecutive_offsets_and_commits_the_next_ones() {
        let batch = [
            input(0, 1),
            input(0, 2),
            input(1, 7),
            input(0, 4),
            input(0, 5),
            input(1, 8),
        ];
        assert_eq!(runs(&batch), vec![(0, 1, 2), (1, 7, 8), (0, 4, 5)]);
        assert_eq!(next_offsets(&batch), [(0, 6), (1, 9)].into());
    }
}
