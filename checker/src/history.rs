//! `history.jsonl`: what the workload and the nemesis did, one JSON object a
//! line, appended and flushed as the run goes.
//!
//! The first line is a [`Event::Header`] naming the [`FORMAT`]; every later
//! line is one event. Times are monotonic nanoseconds since the run started.
//! A send is named by its [`MessageId`] and [`Attempt`]; its completion
//! (`ok`, `fail` or `info`) repeats both, so completions may come in any
//! order. The crate README shows an example of every kind.

use crate::ids::{Attempt, Epoch, MessageId, Offset, Partition, Producer, ProducerId};
use serde::{Deserialize, Serialize};

/// The history layout this crate reads and writes.
pub const FORMAT: u32 = 1;

/// Monotonic nanoseconds since the run started.
pub type Nanos = u64;

/// One line of `history.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event {
    /// First line: the layout version and the topic the run wrote.
    Header { format: u32, topic: String },
    /// The workload hands a message to its client, for `partition`.
    Invoke {
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
        partition: Partition,
    },
    /// The client acknowledged the send at `partition`/`offset`.
    Ok {
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
        partition: Partition,
        offset: Offset,
    },
    /// The client reported an error. `definite` is the client's claim that
    /// the message was not written (e.g. a rejected record); otherwise the
    /// send is as open as an `info`.
    Fail {
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
        error: String,
        definite: bool,
    },
    /// Indeterminate: the client does not know whether the write happened
    /// (timeout, lost connection).
    Info {
        time: Nanos,
        message: MessageId,
        attempt: Attempt,
        error: String,
    },
    /// The nemesis began a fault (name from the nemesis crate, kept as text).
    NemesisStart {
        time: Nanos,
        fault: String,
        targets: Vec<String>,
        detail: String,
    },
    /// The nemesis healed a fault it had started.
    NemesisStop {
        time: Nanos,
        fault: String,
        targets: Vec<String>,
        detail: String,
    },
    /// The client told us the PID and epoch it now writes with.
    ProducerSession {
        time: Nanos,
        producer: Producer,
        pid: ProducerId,
        epoch: Epoch,
    },
    /// The client entered a fatal error state and will send no more.
    ProducerFatal {
        time: Nanos,
        producer: Producer,
        error: String,
    },
    /// The client refused the configuration it was given.
    ConfigRejected {
        time: Nanos,
        producer: Producer,
        reason: String,
    },
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
        Some(f) if f == u64::from(FORMAT) => {}
        Some(f) => {
            return Err(problem(format!(
                "history format {f} is not supported (this checker reads format {FORMAT})"
            )))
        }
        None => return Err(problem("the header has no numeric \"format\" field".into())),
    }
    serde_json::from_value(value).map_err(|e| problem(e.to_string()))
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
            },
            Event::Invoke {
                time: 1,
                message,
                attempt: 0,
                partition: 3,
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
        ];
        for (n, event) in events.iter().enumerate() {
            let line = serde_json::to_string(event).unwrap();
            assert_eq!(&parse_line(n + 1, &line).unwrap(), event, "{line}");
        }
    }

    #[test]
    fn header_errors_say_what_is_wrong() {
        let err = parse_header(r#"{"type":"header","format":2,"topic":"t"}"#).unwrap_err();
        assert!(err.problem.contains("format 2 is not supported"), "{err}");
        let err = parse_header(r#"{"type":"invoke"}"#).unwrap_err();
        assert!(err.problem.contains("must be the header"), "{err}");
        let err = parse_line(7, r#"{"type":"ok","time":1}"#).unwrap_err();
        assert_eq!(err.line, 7);
        assert!(
            err.to_string().starts_with("line 7: missing field"),
            "{err}"
        );
    }
}
