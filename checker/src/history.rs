//! `history.jsonl`: what the workload and the nemesis did, one JSON object a
//! line, appended and flushed as the run goes.
//!
//! The first line is a [`Event::Header`] naming the [`FORMAT`]; every later
//! line is one event. Times are monotonic nanoseconds since the run started.
//! A send is named by its [`MessageId`] and [`Attempt`]; its completion
//! (`ok`, `fail` or `info`) repeats both, so completions may come in any
//! order. The crate README shows an example of every kind.
//!
//! Format 2 gives the fields of every line's time and of sends short keys
//! (`t`, `m`, `a`, `p`, `o`), writes a message id as `[producer, index]` and
//! leaves out a first attempt: invokes and acks are nearly every line, and an
//! unthrottled run writes two of them per acknowledged message, so this about halves
//! what the recorder puts on the disk the brokers share. Format 1's long keys
//! are read as aliases, so older runs still check.
//!
//! Format 3 adds [`Event::NemesisFail`]: a fault the nemesis could not inject,
//! undo or heal is in the history itself, so that checking a run directory
//! again gives the verdict the run gave.
//!
//! Format 4 makes a short history tell: the header lists how many producers the
//! run has, and the recorder closes the history with [`Event::End`] once the
//! producers have had their time to answer. A history without that line stopped
//! early (a killed run, a full disk), and the checker can then tell the records
//! it holds no send for because of the cut from those no producer of the run
//! wrote.
//!
//! Format 5 runs the producer as an application would: an invoke may leave
//! out the partition (`p`), and the library's partitioner chooses (its `ok`
//! says where the send went); the header may say the run is keyed (`keys`),
//! every record then carrying [`crate::payload::key_of`] its message as key.
//!
//! Format 6 adds transactions. A transactional producer reports each init
//! with its `transactional.id` ([`Event::TxnInit`]), then
//! for each transaction a [`Event::TxnBegin`], its sends, one
//! [`Event::TxnEnd`] (the application asks to commit or abort) and that call's
//! answer: [`Event::TxnOk`], [`Event::TxnFail`] or [`Event::TxnInfo`], as for
//! a send. A send belongs to the transaction its producer has begun and not
//! yet asked to end when the send is invoked: a producer runs one transaction
//! at a time, and the recorder keeps each producer's events in the order they
//! happened, so membership needs no field on the hot invoke lines.
//!
//! Format 7 adds pipelines (consume-transform-produce): the header names the
//! output topic and how many processor slots the run has, and each processor
//! instance reports its start ([`Event::ProcStart`]), its partition
//! assignments ([`Event::ProcAssign`], [`Event::ProcRevoke`]), what each poll
//! delivered ([`Event::ProcPoll`]), its rewinds ([`Event::ProcSeek`]), how
//! each of its transactions (or, at least once, each offset commit) ended
//! ([`Event::ProcCommit`]) and its end ([`Event::ProcStop`]). The input
//! producer's events are those of format 6, on the input topic the header
//! names as `topic`.

use crate::ids::{
    Attempt, Epoch, MessageId, Offset, Partition, Processor, Producer, ProducerId, Txn,
};
use serde::{Deserialize, Serialize};

/// The history layout this crate writes.
pub const FORMAT: u32 = 7;

/// The first layout that lists the run's producers and ends with [`Event::End`].
pub const CLOSED_FROM: u32 = 4;

/// The first layout whose invokes may leave the partition to the library and
/// whose header may name the run's keys.
pub const KEYED_FROM: u32 = 5;

/// The first layout with transactions.
pub const TRANSACTIONS_FROM: u32 = 6;

/// The first layout with pipelines: a header naming the output topic and the
/// processors' events.
pub const PIPELINE_FROM: u32 = 7;

/// The layouts this crate reads.
const READS: [u32; 7] = [1, 2, 3, 4, 5, 6, FORMAT];

/// `Err` says why a history of `format` cannot be read.
pub fn readable(format: u64) -> Result<(), String> {
    if READS.iter().any(|&f| u64::from(f) == format) {
        Ok(())
    } else {
        Err(format!(
            "history format {format} is not supported (this checker reads formats {READS:?}): \
             check it with the eoscheck release that wrote it"
        ))
    }
}

/// Monotonic nanoseconds since the run started.
pub type Nanos = u64;

