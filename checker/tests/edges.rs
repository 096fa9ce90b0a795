//! Edge cases the issue names, on hand-built runs, plus the error paths of a
//! bad history: clear errors naming the line, never a panic. (A bad log is
//! damage, in `damage.rs`.)

mod common;

use checker::anomaly::DuplicateCause;
use checker::history::{Event, NemesisPhase};
use checker::synth::{encode_marker, fault_event};
use checker::{payload, Asked, Checker, Guarantee, Kind, Results, Validity};
use common::{found_kinds, msg, options, Run, PRODUCERS};

const ALL: [Guarantee; 4] = Guarantee::ALL;

fn send(
    run: &mut Run,
    partition: i32,
    pid: i64,
    epoch: i16,
    seq: i32,
    m: checker::MessageId,
) -> i64 {
    run.invoke(m, 0, partition);
    let offset = run.write(partition, pid, epoch, seq, &[(m, 0)]);
    run.ok(m, 0, partition, offset);
    offset
}

#[test]
fn empty_partitions_are_clean() {
    let mut run = Run::new(3);
    send(&mut run, 1, 5, 0, 0, msg(0, 0));
    let results = run.check(&ALL);
    assert_eq!(
        results.valid,
        Validity::Valid,
        "{:?}",
        results.unknown_reasons
    );
    assert_eq!(
        results
            .stats
            .partitions
            .iter()
            .map(|p| p.records)
            .collect::<Vec<_>>(),
        vec![0, 1, 0]
    );
}

#[test]
fn a_producer_that_never_got_acks_is_judged_by_landing_only() {
    let mut run = Run::new(1);
    for i in 0..3 {
        run.invoke(msg(0, i), 0, 0);
    }
    run.write(0, 5, 0, 0, &[(msg(0, 0), 0)]);
    run.event(Event::Info {
        time: 0,
        message: msg(0, 0),
        attempt: 0,
        error: "timed out".into(),
    });
    run.event(Event::Fail {
        time: 0,
        message: msg(0, 1),
        attempt: 0,
        error: "timed out".into(),
        definite: false,
    });
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![]);
    assert_eq!(results.valid, Validity::Valid);
    let i = &results.stats.indeterminate;
    assert_eq!((i.landed, i.not_landed, i.undetermined), (1, 2, 0));
    assert_eq!(results.stats.sends.no_completion, 1);
}

#[test]
fn sequences_wrap_from_i32_max_to_zero() {
    let mut run = Run::new(1);
    // The read starts at offset 100, so the session may begin mid-way.
    run.entries[0].log_start_offset = 100;
    run.entries[0].high_watermark = 100;
    let messages: Vec<_> = (0..4).map(|i| (msg(0, i), 0)).collect();
    for (m, _) in &messages {
        run.invoke(*m, 0, 0);
    }
    // Wrap inside one batch, then continue in the next.
    run.write(0, 5, 0, i32::MAX - 1, &messages[..3]);
    run.write(0, 5, 0, 1, &messages[3..]);
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![]);
    let session = &results.stats.partitions[0].sessions[0];
    assert_eq!(
        (
            session.first_sequence,
            session.last_sequence,
            session.records
        ),
        (i32::MAX - 1, 1, 4)
    );
    // The same numbers from offset 0 would have to start at 0.
    run.entries[0].log_start_offset = 0;
    assert_eq!(found_kinds(&run.check(&ALL)), vec![Kind::SequenceGap]);
}

#[test]
fn an_epoch_bump_restarts_sequences_at_zero() {
    let mut run = Run::new(1);
    for i in 0..3 {
        send(&mut run, 0, 5, 0, i as i32, msg(0, i));
    }
    send(&mut run, 0, 5, 1, 0, msg(0, 3));
    send(&mut run, 0, 5, 1, 1, msg(0, 4));
    assert_eq!(run.check(&ALL).valid, Validity::Valid);
    // A new epoch that does not begin at 0 skipped sequences.
    send(&mut run, 0, 5, 2, 3, msg(0, 5));
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![Kind::SequenceGap]);
    let gap = &results.anomalies.sequence_gap.examples[0];
    assert_eq!(
        (
            gap.detail.0.epoch,
            gap.detail.0.previous,
            gap.detail.0.sequence
        ),
        (2, None, 3)
    );
    assert!(
        gap.explanation.contains("as the first record of its epoch"),
        "{}",
        gap.explanation
    );
}

