//! The anomaly kinds: one type each, whose doc comment is the definition
//! (the same text goes into `results.json`, the report and the README) and
//! whose fields are the shape of one example.

use crate::check::Idempotence;
use crate::guarantee::Guarantee;
use crate::history::Nanos;
use crate::ids::{
    Attempt, Epoch, MessageId, Offset, Partition, Processor, Producer, ProducerId, Sequence, Txn,
};
use serde::{Deserialize, Serialize};

/// What one anomaly type knows about itself.
pub trait Anomaly {
    /// The kind's name in `results.json` (stable).
    const NAME: &'static str;
    /// One sentence defining the kind; also the type's doc comment.
    const DEFINITION: &'static str;
    /// The guarantees an anomaly of this kind breaks.
    const VIOLATES: &'static [Guarantee];
    /// One sentence about this example, for a person reading the report.
    fn explain(&self) -> String;
}

/// Declares an anomaly type: its definition becomes both the doc comment and
/// [`Anomaly::DEFINITION`], so the text is written exactly once.
macro_rules! anomaly {
    (
        $name:literal, violates [$($g:ident),+], $definition:literal,
        $(#[$attr:meta])* pub struct $ty:ident $($body:tt)*
    ) => {
        #[doc = $definition]
        #[doc = ""]
        #[doc = concat!("Named `", $name, "` in results; breaks: ", stringify!($($g),+), ".")]
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        $(#[$attr])*
        pub struct $ty $($body)*

        impl $ty {
            const SPEC: (&'static str, &'static str, &'static [Guarantee]) =
                ($name, $definition, &[$(Guarantee::$g),+]);
        }
    };
}

/// Implements [`Anomaly`] from a type's spec and an explanation closure.
macro_rules! explained {
    ($ty:ident, |$this:ident| $explain:expr) => {
        impl Anomaly for $ty {
            const NAME: &'static str = $ty::SPEC.0;
            const DEFINITION: &'static str = $ty::SPEC.1;
            const VIOLATES: &'static [Guarantee] = $ty::SPEC.2;
            fn explain(&self) -> String {
                let $this = self;
                $explain
            }
        }
    };
}

/// Lists every kind once: the [`Kind`] enum and the [`Anomalies`] table.
macro_rules! kinds {
    ($($variant:ident $field:ident $ty:ident;)*) => {
        /// The anomaly kinds, in report order.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Kind { $($variant),* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $(Kind::$variant => <$ty as Anomaly>::NAME),* }
            }
            pub fn definition(self) -> &'static str {
                match self { $(Kind::$variant => <$ty as Anomaly>::DEFINITION),* }
            }
            pub fn violates(self) -> &'static [Guarantee] {
                match self { $(Kind::$variant => <$ty as Anomaly>::VIOLATES),* }
            }
        }

        /// Every kind's finding; kinds with no anomaly are present with count 0,
        /// so a reader sees what was checked. A results.json from before a
        /// kind existed reads as none found of it.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub struct Anomalies { $(#[serde(default = "Finding::new")] pub $field: Finding<$ty>,)* }

        impl Anomalies {
            pub(crate) fn new() -> Self {
                Anomalies { $($field: Finding::new(),)* }
            }
            /// How many anomalies of `kind` were found.
            pub fn count(&self, kind: Kind) -> u64 {
                match kind { $(Kind::$variant => self.$field.count),* }
            }
        }
    };
}

kinds! {
    Lost lost Lost;
    CommitLost commit_lost CommitLost;
    CommittedSkipped committed_skipped CommittedSkipped;
    Duplicate duplicate Duplicate;
    Reorder reorder Reorder;
    KeySplit key_split KeySplit;
    TornTransaction torn_transaction TornTransaction;
    AbortCommitted abort_committed AbortCommitted;
    ZombieWrite zombie_write ZombieWrite;
    AbortedRead aborted_read AbortedRead;
    PipelineLost pipeline_lost PipelineLost;
    PipelineDuplicate pipeline_duplicate PipelineDuplicate;
    PipelineReorder pipeline_reorder PipelineReorder;
    OffsetAhead offset_ahead OffsetAhead;
    OffsetBehind offset_behind OffsetBehind;
    PollSkip poll_skip PollSkip;
    PollRegress poll_regress PollRegress;
    SequenceGap sequence_gap SequenceGap;
    SequenceRepeat sequence_repeat SequenceRepeat;
    SequenceRegress sequence_regress SequenceRegress;
    OffsetMismatch offset_mismatch OffsetMismatch;
    FailedButPresent failed_but_present FailedButPresent;
    IdempotenceOff idempotence_off IdempotenceOff;
    Phantom phantom Phantom;
}