/// One line of `history.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// First line: the layout version, the topic the run wrote, from format
    /// 4 how many producers the run has (numbered from 0), and from format 5,
    /// in a keyed run, how many keys (at least 1): every message then carries
    /// the record key [`crate::payload::key_of`] it.
    Header {
        format: u32,
        topic: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        producers: Option<Producer>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keys: Option<u32>,
        /// From format 7, in a pipeline run: the output topic and the
        /// processor slots (`topic` is then the input).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pipeline: Option<PipelineHeader>,
    },
    /// The workload hands a message to its client, for `partition`; from
    /// format 5 `None` (no `p`) leaves the partition to the library's
    /// partitioner.
    Invoke {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        #[serde(rename = "m", alias = "message", with = "message_pair")]
        message: MessageId,
        #[serde(
            rename = "a",
            alias = "attempt",
            default,
            skip_serializing_if = "is_first"
        )]
        attempt: Attempt,
        #[serde(
            rename = "p",
            alias = "partition",
            default,
            skip_serializing_if = "Option::is_none"
        )]
        partition: Option<Partition>,
    },
    /// The client acknowledged the send at `partition`/`offset`.
    Ok {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        #[serde(rename = "m", alias = "message", with = "message_pair")]
        message: MessageId,
        #[serde(
            rename = "a",
            alias = "attempt",
            default,
            skip_serializing_if = "is_first"
        )]
        attempt: Attempt,
        #[serde(rename = "p", alias = "partition")]
        partition: Partition,
        #[serde(rename = "o", alias = "offset")]
        offset: Offset,
    },
    /// The client reported an error. `definite` is the client's claim that
    /// the message was not written (e.g. a rejected record); otherwise the
    /// send is as open as an `info`.
    Fail {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        #[serde(rename = "m", alias = "message", with = "message_pair")]
        message: MessageId,
        #[serde(
            rename = "a",
            alias = "attempt",
            default,
            skip_serializing_if = "is_first"
        )]
        attempt: Attempt,
        error: String,
        definite: bool,
    },
    /// Indeterminate: the client does not know whether the write happened
    /// (timeout, lost connection).
    Info {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        #[serde(rename = "m", alias = "message", with = "message_pair")]
        message: MessageId,
        #[serde(
            rename = "a",
            alias = "attempt",
            default,
            skip_serializing_if = "is_first"
        )]
        attempt: Attempt,
        error: String,
    },
    /// The nemesis began a fault (name from the nemesis crate, kept as text).
    NemesisStart {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        fault: String,
        targets: Vec<String>,
        detail: String,
    },
    /// The nemesis healed a fault it had started.
    NemesisStop {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        fault: String,
        targets: Vec<String>,
        detail: String,
    },
    /// The nemesis could not carry out a step of its schedule. `phase`
    /// `start`: the fault was not injected, even after one more try against
    /// fresh metadata (or no room was left in the time limit after waiting for
    /// the cluster to be whole), and its stop was skipped; `stop`: the undo
    /// failed twice and everything was healed instead; `heal`: healing the
    /// cluster failed, so the final read may not be reliable. `fault` is `all`
    /// for a heal of everything.
    NemesisFail {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        fault: String,
        phase: NemesisPhase,
        error: String,
    },
    /// The client told us the PID and epoch it now writes with.
    ProducerSession {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        producer: Producer,
        pid: ProducerId,
        epoch: Epoch,
    },
    /// The producer's transactional init returned (format 6): it now owns
    /// `transactional_id`, and any instance that initialised with that id
    /// before is fenced.
    TxnInit {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        producer: Producer,
        transactional_id: String,
    },
    /// The producer began transaction `txn` (format 6).
    TxnBegin {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        producer: Producer,
        #[serde(rename = "x")]
        txn: Txn,
    },
    /// The application asked to end transaction `txn`: to commit it or to
    /// abort it. The sends it holds are those invoked since its begin.
    TxnEnd {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        producer: Producer,
        #[serde(rename = "x")]
        txn: Txn,
        end: TxnAction,
    },
    /// The call ending `txn` succeeded: committed or aborted as asked.
    TxnOk {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        producer: Producer,
        #[serde(rename = "x")]
        txn: Txn,
        end: TxnAction,
    },
    /// The call ending `txn` failed. `definite` is the client's claim that the
    /// transaction did not commit (an abortable error: the application must
    /// abort it); otherwise the outcome is as open as a [`Event::TxnInfo`].
    TxnFail {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        producer: Producer,
        #[serde(rename = "x")]
        txn: Txn,
        end: TxnAction,
        error: String,
        definite: bool,
    },
    /// The client does not know how the call ending `txn` ended (a timeout, a
    /// lost coordinator): a commit may have gone either way.
    TxnInfo {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        producer: Producer,
        #[serde(rename = "x")]
        txn: Txn,
        end: TxnAction,
        error: String,
    },
    /// The client entered a fatal error state and will send no more.
    ProducerFatal {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        producer: Producer,
        error: String,
    },
    /// The client refused the configuration it was given.
    ConfigRejected {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        producer: Producer,
        reason: String,
    },
    /// A processor instance started in slot `proc` (format 7): its consumer
    /// joined the group, and under exactly-once its producer owns
    /// `transactional_id` (fencing any earlier instance of the slot).
    ProcStart {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        proc: Processor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transactional_id: Option<String>,
    },
    /// The group gave the processor these input partitions.
    ProcAssign {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        proc: Processor,
        partitions: Vec<Partition>,
    },
    /// The group took these partitions back; `lost` when the consumer lost
    /// them without a chance to commit (its session expired).
    ProcRevoke {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        proc: Processor,
        partitions: Vec<Partition>,
        #[serde(default, skip_serializing_if = "is_false")]
        lost: bool,
    },
    /// One poll delivered these input records, as runs `[partition, first
    /// offset, last offset]` of consecutive offsets, for the processor's
    /// transaction `txn`.
    ProcPoll {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        proc: Processor,
        #[serde(rename = "x")]
        txn: Txn,
        records: Vec<(Partition, Offset, Offset)>,
    },
    /// The processor moved its position on `partition` back to `offset`
    /// (after an abort, to the group's committed offset).
    ProcSeek {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        proc: Processor,
        partition: Partition,
        offset: Offset,
    },
    /// How the processor's transaction `txn` ended (at least once: its
    /// offset commit), with the next input offsets it committed or sent to
    /// the transaction.
    ProcCommit {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        proc: Processor,
        #[serde(rename = "x")]
        txn: Txn,
        result: ProcResult,
        /// `[partition, offset]` pairs (a map's number keys do not survive
        /// the tagged enum).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        offsets: Vec<(Partition, Offset)>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The processor instance ended: closed, crashed (killed by the
    /// nemesis), fenced or failed; `why` says which and how.
    ProcStop {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
        proc: Processor,
        why: String,
    },
    /// Last line, from format 4: the recorder closed the history, after the
    /// producers had their time to answer; nothing of the run comes after it.
    End {
        #[serde(rename = "t", alias = "time")]
        time: Nanos,
    },
}

