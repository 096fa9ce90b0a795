//! Everything the history says about each send, kept small enough for ten
//! million messages: one 32-byte [`Slot`] per message in a dense table per
//! producer (indexes are assigned 0, 1, 2, ... by the workload), and side
//! tables for the rare cases (application resends, repeated acks, a first
//! copy that was a resend).
//!
//! Memory follows the sends the history holds, not the indexes it names: a
//! producer's dense table grows to at most two slots per invoke of that
//! producer (see [`Table`]), and an index beyond that waits in a sparse side
//! table until the dense one reaches it. A history that claims a huge index
//! is therefore no reason to refuse it, nor to reserve room for every index
//! below it. Measured with GNU `time -v eoscheck check DIR` on a 1 KB
//! `history.jsonl` of 20 producers each invoking only message 1,048,000 (or
//! of one producer whose 20 invokes jump by 1,048,000 each), with an empty
//! log: peak RSS 6.7–7.6 MB over twelve runs, the same as for 20 invokes of
//! message 0, where tables sized by the claims took 661–663 MB.

use super::hashing::FastMap;
use crate::ids::{Attempt, MessageId, Offset, Partition, Producer};
use crate::log::Record;
use std::collections::BTreeMap;

/// Bits of [`SendState::flags`].
pub(crate) mod flag {
    pub const INVOKED: u16 = 1;
    pub const ACKED: u16 = 1 << 1;
    pub const FAILED_DEFINITE: u16 = 1 << 2;
    pub const FAILED_MAYBE: u16 = 1 << 3;
    pub const INFO: u16 = 1 << 4;
    /// This send (message and attempt) is in the log.
    pub const LANDED: u16 = 1 << 5;
    /// Its failed-but-present anomaly was already counted.
    pub const FAILURE_REPORTED: u16 = 1 << 6;
    /// Message level, slots only: some copy is in the log and the
    /// slot's `first_*` fields describe the first one read.
    pub const FOUND: u16 = 1 << 7;
    /// Message level: the first copy read was a resend (its attempt is in
    /// [`super::Sends::first_attempts`]).
    pub const FIRST_IS_RESEND: u16 = 1 << 8;
    /// Message level: the message has more copies (in the checker's
    /// duplicate table).
    pub const DUPLICATED: u16 = 1 << 9;
    /// The send was acknowledged again at another position (in
    /// [`super::Sends::extra_acks`]).
    pub const ACKED_AGAIN: u16 = 1 << 10;
    /// A copy of the send is in the log in an aborted transaction.
    pub const ABORTED: u16 = 1 << 11;
}

/// One send as the history left it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SendState {
    /// Where the client said it was acknowledged (with `partition`).
    pub acked_offset: Offset,
    /// The partition it was sent to, or acknowledged at if the client said so;
    /// [`UNKNOWN_PARTITION`] while neither is known.
    pub partition: u16,
    /// The fault change current at invoke; once completed, the number of the
    /// set of faults active at any time in between (see `super::faults`).
    pub faults: u16,
    pub flags: u16,
    /// Number of the error text of its failure, if any.
    pub error: u16,
}

impl SendState {
    pub fn has(&self, bits: u16) -> bool {
        self.flags & bits != 0
    }
    /// The client completed it, one way or another.
    pub fn completed(&self) -> bool {
        self.has(flag::ACKED | flag::FAILED_DEFINITE | flag::FAILED_MAYBE | flag::INFO)
    }
    /// Completed as neither ok nor a definite failure: it may or may not
    /// have been written.
    pub fn indeterminate(&self) -> bool {
        !self.has(flag::ACKED | flag::FAILED_DEFINITE)
    }
    /// Where it was sent or acknowledged; `None` when the invoke left the
    /// partition to the library and no ack said where it went.
    pub fn partition(&self) -> Option<Partition> {
        (self.partition != UNKNOWN_PARTITION).then_some(self.partition.into())
    }
}

/// A [`SendState::partition`] that names none (as a send word's 0xFFFF does).
pub(crate) const UNKNOWN_PARTITION: u16 = u16::MAX;

/// A partition as a [`SendState`] keeps it, in 2 bytes; `Err` names one that
/// does not fit.
pub(crate) fn narrow(partition: Partition) -> Result<u16, String> {
    u16::try_from(partition)
        .ok()
        .filter(|&p| p != UNKNOWN_PARTITION)
        .ok_or_else(|| format!("partition {partition} is outside 0..=65534"))
}

/// Attempt 0 of a message plus where its first copy in the log sits.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Slot {
    pub send: SendState,
    pub first_offset: Offset,
    /// Number of the (partition, PID, epoch) of the first copy.
    pub first_place: u32,
    pub first_sequence: i32,
}

/// Room a producer's dense table may take beyond twice its invokes, so that
/// invokes a little out of order stay in it.
const DENSE_SLACK: u64 = 16;