impl Kind {
    /// The kinds that decide a pipeline run: what its processors made of the
    /// input, and what a `read_committed` consumer delivered. The input
    /// producer of a pipeline run is eoscheck's own feeder; its anomalies
    /// are reported, and decide nothing about the processors.
    pub const PIPELINE: &'static [Kind] = &[
        Kind::AbortedRead,
        Kind::CommittedSkipped,
        Kind::PipelineLost,
        Kind::PipelineDuplicate,
        Kind::PipelineReorder,
        Kind::OffsetAhead,
        Kind::OffsetBehind,
        Kind::PollSkip,
        Kind::PollRegress,
    ];
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// All anomalies of one kind: how many, what the kind means, and the first
/// examples (in the order the checker met them, which is deterministic).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "A: Deserialize<'de>"))]
pub struct Finding<A> {
    pub count: u64,
    pub explanation: String,
    pub violates: Vec<Guarantee>,
    pub examples: Vec<Example<A>>,
}

/// One anomaly: a sentence for people, and the facts behind it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example<A> {
    pub explanation: String,
    #[serde(flatten)]
    pub detail: A,
}

impl<A: Anomaly> Finding<A> {
    fn new() -> Self {
        Finding {
            count: 0,
            explanation: A::DEFINITION.to_string(),
            violates: A::VIOLATES.to_vec(),
            examples: Vec::new(),
        }
    }

    /// Counts one anomaly; builds its example only while fewer than `limit`
    /// are kept, so a run with millions of anomalies stays cheap.
    pub(crate) fn add(&mut self, limit: usize, example: impl FnOnce() -> A) {
        self.count += 1;
        if self.examples.len() < limit {
            let detail = example();
            self.examples.push(Example {
                explanation: detail.explain(),
                detail,
            });
        }
    }
}

/// A fault the nemesis had active while a send was on its way.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ActiveFault {
    pub fault: String,
    pub targets: Vec<String>,
}

/// What the client said about a send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// Acknowledged at this position.
    Ok {
        partition: Partition,
        offset: Offset,
    },
    /// Reported failed; `definite` if the client says it was not written.
    Fail { error: String, definite: bool },
    /// Indeterminate.
    Info { error: String },
    /// The history has no completion for the send.
    None,
}

/// The client's view of one send, as examples show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientSend {
    pub message: MessageId,
    pub attempt: Attempt,
    pub outcome: Outcome,
    /// Every fault active at any time between the send's invoke and its
    /// completion (until the end of the history if it never completed).
    pub faults: Vec<ActiveFault>,
}

/// One record of a message in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCopy {
    pub partition: Partition,
    pub offset: Offset,
    pub pid: ProducerId,
    pub epoch: Epoch,
    pub sequence: Sequence,
    pub attempt: Attempt,
}

/// Why a message is in the log more than once, judged over all its copies
/// (the first matching rule wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicateCause {
    /// Two copies of the same attempt under the same PID and epoch: the
    /// client's own retry was written twice. For an idempotent producer the
    /// broker should have refused it; for a non-idempotent one (PID -1) this
    /// is what retries do.
    SamePidEpoch,
    /// Two copies of the same attempt under one PID but different epochs: the
    /// client bumped its epoch and resent a batch that had already landed.
    EpochBump,
    /// Two copies of the same attempt under different PIDs: a restarted (or
    /// second) producer resent what the old one had written.
    NewPid,
    /// Every copy is a different attempt: the application resent the message
    /// itself, which idempotence does not cover.
    AppResend,
    /// A message of a transaction whose same attempt is committed twice: the
    /// library wrote one of the transaction's sends again, in the same
    /// transaction or a later one.
    TxnRetry,
    /// A message of a transaction committed under two attempts: the
    /// application sent it again in a later transaction (after a commit whose
    /// outcome it did not learn), which transactions do not cover.
    TxnResend,
}