impl Event {
    /// When it happened; None for the header.
    pub fn time(&self) -> Option<Nanos> {
        match self {
            Event::Header { .. } => None,
            Event::Invoke { time, .. }
            | Event::Ok { time, .. }
            | Event::Fail { time, .. }
            | Event::Info { time, .. }
            | Event::NemesisStart { time, .. }
            | Event::NemesisStop { time, .. }
            | Event::NemesisFail { time, .. }
            | Event::ProducerSession { time, .. }
            | Event::TxnInit { time, .. }
            | Event::TxnBegin { time, .. }
            | Event::TxnEnd { time, .. }
            | Event::TxnOk { time, .. }
            | Event::TxnFail { time, .. }
            | Event::TxnInfo { time, .. }
            | Event::ProducerFatal { time, .. }
            | Event::ConfigRejected { time, .. }
            | Event::ProcStart { time, .. }
            | Event::ProcAssign { time, .. }
            | Event::ProcRevoke { time, .. }
            | Event::ProcPoll { time, .. }
            | Event::ProcSeek { time, .. }
            | Event::ProcCommit { time, .. }
            | Event::ProcStop { time, .. }
            | Event::End { time } => Some(*time),
        }
    }
}

/// How the application asked a transaction to end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TxnAction {
    Commit,
    Abort,
}

/// A pipeline run's header fields (format 7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineHeader {
    /// The topic the processors write.
    pub output: String,
    /// How many processor slots run (numbered from 0).
    pub processors: Processor,
}

/// How a processor's transaction (or offset commit) ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcResult {
    Committed,
    /// Aborted (at least once: the batch was not committed); the processor
    /// rewinds and goes on.
    Aborted,
    /// Another instance took over; this one stops.
    Fenced,
    /// The outcome is not known (the commit timed out).
    Unknown,
    /// The processor can do nothing more; the outcome is not known.
    Fatal,
}