#[test]
fn one_message_acked_twice_by_a_buggy_client() {
    let mut run = Run::new(1);
    let offset = send(&mut run, 0, 5, 0, 0, msg(0, 0));
    run.ok(msg(0, 0), 0, 0, offset);
    let results = run.check(&ALL);
    assert_eq!(results.valid, Validity::Valid);
    assert_eq!(results.stats.sends.repeated_completions, 1);
    // The second ack names another offset: that one does not hold it.
    run.ok(msg(0, 0), 0, 0, offset + 7);
    let results = run.check(&[Guarantee::NoDuplicates]);
    assert_eq!(found_kinds(&results), vec![Kind::OffsetMismatch]);
    assert_eq!(
        results.valid,
        Validity::Valid,
        "offset-mismatch breaks no-loss only"
    );
    assert_eq!(run.check(&[Guarantee::NoLoss]).valid, Validity::Invalid);
}

#[test]
fn an_ack_without_an_offset_is_checked_against_the_partition_only() {
    // librdkafka acks a retried batch that the broker reports as a duplicate with
    // offset -1001: the message is there, the client just was not told where.
    let mut run = Run::new(2);
    run.invoke(msg(0, 0), 0, 1);
    run.write(1, 5, 0, 0, &[(msg(0, 0), 0)]);
    run.ok(msg(0, 0), 0, 1, -1001);
    let results = run.check(&ALL);
    assert_eq!(
        results.valid,
        Validity::Valid,
        "{:?}",
        found_kinds(&results)
    );
    // Acknowledged for a partition that does not hold it: still a mismatch.
    run.ok(msg(0, 0), 0, 0, -1001);
    assert_eq!(found_kinds(&run.check(&ALL)), vec![Kind::OffsetMismatch]);
}

#[test]
fn retries_of_a_non_idempotent_producer_read_as_its_own_retry() {
    let mut run = Run::new(1);
    let offset = send(&mut run, 0, -1, -1, -1, msg(3, 0));
    run.write(0, -1, -1, -1, &[(msg(3, 0), 0)]);
    let results = run.check(&[Guarantee::NoLoss]);
    assert_eq!(found_kinds(&results), vec![Kind::Duplicate]);
    assert_eq!(
        results.valid,
        Validity::Valid,
        "at-least-once allows duplicates"
    );
    let example = &results.anomalies.duplicate.examples[0];
    assert_eq!(example.detail.cause, DuplicateCause::SamePidEpoch);
    assert_eq!(
        example
            .detail
            .copies
            .iter()
            .map(|c| (c.offset, c.sequence))
            .collect::<Vec<_>>(),
        vec![(offset, -1), (offset + 1, -1)]
    );
    assert_eq!(
        run.check(&[Guarantee::NoDuplicates]).valid,
        Validity::Invalid
    );
}

#[test]
fn an_incomplete_read_is_unknown_unless_something_provable_broke() {
    let mut run = Run::new(2);
    send(&mut run, 0, 5, 0, 0, msg(0, 0));
    run.invoke(msg(0, 1), 0, 1).ok(msg(0, 1), 0, 1, 0);
    run.entries[1].complete = false;
    let results = run.check(&ALL);
    assert_eq!(
        found_kinds(&results),
        vec![],
        "absence in an unfinished read proves no loss"
    );
    assert_eq!(results.valid, Validity::Unknown);
    assert_eq!(results.exit_code(), 2);
    assert!(
        results
            .unknown_reasons
            .iter()
            .any(|r| r.contains("partition 1 did not complete")),
        "{:?}",
        results.unknown_reasons
    );
    // A duplicate in what was read is provable all the same.
    run.write(0, 5, 0, 0, &[(msg(0, 0), 0)]);
    assert_eq!(run.check(&ALL).valid, Validity::Invalid);
}

