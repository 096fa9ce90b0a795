//! How much of the run the history holds, and what a short one cannot tell.
//!
//! From format 4 the recorder closes the history with an `end` line once the
//! producers have had their time to answer, so a history without one stopped
//! early: a killed run, a full disk. A last line cut off mid-write says the
//! same in any format. A short history lacks whatever came after the cut:
//! answers to the sends it holds, and sends whose records are in the log all
//! the same. Those records are *unrecorded*, counted and not judged, rather than
//! phantoms, and the verdict is at best unknown. A record naming a producer the
//! header does not list stays a phantom: no cut explains it. Formats 1 to 3
//! list no producers and have no end line, so they are judged as they always
//! were.
//!
//! The header's format also says what the lines may leave out: from format 5
//! an invoke may name no partition, and the header may name the run's keys;
//! from format 7 the header may describe a pipeline.

use crate::history::{self, CLOSED_FROM, KEYED_FROM, PIPELINE_FROM};
use crate::ids::Producer;

/// Where the reading of the history is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Nothing read yet: the first line must be the header.
    Header,
    /// Events may come.
    Events,
    /// The end line was read: nothing may follow it.
    Ended,
}

pub(crate) struct Extent {
    reading: Reading,
    /// Whether the history's format closes it with an end line.
    closes: bool,
    /// Whether its invokes may leave the partition to the library.
    keyed: bool,
    /// How many producers the run has, as the header lists them (format 4 on).
    producers: Option<Producer>,
    /// The last line was cut off mid-write, and ignored.
    torn: bool,
    /// Records naming a send of one of the run's producers that a short
    /// history does not hold.
    unrecorded: u64,
}

impl Extent {
    pub fn new() -> Extent {
        Extent {
            reading: Reading::Header,
            closes: false,
            keyed: false,
            producers: None,
            torn: false,
            unrecorded: 0,
        }
    }

    /// The first line. Every later one is read in the format it names, so a
    /// format this build cannot read stops the check before any event.
    pub fn header(
        &mut self,
        format: u32,
        producers: Option<Producer>,
        keys: Option<u32>,
        pipeline: bool,
    ) -> Result<(), String> {
        if self.reading != Reading::Header {
            return Err("a second header line".into());
        }
        history::readable(format.into())?;
        self.closes = format >= CLOSED_FROM;
        self.keyed = format >= KEYED_FROM;
        if self.closes && producers.is_none() {
            return Err(format!(
                "a format {format} header says how many producers the run has (\"producers\")"
            ));
        }
        match keys {
            Some(_) if !self.keyed => {
                return Err(format!(
                "a format {format} header names no keys (\"keys\" comes with format {KEYED_FROM})"
            ))
            }
            Some(0) => return Err("a keyed run has at least 1 key (\"keys\": 0)".into()),
            _ => {}
        }
        if pipeline && format < PIPELINE_FROM {
            return Err(format!(
                "a format {format} header describes no pipeline (\"pipeline\" comes with format {PIPELINE_FROM})"
            ));
        }
        self.producers = producers;
        self.reading = Reading::Events;
        Ok(())
    }

    /// The end line: the recorder closed the history.
    pub fn end(&mut self) -> Result<(), String> {
        self.reading = match self.reading {
            Reading::Events => Reading::Ended,
            Reading::Header => return Err("the history must begin with a header line".into()),
            Reading::Ended => return Err("a second end line".into()),
        };
        Ok(())
    }

    /// Whether an event may come now: after the header, before the end.
    #[inline]
    pub fn open(&self) -> bool {
        self.reading == Reading::Events
    }

    /// Why an event cannot come now (when [`Extent::open`] is false).
    pub fn refusal(&self) -> String {
        match self.reading {
            Reading::Header => "the history must begin with a header line".into(),
            _ => "an event after the end line, which the recorder writes last".into(),
        }
    }

    /// Why an invoke that names no partition does not belong in this
    /// history, if it does not.
    pub fn partition_required(&self) -> Option<String> {
        (!self.keyed).then(|| {
            format!("an invoke without a partition (\"p\") comes with format {KEYED_FROM}")
        })
    }

    /// How many producers the run has, when the header says (format 4 on).
    pub fn producers(&self) -> Option<Producer> {
        self.producers
    }

    /// Whether the header was read.
    pub fn started(&self) -> bool {
        self.reading != Reading::Header
    }

    /// The last line was cut off mid-write: it is ignored, and the history
    /// is short.
    pub fn tear(&mut self) {
        self.torn = true;
    }

    /// Whether the history may lack the end of the run.
    pub fn short(&self) -> bool {
        self.torn || (self.closes && self.reading != Reading::Ended)
    }

    /// Whether a record of `producer` naming a send the history does not hold
    /// is unrecorded (and counts it) rather than a phantom: the history is
    /// short, and the header lists the producer.
    pub fn unrecorded(&mut self, producer: Producer) -> bool {
        let excused = self.short() && self.producers.is_some_and(|n| producer < n);
        self.unrecorded += u64::from(excused);
        excused
    }

    /// Records the history holds no send for because it is short.
    pub fn unrecorded_records(&self) -> u64 {
        self.unrecorded
    }

    /// Why a short history leaves the verdict unknown, with what it could not
    /// judge: `unanswered` sends it holds no answer for (one may have come
    /// after the cut), and the unrecorded records.
    pub fn reason(&self, unanswered: u64) -> Option<String> {
        let cause = if self.torn {
            "history.jsonl ends in a partial line (ignored): the recorder stopped mid-write"
        } else if self.short() {
            "history.jsonl has no end line: the recorder was never closed (a killed run, a full disk)"
        } else {
            return None;
        };
        let mut missing = format!("{unanswered} sends have no answer in it");
        if self.producers.is_some() {
            missing += &format!(
                ", and {} records in the log name sends it does not hold (unrecorded, not judged)",
                self.unrecorded
            );
        }
        Some(format!(
            "{cause}, so the end of the run is missing from it: {missing}"
        ))
    }
}
