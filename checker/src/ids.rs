//! The names the Kafka protocol and the workload give to things.
//!
//! Plain aliases keep the wire widths visible (a PID is an `i64` on the wire,
//! an epoch an `i16`, a sequence an `i32`) while letting signatures read in
//! the domain's words.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The workload's number for one producer instance (one client object the
/// harness created). Survives restarts of the client only if the harness
/// reuses the number; the PID does not.
pub type Producer = u32;
/// Broker-assigned producer id; `-1` for a non-idempotent producer.
pub type ProducerId = i64;
/// Producer epoch; `-1` for a non-idempotent producer.
pub type Epoch = i16;
/// Per (PID, epoch, partition) sequence number of a record.
pub type Sequence = i32;
/// Topic partition number.
pub type Partition = i32;
/// Position of a record in a partition.
pub type Offset = i64;
/// Which send of one message this is: 0 for the first, more for the
/// application's own resends (`app-resend` preset).
pub type Attempt = u32;

/// A producer's number for one of its transactions: 0, 1, 2, ... in the order
/// it begins them. A transaction is named `(producer, txn)`; every send the
/// producer invokes between the transaction's begin and the call that ends it
/// belongs to it.
pub type Txn = u32;

/// A pipeline's processor slot: 0, 1, ... A slot's instance that crashes or
/// is fenced is replaced by a new instance in the same slot.
pub type Processor = u32;

/// PID written by producers that are not idempotent.
pub const NO_PRODUCER_ID: ProducerId = -1;

/// The identity of one message the workload sent: which producer instance
/// and that producer's running index. Each producer numbers its messages
/// 0, 1, 2, ... in the order it sends them, so `index` is also send order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId {
    pub producer: Producer,
    pub index: u64,
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.producer, self.index)
    }
}

/// One send as the workload hands it to a client: which message, which of
/// its attempts, to which partition. The one key of a send everywhere in the
/// harness: the workload's invoke, the client's hand-over, the completion it
/// waits for, and the application's resend of a failed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SendKey {
    pub message: MessageId,
    pub attempt: Attempt,
    /// The partition the send names; `None` leaves the choice to the
    /// library's partitioner (by the record key, when there is one).
    pub partition: Option<Partition>,
}

/// The partition bits of a send word that name no partition: 0xFFFF, so real
/// partitions keep 0..=0xFFFE.
const LEFT_TO_LIBRARY: u64 = 0xFFFF;

impl SendKey {
    /// The send in one word, without its producer (known from where the word
    /// is kept): message index in 40 bits (a trillion messages), attempt in 8
    /// (the workload makes a handful), partition in 16 (as the checker reads;
    /// 0xFFFF when the send names none). None when a field does not fit. The
    /// harness's recorder and librdkafka's per-message opaque carry sends this
    /// way: no allocation per send.
    pub fn to_word(self) -> Option<u64> {
        let (index, attempt) = (self.message.index, self.attempt);
        let partition = match self.partition {
            None => LEFT_TO_LIBRARY,
            Some(p) => u64::try_from(p).ok().filter(|&p| p < LEFT_TO_LIBRARY)?,
        };
        (index < 1 << 40 && attempt < 1 << 8)
            .then_some((index << 24) | (u64::from(attempt) << 16) | partition)
    }

    /// The send `producer` packed into `word` with [`SendKey::to_word`].
    pub fn from_word(producer: Producer, word: u64) -> SendKey {
        let partition = word & 0xffff;
        SendKey {
            message: MessageId {
                producer,
                index: word >> 24,
            },
            attempt: ((word >> 16) & 0xff) as Attempt,
            partition: (partition != LEFT_TO_LIBRARY).then_some(partition as Partition),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(index: u64, attempt: Attempt, partition: Option<Partition>) -> SendKey {
        SendKey {
            message: MessageId { producer: 7, index },
            attempt,
            partition,
        }
    }

    #[test]
    fn a_send_word_keeps_its_fields_or_refuses_them() {
        for (index, attempt, partition) in [
            (0, 0, Some(0)),
            ((1 << 40) - 1, 255, Some(65_534)),
            (123_456_789, 4, Some(2)),
            (5, 1, None),
            ((1 << 40) - 1, 255, None),
        ] {
            let send = key(index, attempt, partition);
            let word = send.to_word().unwrap();
            assert_eq!(SendKey::from_word(7, word), send);
        }
        for (index, attempt, partition) in [
            (1 << 40, 0, Some(0)),
            (0, 256, Some(0)),
            (0, 256, None),
            (0, 0, Some(65_535)),
            (0, 0, Some(65_536)),
            (0, 0, Some(-1)),
        ] {
            assert_eq!(key(index, attempt, partition).to_word(), None);
        }
    }
}
