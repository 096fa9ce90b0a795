//! `group.json`: a pipeline's consumer group and the offsets it had
//! committed for each input partition once its processors had closed.
//!
//! Where a restart of the pipeline would resume is the group's committed
//! offset, so the checker holds it against the committed output: past
//! input without output is `offset-ahead`, short of input with output
//! `offset-behind`. The harness reads it (OffsetFetch) after the last
//! processor closed; a run that could not leaves run.json saying why and
//! no file, and the verdict is then unknown.

use std::collections::BTreeMap;

use crate::ids::{Offset, Partition};
use serde::{Deserialize, Serialize};

/// The file's name in the run directory.
pub const FILE: &str = "group.json";
/// The layout this crate reads and writes.
pub const FORMAT: u32 = 1;

/// `group.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupOffsets {
    pub format: u32,
    /// The consumer group's id.
    pub group: String,
    /// Per input partition, the next offset the group would read; -1 when
    /// it committed none.
    pub offsets: BTreeMap<Partition, Offset>,
}

impl GroupOffsets {
    /// Parses `group.json`, refusing a layout this crate does not know or
    /// an offset below -1 (damage, never an anomaly).
    pub fn parse(text: &str) -> Result<GroupOffsets, String> {
        let group: GroupOffsets = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if group.format != FORMAT {
            return Err(format!(
                "group.json format {} is not supported (this checker reads format {FORMAT})",
                group.format
            ));
        }
        if let Some((p, o)) = group.offsets.iter().find(|(_, &o)| o < -1) {
            return Err(format!("partition {p}: offset {o} is below -1"));
        }
        Ok(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_it_writes_and_refuses_damage() {
        let group = GroupOffsets {
            format: FORMAT,
            group: "g".into(),
            offsets: [(0, 12), (1, -1)].into(),
        };
        let text = serde_json::to_string(&group).unwrap();
        assert_eq!(GroupOffsets::parse(&text).unwrap(), group);
        let damaged = text.replace("12", "-7");
        assert!(GroupOffsets::parse(&damaged)
            .unwrap_err()
            .contains("partition 0"));
        let newer = text.replace("\"format\":1", "\"format\":2");
        assert!(GroupOffsets::parse(&newer)
            .unwrap_err()
            .contains("format 2"));
    }
}
