//! Transactions judged by hand-built runs: the cases the synthetic runs do
//! not plant (a hanging segment, a loss inside a committed transaction, a
//! restarted instance fencing its predecessor, a short history) and the
//! history contradictions that are errors.

mod common;

use checker::anomaly::{Fate, TxnOutcome};
use checker::history::{Event, TxnAction};
use checker::ids::{MessageId, Partition, Producer, Txn};
use checker::{payload, Checker, Guarantee, Kind, Validity};
use common::{found_kinds, msg, options, Run};

const ALL: [Guarantee; 4] = Guarantee::ALL;
const PID: i64 = 77;

fn init(run: &mut Run, time: u64, producer: Producer) {
    run.event(Event::TxnInit {
        time,
        producer,
        transactional_id: "tid".into(),
    });
}

fn begin(run: &mut Run, time: u64, txn: Txn) {
    run.event(Event::TxnBegin {
        time,
        producer: 9,
        txn,
    });
}

/// The application asks to end `txn`, and is answered ok (`answer` None),
/// definitely failed (`Some(true)`) or unknown (`Some(false)`).
fn end(run: &mut Run, time: u64, txn: Txn, end: TxnAction, answer: Option<bool>) {
    let producer = 9;
    run.event(Event::TxnEnd {
        time,
        producer,
        txn,
        end,
    });
    let time = time + 1;
    run.event(match answer {
        None => Event::TxnOk {
            time,
            producer,
            txn,
            end,
        },
        Some(true) => Event::TxnFail {
            time,
            producer,
            txn,
            end,
            error: "abortable".into(),
            definite: true,
        },
        Some(false) => Event::TxnInfo {
            time,
            producer,
            txn,
            end,
            error: "Local: Timed out".into(),
        },
    });
}

/// Producer 9's messages `indexes`, invoked for `partition`, written there
/// transactionally at sequence `base` and acknowledged.
fn send(run: &mut Run, partition: Partition, base: i32, indexes: std::ops::Range<u64>) {
    let values: Vec<Vec<u8>> = indexes
        .clone()
        .map(|i| payload::encode(msg(9, i), 0, 20))
        .collect();
    for i in indexes.clone() {
        run.invoke(msg(9, i), 0, partition);
    }
    let first = run.write_values(partition, PID, 0, base, true, values);
    for (k, i) in indexes.enumerate() {
        run.ok(msg(9, i), 0, partition, first + k as i64);
    }
}

fn first_message(results: &checker::Results, kind: Kind) -> Option<MessageId> {
    let a = &results.anomalies;
    let story = match kind {
        Kind::CommitLost => &a.commit_lost.examples[0].detail.0,
        Kind::TornTransaction => &a.torn_transaction.examples[0].detail.0,
        Kind::AbortCommitted => &a.abort_committed.examples[0].detail.0,
        _ => &a.zombie_write.examples[0].detail.story,
    };
    story.messages.first().map(|m| m.message)
}

#[test]
fn a_segment_left_without_a_marker_in_a_complete_read_hangs() {
    let mut run = Run::new(2);
    init(&mut run, 1, 9);
    begin(&mut run, 2, 0);
    send(&mut run, 0, 0, 0..2);
    send(&mut run, 1, 0, 2..4);
    end(&mut run, 10, 0, TxnAction::Commit, None);
    run.mark(0, PID, 0, true);
    let results = run.check(&ALL);
    // Told committed, half of it without a marker: its commit did not take.
    assert_eq!(found_kinds(&results), vec![Kind::CommitLost]);
    assert_eq!(results.valid, Validity::Invalid);
    let hanging = &results.findings.hanging_transactions;
    assert_eq!(hanging.len(), 1);
    assert_eq!(
        (hanging[0].part.partition, hanging[0].part.first_offset),
        (1, 0)
    );
    assert_eq!(hanging[0].part.fate, Fate::NoMarker);
    assert_eq!(hanging[0].transactions, vec![(9, 0)]);
    assert!(
        results
            .unknown_reasons
            .iter()
            .any(|r| r.contains("no COMMIT or ABORT marker")),
        "{:?}",
        results.unknown_reasons
    );
}