/// Which step of the nemesis a [`Event::NemesisFail`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NemesisPhase {
    Start,
    Stop,
    Heal,
}

/// A history line that could not be used; the harness adds the file name.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("line {line}: {problem}")]
pub struct HistoryError {
    /// 1-based line number.
    pub line: usize,
    pub problem: String,
}

/// Parses line `line` (1-based) of the history.
pub fn parse_line(line: usize, text: &str) -> Result<Event, HistoryError> {
    serde_json::from_str(text).map_err(|e| HistoryError {
        line,
        problem: e.to_string(),
    })
}

/// Parses the first line and insists it is a header of a known [`FORMAT`],
/// so a future layout fails with a clear message instead of odd field errors.
pub fn parse_header(text: &str) -> Result<Event, HistoryError> {
    let problem = |problem: String| HistoryError { line: 1, problem };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| problem(format!("not a JSON header line: {e}")))?;
    if value.get("type").and_then(|t| t.as_str()) != Some("header") {
        return Err(problem(
            "the first line must be the header (\"type\":\"header\")".into(),
        ));
    }
    match value.get("format").and_then(|f| f.as_u64()) {
        Some(f) => readable(f).map_err(problem)?,
        None => return Err(problem("the header has no numeric \"format\" field".into())),
    }
    serde_json::from_value(value).map_err(|e| problem(e.to_string()))
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_first(attempt: &Attempt) -> bool {
    *attempt == 0
}