/// A partition the manifest calls complete but whose batches stop short of
/// its high watermark was read only partly: an acknowledged message missing
/// there is not proven lost, and the verdict says why it is unknown.
#[test]
fn no_loss_is_judged_on_a_partition_read_short_of_its_high_watermark() {
    let mut run = Run::new(1);
    send(&mut run, 0, 5, 0, 0, msg(0, 0));
    run.invoke(msg(0, 1), 0, 0).ok(msg(0, 1), 0, 0, 1);
    run.entries[0].high_watermark = 2;
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![], "{:?}", results.anomalies);
    assert_eq!(results.valid, Validity::Unknown);
    assert!(
        results
            .unknown_reasons
            .iter()
            .any(|r| r.contains("read to offset 1 only, below its high watermark 2")),
        "{:?}",
        results.unknown_reasons
    );
}

#[test]
fn a_partition_sent_to_but_never_read_is_unknown() {
    let mut run = Run::new(1);
    send(&mut run, 0, 5, 0, 0, msg(0, 0));
    run.invoke(msg(0, 1), 0, 4);
    let results = run.check(&ALL);
    assert_eq!(results.valid, Validity::Unknown);
    assert!(
        results
            .unknown_reasons
            .iter()
            .any(|r| r.contains("partition 4")),
        "{:?}",
        results.unknown_reasons
    );
}

#[test]
fn aborted_and_undecided_transactions_are_not_messages() {
    let mut run = Run::new(1);
    let values = |i: u64| vec![payload::encode(msg(9, i), 0, 20)];
    for i in 0..3 {
        run.invoke(msg(9, i), 0, 0);
    }
    run.write_values(0, 77, 0, 0, true, values(0));
    let hw = run.entries[0].high_watermark;
    encode_marker(&mut run.logs[0], hw, 77, 0, false);
    run.entries[0].high_watermark += 1;
    run.event(Event::Fail {
        time: 0,
        message: msg(9, 0),
        attempt: 0,
        error: "aborted".into(),
        definite: true,
    });
    let committed = run.write_values(0, 77, 0, 1, true, values(1));
    let hw = run.entries[0].high_watermark;
    encode_marker(&mut run.logs[0], hw, 77, 0, true);
    run.entries[0].high_watermark += 1;
    run.ok(msg(9, 1), 0, 0, committed);
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![]);
    assert_eq!(results.valid, Validity::Valid);
    assert_eq!(
        (
            results.stats.aborted_records,
            results.stats.control_records,
            results.stats.records_read
        ),
        (1, 2, 1)
    );
    // Data with no marker yet is not judged as written, and says so; an
    // acknowledged send whose record waits for its marker is not lost.
    let undecided = run.write_values(0, 77, 0, 2, true, values(2));
    run.ok(msg(9, 2), 0, 0, undecided);
    let results = run.check(&ALL);
    assert_eq!(results.stats.undecided_records, 1);
    assert_eq!(found_kinds(&results), vec![], "{:?}", results.anomalies);
    assert_eq!(results.valid, Validity::Unknown);
}