#[test]
fn an_absent_send_of_a_committed_transaction_is_lost_and_its_aborted_one_commit_lost() {
    let mut run = Run::new(3);
    init(&mut run, 1, 9);
    begin(&mut run, 2, 0);
    send(&mut run, 0, 0, 0..1);
    send(&mut run, 1, 0, 1..2);
    // Message 2 is acknowledged at an offset where nothing lands.
    run.invoke(msg(9, 2), 0, 2).ok(msg(9, 2), 0, 2, 0);
    end(&mut run, 10, 0, TxnAction::Commit, None);
    run.mark(0, PID, 0, true);
    run.mark(1, PID, 0, false);
    let results = run.check(&ALL);
    assert_eq!(
        found_kinds(&results),
        vec![Kind::Lost, Kind::CommitLost, Kind::TornTransaction]
    );
    assert_eq!(results.anomalies.lost.count, 1);
    assert_eq!(
        results.anomalies.lost.examples[0].detail.send.message,
        msg(9, 2)
    );
    let story = &results.anomalies.commit_lost.examples[0].detail.0;
    assert_eq!(
        (story.sends, story.committed, story.aborted, story.absent),
        (3, 1, 1, 1)
    );
    assert_eq!(story.outcome, TxnOutcome::Committed);
    let fates: Vec<Option<Fate>> = story.messages.iter().map(|m| m.fate).collect();
    assert_eq!(fates, [Some(Fate::Committed), Some(Fate::Aborted), None]);
}

#[test]
fn the_acked_sends_of_an_aborted_transaction_are_not_lost() {
    let mut run = Run::new(2);
    init(&mut run, 1, 9);
    begin(&mut run, 2, 0);
    send(&mut run, 0, 0, 0..2);
    run.invoke(msg(9, 2), 0, 1).ok(msg(9, 2), 0, 1, 5);
    end(&mut run, 10, 0, TxnAction::Abort, None);
    run.mark(0, PID, 0, false);
    run.mark(1, PID, 0, false);
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![]);
    assert_eq!(results.valid, Validity::Valid);
    let stats = results.transactions.unwrap();
    assert_eq!((stats.begun, stats.aborted), (1, 1));
}

#[test]
fn an_unknown_commit_may_go_either_way_but_not_both() {
    let mut run = Run::new(2);
    init(&mut run, 1, 9);
    for (txn, commit) in [(0, true), (1, false)] {
        let first = txn as u64 * 4;
        begin(&mut run, 2 + first, txn);
        send(&mut run, 0, first as i32 / 2, first..first + 2);
        send(&mut run, 1, first as i32 / 2, first + 2..first + 4);
        end(&mut run, 3 + first, txn, TxnAction::Commit, Some(false));
        run.mark(0, PID, 0, commit);
        run.mark(1, PID, 0, commit);
    }
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![]);
    let stats = results.transactions.clone().unwrap();
    assert_eq!(
        (
            stats.unknown,
            stats.unknown_committed,
            stats.unknown_aborted
        ),
        (2, 1, 1)
    );
    // The same, torn: one partition committed, the other aborted.
    let mut run = Run::new(2);
    init(&mut run, 1, 9);
    begin(&mut run, 2, 0);
    send(&mut run, 0, 0, 0..2);
    send(&mut run, 1, 0, 2..4);
    end(&mut run, 3, 0, TxnAction::Commit, Some(false));
    run.mark(0, PID, 0, true);
    run.mark(1, PID, 0, false);
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![Kind::TornTransaction]);
    assert_eq!(results.violated, vec![Guarantee::Atomicity]);
    assert_eq!(
        first_message(&results, Kind::TornTransaction),
        Some(msg(9, 0))
    );
}

