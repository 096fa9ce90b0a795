//! Transactions: which sends each one holds, what the application asked and
//! was told, and what the log did with their records.
//!
//! The log alone cannot judge a transaction. A COMMIT or ABORT marker ends
//! whatever its PID has open on its partition, each partition gets its own
//! marker at its own time, and under the classic protocol every transaction
//! of a session shares one PID and epoch, so nothing in the log says which
//! records on partition 0 belong with which on partition 2. The history
//! does: a send belongs to the transaction its producer had begun and not
//! yet asked to end when the send was invoked ([`crate::history`] format
//! 6). So each record's *fate* comes from the log (its segment's marker:
//! committed, aborted, or none yet), and each transaction gathers the fates
//! of its sends and is judged against what its client was told:
//!
//! - told committed: every send must be committed (`commit-lost` for what
//!   was aborted or left unmarked; an acknowledged send nowhere in the log
//!   stays `lost`);
//! - aborted by the application, or commit definitely failed: nothing may
//!   be committed (`abort-committed`);
//! - commit unknown (timeout, fatal error, fencing after the request): either
//!   outcome, but all or nothing (`torn-transaction` otherwise);
//! - asked to commit only after another instance initialised with its
//!   `transactional.id`: nothing may be committed (`zombie-write`).
//!
//! Membership costs no field on the ten million invoke lines: a producer's
//! first attempts are numbered in invoke order, so each transaction's are a
//! run of indexes, kept as (first index, transaction) per producer and found
//! by binary search; resends go to a side table. A history without
//! transactions never looks anything up.

mod judge;

pub(crate) use judge::TxnJudge;

use super::hashing::FastMap;
use crate::anomaly::{Fate, TxnPart};
use crate::history::{Nanos, TxnAction};
use crate::ids::{Attempt, Epoch, MessageId, Offset, Partition, Producer, ProducerId, Txn};

/// A transaction's number in [`Transactions::txns`].
pub(crate) type TxnIndex = u32;

/// In a producer's runs of first attempts: invoked with no transaction open.
const OUTSIDE: TxnIndex = TxnIndex::MAX;

/// Parts (segments) an example keeps per transaction; more are counted.
const MAX_PARTS: usize = 16;

/// What the client was told about a transaction's commit, strongest first
/// in the order answers can arrive: an ok settles it, an unknown answer
/// outweighs a definite failure of an earlier try.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CommitAnswer {
    /// No commit asked, or asked and never answered.
    #[default]
    None,
    /// Every answer was a definite failure: it did not commit.
    Failed,
    /// Some answer left the outcome open.
    Unknown,
    Ok,
}

/// One transaction as the history and the log leave it.
pub(crate) struct TxnState {
    pub producer: Producer,
    pub txn: Txn,
    pub begun: Nanos,
    /// When the application first asked to commit it.
    pub commit_asked: Option<Nanos>,
    pub abort_asked: bool,
    pub abort_ok: bool,
    pub commit: CommitAnswer,
    /// The last error any end call of it was answered with.
    pub error: Option<String>,
    /// The fault change at its begin; once it ends, the faults active in between.
    pub faults: u16,
    pub ended: bool,
    /// The init it ran under: an index in [`Transactions::inits`].
    pub init: Option<usize>,
    pub parts: Vec<TxnPart>,
    pub more_parts: u32,
    /// Another transaction whose records one of its segments also held.
    pub shared_with: Option<TxnIndex>,
}

/// What the client's answers make of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Told {
    Committed,
    /// Aborted by the application, or its commit definitely failed.
    Aborted,
    Unknown,
}

impl TxnState {
    pub fn told(&self) -> Told {
        match (self.commit_asked, self.commit) {
            (_, CommitAnswer::Ok) => Told::Committed,
            (None, _) | (_, CommitAnswer::Failed) => Told::Aborted,
            (Some(_), CommitAnswer::None | CommitAnswer::Unknown) => Told::Unknown,
        }
    }
}

/// A producer's transactional init.
pub(crate) struct Init {
    pub time: Nanos,
    pub producer: Producer,
    pub transactional_id: String,
}