/// One producer's slots, by message index: dense below `dense.len()`, sparse
/// (in `far`) from there on, so an index is in exactly one of the two.
#[derive(Default)]
pub(crate) struct Table {
    dense: Vec<Slot>,
    far: BTreeMap<u64, Slot>,
    /// Attempt-0 invokes seen: the dense table holds at most twice as many
    /// slots, plus [`DENSE_SLACK`].
    invoked: u64,
}

impl Table {
    /// Where `index` sits in the dense table, if it is there.
    fn dense_at(&self, index: u64) -> Option<usize> {
        (index < self.dense.len() as u64).then_some(index as usize)
    }

    pub fn get(&self, index: u64) -> Option<&Slot> {
        match self.dense_at(index) {
            Some(i) => Some(&self.dense[i]),
            None => self.far.get(&index),
        }
    }

    pub fn get_mut(&mut self, index: u64) -> Option<&mut Slot> {
        match self.dense_at(index) {
            Some(i) => Some(&mut self.dense[i]),
            None => self.far.get_mut(&index),
        }
    }

    /// The slot an attempt-0 invoke of `index` fills, made if need be: in the
    /// dense table if the invokes seen so far justify growing it that far,
    /// else in the sparse one.
    fn claim(&mut self, index: u64) -> &mut Slot {
        self.invoked += 1;
        if index >= self.dense.len() as u64 && index < 2 * self.invoked + DENSE_SLACK {
            self.grow(index as usize + 1);
        }
        match self.dense_at(index) {
            Some(i) => &mut self.dense[i],
            None => self.far.entry(index).or_default(),
        }
    }

    /// Lengthens the dense table to `len`, moving in the sparse slots it now
    /// covers.
    fn grow(&mut self, len: usize) {
        self.dense.resize(len, Slot::default());
        let covered = |(&index, _): (&u64, &Slot)| index < len as u64;
        if self.far.first_key_value().is_some_and(covered) {
            let beyond = self.far.split_off(&(len as u64));
            for (index, slot) in std::mem::replace(&mut self.far, beyond) {
                self.dense[index as usize] = slot;
            }
        }
    }

    /// Every slot with its index, in ascending index order.
    pub fn slots(&self) -> impl Iterator<Item = (u64, &Slot)> {
        let dense = self.dense.iter().enumerate().map(|(i, s)| (i as u64, s));
        dense.chain(self.far.iter().map(|(&i, s)| (i, s)))
    }
}

#[derive(Default)]
pub(crate) struct Sends {
    tables: Vec<(Producer, Table)>,
    table_of: FastMap<Producer, usize>,
    /// The last table looked up: records come in runs from one producer.
    last_table: Option<(Producer, usize)>,
    pub resends: FastMap<(MessageId, Attempt), SendState>,
    pub first_attempts: FastMap<MessageId, Attempt>,
    /// Further acknowledgements of a send at another position.
    pub extra_acks: FastMap<(MessageId, Attempt), Vec<(Partition, Offset)>>,
    errors: Vec<String>,
    error_of: FastMap<String, u16>,
}

impl Sends {
    /// Registers an invoke (`partition` `None` when it names none); `Err`
    /// says why the history is inconsistent.
    pub fn invoke(
        &mut self,
        message: MessageId,
        attempt: Attempt,
        partition: Option<Partition>,
        faults: u16,
    ) -> Result<(), String> {
        let partition = partition.map_or(Ok(UNKNOWN_PARTITION), narrow)?;
        let fresh = SendState {
            partition,
            faults,
            flags: flag::INVOKED,
            ..SendState::default()
        };
        if attempt > 0 {
            if !self
                .slot(message)
                .is_some_and(|s| s.send.has(flag::INVOKED))
            {
                return Err(format!(
                    "message {message} attempt {attempt} invoked before its attempt 0"
                ));
            }
            if self.resends.insert((message, attempt), fresh).is_some() {
                return Err(format!("message {message} attempt {attempt} invoked twice"));
            }
            return Ok(());
        }
        let slot = self.table(message.producer).claim(message.index);
        if slot.send.has(flag::INVOKED) {
            return Err(format!("message {message} attempt 0 invoked twice"));
        }
        slot.send = fresh;
        Ok(())
    }

    fn table(&mut self, producer: Producer) -> &mut Table {
        let at = match self.last_table {
            Some((last, at)) if last == producer => at,
            _ => {
                let at = *self.table_of.entry(producer).or_insert_with(|| {
                    self.tables.push((producer, Table::default()));
                    self.tables.len() - 1
                });
                self.last_table = Some((producer, at));
                at
            }
        };
        &mut self.tables[at].1
    }

    pub fn slot(&self, message: MessageId) -> Option<&Slot> {
        self.tables[*self.table_of.get(&message.producer)?]
            .1
            .get(message.index)
    }

    pub fn slot_mut(&mut self, message: MessageId) -> Option<&mut Slot> {
        let table = match self.last_table {
            Some((producer, table)) if producer == message.producer => table,
            _ => {
                let table = *self.table_of.get(&message.producer)?;
                self.last_table = Some((message.producer, table));
                table
            }
        };
        self.tables[table].1.get_mut(message.index)
    }