impl DuplicateCause {
    /// Judges the cause from all copies of one message of a transaction.
    pub fn of_transaction(copies: &[LogCopy]) -> DuplicateCause {
        let same_attempt = copies
            .iter()
            .enumerate()
            .any(|(i, a)| copies[i + 1..].iter().any(|b| b.attempt == a.attempt));
        if same_attempt {
            DuplicateCause::TxnRetry
        } else {
            DuplicateCause::TxnResend
        }
    }

    /// Judges the cause from all copies of one message.
    pub fn of(copies: &[LogCopy]) -> DuplicateCause {
        let pairs = || {
            copies.iter().enumerate().flat_map(move |(i, a)| {
                copies[i + 1..]
                    .iter()
                    .filter(move |b| b.attempt == a.attempt)
                    .map(move |b| (a, b))
            })
        };
        if pairs().any(|(a, b)| a.pid == b.pid && a.epoch == b.epoch) {
            DuplicateCause::SamePidEpoch
        } else if pairs().any(|(a, b)| a.pid == b.pid) {
            DuplicateCause::EpochBump
        } else if pairs().next().is_some() {
            DuplicateCause::NewPid
        } else {
            DuplicateCause::AppResend
        }
    }

    fn name(self) -> &'static str {
        match self {
            DuplicateCause::SamePidEpoch => "same-pid-epoch",
            DuplicateCause::EpochBump => "epoch-bump",
            DuplicateCause::NewPid => "new-pid",
            DuplicateCause::AppResend => "app-resend",
            DuplicateCause::TxnRetry => "txn-retry",
            DuplicateCause::TxnResend => "txn-resend",
        }
    }
}

fn positions(copies: &[LogCopy]) -> String {
    let list: Vec<String> = copies
        .iter()
        .map(|c| format!("{}@{}", c.partition, c.offset))
        .collect();
    list.join(", ")
}

fn told(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok { partition, offset } => format!("acknowledged at {partition}@{offset}"),
        Outcome::Fail {
            error,
            definite: true,
        } => format!("reported definitely failed ({error})"),
        Outcome::Fail {
            error,
            definite: false,
        } => format!("reported failed, maybe written ({error})"),
        Outcome::Info { error } => format!("left indeterminate ({error})"),
        Outcome::None => "never completed".to_string(),
    }
}

anomaly! {
    "lost", violates [NoLoss],
    "An acknowledged (ok) send whose message is nowhere in the final log.",
    pub struct Lost {
        #[serde(flatten)]
        pub send: ClientSend,
    }
}
explained!(Lost, |a| format!(
    "Message {} was {} but is not in the log.",
    a.send.message,
    told(&a.send.outcome)
));

anomaly! {
    "duplicate", violates [NoDuplicates],
    "One message is in the log at two or more offsets; `cause` says which copies differ (PID, epoch, attempt).",
    pub struct Duplicate {
        pub cause: DuplicateCause,
        /// Every copy, in the order the checker read them.
        pub copies: Vec<LogCopy>,
        #[serde(flatten)]
        pub send: ClientSend,
    }
}
explained!(Duplicate, |a| format!(
    "Message {} is in the log {} times ({}); cause {}.",
    a.send.message,
    a.copies.len(),
    positions(&a.copies),
    a.cause.name()
));

anomaly! {
    "reorder", violates [Order],
    "Within one producer session (producer instance and PID) and partition, a message sits after a message that was sent later; counted once per message that landed late.",
    pub struct Reorder {
        /// The message that landed late.
        pub copy: LogCopy,
        /// The later-sent message it landed after, and where that one sits.
        pub after: MessageId,
        pub after_offset: Offset,
        /// The late record's key (lossy UTF-8), when it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub key: Option<String>,
        #[serde(flatten)]
        pub send: ClientSend,
    }
}
explained!(Reorder, |a| format!(
    "Message {} at {}@{} landed after message {} at offset {}, which was sent later.",
    a.send.message, a.copy.partition, a.copy.offset, a.after, a.after_offset
));

/// One partition a record key landed in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyPartition {
    pub partition: Partition,
    /// Records with the key there (that count as written).
    pub records: u64,
    /// The first of them read that is an eoscheck message.
    pub message: Option<MessageId>,
}

