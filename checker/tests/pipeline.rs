//! Pipelines judged by synthetic runs: a clean run finds nothing and is
//! valid; each planted pipeline anomaly is found once, of its kind, at the
//! input it was planted at, and nothing else the processors are judged by
//! is; what is missing from the data leaves the answer unknown.

mod common;

use checker::synth::{pipeline, PipelineInjection};
use checker::{Guarantee, Kind, Validity};
use common::{found_kinds, loci, options};
use proptest::prelude::*;

const PROMISED: [Guarantee; 4] = Guarantee::ALL;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_clean_pipeline_is_valid(seed in any::<u64>()) {
        let results = pipeline(seed, None).check(options(&PROMISED)).unwrap();
        prop_assert_eq!(found_kinds(&results), vec![]);
        prop_assert_eq!(results.valid, Validity::Valid, "{:?}", results.unknown_reasons);
        let stats = results.pipeline.unwrap();
        prop_assert_eq!(stats.processed_once, stats.inputs_committed);
        prop_assert!(stats.inputs_aborted > 0);
        prop_assert_eq!(stats.feeder_anomalies, 0);
    }

    #[test]
    fn a_planted_anomaly_is_found_where_it_was_planted(
        seed in any::<u64>(),
        injection in proptest::sample::select(PipelineInjection::ALL.to_vec()),
    ) {
        let run = pipeline(seed, Some(injection));
        let Some((partition, offset)) = run.planted else {
            return Ok(()); // no room for it in this run
        };
        let results = run.check(options(&PROMISED)).unwrap();
        let kind = injection.kind();
        prop_assert_eq!(found_kinds(&results), vec![kind]);
        prop_assert_eq!(results.anomalies.count(kind), 1);
        let places: Vec<_> = loci(&results, kind).into_iter().map(|(_, at)| at).collect();
        prop_assert_eq!(places, vec![Some((partition, offset))]);
        prop_assert_eq!(results.valid, Validity::Invalid);
    }
}

#[test]
fn every_injection_finds_room_in_most_runs() {
    for injection in PipelineInjection::ALL {
        let planted = (0..20)
            .filter(|&seed| pipeline(seed, Some(injection)).planted.is_some())
            .count();
        assert!(
            planted >= 15,
            "{injection:?} planted in {planted} of 20 runs"
        );
    }
}

#[test]
fn a_missing_output_read_or_group_leaves_the_answer_unknown() {
    let mut run = pipeline(7, None);
    run.output.0.complete = false;
    let results = run.check(options(&PROMISED)).unwrap();
    assert_eq!(results.valid, Validity::Unknown);
    assert!(results
        .unknown_reasons
        .iter()
        .any(|r| r.contains("output topic out did not complete")));

    // One output partition read short: no input is lost for want of an
    // output the read did not reach.
    let mut run = pipeline(7, None);
    run.output.0.partitions[2].complete = false;
    run.output.1[2].clear();
    let results = run.check(options(&PROMISED)).unwrap();
    assert_eq!(found_kinds(&results), vec![]);
    assert_eq!(results.valid, Validity::Unknown);
    assert!(results
        .unknown_reasons
        .iter()
        .any(|r| r.contains("output partition 2 did not complete")));

    let mut run = pipeline(7, Some(PipelineInjection::OffsetAhead));
    run.group = None;
    let results = run.check(options(&PROMISED)).unwrap();
    assert_eq!(found_kinds(&results), vec![]);
    assert_eq!(results.valid, Validity::Unknown);
    assert!(results.pipeline.unwrap().unprocessed > 0);
    assert!(results
        .unknown_reasons
        .iter()
        .any(|r| r.contains("group's committed offsets were not read")));
}

#[test]
fn the_feeders_own_anomalies_decide_nothing() {
    let mut run = pipeline(3, None);
    // The feeder's history says every acknowledged send landed one offset
    // further than it did: its sends are lost and misplaced, the feeder's
    // anomalies, while the processors did everything right.
    run.history = run
        .history
        .lines()
        .map(|line| match line.split_once(",\"o\":") {
            Some((head, tail)) => {
                let offset: i64 = tail.trim_end_matches('}').parse().unwrap();
                format!("{head},\"o\":{}}}\n", offset + 1)
            }
            None => format!("{line}\n"),
        })
        .collect();
    let results = run.check(options(&PROMISED)).unwrap();
    assert!(
        results.anomalies.count(Kind::OffsetMismatch) > 0,
        "{:?}",
        found_kinds(&results)
    );
    assert_eq!(
        results.valid,
        Validity::Valid,
        "{:?}",
        results.unknown_reasons
    );
    assert!(results.pipeline.unwrap().feeder_anomalies > 0);
}
