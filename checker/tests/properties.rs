//! Property tests over synthetic runs: clean runs yield nothing; every
//! injected anomaly is found, of the right kind, at the right message, and
//! nothing else is; the verdict follows the promised guarantees.

mod common;

use checker::results::InEffect;
use checker::synth::{generate, Compression, Injection, SynthConfig};
use checker::{Guarantee, Kind, Validity};
use common::{check_synth, check_synth_text, found_kinds, history_lines, loci};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn config() -> impl Strategy<Value = SynthConfig> {
    (
        any::<u64>(),
        1u64..3000,
        1u32..6,
        1u32..5,
        1u32..80,
        any::<bool>(),
        (0u32..3, 0u32..3, 0u32..6, 0u32..3, 0u32..4),
        // Keys: none, or at least as many as the splits a case may plant.
        (prop_oneof![Just(0u32), 4u32..64], compression()),
    )
        .prop_map(
            |(
                seed,
                messages,
                producers,
                partitions,
                max_batch,
                idempotent,
                (epoch_bumps, restarts, indeterminate, failures, transactions),
                (keys, compression),
            )| {
                SynthConfig {
                    seed,
                    producers,
                    partitions,
                    messages,
                    max_batch,
                    value_size: 24,
                    idempotent,
                    epoch_bumps,
                    restarts,
                    indeterminate,
                    failures,
                    transactions,
                    keys,
                    compression,
                    inject: Vec::new(),
                }
            },
        )
}

fn compression() -> impl Strategy<Value = Compression> {
    proptest::sample::select(vec![
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ])
}