#[test]
fn a_definitely_failed_commit_that_committed_is_abort_committed() {
    let mut run = Run::new(1);
    init(&mut run, 1, 9);
    begin(&mut run, 2, 0);
    send(&mut run, 0, 0, 0..2);
    end(&mut run, 3, 0, TxnAction::Commit, Some(true));
    end(&mut run, 5, 0, TxnAction::Abort, None);
    run.mark(0, PID, 0, true);
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![Kind::AbortCommitted]);
    let story = &results.anomalies.abort_committed.examples[0].detail.0;
    assert_eq!(
        story.outcome,
        TxnOutcome::CommitFailed {
            error: "abortable".into()
        }
    );
}

/// The workload restarts an instance under the same producer number and
/// `transactional.id`: a commit asked before the new init may land, one
/// asked after it may not.
#[test]
fn a_restarted_instance_fences_its_predecessor() {
    let mut run = Run::new(1);
    init(&mut run, 1, 9);
    begin(&mut run, 2, 0);
    send(&mut run, 0, 0, 0..2);
    end(&mut run, 3, 0, TxnAction::Commit, Some(false));
    init(&mut run, 4, 9);
    run.mark(0, PID, 0, true);
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![]);

    let mut run = Run::new(1);
    init(&mut run, 1, 9);
    begin(&mut run, 2, 0);
    send(&mut run, 0, 0, 0..2);
    init(&mut run, 3, 4);
    end(&mut run, 5, 0, TxnAction::Commit, Some(false));
    run.mark(0, PID, 0, true);
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![Kind::ZombieWrite]);
    let zombie = &results.anomalies.zombie_write.examples[0].detail;
    assert_eq!((zombie.fenced_by, zombie.fenced_at), (4, 3));
    assert_eq!(zombie.story.transactional_id.as_deref(), Some("tid"));
}

#[test]
fn a_transaction_a_short_history_never_saw_end_is_not_judged_aborted() {
    let mut run = Run::new(1);
    init(&mut run, 1, 9);
    begin(&mut run, 2, 0);
    send(&mut run, 0, 0, 0..2);
    run.mark(0, PID, 0, true);
    // No end line: the commit may have been asked after the cut.
    let mut checker = Checker::new(options(&ALL));
    for e in &run.events {
        checker.observe(e).unwrap();
    }
    let results = run.read_log(checker);
    assert_eq!(found_kinds(&results), vec![]);
    assert_eq!(results.valid, Validity::Unknown);
    // With the end line, it was never asked to commit, and committed.
    assert_eq!(found_kinds(&run.check(&ALL)), vec![Kind::AbortCommitted]);
}

#[test]
fn contradicting_transaction_lines_are_errors() {
    let header = Event::Header {
        format: checker::history::FORMAT,
        topic: "t".into(),
        producers: Some(10),
        keys: None,
        pipeline: None,
    };
    let cases: [(&[Event], &str); 3] = [
        (
            &[
                Event::TxnBegin {
                    time: 1,
                    producer: 1,
                    txn: 0,
                },
                Event::TxnBegin {
                    time: 2,
                    producer: 1,
                    txn: 1,
                },
            ],
            "while transaction 0 was still open",
        ),
        (
            &[Event::TxnOk {
                time: 1,
                producer: 1,
                txn: 3,
                end: TxnAction::Commit,
            }],
            "never begun",
        ),
        (
            &[
                Event::TxnBegin {
                    time: 1,
                    producer: 1,
                    txn: 0,
                },
                Event::TxnOk {
                    time: 2,
                    producer: 1,
                    txn: 0,
                    end: TxnAction::Commit,
                },
            ],
            "never asked to commit",
        ),
    ];
    for (events, says) in cases {
        let mut checker = Checker::new(options(&ALL));
        checker.observe(&header).unwrap();
        let error = events
            .iter()
            .map(|e| checker.observe(e))
            .find_map(Result::err)
            .expect("an error");
        assert!(error.contains(says), "{error}");
    }
}

