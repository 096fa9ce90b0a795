//! Where the records of each key landed.
//!
//! A keyed producer relies on its partitioner to keep each key in one
//! partition, as long as the topic's partition count stays the same (it does
//! during a run): that is what makes order per key hold, since order is kept
//! per partition. A key found in two partitions is `key-split`. Every record
//! that counts as written (not transactional, or committed) and has a key is
//! placed, whatever its value; records with a null key are not grouped. Each
//! distinct key is numbered once, so a record costs one lookup of its key's
//! bytes and a walk of that key's partitions (nearly always one).

use super::hashing::FastMap;
use crate::anomaly::{Anomalies, KeyPartition, KeyPlacement, KeySplit};
use crate::ids::{MessageId, Partition};
use bytes::Bytes;

/// The number the checker gives a distinct key.
pub(crate) type KeyNumber = u32;

struct Landings {
    key: Bytes,
    partitions: Vec<KeyPartition>,
}

#[derive(Default)]
pub(crate) struct Keys {
    number_of: FastMap<Bytes, KeyNumber>,
    keys: Vec<Landings>,
}

impl Keys {
    /// The number of `key`, given at its first sight.
    pub fn number(&mut self, key: &Bytes) -> KeyNumber {
        if let Some(&number) = self.number_of.get(key) {
            return number;
        }
        let number = self.keys.len() as KeyNumber;
        self.keys.push(Landings {
            key: key.clone(),
            partitions: Vec::new(),
        });
        self.number_of.insert(key.clone(), number);
        number
    }

    /// The key as text (lossy UTF-8), for an example.
    pub fn text(&self, number: KeyNumber) -> String {
        String::from_utf8_lossy(&self.keys[number as usize].key).into_owned()
    }

    /// A written record with key `number` in `partition`; `message` when it is
    /// an eoscheck message.
    pub fn land(&mut self, number: KeyNumber, partition: Partition, message: Option<MessageId>) {
        let partitions = &mut self.keys[number as usize].partitions;
        match partitions.iter_mut().find(|p| p.partition == partition) {
            Some(there) => {
                there.records += 1;
                there.message = there.message.or(message);
            }
            None => partitions.push(KeyPartition {
                partition,
                records: 1,
                message,
            }),
        }
    }

    /// Every key's placement, in numeric order (shorter keys first, then by
    /// their bytes); reports `key-split` for each key in more than one
    /// partition, in that order. A key numbered only for records that never
    /// counted as written (an aborted or undecided transaction) landed nowhere
    /// and is left out.
    pub fn finish(self, anomalies: &mut Anomalies, limit: usize) -> Vec<KeyPlacement> {
        let mut keys = self.keys;
        keys.retain(|landings| !landings.partitions.is_empty());
        keys.sort_by(|a, b| (a.key.len(), &a.key).cmp(&(b.key.len(), &b.key)));
        keys.into_iter()
            .map(|mut landings| {
                landings.partitions.sort_by_key(|p| p.partition);
                let placement = KeyPlacement {
                    key: String::from_utf8_lossy(&landings.key).into_owned(),
                    partitions: landings.partitions,
                };
                if placement.partitions.len() > 1 {
                    anomalies
                        .key_split
                        .add(limit, || KeySplit(placement.clone()));
                }
                placement
            })
            .collect()
    }
}
