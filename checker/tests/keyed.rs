//! Runs of a producer as an application runs it (history format 5), on
//! hand-built runs: sends whose partition the library chose, record keys,
//! and the idempotence the run asked for.

mod common;

use bytes::Bytes;
use checker::history::{Event, FORMAT};
use checker::ids::Partition;
use checker::results::InEffect;
use checker::synth::BatchSpec;
use checker::{
    payload, Checker, Guarantee, Idempotence, Kind, MessageId, Options, Results, Validity,
};
use common::{batch, found_kinds, msg, options, Run};

const ALL: [Guarantee; 4] = Guarantee::ALL;

/// A send of `m` that named no partition, written (without a PID, so with
/// no sequence to keep) where the library put it, and acknowledged there.
fn library_send(run: &mut Run, partition: Partition, m: MessageId) {
    run.invoke(m, 0, None);
    let offset = run.write(partition, -1, -1, -1, &[(m, 0)]);
    run.ok(m, 0, partition, offset);
}

#[test]
fn sends_the_library_partitioned_are_judged_where_their_ack_says() {
    let mut run = Run::keyed(2, 10);
    library_send(&mut run, 1, msg(0, 0));
    assert_eq!(run.check(&ALL).valid, Validity::Valid);

    // Acknowledged at 0@1, never written: lost, as the ack placed it.
    run.invoke(msg(0, 1), 0, None).ok(msg(0, 1), 0, 0, 1);
    // Written at 1@1, acknowledged at 0@0.
    run.invoke(msg(0, 2), 0, None);
    run.write(1, -1, -1, -1, &[(msg(0, 2), 0)]);
    run.ok(msg(0, 2), 0, 0, 0);
    let results = run.check(&ALL);
    assert_eq!(
        found_kinds(&results),
        [Kind::Lost, Kind::OffsetMismatch],
        "{:?}",
        results.anomalies
    );
    let lost = &results.anomalies.lost.examples[0].detail.send;
    assert_eq!(lost.message, msg(0, 1));
    let json = serde_json::to_value(&lost.outcome).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"kind": "ok", "partition": 0, "offset": 1})
    );
}

/// An indeterminate send that named no partition has none the checker
/// knows: absent from the log, it did not land only if every partition was
/// read to its end; else it is undetermined, and the partial read makes the
/// verdict unknown, never valid or invalid by a partition it may not have
/// gone to.
#[test]
fn a_send_with_no_partition_and_no_ack_is_judged_against_the_whole_topic() {
    let mut run = Run::new(2);
    library_send(&mut run, 0, msg(0, 0));
    run.invoke(msg(0, 1), 0, None).event(Event::Info {
        time: 0,
        message: msg(0, 1),
        attempt: 0,
        error: "timed out".into(),
    });
    run.invoke(msg(0, 2), 0, None);
    run.write(1, -1, -1, -1, &[(msg(0, 2), 0)]);
    let results = run.check(&ALL);
    assert_eq!(landings(&results), (1, 1, 0));
    assert_eq!(
        results.valid,
        Validity::Valid,
        "{:?}",
        results.unknown_reasons
    );

    run.entries[1].complete = false;
    let results = run.check(&ALL);
    assert_eq!(landings(&results), (1, 0, 1));
    assert_eq!(found_kinds(&results), vec![]);
    assert_eq!(results.valid, Validity::Unknown);
}

/// Indeterminate sends that landed, did not, and could not be told.
fn landings(results: &Results) -> (u64, u64, u64) {
    let i = &results.stats.indeterminate;
    (i.landed, i.not_landed, i.undetermined)
}

/// The partition an ack names must be read, as one an invoke names must.
#[test]
fn a_partition_only_an_ack_names_must_be_read() {
    let mut run = Run::keyed(1, 10);
    library_send(&mut run, 0, msg(0, 0));
    run.invoke(msg(0, 1), 0, None).ok(msg(0, 1), 0, 3, 0);
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![], "not read, so not lost");
    assert_eq!(results.valid, Validity::Unknown);
    assert!(
        results
            .unknown_reasons
            .iter()
            .any(|r| r.contains("sent to partition 3")),
        "{:?}",
        results.unknown_reasons
    );
}

fn history(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect()
}

