//! Judges each transaction once the whole log is read: the fates of its
//! sends against what its client was told (see the parent module).

use super::{CommitAnswer, Told, Transactions, TxnIndex, TxnState};
use crate::anomaly::{
    AbortCommitted, Anomalies, CommitLost, Fate, TornTransaction, TxnMessage, TxnOutcome, TxnStory,
    ZombieWrite,
};
use crate::check::faults::Faults;
use crate::check::sends::{flag, Sends};
use crate::history::Nanos;
use crate::ids::{Attempt, MessageId, Partition, Producer};
use crate::results::{HangingTransaction, TxnStats};
use std::collections::BTreeSet;

/// Transactions a hanging segment names at most.
const MAX_NAMED: usize = 8;

/// Where a transaction's sends are: each counted once, by its best copy.
#[derive(Default)]
struct Tally {
    messages: Vec<TxnMessage>,
    sends: u32,
    committed: u32,
    aborted: u32,
    unmarked: u32,
    absent: u32,
    /// Absent and acknowledged.
    absent_acked: u32,
}

/// What judging transactions needs from the rest of the checker.
pub(crate) struct TxnJudge<'a> {
    pub txns: &'a Transactions,
    pub sends: &'a Sends,
    pub faults: &'a Faults,
    pub undecided: &'a BTreeSet<(MessageId, Attempt)>,
    /// Partitions read completely, and whether every one was.
    pub complete: &'a BTreeSet<Partition>,
    pub whole_topic: bool,
    /// The history may lack the end of the run: a transaction it never
    /// saw asked to end may have been asked after the cut.
    pub short: bool,
    pub limit: usize,
}