/// A run of records of one PID on one partition that no marker ended before
/// the read did.
pub(crate) struct Unmarked {
    pub part: TxnPart,
    pub txns: Vec<TxnIndex>,
}

/// One producer's transactions, as its invokes place its sends in them.
#[derive(Default)]
struct ProducerTxns {
    /// The transaction begun and not yet asked to end.
    open: Option<TxnIndex>,
    /// Runs of first attempts: (first index, transaction or [`OUTSIDE`]),
    /// in invoke order.
    runs: Vec<(u64, TxnIndex)>,
    /// The highest first-attempt index so far.
    highest: u64,
    /// The latest init, an index in [`Transactions::inits`].
    init: Option<usize>,
}

impl ProducerTxns {
    /// The run holding first attempt `index`: its place in `runs`, and
    /// the index after its last message.
    fn run_of(&self, index: u64) -> Option<(usize, u64)> {
        let at = self.runs.partition_point(|&(first, _)| first <= index);
        let at = at.checked_sub(1)?;
        let end = self.runs.get(at + 1).map_or(self.highest + 1, |r| r.0);
        Some((at, end))
    }
}

#[derive(Default)]
pub(crate) struct Transactions {
    pub txns: Vec<TxnState>,
    index: FastMap<(Producer, Txn), TxnIndex>,
    producers: FastMap<Producer, ProducerTxns>,
    /// Resends, and first attempts invoked out of index order.
    others: FastMap<(MessageId, Attempt), TxnIndex>,
    pub inits: Vec<Init>,
    pub unmarked: Vec<Unmarked>,
    /// Segments that held records of more than one transaction.
    pub shared_segments: u64,
    pub markers: MarkerEpochs,
    /// The records of the segment being settled (kept to reuse its memory).
    settling: Vec<(TxnIndex, Offset, Epoch)>,
}

impl Transactions {
    /// Whether the history has any transaction.
    #[inline]
    pub fn any(&self) -> bool {
        !self.txns.is_empty()
    }

    pub fn init(&mut self, time: Nanos, producer: Producer, transactional_id: &str) {
        self.producers.entry(producer).or_default().init = Some(self.inits.len());
        self.inits.push(Init {
            time,
            producer,
            transactional_id: transactional_id.to_string(),
        });
    }

    pub fn begin(
        &mut self,
        time: Nanos,
        producer: Producer,
        txn: Txn,
        change: u16,
    ) -> Result<(), String> {
        let own = self.producers.entry(producer).or_default();
        if let Some(open) = own.open {
            let open = self.txns[open as usize].txn;
            return Err(format!(
                "producer {producer} began transaction {txn} while transaction {open} was still open"
            ));
        }
        let at = self.txns.len() as TxnIndex;
        if self.index.insert((producer, txn), at).is_some() {
            return Err(format!("producer {producer} began transaction {txn} twice"));
        }
        own.open = Some(at);
        self.txns.push(TxnState {
            producer,
            txn,
            begun: time,
            commit_asked: None,
            abort_asked: false,
            abort_ok: false,
            commit: CommitAnswer::None,
            error: None,
            faults: change,
            ended: false,
            init: own.init,
            parts: Vec::new(),
            more_parts: 0,
            shared_with: None,
        });
        Ok(())
    }

    /// The application asks to end `txn`: sends invoked from now on are not
    /// in it.
    pub fn end(
        &mut self,
        time: Nanos,
        producer: Producer,
        txn: Txn,
        end: TxnAction,
    ) -> Result<(), String> {
        let at = self.known(producer, txn)?;
        let own = self.producers.entry(producer).or_default();
        if own.open == Some(at) {
            own.open = None;
        }
        let state = &mut self.txns[at as usize];
        match end {
            TxnAction::Commit => {
                state.commit_asked.get_or_insert(time);
            }
            TxnAction::Abort => state.abort_asked = true,
        }
        Ok(())
    }