/// A [`MessageId`] as `[producer, index]`; format 1's `{"producer", "index"}`
/// object is read too.
mod message_pair {
    use super::MessageId;
    use serde::{de, Deserialize, Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(id: &MessageId, out: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut pair = out.serialize_tuple(2)?;
        pair.serialize_element(&id.producer)?;
        pair.serialize_element(&id.index)?;
        pair.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<MessageId, D::Error> {
        struct Pair;
        impl<'de> de::Visitor<'de> for Pair {
            type Value = MessageId;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message id, [producer, index]")
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<MessageId, A::Error> {
                let missing = |n| de::Error::invalid_length(n, &Pair);
                let producer = seq.next_element()?.ok_or_else(|| missing(0))?;
                let index = seq.next_element()?.ok_or_else(|| missing(1))?;
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(3, &Pair));
                }
                Ok(MessageId { producer, index })
            }

            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<MessageId, A::Error> {
                MessageId::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        input.deserialize_any(Pair)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_round_trips() {
        let message = MessageId {
            producer: 1,
            index: 2,
        };
        let events = [
            Event::Header {
                format: FORMAT,
                topic: "t".into(),
                producers: Some(2),
                keys: Some(100),
                pipeline: Some(PipelineHeader {
                    output: "t-out".into(),
                    processors: 2,
                }),
            },
            Event::Invoke {
                time: 1,
                message,
                attempt: 0,
                partition: Some(3),
            },
            Event::ProcStart {
                time: 1,
                proc: 0,
                transactional_id: Some("eoscheck-x-proc-0".into()),
            },
            Event::ProcAssign {
                time: 1,
                proc: 0,
                partitions: vec![0, 2],
            },
            Event::ProcRevoke {
                time: 1,
                proc: 0,
                partitions: vec![2],
                lost: true,
            },
            Event::ProcPoll {
                time: 1,
                proc: 0,
                txn: 1,
                records: vec![(0, 10, 14), (2, 7, 7)],
            },
            Event::ProcSeek {
                time: 1,
                proc: 0,
                partition: 0,
                offset: 10,
            },
            Event::ProcCommit {
                time: 1,
                proc: 0,
                txn: 1,
                result: ProcResult::Committed,
                offsets: vec![(0, 15)],
                error: None,
            },
            Event::ProcStop {
                time: 1,
                proc: 0,
                why: "crashed".into(),
            },
            Event::Invoke {
                time: 1,
                message,
                attempt: 1,
                partition: None,
            },
            Event::Ok {
                time: 2,
                message,
                attempt: 0,
                partition: 3,
                offset: 9,
            },
            Event::Fail {
                time: 3,
                message,
                attempt: 1,
                error: "x".into(),
                definite: true,
            },
            Event::Info {
                time: 4,
                message,
                attempt: 0,
                error: "timeout".into(),
            },
            Event::NemesisStart {
                time: 5,
                fault: "ack-loss".into(),
                targets: vec!["n1".into()],
                detail: String::new(),
            },
            Event::NemesisStop {
                time: 6,
                fault: "ack-loss".into(),
                targets: vec!["n1".into()],
                detail: String::new(),
            },
            Event::ProducerSession {
                time: 7,
                producer: 1,
                pid: 4000,
                epoch: 0,
            },
            Event::TxnInit {
                time: 7,
                producer: 1,
                transactional_id: "eoscheck-x-1".into(),
            },
            Event::TxnBegin {
                time: 7,
                producer: 1,
                txn: 3,
            },
            Event::TxnEnd {
                time: 7,
                producer: 1,
                txn: 3,
                end: TxnAction::Commit,
            },
            Event::TxnOk {
                time: 7,
                producer: 1,
                txn: 3,
                end: TxnAction::Commit,
            },
            Event::TxnFail {
                time: 7,
                producer: 1,
                txn: 4,
                end: TxnAction::Commit,
                error: "abortable".into(),
                definite: true,
            },
            Event::TxnInfo {
                time: 7,
                producer: 1,
                txn: 5,
                end: TxnAction::Abort,
                error: "timed out".into(),
            },
            Event::ProducerFatal {
                time: 8,
                producer: 1,
                error: "fenced".into(),
            },
            Event::ConfigRejected {
                time: 9,
                producer: 1,
                reason: "in-flight > 5".into(),
            },
            Event::End { time: 10 },
        ];
        for (n, event) in events.iter().enumerate() {
            let line = serde_json::to_string(event).unwrap();
            assert_eq!(&parse_line(n + 1, &line).unwrap(), event, "{line}");
        }
    }

    #[test]
    fn format_2_is_short_and_format_1_still_reads() {
        let ok = Event::Ok {
            time: 41,
            message: MessageId {
                producer: 1,
                index: 17,
            },
            attempt: 0,
            partition: 2,
            offset: 311,
        };
        let line = r#"{"type":"ok","t":41,"m":[1,17],"p":2,"o":311}"#;
        assert_eq!(serde_json::to_string(&ok).unwrap(), line);
        let old = r#"{"type":"ok","time":41,"message":{"producer":1,"index":17},"attempt":0,"partition":2,"offset":311}"#;
        assert_eq!(parse_line(1, old).unwrap(), ok);
        assert!(parse_header(r#"{"type":"header","format":1,"topic":"t"}"#).is_ok());
        let resent = r#"{"type":"invoke","t":5,"m":[1,17],"a":1,"p":2}"#;
        assert!(matches!(
            parse_line(1, resent).unwrap(),
            Event::Invoke {
                attempt: 1,
                partition: Some(2),
                ..
            }
        ));
        for bad in [r#""m":[1]"#, r#""m":[1,2,3]"#, r#""m":"1/2""#] {
            let line = format!(r#"{{"type":"invoke","t":5,{bad},"p":2}}"#);
            let err = parse_line(3, &line).unwrap_err();
            assert!(err.problem.contains("message id"), "{line}: {err}");
        }
    }

    #[test]
    fn format_5_may_leave_the_partition_out_and_name_keys() {
        let invoke = Event::Invoke {
            time: 5,
            message: MessageId {
                producer: 1,
                index: 17,
            },
            attempt: 0,
            partition: None,
        };
        let line = r#"{"type":"invoke","t":5,"m":[1,17]}"#;
        assert_eq!(serde_json::to_string(&invoke).unwrap(), line);
        assert_eq!(parse_line(1, line).unwrap(), invoke);
        let header = r#"{"type":"header","format":5,"topic":"t","producers":2,"keys":100}"#;
        assert!(matches!(
            parse_header(header).unwrap(),
            Event::Header {
                keys: Some(100),
                ..
            }
        ));
    }

    #[test]
    fn header_errors_say_what_is_wrong() {
        let err = parse_header(r#"{"type":"header","format":8,"topic":"t"}"#).unwrap_err();
        assert!(err.problem.contains("format 8 is not supported"), "{err}");
        let err = parse_header(r#"{"type":"invoke"}"#).unwrap_err();
        assert!(err.problem.contains("must be the header"), "{err}");
        let err = parse_line(7, r#"{"type":"ok","t":1}"#).unwrap_err();
        assert_eq!(err.line, 7);
        assert!(
            err.to_string().starts_with("line 7: missing field"),
            "{err}"
        );
    }
}
