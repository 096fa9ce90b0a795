//! Runs folders gathered into one: `eoscheck report --index A B …`, for the
//! runs that several machines or CI jobs wrote (their artifacts) to be read
//! as one folder, with one index and its verdicts over time.
//!
//! Nothing is moved or changed where it came from. A run is copied in
//! whole (through a `.partial` directory renamed at the end, so a copy cut
//! short is never taken for a run); a run already there is left alone when
//! its `run.json` is the same, and two different runs under one name are
//! refused. A comparison's directory is copied in, or, when one of the same
//! id is there already (the shares of `compare --shard`), the two records
//! are merged cell by cell; every comparison touched is rendered again.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};

use crate::console::failure::Failure;

/// What [`gather`] did.
#[derive(Debug, Default, PartialEq)]
pub struct Gathered {
    /// Runs copied in.
    pub runs: usize,
    /// Runs that were there already.
    pub present: usize,
    /// Comparisons whose page was rendered again (copied or merged).
    pub comparisons: Vec<PathBuf>,
}

/// Copies or merges every run and comparison of `from` into `into`. The
/// caller renders the comparisons and the index once every folder is in.
pub fn gather(into: &Path, from: &Path, done: &mut Gathered) -> Result<()> {
    let listing = fs::read_dir(from).map_err(|e| {
        Failure::usage(format!(
            "cannot list the runs folder {} ({e}); pass folders `eoscheck run --out` wrote",
            from.display()
        ))
    })?;
    for entry in listing {
        let entry = entry.with_context(|| format!("listing {}", from.display()))?;
        // `latest` is a link and index.html a file: only directories move.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let (source, target) = (entry.path(), into.join(entry.file_name()));
        if source.join("compare.json").is_file() {
            merge_comparison(&source, &target)?;
            done.comparisons.push(target);
        } else if target.exists() {
            same_run(&source, &target)?;
            done.present += 1;
        } else {
            copy_whole(&source, &target)?;
            done.runs += 1;
        }
    }
    Ok(())
}

/// A run under a name taken already must be that run.
fn same_run(source: &Path, target: &Path) -> Result<()> {
    let record = |dir: &Path| fs::read(dir.join("run.json")).ok();
    if record(source) == record(target) {
        return Ok(());
    }
    Err(Failure::usage(format!(
        "{} and {} are different runs under one name; gather them into different folders (--out)",
        source.display(),
        target.display()
    )))
}

/// A comparison copied in, or merged into the one of its id already there.
fn merge_comparison(source: &Path, target: &Path) -> Result<()> {
    if !target.exists() {
        return copy_whole(source, target);
    }
    let mut kept = read_compare(target)?;
    kept.merge(read_compare(source)?).map_err(|e| {
        Failure::usage(format!("{e:#}; gather them into different folders (--out)"))
    })?;
    let file = target.join("compare.json");
    fs::write(&file, serde_json::to_vec_pretty(&kept)?)
        .with_context(|| format!("writing {}", file.display()))
}

fn read_compare(dir: &Path) -> Result<reports::Compare> {
    let file = dir.join("compare.json");
    let text = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "{} is not a compare.json eoscheck can read ({e}); leave that folder out",
            file.display()
        ))
    })
}

/// `source` copied to `target` through `target.partial`.
fn copy_whole(source: &Path, target: &Path) -> Result<()> {
    let partial = target.with_extension("partial");
    let _ = fs::remove_dir_all(&partial);
    copy_tree(source, &partial)
        .with_context(|| format!("copying {} to {}", source.display(), partial.display()))?;
    fs::rename(&partial, target).with_context(|| format!("renaming {}", partial.display()))
}

fn copy_tree(source: &Path, target: &Path) -> std::io::Result<()> {
    fs::create_dir_all(target)?;
    for entry in fs::read_dir(source)? {
        let entry = entry?;
        let to = target.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &to)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &to)?;
        } else {
            fs::copy(entry.path(), &to)?;
        }
    }
    Ok(())
}
