//! The value of every record the workload writes.
//!
//! A record must say which message it is even when nothing else survives
//! (no history line, a foreign consumer), so the identity travels in the
//! value itself: `eos1:<producer>:<index>:<attempt>` in ASCII, padded with
//! `.` to the requested size. A console consumer shows it as is, and the
//! checker parses it with a handful of byte comparisons per record.

use crate::{
    decimal::Cursor,
    ids::{Attempt, MessageId},
};

/// Marks the payload layout; a future layout gets a new prefix.
const PREFIX: &[u8] = b"eos1:";
const PADDING: u8 = b'.';

/// The value for `message`'s `attempt`, at least `size` bytes long (longer
/// only when the identity itself does not fit).
pub fn encode(message: MessageId, attempt: Attempt, size: usize) -> Vec<u8> {
    Values::new(size).encode(message, attempt, size).to_vec()
}

/// Values of up to one size, each written over the last, for the workload's sends:
/// between two of them only the identity changes, and at a client's full speed
/// writing the padding again each time (a `memset` per send) was a third of
/// the cost of encoding.
pub struct Values {
    /// The value, then room for the longest identity and a number's last store
    /// ([`Cursor::SLACK`]); padding wherever no identity is.
    buf: Vec<u8>,
    /// How long the identity at the front of `buf` is.
    identity: usize,
}

/// `eos1:`, a producer, an index and an attempt at their longest, and colons.
const LONGEST_IDENTITY: usize = PREFIX.len() + 10 + 1 + 20 + 1 + 10;

impl Values {
    /// Room for values of up to `most` bytes.
    pub fn new(most: usize) -> Values {
        Values {
            buf: vec![PADDING; most.max(LONGEST_IDENTITY) + Cursor::SLACK],
            identity: 0,
        }
    }

    /// The value for `message`'s `attempt` of `size` bytes (at most the
    /// `most` it was made with), exactly as [`encode`] makes it.
    pub fn encode(&mut self, message: MessageId, attempt: Attempt, size: usize) -> &[u8] {
        // Written in place; the number stores reach into the padding behind
        // with padding.
        let mut id = Cursor::new(&mut self.buf, PADDING);
        id.text(PREFIX);
        id.number(message.producer.into());
        id.text(b":");
        id.number(message.index);
        id.text(b":");
        id.number(attempt.into());
        let len = id.len();
        // Padding again where a longer identity was.
        if self.identity > len {
            self.buf[len..self.identity].fill(PADDING);
        }
        self.identity = len;
        &self.buf[..len.max(size)]
    }
}

/// The message and attempt a value carries, or `None` when the value was not
/// written by [`encode`] (a phantom or a corrupted record).
pub fn decode(value: &[u8]) -> Option<(MessageId, Attempt)> {
    let rest = value.strip_prefix(PREFIX)?;
    let (producer, rest) = number(rest, u32::MAX as u64)?;
    let rest = rest.strip_prefix(b":")?;
    let (index, rest) = number(rest, u64::MAX)?;
    let rest = rest.strip_prefix(b":")?;
    let (attempt, rest) = number(rest, u32::MAX as u64)?;
    match rest.first() {
        None | Some(&PADDING) => Some((
            MessageId {
                producer: producer as u32,
                index,
            },
            attempt as u32,
        )),
        Some(_) => None,
    }
}

/// A non-empty run of decimal digits no larger than `max`, and what follows.
fn number(bytes: &[u8], max: u64) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in &bytes[..digits] {
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (value <= max).then_some((value, &bytes[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads() {
        let id = MessageId {
            producer: 7,
            index: u64::MAX,
        };
        let value = encode(id, 3, 64);
        assert_eq!(value.len(), 64);
        assert!(value.starts_with(b"eos1:7:18446744073709551615:3."));
        assert_eq!(decode(&value), Some((id, 3)));
        assert_eq!(decode(&encode(id, 0, 0)), Some((id, 0)));
    }

    proptest::proptest! {
        /// However the identities before it ran longer or shorter, a value is
        /// its identity padded to the size.
        #[test]
        fn values_written_over_each_other_are_each_whole(
            most in 0..60usize,
            sends in proptest::collection::vec((0..u32::MAX, 0..u64::MAX, 0..10u32, 0..20u32, 0..60usize), 1..20),
        ) {
            let mut values = Values::new(most);
            for (producer, index, attempt, digits, size) in sends {
                // Sizes up to the most, in any order.
                let size = size.min(most);
                // Identities of every length, not only the long ones random
                // numbers make.
                let index = index % 10u64.pow(digits).max(1);
                let mut expected = format!("eos1:{producer}:{index}:{attempt}").into_bytes();
                if expected.len() < size {
                    expected.resize(size, b'.');
                }
                let value = values.encode(MessageId { producer, index }, attempt, size);
                proptest::prop_assert_eq!(value, &expected[..]);
            }
        }
    }

    #[test]
    fn rejects_foreign_values() {
        for value in [
            &b""[..],
            b"eos1:",
            b"eos1:1:2",
            b"eos1:1:2:",
            b"eos1:1:2:3x",
            b"eos2:1:2:3",
            b"eos1:4294967296:2:3",
            b"eos1:1:18446744073709551616:3",
            b"eos1:-1:2:3",
        ] {
            assert_eq!(decode(value), None, "{}", String::from_utf8_lossy(value));
        }
    }
}