/// Where the records of one key landed, partitions in ascending order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyPlacement {
    /// The key (lossy UTF-8).
    pub key: String,
    pub partitions: Vec<KeyPartition>,
}

anomaly! {
    "key-split", violates [Order],
    "One record key landed in more than one partition of the topic, whose partition count stays the same during a run: the partitioner did not keep the key's records together, so their order is lost.",
    #[serde(transparent)]
    pub struct KeySplit(pub KeyPlacement);
}
explained!(KeySplit, |a| {
    let places: Vec<String> =
        a.0.partitions
            .iter()
            .map(|p| {
                let first = p
                    .message
                    .map_or(String::new(), |m| format!(", first message {m}"));
                format!("{} ({} records{first})", p.partition, p.records)
            })
            .collect();
    format!(
        "Key {:?} landed in partitions {}.",
        a.0.key,
        places.join(" and ")
    )
});

/// Where the sequence numbers of one (PID, epoch, partition) broke.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SequenceBreak {
    pub partition: Partition,
    pub offset: Offset,
    pub pid: ProducerId,
    pub epoch: Epoch,
    /// The sequence of the previous record of this (PID, epoch, partition);
    /// `None` at its first record.
    pub previous: Option<Sequence>,
    pub sequence: Sequence,
    /// The message at `offset`, when its value decodes.
    pub message: Option<MessageId>,
}

impl SequenceBreak {
    fn explain(&self, what: &str) -> String {
        let before = match self.previous {
            Some(p) => format!("after sequence {p}"),
            None => "as the first record of its epoch (expected 0)".to_string(),
        };
        format!(
            "PID {} epoch {} {what} on partition {} at offset {}: sequence {} {before}.",
            self.pid, self.epoch, self.partition, self.offset, self.sequence
        )
    }
}

anomaly! {
    "sequence-gap", violates [Order],
    "Within one (PID, epoch, partition) the log's sequence numbers skip forward: the broker appended a batch that was not the next one.",
    #[serde(transparent)]
    pub struct SequenceGap(pub SequenceBreak);
}
explained!(SequenceGap, |a| a.0.explain("skipped"));

anomaly! {
    "sequence-repeat", violates [NoDuplicates],
    "Within one (PID, epoch, partition) a record carries the same sequence number as the record before it: one sequence was written twice.",
    #[serde(transparent)]
    pub struct SequenceRepeat(pub SequenceBreak);
}
explained!(SequenceRepeat, |a| a.0.explain("repeated"));

anomaly! {
    "sequence-regress", violates [Order],
    "Within one (PID, epoch, partition) the log's sequence numbers go backwards (other than wrapping from 2147483647 to 0).",
    #[serde(transparent)]
    pub struct SequenceRegress(pub SequenceBreak);
}
explained!(SequenceRegress, |a| a.0.explain("went backwards"));

anomaly! {
    "offset-mismatch", violates [NoLoss],
    "A send was acknowledged at a partition and offset where its message does not sit (the message is in the log elsewhere).",
    pub struct OffsetMismatch {
        /// Where the message really is.
        pub copies: Vec<LogCopy>,
        #[serde(flatten)]
        pub send: ClientSend,
    }
}
explained!(OffsetMismatch, |a| format!(
    "Message {} was {} but sits at {}.",
    a.send.message,
    told(&a.send.outcome),
    positions(&a.copies)
));

anomaly! {
    "failed-but-present", violates [NoDuplicates],
    "A send the client reported as definitely failed is in the log; an application that trusts the error and resends writes a duplicate.",
    pub struct FailedButPresent {
        pub copy: LogCopy,
        #[serde(flatten)]
        pub send: ClientSend,
    }
}
explained!(FailedButPresent, |a| format!(
    "Message {} attempt {} was {} but is in the log at {}@{}.",
    a.send.message,
    a.send.attempt,
    told(&a.send.outcome),
    a.copy.partition,
    a.copy.offset
));

/// What became of a transaction's records in one segment: committed or
/// aborted by the marker that ended it, or no marker before the read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fate {
    Committed,
    Aborted,
    NoMarker,
}