impl TxnJudge<'_> {
    /// Judges every transaction; `None` when the history has none.
    pub fn judge(
        &self,
        anomalies: &mut Anomalies,
        hanging: &mut Vec<HangingTransaction>,
    ) -> Option<TxnStats> {
        if !self.txns.any() {
            return None;
        }
        let invoked = |m: MessageId| {
            self.sends
                .slot(m)
                .is_some_and(|s| s.send.has(flag::INVOKED))
        };
        let sends = self.txns.sends(invoked);
        let mut stats = TxnStats {
            begun: self.txns.txns.len() as u64,
            shared_segments: self.txns.shared_segments,
            commits_at_data_epoch: self.txns.markers.at_data,
            commits_above_data_epoch: self.txns.markers.above_data,
            ..TxnStats::default()
        };
        for (txn, sends) in self.txns.txns.iter().zip(&sends) {
            let tally = self.tally(sends);
            self.count(txn, &tally, &mut stats);
            self.anomalies(txn, &tally, anomalies);
        }
        hanging.extend(self.hanging());
        Some(stats)
    }

    fn tally(&self, sends: &[(MessageId, Attempt)]) -> Tally {
        let mut tally = Tally::default();
        for &(message, attempt) in sends {
            let Some(state) = self.sends.send(message, attempt) else {
                continue;
            };
            tally.sends += 1;
            let fate = if state.has(flag::LANDED) {
                tally.committed += 1;
                Some(Fate::Committed)
            } else if state.has(flag::ABORTED) {
                tally.aborted += 1;
                Some(Fate::Aborted)
            } else if self.undecided.contains(&(message, attempt)) {
                tally.unmarked += 1;
                Some(Fate::NoMarker)
            } else {
                if self.read(state.partition()) {
                    tally.absent += 1;
                    tally.absent_acked += u32::from(state.has(flag::ACKED));
                }
                None
            };
            if tally.messages.len() < MAX_NAMED * 2 {
                tally.messages.push(TxnMessage {
                    message,
                    attempt,
                    fate,
                });
            }
        }
        tally
    }

    /// Whether absence from `partition` (None: not known) proves anything.
    fn read(&self, partition: Option<Partition>) -> bool {
        match partition {
            Some(p) => self.complete.contains(&p),
            None => self.whole_topic,
        }
    }

    /// What the client was told, as far as the history can say.
    fn told(&self, txn: &TxnState) -> Told {
        match txn.told() {
            Told::Aborted if self.short && txn.commit_asked.is_none() && !txn.abort_asked => {
                Told::Unknown
            }
            told => told,
        }
    }

    fn count(&self, txn: &TxnState, tally: &Tally, stats: &mut TxnStats) {
        match self.told(txn) {
            Told::Committed => stats.committed += 1,
            Told::Aborted => stats.aborted += 1,
            Told::Unknown => {
                stats.unknown += 1;
                if tally.unmarked > 0 || (tally.committed > 0 && tally.committed < tally.sends) {
                    stats.unknown_unresolved += 1;
                } else if tally.committed > 0 {
                    stats.unknown_committed += 1;
                } else {
                    stats.unknown_aborted += 1;
                }
            }
        }
    }

    fn anomalies(&self, txn: &TxnState, tally: &Tally, anomalies: &mut Anomalies) {
        let told = self.told(txn);
        let limit = self.limit;
        let story = || self.story(txn, tally);
        let committed = tally.committed > 0;
        let fenced = self.fenced(txn).filter(|_| committed);
        if let Some((fenced_by, fenced_at)) = fenced {
            anomalies.zombie_write.add(limit, || ZombieWrite {
                story: story(),
                fenced_by,
                fenced_at,
            });
        } else if told == Told::Aborted && committed {
            anomalies
                .abort_committed
                .add(limit, || AbortCommitted(story()));
        }
        let unmarked_read = txn
            .parts
            .iter()
            .any(|p| p.fate == Fate::NoMarker && self.complete.contains(&p.partition));
        if told == Told::Committed && (tally.aborted > 0 || unmarked_read) {
            anomalies.commit_lost.add(limit, || CommitLost(story()));
        }
        let missing = tally.absent_acked > 0 || (told == Told::Committed && tally.absent > 0);
        if committed && (tally.aborted > 0 || missing) {
            anomalies
                .torn_transaction
                .add(limit, || TornTransaction(story()));
        }
    }

    /// The instance whose init fenced `txn`'s before its commit was asked,
    /// and when: the first later init with the same `transactional.id`.
    fn fenced(&self, txn: &TxnState) -> Option<(Producer, Nanos)> {
        let (own, asked) = (txn.init?, txn.commit_asked?);
        let inits = &self.txns.inits;
        let id = &inits[own].transactional_id;
        inits[own + 1..]
            .iter()
            .find(|i| &i.transactional_id == id)
            .filter(|i| i.time < asked)
            .map(|i| (i.producer, i.time))
    }

    fn story(&self, txn: &TxnState, tally: &Tally) -> TxnStory {
        let error = || txn.error.clone().unwrap_or_else(|| "no answer".into());
        let outcome = match (self.told(txn), txn.commit) {
            (Told::Committed, _) => TxnOutcome::Committed,
            (Told::Unknown, _) if txn.commit_asked.is_none() => TxnOutcome::NotEnded,
            (Told::Unknown, _) => TxnOutcome::CommitUnknown { error: error() },
            (Told::Aborted, CommitAnswer::Failed) => TxnOutcome::CommitFailed { error: error() },
            (Told::Aborted, _) if txn.abort_asked => TxnOutcome::Aborted {
                abort_ok: txn.abort_ok,
            },
            (Told::Aborted, _) => TxnOutcome::NotEnded,
        };
        let faults = if txn.ended {
            self.faults.set(txn.faults)
        } else {
            self.faults.since(txn.faults)
        };
        TxnStory {
            producer: txn.producer,
            txn: txn.txn,
            transactional_id: txn
                .init
                .map(|i| self.txns.inits[i].transactional_id.clone()),
            outcome,
            begun: txn.begun,
            commit_asked: txn.commit_asked,
            sends: tally.sends,
            committed: tally.committed,
            aborted: tally.aborted,
            unmarked: tally.unmarked,
            absent: tally.absent,
            messages: tally.messages.clone(),
            parts: txn.parts.clone(),
            more_parts: txn.more_parts,
            shared_segment_with: txn.shared_with.map(|t| self.name(t)),
            faults,
        }
    }

    fn name(&self, txn: TxnIndex) -> (Producer, crate::ids::Txn) {
        let txn = &self.txns.txns[txn as usize];
        (txn.producer, txn.txn)
    }

    /// Segments with no marker in partitions read to their end.
    fn hanging(&self) -> impl Iterator<Item = HangingTransaction> + '_ {
        self.txns
            .unmarked
            .iter()
            .filter(|u| self.complete.contains(&u.part.partition))
            .map(|u| HangingTransaction {
                part: u.part.clone(),
                transactions: u
                    .txns
                    .iter()
                    .take(MAX_NAMED)
                    .map(|&t| self.name(t))
                    .collect(),
            })
    }
}