/// A transaction with no marker in a read that stopped short may have its
/// marker beyond the read: the reason names its records and partitions. In a
/// complete read the marker is missing from the log, as the reason says.
#[test]
fn a_transaction_without_a_marker_in_a_short_read_is_named_with_its_partition() {
    let mut run = Run::new(2);
    let values = |i: u64| vec![payload::encode(msg(9, i), 0, 20)];
    // One record waits in partition 0, two in partition 1, read short.
    for (i, partition, sequence) in [(0, 0, 0), (1, 1, 0), (2, 1, 1)] {
        run.invoke(msg(9, i), 0, partition);
        let pid = 77 + i64::from(partition);
        run.write_values(partition, pid, 0, sequence, true, values(i));
    }
    run.entries[1].complete = false;
    let results = run.check(&ALL);
    assert_eq!(results.stats.undecided_records, 3);
    assert_eq!(found_kinds(&results), vec![], "{:?}", results.anomalies);
    assert_eq!(results.valid, Validity::Unknown);
    let reasons = &results.unknown_reasons;
    assert!(
        reasons
            .iter()
            .any(|r| r == "1 transactional records have no COMMIT or ABORT marker in the log"),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r
                .starts_with("2 transactional records in partitions not read to their end (1)")),
        "{reasons:?}"
    );
}

#[test]
fn a_resend_after_a_definite_failure_is_fine() {
    let mut run = Run::new(1);
    run.invoke(msg(0, 0), 0, 0);
    run.event(Event::Fail {
        time: 0,
        message: msg(0, 0),
        attempt: 0,
        error: "rejected".into(),
        definite: true,
    });
    run.invoke(msg(0, 0), 1, 0);
    let offset = run.write(0, 5, 0, 0, &[(msg(0, 0), 1)]);
    run.ok(msg(0, 0), 1, 0, offset);
    assert_eq!(found_kinds(&run.check(&ALL)), vec![]);
}

/// Three producers' sends with one of each client-visible fate: clean,
/// lost, duplicated by a resend, reordered, failed but present, never
/// completed; `index` numbers the messages.
fn every_fate(index: fn(u64) -> u64) -> Run {
    let mut run = Run::new(1);
    for producer in 0..3 {
        let m = |i| msg(producer, index(i));
        let pid = 10 + i64::from(producer);
        for i in 0..7 {
            run.invoke(m(i), 0, 0);
        }
        let clean = run.write(0, pid, 0, 0, &[(m(0), 0)]);
        run.ok(m(0), 0, 0, clean);
        run.ok(m(1), 0, 0, clean + 1);
        run.invoke(m(0), 1, 0);
        run.write(0, pid, 0, 1, &[(m(0), 1), (m(4), 0), (m(3), 0), (m(5), 0)]);
        run.event(Event::Fail {
            time: 0,
            message: m(5),
            attempt: 0,
            error: "rejected".into(),
            definite: true,
        });
    }
    run
}

/// Bounded by the data: a history naming huge, far-apart message indexes
/// (which the checker keeps sparsely) is judged exactly as its dense twin.
#[test]
fn sparse_indexes_are_judged_like_their_dense_twin() {
    let dense = every_fate(|i| i).check(&ALL);
    assert_eq!(
        found_kinds(&dense),
        vec![
            Kind::Lost,
            Kind::Duplicate,
            Kind::Reorder,
            Kind::FailedButPresent
        ]
    );
    let sparse: [fn(u64) -> u64; 3] = [
        |i| 1_048_000 + (i << 40),
        |i| u64::MAX - 6 + i,
        |i| if i < 3 { i } else { (i << 32) + 7 },
    ];
    for index in sparse {
        let results = every_fate(index).check(&ALL);
        assert_eq!(results.valid, dense.valid);
        assert_eq!(results.violated, dense.violated);
        assert_eq!(results.unknown_reasons, dense.unknown_reasons);
        for &kind in Kind::ALL {
            assert_eq!(
                results.anomalies.count(kind),
                dense.anomalies.count(kind),
                "{kind}"
            );
        }
        assert_eq!(
            serde_json::to_value(&results.stats).unwrap(),
            serde_json::to_value(&dense.stats).unwrap()
        );
    }
}

