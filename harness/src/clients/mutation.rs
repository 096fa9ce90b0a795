//! Deliberately broken processors: the proof, on a real cluster, that each
//! pipeline anomaly kind bites.
//!
//! A property test plants an anomaly in a synthetic history and shows the
//! checker finds it; it cannot show that the anomaly can be *seen* in what a
//! real processor, consumer group and cluster leave behind (the raw logs,
//! their markers, the group's offsets, the processors' events). A mutation
//! makes eoscheck's own processor (rdkafka, `eoscheck processor`) commit one
//! mistake an application makes, and the run under it must come out
//! `invalid` with that kind. Each mutation imitates a bug found in real
//! consume-transform-produce code; the `skip` and `replay` ones imitate a
//! consumer whose position moves behind the application's back, which no
//! correct library does on purpose.
//!
//! `eoscheck run --mutate NAME` (hidden: it is for eoscheck's own tests and
//! for a user who wants to see the checker bite) takes the rdkafka client
//! and a pipeline only; `run.json` and the report say the processor was
//! broken on purpose.

use serde::{Deserialize, Serialize};

/// One deliberate mistake of a processor, and the kind it shows as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mutation {
    /// The consumer left at the Java client's default isolation,
    /// `read_uncommitted`: it delivers the feeder's aborted records, and
    /// their outputs show as `aborted-read`.
    ReadUncommitted,
    /// Offsets committed as soon as records are polled (what a consumer's
    /// auto-commit does), a batch's outputs written on the loop's next
    /// turn, to a producer that lingers [`Mutation::LINGER_MS`] and is not
    /// flushed when the processor stops (at most once): a crash loses what
    /// it held (`pipeline-lost`), and the stop at the end of the run loses
    /// the last batch, always (`offset-ahead`). At least once only: an
    /// exactly-once processor commits its offsets in its transaction.
    CommitOnPoll,
    /// The offset of the last processed record committed rather than the
    /// next one to read, the classic off-by-one: the group's offsets stay a
    /// record short of the output (`offset-behind`), and whoever takes a
    /// partition over processes that record again.
    CommitLast,
    /// A batch's records written in reverse order, as a pool of workers may
    /// finish them (`pipeline-reorder`).
    Reverse,
    /// Every tenth batch, the consumer moved one record on from a record
    /// it delivered, unannounced (`poll-skip`, and the record is never
    /// processed): the batch is cut after that record, and the consumer
    /// resumes at the one after the next.
    Skip,
    /// Every tenth batch, the consumer moved back to where the batch began,
    /// unannounced (`poll-regress`, and the batch is processed again).
    Replay,
}

impl Mutation {
    /// How long the `commit-on-poll` producer holds records before sending.
    pub const LINGER_MS: u32 = 2_000;
    /// How many batches `skip` and `replay` let pass between two moves.
    pub const EVERY: u32 = 10;

    /// The name `--mutate` takes and `run.json` keeps.
    pub fn name(self) -> &'static str {
        match self {
            Mutation::ReadUncommitted => "read-uncommitted",
            Mutation::CommitOnPoll => "commit-on-poll",
            Mutation::CommitLast => "commit-last",
            Mutation::Reverse => "reverse",
            Mutation::Skip => "skip",
            Mutation::Replay => "replay",
        }
    }

    /// The anomaly kind the mutation must show (others may come with it).
    pub fn shows(self) -> checker::Kind {
        match self {
            Mutation::ReadUncommitted => checker::Kind::AbortedRead,
            Mutation::CommitOnPoll => checker::Kind::OffsetAhead,
            Mutation::CommitLast => checker::Kind::OffsetBehind,
            Mutation::Reverse => checker::Kind::PipelineReorder,
            Mutation::Skip => checker::Kind::PollSkip,
            Mutation::Replay => checker::Kind::PollRegress,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    /// The name clap takes is the one run.json and the protocol carry.
    #[test]
    fn names_agree_with_clap_and_serde() {
        for m in Mutation::value_variants() {
            let clap = m.to_possible_value().expect("a visible value");
            assert_eq!(clap.get_name(), m.name());
            assert_eq!(serde_json::to_value(m).unwrap(), m.name());
        }
    }
}
