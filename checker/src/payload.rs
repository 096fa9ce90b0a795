//! The value of every record the workload writes.
//!
//! A record must say which message it is even when nothing else survives
//! (no history line, a foreign consumer), so the identity travels in the
//! value itself: `eos1:<producer>:<index>:<attempt>` in ASCII, padded with
//! `.` to the requested size. A console consumer shows it as is, and the
//! checker parses it with a handful of byte comparisons per record.

use crate::ids::{Attempt, MessageId};

/// Marks the payload layout; a future layout gets a new prefix.
const PREFIX: &[u8] = b"eos1:";
const PADDING: u8 = b'.';

/// The value for `message`'s `attempt`, at least `size` bytes long (longer
/// only when the identity itself does not fit).
pub fn encode(message: MessageId, attempt: Attempt, size: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(size);
    encode_into(&mut value, message, attempt, size);
    value
}

/// [`encode`] into a buffer the caller reuses: the workload writes one value per
/// send at the client's full speed, and an allocation each would show.
pub fn encode_into(value: &mut Vec<u8>, message: MessageId, attempt: Attempt, size: usize) {
    let mut n = itoa::Buffer::new();
    value.clear();
    value.extend_from_slice(PREFIX);
    value.extend_from_slice(n.format(message.producer).as_bytes());
    value.push(b':');
    value.extend_from_slice(n.format(message.index).as_bytes());
    value.push(b':');
    value.extend_from_slice(n.format(attempt).as_bytes());
    if value.len() < size {
        value.resize(size, PADDING);
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