#[test]
fn results_json_has_the_documented_shape() {
    let mut run = Run::new(1);
    send(&mut run, 0, 5, 0, 0, msg(0, 0));
    run.invoke(msg(0, 1), 0, 0).ok(msg(0, 1), 0, 0, 1);
    let results = run.check(&[Guarantee::NoLoss]);
    let json = serde_json::to_value(&results).unwrap();
    assert_eq!(json["valid"], false);
    assert_eq!(json["violated"], serde_json::json!(["no-loss"]));
    let lost = &json["anomalies"]["lost"];
    assert_eq!(lost["count"], 1);
    assert!(lost["explanation"]
        .as_str()
        .unwrap()
        .starts_with("An acknowledged (ok) send"));
    assert_eq!(
        lost["examples"][0]["message"],
        serde_json::json!({"producer": 0, "index": 1})
    );
    assert_eq!(
        lost["examples"][0]["outcome"],
        serde_json::json!({"kind": "ok", "partition": 0, "offset": 1})
    );
    assert_eq!(json["anomalies"]["sequence-gap"]["count"], 0);
    let back: Results = serde_json::from_value(json).unwrap();
    assert_eq!(back, results);
    let unknown: Results = serde_json::from_str(
        &serde_json::to_string(&Results {
            valid: Validity::Unknown,
            ..back
        })
        .unwrap(),
    )
    .unwrap();
    assert_eq!(unknown.valid, Validity::Unknown);
}

#[test]
fn faults_active_at_send_time_are_in_examples() {
    let mut run = Run::new(1);
    run.event(Event::NemesisStart {
        time: 0,
        fault: "ack-loss".into(),
        targets: vec!["kafka-1".into()],
        detail: String::new(),
    });
    run.invoke(msg(0, 0), 0, 0).ok(msg(0, 0), 0, 0, 0);
    run.event(Event::NemesisStop {
        time: 0,
        fault: "ack-loss".into(),
        targets: vec!["kafka-1".into()],
        detail: String::new(),
    });
    let results = run.check(&ALL);
    let faults = &results.anomalies.lost.examples[0].detail.send.faults;
    assert_eq!(faults.len(), 1);
    assert_eq!(
        (faults[0].fault.as_str(), faults[0].targets.as_slice()),
        ("ack-loss", &["kafka-1".to_string()][..])
    );
}

/// A send exposed to a fault that began after its invoke and ended before its
/// ack names it (the kill made the anomaly); `tested` says which requested
/// kinds took effect and the rate achieved.
#[test]
fn examples_name_every_fault_a_send_went_through_and_tested_says_what_took_effect() {
    let kill = |start: bool| fault_event(start, 0, "kill-leader", "kafka-2");
    let mut run = Run::new(1);
    run.invoke(msg(0, 0), 0, 0)
        .event(kill(true))
        .event(kill(false))
        .ok(msg(0, 0), 0, 0, 0)
        .invoke(msg(0, 1), 0, 0)
        .ok(msg(0, 1), 0, 0, 1);
    let mut options = options(&ALL);
    options.asked = Some(Asked {
        faults: vec!["kill-leader".into(), "netem".into(), "ack-loss".into()],
        planned: vec!["kill-leader".into(), "netem".into()],
        rate: 10,
        seconds: 4.0,
    });
    let results = run.check_with(options);
    let faults = |i: usize| -> Vec<&str> {
        let send = &results.anomalies.lost.examples[i].detail.send;
        send.faults.iter().map(|f| f.fault.as_str()).collect()
    };
    assert_eq!(
        faults(0),
        ["kill-leader"],
        "invoked before the kill, acked after it"
    );
    assert!(faults(1).is_empty(), "invoked after the kill ended");
    let tested = &results.tested;
    assert_eq!(tested.faults_exercised, ["kill-leader"]);
    assert_eq!(
        tested.faults_not_exercised,
        ["netem"],
        "planned and not exercised; ack-loss was not planned"
    );
    assert_eq!(
        (tested.rate_asked, tested.rate_achieved),
        (Some(10.0), Some(0.5))
    );
    assert_eq!(
        results.valid,
        Validity::Invalid,
        "the verdict is the data's"
    );
}