/// What reading `events` as a history gives: the line and problem of its
/// error, if any.
fn read(events: &[Event]) -> Option<(usize, String)> {
    let mut checker = Checker::new(options(&ALL));
    let err = checker.read_history(&history(events)).err()?;
    Some((err.line, err.problem))
}

fn header(format: u32, keys: Option<u32>) -> Event {
    Event::Header {
        format,
        topic: "t".into(),
        producers: Some(1),
        keys,
        pipeline: None,
    }
}

/// What format 5 added is refused in an older history, and a keyed run has
/// at least one key.
#[test]
fn format_5_lines_are_refused_in_older_histories() {
    let invoke = Event::Invoke {
        time: 0,
        message: msg(0, 0),
        attempt: 0,
        partition: None,
    };
    assert_eq!(read(&[header(FORMAT, Some(3)), invoke.clone()]), None);
    let (line, problem) = read(&[header(4, None), invoke]).unwrap();
    assert_eq!(line, 2);
    assert!(problem.contains("comes with format 5"), "{problem}");
    let (line, problem) = read(&[header(4, Some(3))]).unwrap();
    assert_eq!(line, 1);
    assert!(problem.contains("names no keys"), "{problem}");
    let (_, problem) = read(&[header(FORMAT, Some(0))]).unwrap();
    assert!(problem.contains("at least 1 key"), "{problem}");
}

/// Appends one record of `m` with record key `key` (or none) to `partition`,
/// sent with no partition and acknowledged where it landed.
fn keyed(run: &mut Run, partition: Partition, m: MessageId, key: Option<&str>) {
    run.invoke(m, 0, None);
    let values = [payload::encode(m, 0, 20)];
    let keys: Vec<Bytes> = key.map(|k| Bytes::from(k.to_owned())).into_iter().collect();
    let offset = run.append(
        partition,
        BatchSpec {
            values: &values,
            keys: &keys,
            ..batch(-1, -1, -1, false)
        },
    );
    run.ok(m, 0, partition, offset);
}

/// A key whose records sit in two partitions is split, once, with its
/// partitions, their counts and one message each; every key is listed, in
/// numeric order; a record with no key is in no group.
#[test]
fn a_key_in_two_partitions_is_split_and_every_key_is_listed() {
    let mut run = Run::keyed(2, 100);
    keyed(&mut run, 0, msg(0, 0), Some("7"));
    keyed(&mut run, 0, msg(0, 1), Some("10"));
    keyed(&mut run, 1, msg(1, 0), Some("7"));
    keyed(&mut run, 0, msg(0, 2), Some("7"));
    keyed(&mut run, 1, msg(0, 3), None);
    keyed(&mut run, 1, msg(1, 1), Some("3"));
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), [Kind::KeySplit]);
    assert_eq!(results.violated, [Guarantee::Order]);
    let split = &results.anomalies.key_split.examples[0];
    assert_eq!(
        split.explanation,
        "Key \"7\" landed in partitions 0 (2 records, first message 0/0) and 1 (1 records, first message 1/0)."
    );
    let listed: Vec<(&str, Vec<(Partition, u64)>)> = results
        .keys
        .iter()
        .map(|k| {
            let partitions = k.partitions.iter().map(|p| (p.partition, p.records));
            (k.key.as_str(), partitions.collect())
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("3", vec![(1, 1)]),
            ("7", vec![(0, 2), (1, 1)]),
            ("10", vec![(0, 1)])
        ]
    );
    let json = serde_json::to_value(&results).unwrap();
    assert_eq!(json["anomalies"]["key-split"]["examples"][0]["key"], "7");
    assert_eq!(
        json["keys"][1]["partitions"][1],
        serde_json::json!({"partition": 1, "records": 1, "message": {"producer": 1, "index": 0}})
    );
    let unpromised = run.check(&[Guarantee::NoLoss, Guarantee::NoDuplicates]);
    assert_eq!(unpromised.valid, Validity::Valid);
    assert_eq!(unpromised.anomalies.count(Kind::KeySplit), 1);
}