    /// An answer to a call ending `txn`: `None` for ok, else whether the
    /// failure is definite and its error. Returns the transaction, whose
    /// faults the caller closes.
    pub fn answer(
        &mut self,
        producer: Producer,
        txn: Txn,
        end: TxnAction,
        failure: Option<(bool, &str)>,
    ) -> Result<&mut TxnState, String> {
        let at = self.known(producer, txn)?;
        let state = &mut self.txns[at as usize];
        if let Some((_, error)) = failure {
            state.error = Some(error.to_string());
        }
        state.abort_ok |= end == TxnAction::Abort && failure.is_none();
        if end == TxnAction::Commit {
            if state.commit_asked.is_none() {
                return Err(format!(
                    "an answer to the commit of producer {producer}'s transaction {txn}, which was never asked to commit"
                ));
            }
            let answer = match failure {
                None => CommitAnswer::Ok,
                Some((true, _)) => CommitAnswer::Failed,
                Some((false, _)) => CommitAnswer::Unknown,
            };
            state.commit = state.commit.max(answer);
        }
        Ok(state)
    }

    fn known(&self, producer: Producer, txn: Txn) -> Result<TxnIndex, String> {
        self.index.get(&(producer, txn)).copied().ok_or_else(|| {
            format!("producer {producer}'s transaction {txn} is ended, but was never begun")
        })
    }

    /// A send invoked now joins its producer's open transaction, if any.
    #[inline]
    pub fn invoke(&mut self, message: MessageId, attempt: Attempt) {
        let own = self.producers.entry(message.producer).or_default();
        let txn = own.open.unwrap_or(OUTSIDE);
        let out_of_order = own
            .runs
            .last()
            .is_some_and(|&(first, _)| message.index < first);
        if attempt > 0 || out_of_order {
            if txn != OUTSIDE || out_of_order {
                self.others.insert((message, attempt), txn);
            }
            return;
        }
        own.highest = own.highest.max(message.index);
        if own.runs.last().is_none_or(|&(_, last)| last != txn) {
            own.runs.push((message.index, txn));
        }
    }

    /// The transaction a send belongs to.
    #[inline]
    pub fn of(&self, message: MessageId, attempt: Attempt) -> Option<TxnIndex> {
        if !self.others.is_empty() {
            if let Some(&txn) = self.others.get(&(message, attempt)) {
                return (txn != OUTSIDE).then_some(txn);
            }
        }
        if attempt > 0 {
            return None;
        }
        let own = self.producers.get(&message.producer)?;
        let (at, _) = own.run_of(message.index)?;
        let txn = own.runs[at].1;
        (txn != OUTSIDE).then_some(txn)
    }

    /// The sends of each transaction, in (message, attempt) order. A run of
    /// first attempts may skip indexes that were never `invoked` (a keyed
    /// run picks messages by their keys' partitions).
    pub fn sends(&self, invoked: impl Fn(MessageId) -> bool) -> Vec<Vec<(MessageId, Attempt)>> {
        let mut sends = vec![Vec::new(); self.txns.len()];
        for (&producer, own) in &self.producers {
            for (k, &(first, txn)) in own.runs.iter().enumerate() {
                if txn == OUTSIDE {
                    continue;
                }
                let end = own.runs.get(k + 1).map_or(own.highest + 1, |r| r.0);
                let messages = (first..end)
                    .map(|index| MessageId { producer, index })
                    .filter(|&m| invoked(m) && !self.others.contains_key(&(m, 0)));
                sends[txn as usize].extend(messages.map(|m| (m, 0)));
            }
        }
        for (&send, &txn) in self.others.iter().filter(|(_, &t)| t != OUTSIDE) {
            sends[txn as usize].push(send);
        }
        sends.iter_mut().for_each(|s| s.sort_unstable());
        sends
    }