/// A fault that could not be injected is a finding, not a reason for
/// `unknown`: the data still proves what happened. A heal that failed is a
/// reason: the final read may not show what the brokers kept.
#[test]
fn nemesis_failures_are_findings_and_a_failed_heal_is_unknown() {
    let fail = |phase| Event::NemesisFail {
        time: 7,
        fault: "leader-transfer".into(),
        phase,
        error: "preferred leader not available".into(),
    };
    let mut run = Run::new(1);
    run.event(fail(NemesisPhase::Start));
    send(&mut run, 0, 5, 0, 0, msg(0, 0));
    let results = run.check(&ALL);
    assert_eq!(
        results.valid,
        Validity::Valid,
        "{:?}",
        results.unknown_reasons
    );
    let noted = &results.findings.nemesis_failed;
    assert_eq!(noted.len(), 1);
    assert_eq!(
        (noted[0].fault.as_str(), noted[0].phase),
        ("leader-transfer", NemesisPhase::Start)
    );

    let mut run = Run::new(1);
    send(&mut run, 0, 5, 0, 0, msg(0, 0));
    run.event(fail(NemesisPhase::Heal));
    let results = run.check(&ALL);
    assert_eq!(results.valid, Validity::Unknown);
    assert!(
        results.unknown_reasons[0].contains("healing the cluster failed")
            && results.unknown_reasons[0].contains("preferred leader not available"),
        "{:?}",
        results.unknown_reasons
    );
}

#[test]
fn liveness_findings_are_reported_and_no_sends_is_unknown() {
    let mut run = Run::new(1);
    run.event(Event::ConfigRejected {
        time: 1,
        producer: 0,
        reason: "max.in.flight > 5".into(),
    });
    let results = run.check(&ALL);
    assert_eq!(
        results.findings.config_rejected[0].message,
        "max.in.flight > 5"
    );
    assert_eq!(results.valid, Validity::Unknown);
    assert!(results
        .unknown_reasons
        .iter()
        .any(|r| r.contains("no sends")));
}

fn history_text(events: &[Event]) -> String {
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect()
}

fn read(text: &str) -> Result<Checker, checker::HistoryError> {
    let mut checker = Checker::new(options(&ALL));
    checker.read_history(text).map(|()| checker)
}

#[test]
fn history_errors_name_the_line() {
    let mut run = Run::new(1);
    send(&mut run, 0, 5, 0, 0, msg(0, 0));
    let good = history_text(&run.events);
    assert!(read(&good).is_ok());

    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(2, "{\"type\":\"ok\",\"garbage\"");
    let err = read(&(lines.join("\n") + "\n")).err().unwrap();
    assert_eq!(err.line, 3);

    let header = format!("\"format\":{}", checker::history::FORMAT);
    let err = read(&good.replace(&header, "\"format\":9")).err().unwrap();
    assert_eq!(err.line, 1);
    assert!(
        err.problem.contains("format 9 is not supported"),
        "{}",
        err.problem
    );

    let orphan = history_text(&[
        run.events[0].clone(),
        Event::Ok {
            time: 0,
            message: msg(1, 1),
            attempt: 0,
            partition: 0,
            offset: 0,
        },
    ]);
    let err = read(&orphan).err().unwrap();
    assert_eq!(err.line, 2);
    assert!(err.problem.contains("never invoked"), "{}", err.problem);

    assert_eq!(read("").err().unwrap().line, 1);
}

/// Five messages of producer 0, each acknowledged where it sits in partition
/// 0, and the text of their closed history: the header, an invoke and an ok
/// per message, the end line.
fn five_sent() -> (Run, Vec<String>) {
    let mut run = Run::new(1);
    for i in 0..5 {
        send(&mut run, 0, 5, 0, i as i32, msg(0, i));
    }
    let lines = run
        .closed()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    (run, lines)
}

/// The first `lines` of a history, each with its newline, then `torn`, a line
/// cut off mid-write.
fn cut(history: &[String], lines: usize, torn: &str) -> String {
    history[..lines]
        .iter()
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        + torn
}