    /// The state of one send, if it was invoked.
    pub fn send(&self, message: MessageId, attempt: Attempt) -> Option<&SendState> {
        let state = match attempt {
            0 => &self.slot(message)?.send,
            _ => self.resends.get(&(message, attempt))?,
        };
        state.has(flag::INVOKED).then_some(state)
    }

    pub fn send_mut(&mut self, message: MessageId, attempt: Attempt) -> Option<&mut SendState> {
        let state = match attempt {
            0 => &mut self.slot_mut(message)?.send,
            _ => self.resends.get_mut(&(message, attempt))?,
        };
        state.has(flag::INVOKED).then_some(state)
    }

    /// Notes a copy of `message` (from `attempt`) read at `place`; `true`
    /// when it is the first, whose position the slot then keeps, `false`
    /// when the message is now known to be duplicated.
    #[inline]
    pub fn found(
        &mut self,
        message: MessageId,
        attempt: Attempt,
        place: u32,
        record: &Record,
    ) -> bool {
        let slot = self.slot_mut(message).expect("an invoked send has a slot");
        if slot.send.has(flag::FOUND) {
            slot.send.flags |= flag::DUPLICATED;
            return false;
        }
        slot.send.flags |= flag::FOUND;
        slot.first_offset = record.offset;
        slot.first_place = place;
        slot.first_sequence = record.sequence;
        if attempt != 0 {
            slot.send.flags |= flag::FIRST_IS_RESEND;
            self.first_attempts.insert(message, attempt);
        }
        true
    }

    /// Puts the producers in ascending order, for deterministic judging.
    pub fn sort_producers(&mut self) {
        self.tables.sort_by_key(|(p, _)| *p);
        self.last_table = None;
        self.table_of = self
            .tables
            .iter()
            .enumerate()
            .map(|(i, (p, _))| (*p, i))
            .collect();
    }

    /// Each producer with its slots, in the order [`Sends::sort_producers`]
    /// left them.
    pub fn producers(&self) -> &[(Producer, Table)] {
        &self.tables
    }

    /// A small number for an error text (errors repeat: timeouts, fencing).
    pub fn error_number(&mut self, error: &str) -> u16 {
        if let Some(&n) = self.error_of.get(error) {
            return n;
        }
        if self.errors.len() > usize::from(u16::MAX) {
            return u16::MAX;
        }
        self.errors.push(error.to_string());
        let n = (self.errors.len() - 1) as u16;
        self.error_of.insert(error.to_string(), n);
        n
    }

    pub fn error_text(&self, number: u16) -> &str {
        self.errors
            .get(usize::from(number))
            .map_or("(too many distinct errors to keep)", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_stays_32_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 32);
    }

    #[test]
    fn refuses_inconsistent_invokes() {
        let mut s = Sends::default();
        let m = MessageId {
            producer: 1,
            index: 0,
        };
        assert!(s
            .invoke(m, 1, Some(0), 0)
            .unwrap_err()
            .contains("before its attempt 0"));
        s.invoke(m, 0, Some(0), 0).unwrap();
        assert!(s
            .invoke(m, 0, Some(0), 0)
            .unwrap_err()
            .contains("invoked twice"));
        s.invoke(m, 1, Some(0), 0).unwrap();
        assert!(s
            .invoke(m, 1, Some(0), 0)
            .unwrap_err()
            .contains("invoked twice"));
        for outside in [70_000, 65_535, -1] {
            let refused = s.invoke(m, 0, Some(outside), 0).unwrap_err();
            assert!(refused.contains("outside"), "{refused}");
        }
        assert!(s
            .send(
                MessageId {
                    producer: 2,
                    index: 0
                },
                0
            )
            .is_none());
    }

    /// A far index waits in the sparse table, costs no dense room, and moves
    /// into the dense table once the invokes below it reach it.
    #[test]
    fn far_indexes_stay_sparse_until_the_dense_table_reaches_them() {
        let mut s = Sends::default();
        let m = |index| MessageId { producer: 1, index };
        for far in [u64::MAX, 40] {
            s.invoke(m(far), 0, Some(3), 0).unwrap();
        }
        fn table(s: &Sends) -> &Table {
            &s.producers()[0].1
        }
        assert_eq!((table(&s).dense.len(), table(&s).far.len()), (0, 2));
        for index in (0..40).chain([41]) {
            s.invoke(m(index), 0, Some(0), 0).unwrap();
        }
        assert_eq!((table(&s).dense.len(), table(&s).far.len()), (42, 1));
        assert_eq!(
            s.send(m(40), 0).map(|state| state.partition()),
            Some(Some(3))
        );
        assert!(s
            .invoke(m(40), 0, Some(0), 0)
            .unwrap_err()
            .contains("invoked twice"));
        assert!(s
            .invoke(m(u64::MAX), 0, Some(0), 0)
            .unwrap_err()
            .contains("invoked twice"));
        let indexes: Vec<u64> = table(&s).slots().map(|(index, _)| index).collect();
        assert_eq!(indexes, (0..=41).chain([u64::MAX]).collect::<Vec<_>>());
    }
}
