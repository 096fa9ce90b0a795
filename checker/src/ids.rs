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
