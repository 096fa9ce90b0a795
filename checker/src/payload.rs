//! The value of every record the workload writes.
//!
//! A record must say which message it is even when nothing else survives
//! (no history line, a foreign consumer), so the identity travels in the
//! value itself: `eos1:<producer>:<index>:<attempt>` in ASCII, padded with
//! `.` to the requested size. A console consumer shows it as is, and the
//! checker parses it with a handful of byte comparisons per record.
//!
//! A pipeline's processors write, for each input record they transform, an
//! output record whose value is `eosp1:<partition>:<offset>:<processor>:<txn>:`
//! followed by the input value unchanged ([`OutputOf`]): the input's place
//! and identity survive in the output log alone, so the checker judges a
//! pipeline from its two logs without trusting any processor's account.
//!
//! A keyed run (the history header's `keys`) gives every record a key too,
//! [`key_of`] its message in decimal ASCII ([`key_bytes`]): a pure function
//! of the message, so the harness, the checker and anyone reading the log
//! compute the same key without a table, and well mixed, so consecutive
//! messages spread over the keys (and so over the partitions) as an
//! application's keys would.

use crate::{
    decimal::Cursor,
    ids::{Attempt, MessageId, Offset, Partition, Processor, Txn},
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

/// SplitMix64's increment (2^64 divided by the golden ratio, made odd).
pub(crate) const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finaliser (Steele, Lea and Flood, 2014): a bijection of u64
/// in which every output bit depends on every input bit.
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The key number of `message` in a run with `keys` keys (at least 1; 0
/// panics): SplitMix64's finaliser of `index + producer × 0x9E3779B97F4A7C15`
/// (wrapping at 2^64), modulo `keys`. In Python:
///
/// ```text
/// M = 2**64 - 1
/// def key_of(producer, index, keys):
///     z = (index + producer * 0x9E3779B97F4A7C15) & M
///     z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
///     z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
///     return (z ^ (z >> 31)) % keys
/// ```
pub fn key_of(message: MessageId, keys: u32) -> u32 {
    let seed = message
        .index
        .wrapping_add(u64::from(message.producer).wrapping_mul(GOLDEN_GAMMA));
    (splitmix64(seed) % u64::from(keys)) as u32
}

/// The most digits a key number has.
const KEY_DIGITS: usize = 10;

/// A record key as eoscheck writes it: a key number in decimal ASCII, kept on
/// the stack so a send costs no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyBytes {
    digits: [u8; KEY_DIGITS + Cursor::SLACK],
    len: usize,
}

impl KeyBytes {
    pub fn as_bytes(&self) -> &[u8] {
        &self.digits[..self.len]
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).expect("decimal digits are ASCII")
    }
}

/// The record key for key number `key` (see [`key_of`]).
pub fn key_bytes(key: u32) -> KeyBytes {
    let mut digits = [0; KEY_DIGITS + Cursor::SLACK];
    let mut cursor = Cursor::new(&mut digits, 0);
    cursor.number(key.into());
    let len = cursor.len();
    KeyBytes { digits, len }
}

/// A non-empty run of decimal digits no larger than `max`, and what follows.
/// Marks a pipeline processor's output value.
const OUTPUT_PREFIX: &[u8] = b"eosp1:";

/// What a processor's output record says it was made from: the input
/// record's place, the processor slot, and the processor's transaction (0
/// where the library hides its transactions, as Kafka Streams does).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputOf {
    pub partition: Partition,
    pub offset: Offset,
    pub processor: Processor,
    pub txn: Txn,
}

impl OutputOf {
    /// The output value for the input record `input_value` (the drivers
    /// write the same bytes in their own languages).
    pub fn encode(&self, input_value: &[u8]) -> Vec<u8> {
        let head = format!(
            "eosp1:{}:{}:{}:{}:",
            self.partition, self.offset, self.processor, self.txn
        );
        [head.as_bytes(), input_value].concat()
    }

    /// The output record's origin and the input value it carries, or `None`
    /// when `value` is not a processor's output.
    pub fn decode(value: &[u8]) -> Option<(OutputOf, &[u8])> {
        let rest = value.strip_prefix(OUTPUT_PREFIX)?;
        let (partition, rest) = number(rest, i32::MAX as u64)?;
        let (offset, rest) = number(rest.strip_prefix(b":")?, i64::MAX as u64)?;
        let (processor, rest) = number(rest.strip_prefix(b":")?, u32::MAX as u64)?;
        let (txn, rest) = number(rest.strip_prefix(b":")?, u32::MAX as u64)?;
        let of = OutputOf {
            partition: partition as Partition,
            offset: offset as Offset,
            processor: processor as Processor,
            txn: txn as Txn,
        };
        Some((of, rest.strip_prefix(b":")?))
    }
}

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
    fn an_output_names_its_input() {
        let of = OutputOf {
            partition: 2,
            offset: 1091,
            processor: 1,
            txn: 40,
        };
        let input = encode(
            MessageId {
                producer: 0,
                index: 5,
            },
            0,
            20,
        );
        let value = of.encode(&input);
        assert!(value.starts_with(b"eosp1:2:1091:1:40:eos1:0:5:0."));
        assert_eq!(OutputOf::decode(&value), Some((of, &input[..])));
        assert_eq!(decode(OutputOf::decode(&value).unwrap().1), decode(&input));
        assert_eq!(OutputOf::decode(b"eosp1:2:1091:1:40"), None);
        assert_eq!(OutputOf::decode(&input), None);
    }

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

    /// The key function is the documented formula (values from the Python
    /// in its doc comment), and spreads consecutive messages over the keys.
    #[test]
    fn keys_follow_the_documented_formula_and_spread() {
        let key = |producer, index, keys| key_of(MessageId { producer, index }, keys);
        assert_eq!(
            [key(0, 0, 1000), key(0, 1, 1000), key(3, 1234, 1000)],
            [0, 789, 946]
        );
        assert_eq!(key(u32::MAX, u64::MAX, u32::MAX), 4_206_706_721);
        let mut per_key = [0u32; 8];
        for index in 0..8000 {
            per_key[key(1, index, 8) as usize] += 1;
        }
        assert!(
            per_key.iter().all(|&n| (900..1100).contains(&n)),
            "{per_key:?}"
        );
        for (n, text) in [(0, "0"), (42, "42"), (u32::MAX, "4294967295")] {
            assert_eq!(key_bytes(n).as_str(), text);
            assert_eq!(key_bytes(n).as_bytes(), text.as_bytes());
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