impl Fate {
    pub fn name(self) -> &'static str {
        match self {
            Fate::Committed => "committed",
            Fate::Aborted => "aborted",
            Fate::NoMarker => "no-marker",
        }
    }
}

/// A transaction's records in one partition between two markers of its PID
/// (a segment), as the log holds them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnPart {
    pub partition: Partition,
    pub pid: ProducerId,
    /// The lowest epoch of its records.
    pub epoch: Epoch,
    pub first_offset: Offset,
    pub last_offset: Offset,
    pub records: u32,
    pub fate: Fate,
    /// Where the marker that ended it sits, and its epoch.
    pub marker: Option<Offset>,
    #[serde(default)]
    pub marker_epoch: Option<Epoch>,
}

/// One send of a transaction and what the log did with it: its committed
/// copy if it has one, else an aborted one, else one without a marker;
/// `None` when it is not in the log (or not in what was read).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnMessage {
    pub message: MessageId,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: Attempt,
    pub fate: Option<Fate>,
}

/// What the client was told about a transaction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TxnOutcome {
    /// The commit succeeded.
    Committed,
    /// The application aborted it (`abort_ok`: and the abort succeeded).
    Aborted { abort_ok: bool },
    /// The commit failed definitely: the transaction did not commit.
    CommitFailed { error: String },
    /// The commit's outcome is not known (timeout, fatal error, fencing).
    CommitUnknown { error: String },
    /// The transaction was never asked to end.
    NotEnded,
}

/// One transaction as an example tells it: what the application did and was
/// told, and where each of its parts sits in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TxnStory {
    pub producer: Producer,
    pub txn: Txn,
    /// The `transactional.id` it ran under, from its producer's latest init.
    pub transactional_id: Option<String>,
    pub outcome: TxnOutcome,
    pub begun: Nanos,
    pub commit_asked: Option<Nanos>,
    /// Its sends, and how many of them have a committed copy, only an
    /// aborted one, only one without a marker, or none in the log.
    pub sends: u32,
    pub committed: u32,
    pub aborted: u32,
    pub unmarked: u32,
    pub absent: u32,
    /// Its first sends (at most 16), each with the fate of its best copy.
    pub messages: Vec<TxnMessage>,
    /// Its segments (at most 16; `more_parts` counts the rest).
    pub parts: Vec<TxnPart>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub more_parts: u32,
    /// Another transaction one of its segments also held records of: a
    /// marker meant for one ended both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_segment_with: Option<(Producer, Txn)>,
    /// Every fault active between its begin and its last answer.
    pub faults: Vec<ActiveFault>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl TxnStory {
    fn name(&self) -> String {
        format!("Transaction {}/{}", self.producer, self.txn)
    }

    fn told(&self) -> String {
        match &self.outcome {
            TxnOutcome::Committed => "was told its commit succeeded".into(),
            TxnOutcome::Aborted { .. } => "was aborted by the application".into(),
            TxnOutcome::CommitFailed { error } => format!("was told its commit failed ({error})"),
            TxnOutcome::CommitUnknown { error } => {
                format!("does not know how its commit ended ({error})")
            }
            TxnOutcome::NotEnded => "was never ended".into(),
        }
    }

    fn fates(&self) -> String {
        format!(
            "of its {} sends {} are committed, {} aborted, {} without a marker and {} not in the log",
            self.sends, self.committed, self.aborted, self.unmarked, self.absent
        )
    }
}

anomaly! {
    "commit-lost", violates [NoLoss],
    "A transaction whose client was told its commit succeeded has records that are not committed: aborted, or without a marker in a partition read completely; a send of it that was acknowledged and is nowhere in the log is `lost` instead (one finding per message, never both).",
    #[serde(transparent)]
    pub struct CommitLost(pub TxnStory);
}
explained!(CommitLost, |a| format!(
    "{} {}, but {}.",
    a.0.name(),
    a.0.told(),
    a.0.fates()
));

anomaly! {
    "torn-transaction", violates [Atomicity],
    "A transaction some of whose sends are committed while others are aborted, or acknowledged and nowhere in the log (or, when its commit was acknowledged, missing at all): it was not all or nothing.",
    #[serde(transparent)]
    pub struct TornTransaction(pub TxnStory);
}
explained!(TornTransaction, |a| format!(
    "{} {}; {}.",
    a.0.name(),
    a.0.told(),
    a.0.fates()
));