    /// Records of one PID met their marker (or, with `marker` None, the end
    /// of the read): each record's transaction learns its fate.
    ///
    /// Consecutive records nearly always belong to one transaction, so the
    /// last run found is tried before the lookup.
    pub fn settle(&mut self, segment: Segment, records: impl Iterator<Item = SettledRecord>) {
        let mut settling = std::mem::take(&mut self.settling);
        settling.clear();
        let mut last: Option<(Producer, u64, u64, TxnIndex)> = None;
        for (message, attempt, offset, epoch) in records {
            let cached = last.filter(|&(producer, first, end, _)| {
                attempt == 0
                    && producer == message.producer
                    && (first..end).contains(&message.index)
                    && self.others.is_empty()
            });
            let txn = match cached {
                Some((.., txn)) => txn,
                None => {
                    let Some(txn) = self.of(message, attempt) else {
                        continue;
                    };
                    last = self
                        .run(message, attempt)
                        .map(|(first, end)| (message.producer, first, end, txn));
                    txn
                }
            };
            settling.push((txn, offset, epoch));
        }
        let mut seen: Vec<TxnIndex> = Vec::new();
        for &(txn, offset, epoch) in &settling {
            if !seen.contains(&txn) {
                seen.push(txn);
            }
            self.txns[txn as usize].part(&segment, offset, epoch);
        }
        let data_epoch = settling.iter().map(|&(_, _, epoch)| epoch).max();
        let commit = segment.fate == Fate::Committed;
        if let (Some((_, marker)), Some(data), true) = (segment.marker, data_epoch, commit) {
            match marker > data {
                true => self.markers.above_data += 1,
                false => self.markers.at_data += 1,
            }
        }
        if seen.len() > 1 {
            self.shared_segments += 1;
            for (k, &txn) in seen.iter().enumerate() {
                let other = seen[(k + 1) % seen.len()];
                self.txns[txn as usize].shared_with.get_or_insert(other);
            }
        }
        if segment.fate == Fate::NoMarker {
            let mut part = segment.part();
            for &(_, offset, epoch) in &settling {
                part.grow(offset, epoch);
            }
            self.unmarked.push(Unmarked { part, txns: seen });
        }
        self.settling = settling;
    }

    /// The run of first attempts holding the send, as [first, end) indexes.
    fn run(&self, message: MessageId, attempt: Attempt) -> Option<(u64, u64)> {
        if attempt > 0 {
            return None;
        }
        let own = self.producers.get(&message.producer)?;
        let (at, end) = own.run_of(message.index)?;
        Some((own.runs[at].0, end))
    }
}

/// How the epochs of COMMIT markers compare with those of the records they
/// end: the classic protocol writes the marker at its records' epoch,
/// KIP-890's (`transaction.version` 2, Kafka 4 with a 4.x client) one above,
/// as it bumps the epoch with every transaction. ABORT markers do not tell:
/// an abort that fences a producer (a newer instance's init, a timeout) is
/// one epoch above under both.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MarkerEpochs {
    pub at_data: u64,
    pub above_data: u64,
}

/// A transactional record as the log has it: its send, offset and epoch.
pub(crate) type SettledRecord = (MessageId, Attempt, Offset, Epoch);

/// Where a run of one PID's transactional records ended.
pub(crate) struct Segment {
    pub partition: Partition,
    pub pid: ProducerId,
    pub fate: Fate,
    /// The marker's offset and epoch; None when the read ended first.
    pub marker: Option<(Offset, Epoch)>,
}

impl Segment {
    fn part(&self) -> TxnPart {
        TxnPart {
            partition: self.partition,
            pid: self.pid,
            epoch: Epoch::MAX,
            first_offset: Offset::MAX,
            last_offset: Offset::MIN,
            records: 0,
            fate: self.fate,
            marker: self.marker.map(|(offset, _)| offset),
            marker_epoch: self.marker.map(|(_, epoch)| epoch),
        }
    }
}

impl TxnPart {
    fn grow(&mut self, offset: Offset, epoch: Epoch) {
        self.first_offset = self.first_offset.min(offset);
        self.last_offset = self.last_offset.max(offset);
        self.epoch = self.epoch.min(epoch);
        self.records += 1;
    }
}

impl TxnState {
    /// Counts one record into the part of `segment`.
    fn part(&mut self, segment: &Segment, offset: Offset, epoch: Epoch) {
        let marker = segment.marker.map(|(offset, _)| offset);
        let same = |p: &&mut TxnPart| {
            p.partition == segment.partition && p.pid == segment.pid && p.marker == marker
        };
        if let Some(part) = self.parts.iter_mut().find(same) {
            part.grow(offset, epoch);
        } else if self.parts.len() < MAX_PARTS {
            let mut part = segment.part();
            part.grow(offset, epoch);
            self.parts.push(part);
        } else {
            self.more_parts += 1;
        }
    }
}
