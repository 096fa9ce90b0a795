//! Checking a run directory: the files the run left, handed to the pure checker,
//! and `results.json` written back. `eoscheck run` ends with exactly this, and
//! `eoscheck check` repeats it offline on a copied directory.

use std::{io::Read, path::Path};

use anyhow::{Context, Result};
use checker::{Asked, Checker, Guarantee, Manifest, Options, Results, Storage};

use super::record::RunRecord;
use crate::console::{failure::Failure, logging};

/// Analyses `dir` and writes its `results.json`. `guarantees` overrides the
/// promise stored in run.json.
pub fn check_dir(dir: &Path, guarantees: Option<Vec<Guarantee>>) -> Result<Results> {
    let results = analyse(dir, guarantees)?;
    write_results(dir, &results)?;
    Ok(results)
}

/// The checker's results for the run in `dir`, written nowhere. Missing or
/// damaged files are usage errors naming the file (and line or byte): the run
/// directory, not the cluster, is at fault.
fn analyse(dir: &Path, guarantees: Option<Vec<Guarantee>>) -> Result<Results> {
    if !dir.is_dir() {
        return Err(Failure::usage(format!(
            "{} is not a directory; give a run directory such as runs/latest",
            dir.display()
        )));
    }
    let record = RunRecord::read(dir);
    let guarantees = match (guarantees, &record) {
        (Some(g), _) => g,
        (None, Ok(record)) => record.guarantees.clone(),
        (None, Err(e)) => return Err(Failure::usage(format!("{e:#}"))),
    };
    let mut options = Options::new(guarantees);
    if let Ok(record) = &record {
        options.asked = Some(asked(record));
        // Runs from before eoscheck recorded it are never judged for it, so
        // they check as they always did.
        options.idempotence = record.idempotence_asked.unwrap_or_default();
    }
    let mut checker = Checker::new(options);
    read_history(dir, &mut checker)?;
    let (consumer_failed, group_failed) = match record {
        Ok(r) => (r.consumer_read_error, r.group_read_error),
        Err(_) => (None, None),
    };
    read_consumed(dir, consumer_failed, &mut checker)?;
    read_log(&dir.join("log"), Topic::Input, &mut checker)?;
    if checker.is_pipeline() {
        read_log(&dir.join("output"), Topic::Output, &mut checker)?;
        read_group(dir, group_failed, &mut checker)?;
    }
    Ok(checker.finish())
}

/// Which topic's final read a log folder holds: the one the producers
/// wrote (a pipeline's input), or a pipeline's output.
#[derive(Clone, Copy)]
enum Topic {
    Input,
    Output,
}

/// What the run asked for, to say what it really tested.
fn asked(record: &RunRecord) -> Asked {
    let mut planned: Vec<String> = Vec::new();
    for step in &record.nemesis.steps {
        let fault = step.fault.to_string();
        if step.action == nemesis::StepAction::Start && !planned.contains(&fault) {
            planned.push(fault);
        }
    }
    Asked {
        planned,
        faults: record
            .nemesis
            .config
            .faults
            .iter()
            .map(|f| f.to_string())
            .collect(),
        rate: record.rate,
        seconds: sending_seconds(record),
    }
}

/// How long the producers were sending: from the workload's start until the
/// quiet phase stopped them (the time limit and the heal), or the time limit
/// for a run that did not get that far.
fn sending_seconds(record: &RunRecord) -> f64 {
    let start = |name: &str| {
        record
            .phases
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.start_s)
    };
    match (start("workload"), start("quiet")) {
        (Some(from), Some(to)) if to > from => to - from,
        _ => record.time_limit_s,
    }
}