anomaly! {
    "abort-committed", violates [Atomicity],
    "A transaction the application aborted, or whose commit definitely failed, has committed records.",
    #[serde(transparent)]
    pub struct AbortCommitted(pub TxnStory);
}
explained!(AbortCommitted, |a| format!(
    "{} {}, yet {}.",
    a.0.name(),
    a.0.told(),
    a.0.fates()
));

anomaly! {
    "zombie-write", violates [Atomicity],
    "A transaction has committed records although its producer first asked to commit it after another instance had initialised with the same `transactional.id`, which fences it: a fenced instance's write took effect.",
    pub struct ZombieWrite {
        #[serde(flatten)]
        pub story: TxnStory,
        /// The instance whose init fenced it, and when that init returned.
        pub fenced_by: Producer,
        pub fenced_at: Nanos,
    }
}
explained!(ZombieWrite, |a| format!(
    "{} was asked to commit at {} ns, after producer {} took its transactional.id at {} ns; {}.",
    a.story.name(),
    a.story.commit_asked.unwrap_or_default(),
    a.fenced_by,
    a.fenced_at,
    a.story.fates()
));

/// A record a `read_committed` consumer got wrong, and where it sits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsumerMiss {
    pub partition: Partition,
    pub offset: Offset,
    pub pid: ProducerId,
    pub epoch: Epoch,
    /// The message it holds, when it decodes as one.
    pub message: Option<MessageId>,
    /// What the log did with it: `committed` also for a record outside any
    /// transaction; none for a control record.
    pub fate: Option<Fate>,
}

impl ConsumerMiss {
    fn place(&self) -> String {
        let what = match self.message {
            Some(m) => format!("message {m}"),
            None => "a record".to_string(),
        };
        format!("{what} at {}@{}", self.partition, self.offset)
    }
}

anomaly! {
    "aborted-read", violates [Atomicity],
    "A `read_committed` consumer delivered a record that is not committed: one of an aborted transaction, one no marker ended, or a control record.",
    #[serde(transparent)]
    pub struct AbortedRead(pub ConsumerMiss);
}
explained!(AbortedRead, |a| format!(
    "The read_committed consumer delivered {}, whose fate is {}.",
    a.0.place(),
    a.0.fate.map_or("none (a control record)", Fate::name)
));

anomaly! {
    "committed-skipped", violates [NoLoss],
    "A `read_committed` consumer read past a committed record (or one outside any transaction) without delivering it.",
    #[serde(transparent)]
    pub struct CommittedSkipped(pub ConsumerMiss);
}
explained!(CommittedSkipped, |a| format!(
    "The read_committed consumer read past {} without delivering it.",
    a.0.place()
));

/// One committed output record of a pipeline, as examples show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineOutput {
    pub partition: Partition,
    pub offset: Offset,
    pub pid: ProducerId,
    pub epoch: Epoch,
    /// The processor slot and its transaction that wrote it, as the record
    /// says (transaction 0 where the library hides them).
    pub processor: Processor,
    pub txn: Txn,
}

impl PipelineOutput {
    fn describe(&self) -> String {
        format!(
            "{}@{} (processor {}, transaction {}, PID {} epoch {})",
            self.partition, self.offset, self.processor, self.txn, self.pid, self.epoch
        )
    }
}

/// A committed input record of a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineInput {
    pub partition: Partition,
    pub offset: Offset,
    /// The message it holds, when it decodes as one.
    pub message: Option<MessageId>,
}

impl std::fmt::Display for PipelineInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.message {
            Some(m) => write!(f, "input {}@{} (message {m})", self.partition, self.offset),
            None => write!(f, "input {}@{}", self.partition, self.offset),
        }
    }
}

anomaly! {
    "pipeline-lost", violates [NoLoss],
    "A committed input record of a pipeline has no committed output record, while a later input record of its partition has one: the pipeline passed over it for good.",
    pub struct PipelineLost {
        #[serde(flatten)]
        pub input: PipelineInput,
        /// The next input offset of the partition that has committed output.
        pub next_processed: Offset,
        /// The processor slots whose polls delivered it.
        pub polled_by: Vec<Processor>,
    }
}
explained!(PipelineLost, |a| format!(
    "The {} has no committed output, though input {}@{} after it has; {}.",
    a.input,
    a.input.partition,
    a.next_processed,
    match a.polled_by.as_slice() {
        [] => "no processor's poll delivered it".to_string(),
        by => format!("polls of processors {by:?} delivered it"),
    }
));