/// A keyed run's reorder example shows the late record's key; an unkeyed
/// run's has none in its JSON.
#[test]
fn a_reorder_example_shows_the_late_records_key() {
    for keys in [Some(50), None] {
        let mut run = match keys {
            Some(n) => Run::keyed(1, n),
            None => Run::new(1),
        };
        run.invoke(msg(0, 0), 0, None).invoke(msg(0, 1), 0, None);
        let late = run.write(0, 5, 0, 0, &[(msg(0, 1), 0), (msg(0, 0), 0)]);
        run.ok(msg(0, 1), 0, 0, late).ok(msg(0, 0), 0, 0, late + 1);
        let results = run.check(&ALL);
        assert_eq!(found_kinds(&results), [Kind::Reorder]);
        let example = &results.anomalies.reorder.examples[0].detail;
        let expected = keys.map(|n| {
            let key = payload::key_of(msg(0, 0), n);
            payload::key_bytes(key).as_str().to_owned()
        });
        assert_eq!(example.key, expected);
        let json = serde_json::to_value(example).unwrap();
        assert_eq!(json.get("key").is_some(), keys.is_some());
    }
}

/// Producer 0 writes only without a PID (three records over two
/// partitions), 1 only with one, 2 both ways, 3 nothing.
fn pid_use() -> Run {
    let mut run = Run::new(2);
    let send = |run: &mut Run, partition, pid, m: MessageId| {
        run.invoke(m, 0, partition);
        let offset = run.write(partition, pid, 0, m.index as i32, &[(m, 0)]);
        run.ok(m, 0, partition, offset);
    };
    send(&mut run, 1, 9, msg(1, 0));
    send(&mut run, 0, -1, msg(0, 0));
    send(&mut run, 0, -1, msg(0, 1));
    send(&mut run, 1, -1, msg(0, 2));
    send(&mut run, 0, 6, msg(2, 0));
    send(&mut run, 1, -1, msg(2, 1));
    run
}

fn with(idempotence: Idempotence, guarantees: &[Guarantee]) -> Options {
    Options {
        idempotence,
        ..options(guarantees)
    }
}

/// Idempotence-off counts each producer that wrote without a PID once, when
/// the run asked for idempotence explicitly or left it to the library, and
/// breaks the verdict only through the guarantees it violates.
#[test]
fn idempotence_off_is_judged_against_what_was_asked() {
    let run = pid_use();
    for asked in [Idempotence::ExplicitTrue, Idempotence::LeftToLibrary] {
        let results = run.check_with(with(asked, &ALL));
        assert_eq!(found_kinds(&results), [Kind::IdempotenceOff], "{asked:?}");
        assert_eq!(
            results.violated,
            [Guarantee::NoDuplicates, Guarantee::Order]
        );
        let off: Vec<_> = results.anomalies.idempotence_off.examples.iter().collect();
        let facts: Vec<_> = off
            .iter()
            .map(|e| {
                (
                    e.detail.producer,
                    e.detail.partition,
                    e.detail.offset,
                    e.detail.records,
                )
            })
            .collect();
        assert_eq!(facts, [(0, 0, 0, 3), (2, 1, 2, 1)]);
        assert_eq!(off[0].detail.asked, asked);
        let no_loss = run.check_with(with(asked, &[Guarantee::NoLoss]));
        assert_eq!(no_loss.valid, Validity::Valid);
    }
    for asked in [Idempotence::ExplicitFalse, Idempotence::Unknown] {
        let results = run.check_with(with(asked, &ALL));
        assert_eq!(found_kinds(&results), vec![], "{asked:?}");
        assert_eq!(results.valid, Validity::Valid);
    }
}

/// Every producer the header lists is in `idempotence`, with what was asked
/// and what its records show.
#[test]
fn idempotence_in_effect_is_listed_per_producer() {
    let results = pid_use().check_with(with(Idempotence::LeftToLibrary, &ALL));
    let effects: Vec<InEffect> = results.idempotence.iter().map(|p| p.in_effect).collect();
    assert_eq!(effects.len(), common::PRODUCERS as usize);
    assert_eq!(
        effects[..4],
        [
            InEffect::No,
            InEffect::Yes,
            InEffect::Mixed,
            InEffect::NoRecords
        ]
    );
    let json = serde_json::to_value(&results.idempotence[2]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"producer": 2, "asked": "left-to-library", "in_effect": "mixed"})
    );
}