/// `history.jsonl` into the checker.
fn read_history(dir: &Path, checker: &mut Checker) -> Result<()> {
    let history_path = dir.join("history.jsonl");
    let history = std::fs::read_to_string(&history_path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", history_path.display())))?;
    checker
        .read_history(&history)
        .map_err(|e| Failure::usage(format!("{}: {e}", history_path.display())))
}

/// `consumed.json`, when the run kept what a `read_committed` consumer
/// delivered, into the checker; or, when run.json says that read `failed`,
/// why there is none.
fn read_consumed(dir: &Path, failed: Option<String>, checker: &mut Checker) -> Result<()> {
    let path = dir.join(checker::consumed::FILE);
    let Some(text) = optional(&path)? else {
        if let Some(error) = failed {
            checker.consumer_failed(error);
        }
        return Ok(());
    };
    let consumed = checker::consumed::Consumed::parse(&text).map_err(|e| {
        Failure::usage(format!(
            "{}: {e}; the file is damaged: restore it from a copy, or remove it to check the run without the consumer's read",
            path.display()
        ))
    })?;
    checker.consumed(consumed);
    Ok(())
}

/// `log/` (or a pipeline's `output/`): its manifest, then every partition's
/// batches, into the checker.
fn read_log(log_dir: &Path, topic: Topic, checker: &mut Checker) -> Result<()> {
    let manifest_path = log_dir.join("manifest.json");
    // A run that never got to its final read has no log: the checker, given no
    // manifest, says the answer is unknown because the final read is missing.
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => Manifest::parse(&text)
            .map_err(|e| Failure::usage(format!("{}: {e}", manifest_path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Failure::usage(format!(
                "cannot read {}: {e}",
                manifest_path.display()
            )))
        }
    };
    match topic {
        Topic::Input => checker.begin_log(&manifest),
        Topic::Output => checker.begin_output(&manifest),
    }
    for entry in &manifest.partitions {
        let path = inside(log_dir, &entry.file, entry.partition)?;
        let (bytes, error) = read_stored(&path, manifest.storage);
        match error {
            None => {}
            Some(e) if !entry.complete => tracing::debug!(
                "{}: {e}; the read of that partition was incomplete anyway",
                path.display()
            ),
            Some(e) => {
                return Err(Failure::usage(format!(
                    "{}: {e}; restore the file from a copy of the run directory",
                    path.display()
                )))
            }
        }
        let read = match topic {
            Topic::Input => checker.read_partition(entry, bytes.into()),
            Topic::Output => checker.read_output_partition(entry, bytes.into()),
        };
        read.map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// A partition's batches as the checker reads them: the file's bytes, or
/// its zstd stream decompressed (byte positions are then the stream's).
/// What could not be read is returned with what was: an incomplete read's
/// file may end mid-stream.
fn read_stored(path: &Path, storage: Storage) -> (Vec<u8>, Option<String>) {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => return (Vec::new(), Some(format!("cannot read it: {e}"))),
    };
    let mut bytes = Vec::new();
    let read = match storage {
        Storage::Raw => std::io::BufReader::new(file).read_to_end(&mut bytes),
        Storage::Zstd => match zstd::Decoder::new(file) {
            Ok(mut stream) => stream.read_to_end(&mut bytes),
            Err(e) => Err(e),
        },
    };
    let error = read.err().map(|e| match storage {
        Storage::Raw => format!("cannot read it: {e}"),
        Storage::Zstd => format!(
            "its zstd stream is damaged after {} decompressed bytes: {e}",
            bytes.len()
        ),
    });
    (bytes, error)
}

/// `group.json`, a pipeline's committed offsets, into the checker; without
/// one the checker cannot judge them (and says so), and run.json says why
/// the run has none.
fn read_group(dir: &Path, failed: Option<String>, checker: &mut Checker) -> Result<()> {
    let path = dir.join(checker::group::FILE);
    let Some(text) = optional(&path)? else {
        if let Some(error) = failed {
            tracing::warn!("the run could not read the group's offsets: {error}");
        }
        return Ok(());
    };
    let group = checker::group::GroupOffsets::parse(&text).map_err(|e| {
        Failure::usage(format!(
            "{}: {e}; the file is damaged: restore it from a copy of the run directory",
            path.display()
        ))
    })?;
    checker.group_offsets(group.offsets);
    Ok(())
}

/// A file the run may have left out: None when it did.
fn optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::usage(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// The file a manifest entry names, which must be a plain file name inside
/// its folder: a manifest is data, and data does not choose which files the
/// check reads.
fn inside(log_dir: &Path, file: &str, partition: i32) -> Result<std::path::PathBuf> {
    let mut parts = Path::new(file).components();
    match (parts.next(), parts.next()) {
        (Some(std::path::Component::Normal(_)), None) => Ok(log_dir.join(file)),
        _ => Err(Failure::usage(format!(
            "{}: the entry of partition {partition} names {file:?}, which is not a file in {}/; \
             the run directory is damaged, copy it again from its source",
            log_dir.join("manifest.json").display(),
            log_dir.file_name().unwrap_or_default().to_string_lossy()
        ))),
    }
}

fn write_results(dir: &Path, results: &Results) -> Result<()> {
    let path = dir.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(results)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// The verdict as one line for the terminal, the same wherever eoscheck prints
/// one (`run`, `check`): the verdict and the promise it judged, what was
/// violated, the anomalies found, and why the answer is unknown when it is.
pub fn verdict_line(results: &Results) -> String {
    let names = |gs: &[Guarantee]| gs.iter().map(|g| g.name()).collect::<Vec<_>>().join(", ");
    let mut line = format!(
        "verdict: {} ({})",
        results.valid.name(),
        names(&results.guarantees)
    );
    if !results.violated.is_empty() {
        line += &format!("; violated: {}", names(&results.violated));
    }
    let anomalies: Vec<String> = checker::Kind::ALL
        .iter()
        .filter_map(|k| {
            let n = results.anomalies.count(*k);
            (n > 0).then(|| format!("{} {n}", k.name()))
        })
        .collect();
    if !anomalies.is_empty() {
        line += &format!("; anomalies: {}", anomalies.join(", "));
    }
    if !results.unknown_reasons.is_empty() {
        line += &format!("; unknown because: {}", results.unknown_reasons.join("; "));
    }
    line
}

/// The verdict and what was tested, as `run` and `check` print them.
pub fn print_verdict(results: &Results) {
    logging::say(&verdict_line(results));
    if let Some(tested) = results.tested.summary() {
        logging::say(&tested);
    }
}

/// `--json`'s object for the run in `dir`: what a CI step needs to act on
/// without parsing text (its exit code, verdict, counts and files).
pub fn outcome_json(dir: &Path, results: &Results) -> serde_json::Value {
    let anomalies: std::collections::BTreeMap<&str, u64> = checker::Kind::ALL
        .iter()
        .map(|&k| (k.name(), results.anomalies.count(k)))
        .filter(|&(_, n)| n > 0)
        .collect();
    let violated: Vec<&str> = results.violated.iter().map(|g| g.name()).collect();
    serde_json::json!({
        "exit_code": results.exit_code(),
        "verdict": results.valid.name(),
        "violated": violated,
        "anomalies": anomalies,
        "unknown_reasons": results.unknown_reasons,
        "tested": results.tested.summary(),
        "run_dir": dir,
        "results": dir.join("results.json"),
        "report": dir.join("report.html"),
        "junit": dir.join("junit.xml"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run killed before its final read: unknown, and the reason says the
    /// final read is missing (not that a read was incomplete).
    #[test]
    fn a_run_without_a_final_read_is_unknown_for_that_reason() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("history.jsonl"),
            concat!(
                "{\"type\":\"header\",\"format\":3,\"topic\":\"t\"}\n",
                "{\"type\":\"invoke\",\"t\":5,\"m\":[0,0],\"p\":0}\n",
            ),
        )
        .unwrap();
        let results = check_dir(dir.path(), Some(vec![Guarantee::NoLoss])).unwrap();
        assert_eq!(results.valid, checker::Validity::Unknown);
        assert!(
            results
                .unknown_reasons
                .iter()
                .any(|r| r.contains("the final read is missing")),
            "{:?}",
            results.unknown_reasons
        );
        assert!(
            !results
                .unknown_reasons
                .iter()
                .any(|r| r.contains("\"complete\": false")),
            "{:?}",
            results.unknown_reasons
        );
    }

    #[test]
    fn a_manifest_names_files_inside_log_only() {
        let log = Path::new("runs/x/log");
        assert_eq!(
            inside(log, "partition-0.bin", 0).unwrap(),
            log.join("partition-0.bin")
        );
        for outside in [
            "../run.json",
            "/etc/passwd",
            "sub/partition-0.bin",
            "..",
            "",
        ] {
            let err = inside(log, outside, 3).unwrap_err().to_string();
            assert!(
                err.contains("partition 3") && err.contains("not a file in log/"),
                "{outside}: {err}"
            );
        }
    }
}