anomaly! {
    "pipeline-duplicate", violates [NoDuplicates],
    "A committed input record of a pipeline has more than one committed output record: it was processed twice and both results count.",
    pub struct PipelineDuplicate {
        #[serde(flatten)]
        pub input: PipelineInput,
        /// Every committed output record made from it, in log order.
        pub outputs: Vec<PipelineOutput>,
    }
}
explained!(PipelineDuplicate, |a| format!(
    "The {} has {} committed outputs: {}.",
    a.input,
    a.outputs.len(),
    a.outputs
        .iter()
        .map(PipelineOutput::describe)
        .collect::<Vec<_>>()
        .join(", ")
));

anomaly! {
    "pipeline-reorder", violates [Order],
    "In one output partition, the first committed output of an input record comes after the first committed output of a later input record of the same input partition.",
    pub struct PipelineReorder {
        #[serde(flatten)]
        pub input: PipelineInput,
        /// The later input offset whose output came first.
        pub after: Offset,
        pub output: PipelineOutput,
    }
}
explained!(PipelineReorder, |a| format!(
    "The output of {} at {} comes after the output of input {}@{}.",
    a.input,
    a.output.describe(),
    a.input.partition,
    a.after
));

/// A consumer group's committed offset of an input partition against the
/// committed input records with no committed output on one side of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetGap {
    pub partition: Partition,
    /// The group's committed offset at the end (-1: none committed).
    pub committed: Offset,
    /// The first and last input offsets concerned, and how many committed
    /// input records lie between them.
    pub first: Offset,
    pub last: Offset,
    pub records: u64,
}

anomaly! {
    "offset-ahead", violates [NoLoss],
    "At the end, the group's committed offset of an input partition lies past committed input records that have no committed output and come after the last one that has: a restart resumes beyond them, so they are never processed.",
    #[serde(transparent)]
    pub struct OffsetAhead(pub OffsetGap);
}
explained!(OffsetAhead, |a| {
    format!(
    "The group's committed offset of input partition {} is {}, past {} committed inputs at {}..={} that have no committed output.",
    a.0.partition, a.0.committed, a.0.records, a.0.first, a.0.last
)
});

anomaly! {
    "offset-behind", violates [NoDuplicates],
    "At the end, the group's committed offset of an input partition lies short of committed input records that already have committed output: a restart processes them again.",
    #[serde(transparent)]
    pub struct OffsetBehind(pub OffsetGap);
}
explained!(OffsetBehind, |a| {
    format!(
    "The group's committed offset of input partition {} is {}, short of {} committed inputs at {}..={} whose output is already committed.",
    a.0.partition, a.0.committed, a.0.records, a.0.first, a.0.last
)
});

/// Two consecutive deliveries of one input partition to one processor,
/// within one assignment and with no rewind between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollStep {
    pub processor: Processor,
    pub partition: Partition,
    /// The offset delivered before, and the one delivered next.
    pub after: Offset,
    pub delivered: Offset,
    /// When the next one was delivered.
    pub time: Nanos,
}

anomaly! {
    "poll-skip", violates [Order],
    "Within one assignment and with no rewind between them, a processor's consumer delivered an input offset after skipping committed input records between it and the offset it delivered before.",
    pub struct PollSkip {
        #[serde(flatten)]
        pub step: PollStep,
        /// Committed input records between the two, and the first of them.
        pub skipped: u64,
        pub first_skipped: Offset,
    }
}
explained!(PollSkip, |a| format!(
    "Processor {} got input {}@{} right after {}@{}, skipping {} committed records from offset {}.",
    a.step.processor,
    a.step.partition,
    a.step.delivered,
    a.step.partition,
    a.step.after,
    a.skipped,
    a.first_skipped
));