fn guarantees() -> impl Strategy<Value = Vec<Guarantee>> {
    proptest::sample::subsequence(Guarantee::ALL.to_vec(), 1..=4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn clean_runs_yield_nothing(config in config(), promised in guarantees()) {
        let run = generate(&config).unwrap();
        let results = check_synth(&run, &promised);
        prop_assert_eq!(found_kinds(&results), vec![]);
        prop_assert_eq!(&results.unknown_reasons, &Vec::<String>::new());
        prop_assert_eq!(results.valid, Validity::Valid);
        let indeterminate = &results.stats.indeterminate;
        prop_assert_eq!(indeterminate.undetermined, 0);
        // Every other indeterminate batch lands, so both counts show up.
        if config.indeterminate >= 2 {
            prop_assert!(indeterminate.landed > 0 && indeterminate.not_landed > 0, "{:?}", indeterminate);
        }
        if config.transactions >= 2 {
            prop_assert!(results.stats.aborted_records > 0 && results.stats.control_records > 0);
        }
        // Each key keeps to one partition; an unkeyed run lists none.
        prop_assert_eq!(results.keys.is_empty(), config.keys == 0);
        prop_assert!(results.keys.iter().all(|k| k.partitions.len() == 1), "{:?}", results.keys);
        // The producers of an idempotent run write with PIDs, those of
        // another without (but the transactional one).
        let effects: Vec<InEffect> = results.idempotence.iter().map(|p| p.in_effect).collect();
        let unprotected = if config.idempotent { InEffect::No } else { InEffect::Yes };
        prop_assert_eq!(effects.len() as u32, config.producers + 1);
        prop_assert!(effects[..config.producers as usize].iter().all(|e| ![unprotected, InEffect::Mixed].contains(e)), "{:?}", effects);
    }

    #[test]
    fn injected_anomalies_are_found_where_they_are(
        config in config(),
        picks in proptest::collection::vec(0usize..Injection::ALL.len(), 1..5),
        promised in guarantees(),
    ) {
        let inject: Vec<Injection> = picks
            .iter()
            .map(|&i| Injection::ALL[i])
            .filter(|i| i.fits(&config))
            .collect();
        let config = SynthConfig { inject, ..config };
        let run = generate(&config).unwrap();
        let results = check_synth(&run, &promised);

        let mut expected = BTreeSet::new();
        let mut counts = BTreeMap::new();
        for injected in &run.injected {
            let kind = injected.injection.kind();
            expected.insert(kind);
            *counts.entry(kind).or_insert(0) += injected.count;
            for &companion in &injected.also {
                expected.insert(companion);
                *counts.entry(companion).or_insert(0) += 1;
            }
            let loci = loci(&results, kind);
            let hit = loci.iter().any(|(message, record)| match injected.message {
                Some(m) => *message == Some(m),
                None => *record == injected.offset.map(|o| (injected.partition, o)),
            });
            prop_assert!(hit, "{:?} not found among {:?}", injected, loci);
            if let Injection::Duplicate(cause) = injected.injection {
                let example = results.anomalies.duplicate.examples.iter()
                    .find(|e| Some(e.detail.send.message) == injected.message)
                    .unwrap();
                prop_assert_eq!(example.detail.cause, cause);
            }
        }
        let found: BTreeSet<Kind> = found_kinds(&results).into_iter().collect();
        prop_assert_eq!(&found, &expected, "unexpected kinds");
        for (kind, count) in counts {
            prop_assert_eq!(results.anomalies.count(kind), count, "{}", kind);
        }

        let broken = expected.iter().any(|k| k.violates().iter().any(|g| promised.contains(g)));
        prop_assert_eq!(results.valid, if broken { Validity::Invalid } else { Validity::Valid });
        prop_assert_eq!(results.exit_code(), if broken { 1 } else { 0 });
        let violated: BTreeSet<Guarantee> = expected.iter().flat_map(|k| k.violates()).copied().filter(|g| promised.contains(g)).collect();
        prop_assert_eq!(results.violated.iter().copied().collect::<BTreeSet<_>>(), violated);
    }

    /// A clean run's history cut anywhere short of its end line, at a line or
    /// mid-line, is unknown and shows no anomaly: every record it no longer
    /// holds the send of is unrecorded, none a phantom, and no unanswered send
    /// is lost.
    #[test]
    fn cut_histories_are_unknown_with_their_later_records_unrecorded(
        config in config(),
        at in any::<prop::sample::Index>(),
        torn in any::<bool>(),
        promised in guarantees(),
    ) {
        let run = generate(&config).unwrap();
        let lines = history_lines(&run);
        // The header always, the end line never.
        let kept = 1 + at.index(lines.len() - 1);
        let mut history: String = lines[..kept].iter().map(|l| format!("{l}\n")).collect();
        if torn {
            history += &lines[kept][..lines[kept].len() / 2];
        }
        let results = check_synth_text(&run, &history, &promised);
        prop_assert_eq!(found_kinds(&results), vec![]);
        prop_assert_eq!(results.valid, Validity::Unknown);
        let says = if torn { "partial line" } else { "no end line" };
        prop_assert!(results.unknown_reasons.iter().any(|r| r.contains(says)), "{:?}", results.unknown_reasons);
        // Each record read is an acknowledged send, an unanswered or
        // indeterminate one that landed, or unrecorded; the sends of aborted
        // transactions are acknowledged too, and their records not read as
        // messages.
        let stats = &results.stats;
        let explained = stats.sends.ok + stats.indeterminate.landed + stats.unrecorded_records;
        if config.transactions == 0 {
            prop_assert_eq!(stats.records_read, explained);
        } else {
            prop_assert!(stats.records_read <= explained);
        }
    }
}

#[test]
fn every_injection_is_exercised_alone() {
    for injection in Injection::ALL {
        let config = SynthConfig {
            inject: vec![injection],
            keys: if injection == Injection::KeySplit {
                10
            } else {
                0
            },
            ..SynthConfig::clean(7, 2000)
        };
        let run = generate(&config).unwrap();
        let results = check_synth(&run, &Guarantee::ALL);
        let mut expected = vec![injection.kind()];
        expected.extend(&run.injected[0].also);
        expected.sort();
        assert_eq!(found_kinds(&results), expected, "{injection:?}");
        assert_eq!(results.valid, Validity::Invalid);
    }
}

#[test]
fn injections_needing_idempotence_are_refused_without_it() {
    let config = SynthConfig {
        idempotent: false,
        inject: vec![Injection::SequenceGap],
        ..SynthConfig::clean(1, 100)
    };
    assert!(generate(&config)
        .err()
        .unwrap()
        .contains("needs idempotent producers"));
    for keys in [0, 1] {
        let config = SynthConfig {
            keys,
            partitions: 1 + keys,
            inject: vec![Injection::KeySplit; 2],
            ..SynthConfig::clean(1, 100)
        };
        assert!(generate(&config).is_err(), "{keys} keys");
    }
}
