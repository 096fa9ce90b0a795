//! `eoscheck prune`: the runs folder kept to a size a nightly job can
//! upload and a disk can hold. The newest runs stay (`--keep N`), or those
//! younger than `--older-than DAYS`; a run a kept comparison shows stays
//! with it, so no comparison page is left pointing at nothing. The index is
//! written again, and `latest` points at the newest run left.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::console::{failure::Failure, logging};

#[derive(clap::Args)]
pub struct Args {
    /// The runs folder.
    #[arg(long, default_value = "runs")]
    out: PathBuf,
    /// Keep the N newest runs and comparisons of each kind, remove the rest.
    #[arg(
        long,
        conflicts_with = "older_than",
        required_unless_present = "older_than"
    )]
    keep: Option<usize>,
    /// Remove runs and comparisons that started more than DAYS days ago.
    #[arg(long, value_name = "DAYS")]
    older_than: Option<u32>,
    /// Say what would be removed, and remove nothing.
    #[arg(long)]
    dry_run: bool,
}

/// A run or comparison directory, by the id its name starts with.
struct Entry {
    /// The directory's name: `<stamp>-<hex>` or `compare-<stamp>-<hex>`.
    name: String,
    /// `YYYYMMDDTHHMMSS`, which sorts as time does.
    stamp: String,
    comparison: bool,
}

impl Entry {
    /// A directory eoscheck made, known by its name, or, for a sharded
    /// comparison (`compare-s<seed>-<digest>`, no time in its name), by the
    /// start its compare.json records; anything else is left alone.
    fn of(dir: &Path) -> Option<Entry> {
        let name = dir.file_name()?.to_str()?;
        match name.strip_prefix("compare-") {
            Some(id) if id.starts_with('s') => Entry::sharded(dir, name),
            Some(id) => Entry::named(name, true, id),
            None => Entry::named(name, false, name),
        }
    }

    fn named(name: &str, comparison: bool, id: &str) -> Option<Entry> {
        let (stamp, hex) = id.split_once('-')?;
        let stamp_ok = stamp.len() == 15
            && stamp.char_indices().all(|(i, c)| match i {
                8 => c == 'T',
                _ => c.is_ascii_digit(),
            });
        let hex_ok = hex.len() == 4 && hex.chars().all(|c| c.is_ascii_hexdigit());
        (stamp_ok && hex_ok).then(|| Entry {
            name: name.to_owned(),
            stamp: stamp.to_owned(),
            comparison,
        })
    }

    fn sharded(dir: &Path, name: &str) -> Option<Entry> {
        let text = fs::read_to_string(dir.join("compare.json")).ok()?;
        let compare: reports::Compare = serde_json::from_str(&text).ok()?;
        let digits: String = compare
            .started
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let stamp = format!("{}T{}", digits.get(..8)?, digits.get(8..14)?);
        Some(Entry {
            name: name.to_owned(),
            stamp,
            comparison: true,
        })
    }
}

pub fn execute(args: Args) -> Result<i32> {
    let entries = entries(&args.out)?;
    let cutoff = args.older_than.map(stamp_days_ago);
    let mut doomed: Vec<&Entry> = Vec::new();
    for comparison in [false, true] {
        let mut kind: Vec<&Entry> = entries
            .iter()
            .filter(|e| e.comparison == comparison)
            .collect();
        kind.sort_by(|a, b| b.name.cmp(&a.name));
        for (rank, entry) in kind.into_iter().enumerate() {
            let old = match (&cutoff, args.keep) {
                (Some(cutoff), _) => entry.stamp < *cutoff,
                (None, Some(keep)) => rank >= keep,
                (None, None) => false,
            };
            if old {
                doomed.push(entry);
            }
        }
    }
    let shown = shown_by_kept_comparisons(&args.out, &entries, &doomed);
    doomed.retain(|e| !shown.contains(&e.name));
    let mut freed = 0;
    for entry in &doomed {
        let path = args.out.join(&entry.name);
        freed += size(&path);
        let verb = if args.dry_run {
            "would remove"
        } else {
            "removing"
        };
        logging::say(&format!("{verb} {}", path.display()));
        if !args.dry_run {
            fs::remove_dir_all(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    if !shown.is_empty() {
        logging::say(&format!(
            "kept {} older runs a kept comparison shows",
            shown.len()
        ));
    }
    let what = if args.dry_run { "would free" } else { "freed" };
    logging::say(&format!(
        "prune: {} of {} removed, {what} {:.1} MB",
        doomed.len(),
        entries.len(),
        freed as f64 / 1e6
    ));
    if !args.dry_run && !doomed.is_empty() {
        repoint_latest(&args.out, &entries, &doomed)?;
        reports::write_index(&args.out)?;
    }
    Ok(0)
}

/// The runs and comparisons in `runs`, refused when it is no runs folder.
fn entries(runs: &Path) -> Result<Vec<Entry>> {
    let listing = fs::read_dir(runs).map_err(|e| {
        Failure::usage(format!(
            "cannot list {} ({e}); pass the runs folder with --out",
            runs.display()
        ))
    })?;
    Ok(listing
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| Entry::of(&e.path()))
        .collect())
}

/// `YYYYMMDDTHHMMSS` of `days` days ago, as run ids spell their start.
fn stamp_days_ago(days: u32) -> String {
    let then = time::OffsetDateTime::now_utc() - time::Duration::days(days.into());
    then.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]"
    ))
    .expect("a fixed format always applies")
}