anomaly! {
    "poll-regress", violates [Order],
    "Within one assignment and with no rewind between them, a processor's consumer delivered an input offset at or before one it had delivered already.",
    #[serde(transparent)]
    pub struct PollRegress(pub PollStep);
}
explained!(PollRegress, |a| format!(
    "Processor {} got input {}@{} after it had got {}@{}, with no rewind between.",
    a.0.processor, a.0.partition, a.0.delivered, a.0.partition, a.0.after
));

anomaly! {
    "idempotence-off", violates [NoDuplicates, Order],
    "A producer the run asked to be idempotent, explicitly (`enable.idempotence=true`) or by leaving it to the library, wrote records without a producer id (PID -1): what no-duplicates and order rest on was off, whether or not a duplicate happened; counted once per producer instance.",
    pub struct IdempotenceOff {
        pub producer: Producer,
        /// Where its first record without a PID sits, in the order the
        /// partitions were read.
        pub partition: Partition,
        pub offset: Offset,
        /// Its records without a PID, over all partitions.
        pub records: u64,
        /// What the run asked for.
        pub asked: Idempotence,
    }
}
explained!(IdempotenceOff, |a| format!(
    "Producer {} ({}) wrote {} records without a PID, the first at {}@{}.",
    a.producer,
    a.asked.describe(),
    a.records,
    a.partition,
    a.offset
));

anomaly! {
    "phantom", violates [NoLoss, NoDuplicates, Order],
    "A record no client sent: its value is not an eoscheck payload, or names a message (and attempt) that was never invoked. Breaks every guarantee, since the log holds data nobody wrote.",
    pub struct Phantom {
        pub partition: Partition,
        pub offset: Offset,
        pub pid: ProducerId,
        pub epoch: Epoch,
        pub sequence: Sequence,
        /// The message and attempt the value names, when it decodes.
        pub message: Option<MessageId>,
        pub attempt: Option<Attempt>,
        /// The start of the value (lossy UTF-8), when it does not decode.
        pub value: Option<String>,
    }
}
explained!(Phantom, |a| match (a.message, &a.value) {
    (Some(m), _) => format!(
        "The record at {}@{} is message {} attempt {}, which was never sent.",
        a.partition,
        a.offset,
        m,
        a.attempt.unwrap_or_default()
    ),
    (None, value) => format!(
        "The record at {}@{} is not an eoscheck message (value {:?}).",
        a.partition,
        a.offset,
        value.as_deref().unwrap_or("null")
    ),
});

#[cfg(test)]
mod tests {
    use super::*;

    fn copy(pid: ProducerId, epoch: Epoch, attempt: Attempt) -> LogCopy {
        LogCopy {
            partition: 0,
            offset: 0,
            pid,
            epoch,
            sequence: 0,
            attempt,
        }
    }

    #[test]
    fn duplicate_cause_follows_the_copies() {
        use DuplicateCause::*;
        assert_eq!(
            DuplicateCause::of(&[copy(-1, -1, 0), copy(-1, -1, 0)]),
            SamePidEpoch
        );
        assert_eq!(
            DuplicateCause::of(&[copy(5, 0, 0), copy(5, 1, 0)]),
            EpochBump
        );
        assert_eq!(DuplicateCause::of(&[copy(5, 0, 0), copy(6, 0, 0)]), NewPid);
        assert_eq!(
            DuplicateCause::of(&[copy(5, 0, 0), copy(5, 0, 1)]),
            AppResend
        );
        assert_eq!(
            DuplicateCause::of(&[copy(5, 0, 0), copy(5, 0, 1), copy(5, 0, 1)]),
            SamePidEpoch
        );
    }

    #[test]
    fn the_readme_states_each_definition_verbatim() {
        let readme = include_str!("../README.md");
        for kind in Kind::ALL {
            assert!(
                readme.contains(kind.definition()),
                "README lacks the definition of {kind}"
            );
        }
    }

    #[test]
    fn every_kind_maps_to_a_guarantee_and_a_unique_name() {
        let mut names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        names.dedup();
        assert_eq!(names.len(), Kind::ALL.len());
        assert!(Kind::ALL
            .iter()
            .all(|k| !k.violates().is_empty() && k.definition().ends_with('.')));
        assert_eq!(
            serde_json::to_string(&Kind::SequenceGap).unwrap(),
            "\"sequence-gap\""
        );
    }
}