/// The classic protocol marks at its records' epoch; KIP-890's one above,
/// the next transaction writing at the marker's epoch.
#[test]
fn marker_epochs_tell_the_transaction_protocol() {
    let mut run = Run::new(1);
    init(&mut run, 1, 9);
    for (txn, epoch) in [(0, 0), (1, 1)] {
        let index = u64::from(txn) * 2;
        begin(&mut run, 2 + index, txn);
        for i in index..index + 2 {
            run.invoke(msg(9, i), 0, 0);
        }
        let values = (index..index + 2)
            .map(|i| payload::encode(msg(9, i), 0, 20))
            .collect();
        let at = run.write_values(0, PID, epoch, 0, true, values);
        run.ok(msg(9, index), 0, 0, at)
            .ok(msg(9, index + 1), 0, 0, at + 1);
        end(&mut run, 3 + index, txn, TxnAction::Commit, None);
        run.mark(0, PID, epoch + 1, true);
    }
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![]);
    let stats = results.transactions.unwrap();
    assert_eq!(
        (stats.commits_at_data_epoch, stats.commits_above_data_epoch),
        (0, 2)
    );
    // Classic: the commit at its records' epoch; an abort that fences the
    // producer is one above, under either protocol, and does not count.
    let mut run = Run::new(1);
    init(&mut run, 1, 9);
    begin(&mut run, 2, 0);
    send(&mut run, 0, 0, 0..2);
    end(&mut run, 3, 0, TxnAction::Commit, None);
    run.mark(0, PID, 0, true);
    begin(&mut run, 5, 1);
    send(&mut run, 0, 2, 2..4);
    end(&mut run, 6, 1, TxnAction::Abort, None);
    run.mark(0, PID, 1, false);
    let stats = run.check(&ALL).transactions.unwrap();
    assert_eq!(
        (stats.commits_at_data_epoch, stats.commits_above_data_epoch),
        (1, 0)
    );
}

/// The application resends an unknown commit's message in its next
/// transaction; the first, aborted, was acknowledged where its record sits
/// under the ABORT marker: no mismatch, no duplicate, nothing lost.
#[test]
fn a_resend_after_an_aborted_unknown_commit_is_one_committed_copy() {
    let mut run = Run::new(1);
    init(&mut run, 1, 9);
    begin(&mut run, 2, 0);
    send(&mut run, 0, 0, 0..1);
    end(&mut run, 3, 0, TxnAction::Commit, Some(false));
    run.mark(0, PID, 0, false);
    init(&mut run, 5, 9);
    begin(&mut run, 6, 1);
    run.invoke(msg(9, 0), 1, 0);
    let values = vec![payload::encode(msg(9, 0), 1, 20)];
    let at = run.write_values(0, PID, 1, 0, true, values);
    run.ok(msg(9, 0), 1, 0, at);
    end(&mut run, 7, 1, TxnAction::Commit, None);
    run.mark(0, PID, 1, true);
    let results = run.check(&ALL);
    assert_eq!(found_kinds(&results), vec![]);
    assert_eq!(results.valid, Validity::Valid);
    let stats = results.transactions.unwrap();
    assert_eq!((stats.unknown, stats.unknown_aborted), (1, 1));
}

#[test]
fn a_consumer_read_that_failed_leaves_the_answer_unknown() {
    let mut run = Run::new(1);
    init(&mut run, 1, 9);
    begin(&mut run, 2, 0);
    send(&mut run, 0, 0, 0..3);
    end(&mut run, 10, 0, TxnAction::Commit, None);
    run.mark(0, PID, 0, true);
    assert_eq!(run.check(&ALL).valid, Validity::Valid);

    let mut checker = Checker::new(options(&ALL));
    for e in &run.closed() {
        checker.observe(e).unwrap();
    }
    checker.consumer_failed("Local: Broker transport failure".into());
    let results = run.read_log(checker);
    assert_eq!(results.valid, Validity::Unknown);
    assert_eq!(found_kinds(&results), vec![]);
    assert!(
        results.unknown_reasons[0].contains("Broker transport failure")
            && results.unknown_reasons[0].contains("was not seen"),
        "{:?}",
        results.unknown_reasons
    );
}