/// The runs that comparisons which stay show (`compare.json`'s cells).
fn shown_by_kept_comparisons(
    runs: &Path,
    entries: &[Entry],
    doomed: &[&Entry],
) -> BTreeSet<String> {
    let gone: BTreeSet<&str> = doomed.iter().map(|e| e.name.as_str()).collect();
    let kept = entries
        .iter()
        .filter(|e| e.comparison && !gone.contains(e.name.as_str()));
    let mut shown = BTreeSet::new();
    for comparison in kept {
        let path = runs.join(&comparison.name).join("compare.json");
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let Ok(compare) = serde_json::from_str::<reports::Compare>(&text) else {
            continue;
        };
        for cell in compare.cells {
            if let Some(name) = cell.run.strip_prefix("../") {
                shown.insert(name.to_owned());
            }
        }
    }
    shown.retain(|name| gone.contains(name.as_str()));
    shown
}

/// `latest` at the newest run left, or gone when none is.
fn repoint_latest(runs: &Path, entries: &[Entry], doomed: &[&Entry]) -> Result<()> {
    let gone: BTreeSet<&str> = doomed.iter().map(|e| e.name.as_str()).collect();
    let newest = entries
        .iter()
        .filter(|e| !e.comparison && !gone.contains(e.name.as_str()))
        .map(|e| &e.name)
        .max();
    let latest = runs.join("latest");
    let _ = fs::remove_file(&latest);
    if let Some(newest) = newest {
        std::os::unix::fs::symlink(newest, &latest)
            .with_context(|| format!("pointing {} at {newest}", latest.display()))?;
    }
    Ok(())
}

/// Bytes under `path`.
fn size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|listing| listing.flatten().map(|e| size(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only directories eoscheck names are runs or comparisons; a sharded
    /// comparison is dated by its compare.json.
    #[test]
    fn entries_are_known_by_their_names_or_their_start() {
        let of = |name: &str| Entry::of(Path::new("/nowhere").join(name).as_path());
        let run = of("20261202T031041-4dfe").unwrap();
        assert!(!run.comparison && run.stamp == "20261202T031041");
        assert!(of("compare-20261124T100000-c0de").unwrap().comparison);
        for other in [
            "latest",
            "notes",
            "20261202-4dfe",
            "20261202T031041-zzzz",
            "x-20261202T031041-4dfe",
            "compare-s5-0badcafe",
        ] {
            assert!(of(other).is_none(), "{other}");
        }
        let runs = tempfile::tempdir().unwrap();
        let sharded = runs.path().join("compare-s5-0badcafe");
        fs::create_dir(&sharded).unwrap();
        let compare = serde_json::json!({
            "format": 1, "id": "s5-0badcafe", "started": "2026-12-01T02:03:04.5Z",
            "seed": 5, "nemesis": [], "time_limit_s": 10.0, "kafka_version": null,
            "clients": [], "presets": [], "cells": []
        });
        fs::write(sharded.join("compare.json"), compare.to_string()).unwrap();
        let entry = Entry::of(&sharded).unwrap();
        assert!(entry.comparison && entry.stamp == "20261201T020304");
    }
}
