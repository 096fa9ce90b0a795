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

#[derive(Default)]
pub(crate) struct Transactions {
    pub txns: Vec<TxnState>,
    index: FastMap<(Producer, Txn), TxnIndex>,
    /// Each producer's transaction begun and not yet asked to end.
    open: FastMap<Producer, TxnIndex>,
    /// Each producer's runs of first attempts: (first index, transaction or
    /// [`OUTSIDE`]), in invoke order.
    runs: FastMap<Producer, Vec<(u64, TxnIndex)>>,
    /// Each producer's highest first-attempt index so far.
    highest: FastMap<Producer, u64>,
    /// Resends, and first attempts invoked out of index order.
    others: FastMap<(MessageId, Attempt), TxnIndex>,
    pub inits: Vec<Init>,
    /// Each producer's latest init.
    latest_init: FastMap<Producer, usize>,
    pub unmarked: Vec<Unmarked>,
    /// Segments that held records of more than one transaction.
    pub shared_segments: u64,
}

impl Transactions {
    /// Whether the history has any transaction.
    #[inline]
    pub fn any(&self) -> bool {
        !self.txns.is_empty()
    }

    pub fn init(&mut self, time: Nanos, producer: Producer, transactional_id: &str) {
        self.latest_init.insert(producer, self.inits.len());
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
        if let Some(&open) = self.open.get(&producer) {
            let open = self.txns[open as usize].txn;
            return Err(format!(
                "producer {producer} began transaction {txn} while transaction {open} was still open"
            ));
        }
        let at = self.txns.len() as TxnIndex;
        if self.index.insert((producer, txn), at).is_some() {
            return Err(format!("producer {producer} began transaction {txn} twice"));
        }
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
            init: self.latest_init.get(&producer).copied(),
            parts: Vec::new(),
            more_parts: 0,
            shared_with: None,
        });
        self.open.insert(producer, at);
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
        if self.open.get(&producer) == Some(&at) {
            self.open.remove(&producer);
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
        let txn = self.open.get(&message.producer).copied().unwrap_or(OUTSIDE);
        if attempt > 0 {
            if txn != OUTSIDE {
                self.others.insert((message, attempt), txn);
            }
            return;
        }
        let highest = self.highest.entry(message.producer).or_default();
        *highest = (*highest).max(message.index);
        let runs = self.runs.entry(message.producer).or_default();
        match runs.last() {
            Some(&(first, _)) if message.index < first => {
                self.others.insert((message, attempt), txn);
            }
            Some(&(_, last)) if last == txn => {}
            _ => runs.push((message.index, txn)),
        }
    }

    /// The transaction a send belongs to.
    #[inline]
    pub fn of(&self, message: MessageId, attempt: Attempt) -> Option<TxnIndex> {
        if !self.any() {
            return None;
        }
        if let Some(&txn) = self.others.get(&(message, attempt)) {
            return (txn != OUTSIDE).then_some(txn);
        }
        if attempt > 0 {
            return None;
        }
        let runs = self.runs.get(&message.producer)?;
        let after = runs.partition_point(|&(first, _)| first <= message.index);
        let txn = runs[after.checked_sub(1)?].1;
        (txn != OUTSIDE).then_some(txn)
    }

    /// The sends of each transaction, in (message, attempt) order. A run of
    /// first attempts may skip indexes that were never `invoked` (a keyed
    /// run picks messages by their keys' partitions).
    pub fn sends(&self, invoked: impl Fn(MessageId) -> bool) -> Vec<Vec<(MessageId, Attempt)>> {
        let mut sends = vec![Vec::new(); self.txns.len()];
        for (&producer, runs) in &self.runs {
            for (k, &(first, txn)) in runs.iter().enumerate() {
                if txn == OUTSIDE {
                    continue;
                }
                let end = runs.get(k + 1).map_or(self.highest[&producer] + 1, |r| r.0);
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
    pub fn settle(&mut self, segment: Segment, records: &[(MessageId, Attempt, Offset, Epoch)]) {
        let mut seen: Vec<TxnIndex> = Vec::new();
        for &(message, attempt, offset, epoch) in records {
            let Some(txn) = self.of(message, attempt) else {
                continue;
            };
            if !seen.contains(&txn) {
                seen.push(txn);
            }
            self.txns[txn as usize].part(&segment, offset, epoch);
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
            for &(_, _, offset, epoch) in records {
                part.grow(offset, epoch);
            }
            self.unmarked.push(Unmarked { part, txns: seen });
        }
    }
}

/// Where a run of one PID's transactional records ended.
pub(crate) struct Segment {
    pub partition: Partition,
    pub pid: ProducerId,
    pub fate: Fate,
    /// The marker's offset; None when the read ended first.
    pub marker: Option<Offset>,
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
            marker: self.marker,
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
        let same = |p: &&mut TxnPart| {
            p.partition == segment.partition && p.pid == segment.pid && p.marker == segment.marker
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