/// The run judged with the first `lines` of `history`, then `torn`.
fn judged(run: &Run, history: &[String], lines: usize, torn: &str) -> Results {
    run.read_log(read(&cut(history, lines, torn)).unwrap())
}

/// Phantoms, unrecorded records and the verdict.
fn outcome(results: &Results) -> (u64, u64, Validity) {
    let phantoms = results.anomalies.phantom.count;
    (phantoms, results.stats.unrecorded_records, results.valid)
}

/// A history cut short, at a line or mid-line, is unknown, not invalid: the
/// records of the sends it lost are unrecorded, not phantoms, and its
/// unanswered sends are not lost.
#[test]
fn a_history_cut_short_is_unknown_and_its_later_records_unrecorded() {
    let (run, history) = five_sent();
    let whole = judged(&run, &history, history.len(), "");
    let reasons = &whole.unknown_reasons;
    assert_eq!(outcome(&whole), (0, 0, Validity::Valid), "{reasons:?}");

    // Kept: the header, messages 0 and 1 with their acks, message 2's invoke.
    let ack_of_2 = &history[6];
    for (torn, says) in [
        ("", "has no end line"),
        (
            &ack_of_2[..ack_of_2.len() / 2],
            "ends in a partial line (ignored)",
        ),
    ] {
        let results = judged(&run, &history, 6, torn);
        assert_eq!(outcome(&results), (0, 2, Validity::Unknown), "{says}");
        assert_eq!(results.exit_code(), 2);
        assert_eq!(found_kinds(&results), vec![], "{says}");
        assert_eq!(results.stats.sends.no_completion, 1, "{says}");
        let reason = &results.unknown_reasons[0];
        assert!(reason.contains(says), "{reason}");
        assert!(
            reason.contains("1 sends have no answer") && reason.contains("2 records"),
            "{reason}"
        );
    }

    // A producer the header does not list is no cut's doing.
    let mut stranger = run;
    stranger.write(0, 6, 0, 0, &[(msg(PRODUCERS, 0), 0)]);
    let results = judged(&stranger, &history, 6, "");
    assert_eq!(outcome(&results), (1, 2, Validity::Invalid));
}

/// Formats 1 to 3 have no end line: a history of one is judged as it always
/// was, whole without one, and records it does not hold are phantoms.
#[test]
fn a_format_3_history_needs_no_end_line() {
    let (run, mut history) = five_sent();
    history[0] = r#"{"type":"header","format":3,"topic":"t"}"#.into();
    let whole = judged(&run, &history, history.len() - 1, "");
    assert_eq!(whole.valid, Validity::Valid, "{:?}", whole.unknown_reasons);
    let short = judged(&run, &history, 6, "");
    assert_eq!(outcome(&short), (2, 0, Validity::Invalid));
}

/// The end line is the last: an event after it, a second one, or a torn line
/// behind it is damage naming its line, as is a format 4 header that does
/// not list the producers.
#[test]
fn the_end_line_is_last() {
    let (_, history) = five_sent();
    let end = history.len();
    let after = cut(&history, end, &format!("{}\n", history[1]));
    let err = read(&after).err().unwrap();
    assert_eq!(err.line, end + 1);
    assert!(err.problem.contains("after the end line"), "{err}");
    let twice = cut(&history, end, &format!("{}\n", history[end - 1]));
    assert!(read(&twice)
        .err()
        .unwrap()
        .problem
        .contains("second end line"));
    assert_eq!(
        read(&cut(&history, end, "{\"type\":\"in"))
            .err()
            .unwrap()
            .line,
        end + 1
    );

    let mut unlisted = history;
    unlisted[0] = r#"{"type":"header","format":4,"topic":"t"}"#.into();
    let err = read(&cut(&unlisted, end, "")).err().unwrap();
    assert_eq!(err.line, 1);
    assert!(err.problem.contains("\"producers\""), "{err}");
}
