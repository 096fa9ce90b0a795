//! Everything the history says about each send, kept small enough for ten
//! million messages: one 32-byte [`Slot`] per message in a dense table per
//! producer (indexes are assigned 0, 1, 2, ... by the workload), and side
//! tables for the rare cases (application resends, repeated acks, a first
//! copy that was a resend).

use super::hashing::FastMap;
use crate::ids::{Attempt, MessageId, Offset, Partition, Producer};
use crate::log::Record;

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
    /// Message level, dense slots only: some copy is in the log and the
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
}

/// One send as the history left it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SendState {
    /// Where the client said it was acknowledged (with `partition`).
    pub acked_offset: Offset,
    /// The partition it was sent to, or acknowledged at if the client said so.
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
}

/// A partition as a [`SendState`] keeps it, in 2 bytes; `Err` names one that
/// does not fit.
pub(crate) fn narrow(partition: Partition) -> Result<u16, String> {
    u16::try_from(partition).map_err(|_| format!("partition {partition} is outside 0..=65535"))
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

/// Invokes may run ahead of the lowest unfinished index by at most this much;
/// a bigger jump means the history does not number messages densely.
const MAX_INDEX_JUMP: u64 = 1 << 20;

#[derive(Default)]
pub(crate) struct Sends {
    tables: Vec<(Producer, Vec<Slot>)>,
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
    /// Registers an invoke; `Err` says why the history is inconsistent.
    pub fn invoke(
        &mut self,
        message: MessageId,
        attempt: Attempt,
        partition: Partition,
        faults: u16,
    ) -> Result<(), String> {
        let partition = narrow(partition)?;
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
        let table = self.table(message.producer);
        let index = message.index;
        if index >= table.len() as u64 + MAX_INDEX_JUMP {
            return Err(format!(
                "message index {index} of producer {} jumps far past the {} messages seen; number messages 0, 1, 2, ... per producer",
                message.producer,
                table.len()
            ));
        }
        let index = index as usize;
        if index >= table.len() {
            table.resize(index + 1, Slot::default());
        }
        if table[index].send.has(flag::INVOKED) {
            return Err(format!("message {message} attempt 0 invoked twice"));
        }
        table[index].send = fresh;
        Ok(())
    }

    fn table(&mut self, producer: Producer) -> &mut Vec<Slot> {
        let at = match self.last_table {
            Some((last, at)) if last == producer => at,
            _ => {
                let at = *self.table_of.entry(producer).or_insert_with(|| {
                    self.tables.push((producer, Vec::new()));
                    self.tables.len() - 1
                });
                self.last_table = Some((producer, at));
                at
            }
        };
        &mut self.tables[at].1
    }

    pub fn slot(&self, message: MessageId) -> Option<&Slot> {
        let table = &self.tables[*self.table_of.get(&message.producer)?].1;
        table.get(usize::try_from(message.index).ok()?)
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
        self.tables[table]
            .1
            .get_mut(usize::try_from(message.index).ok()?)
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

    /// Each producer with its slots (index = message index), in the order
    /// [`Sends::sort_producers`] left them.
    pub fn producers(&self) -> &[(Producer, Vec<Slot>)] {
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
            .invoke(m, 1, 0, 0)
            .unwrap_err()
            .contains("before its attempt 0"));
        s.invoke(m, 0, 0, 0).unwrap();
        assert!(s.invoke(m, 0, 0, 0).unwrap_err().contains("invoked twice"));
        s.invoke(m, 1, 0, 0).unwrap();
        assert!(s.invoke(m, 1, 0, 0).unwrap_err().contains("invoked twice"));
        let far = MessageId {
            producer: 1,
            index: u64::MAX,
        };
        assert!(s
            .invoke(far, 0, 0, 0)
            .unwrap_err()
            .contains("jumps far past"));
        assert!(s.invoke(m, 0, 70_000, 0).unwrap_err().contains("outside"));
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
}
