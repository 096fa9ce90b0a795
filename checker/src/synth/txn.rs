//! The transactional producer of a synthetic run: transactions over one or
//! two partitions as format 6 records them (begin, sends, end, answer), the
//! markers each partition gets, and the transactional anomalies planted by
//! choosing what the client is told and what the markers say apart.

use super::{Completion, Fate, Injection, Planted, Simulation, Step, TIMEOUT};
use crate::anomaly::DuplicateCause;
use crate::history::{Event, TxnAction};
use crate::ids::{Attempt, MessageId, Offset, Partition, Producer};

/// The `transactional.id` of the run's transactional producer.
const TRANSACTIONAL_ID: &str = "eoscheck-synth";
const FENCED: &str = "Broker: Producer fenced (PRODUCER_FENCED)";

/// How the client's call ending a transaction was answered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Ok,
    Unknown,
    Fenced,
}

/// One transaction to simulate: what the application asks, what it is
/// told, and what each partition's marker says (committed or not).
#[derive(Clone, Copy)]
struct Shape {
    end: TxnAction,
    answer: Answer,
    markers: [bool; 2],
}

impl Shape {
    /// A transaction that ends as asked.
    fn clean(commit: bool) -> Shape {
        Shape {
            end: if commit {
                TxnAction::Commit
            } else {
                TxnAction::Abort
            },
            answer: Answer::Ok,
            markers: [commit; 2],
        }
    }
}

/// One partition's share of a transaction's sends.
#[derive(Clone, Copy)]
struct Part {
    partition: Partition,
    first: MessageId,
    count: u32,
    attempt: Attempt,
    offset: Offset,
}

impl Simulation<'_> {
    /// The transactional producer `t` initialises with its id.
    pub(super) fn init_transactions(&mut self, t: Producer) {
        self.init(t);
    }

    fn init(&mut self, producer: Producer) {
        let time = self.tick();
        self.steps.push(Step::Event(Event::TxnInit {
            time,
            producer,
            transactional_id: TRANSACTIONAL_ID.into(),
        }));
    }

    /// A clean transaction: committed or aborted as the application asks.
    pub(super) fn transaction(&mut self, p: Producer, q: Partition, k: u32, commit: bool) {
        self.simulate(p, q, k, Shape::clean(commit), &[]);
    }

    /// Plants one of the transactional kinds on a transaction of `k`
    /// messages (at least 2, so that it can spread over two partitions).
    pub(super) fn break_transaction(
        &mut self,
        injection: Injection,
        p: Producer,
        q: Partition,
        k: u32,
    ) -> Planted {
        let commit = |answer, markers| Shape {
            end: TxnAction::Commit,
            answer,
            markers,
        };
        let shape = match injection {
            Injection::TornTransaction => commit(Answer::Unknown, [true, false]),
            Injection::CommitLost => commit(Answer::Ok, [false, false]),
            Injection::AbortCommitted => Shape {
                end: TxnAction::Abort,
                answer: Answer::Ok,
                markers: [true, true],
            },
            _ => {
                let fencer = self.fencers.end;
                self.fencers.end += 1;
                self.init(fencer);
                commit(Answer::Fenced, [true, true])
            }
        };
        let parts = self.simulate(p, q, k.max(2), shape, &[]);
        if injection == Injection::ZombieWrite {
            // The fenced instance's successor takes the id back.
            self.init(self.config.producers);
        }
        planted(&parts, 1)
    }

    /// An aborted transaction whose first record the consumer delivers.
    pub(super) fn read_aborted(&mut self, p: Producer, q: Partition, k: u32) -> Planted {
        let parts = self.simulate(p, q, k, Shape::clean(false), &[]);
        self.consumer.deliver(parts[0].partition, parts[0].offset);
        planted(&parts, 1)
    }

    /// A message committed twice. `txn-resend`: the commit of the first
    /// transaction ends unknown, and the application sends its messages
    /// again in the next. `txn-retry`: the first commits, and its batch is
    /// written again into the next.
    pub(super) fn duplicate_in_transaction(
        &mut self,
        cause: DuplicateCause,
        p: Producer,
        q: Partition,
        k: u32,
    ) -> Planted {
        let first = match cause {
            DuplicateCause::TxnResend => Shape {
                answer: Answer::Unknown,
                ..Shape::clean(true)
            },
            _ => Shape::clean(true),
        };
        let parts = self.simulate(p, q, k, first, &[]);
        let again: Vec<Part> = parts
            .iter()
            .map(|part| Part {
                attempt: part.attempt + u32::from(cause == DuplicateCause::TxnResend),
                ..*part
            })
            .collect();
        self.simulate(p, q, 1, Shape::clean(true), &again);
        planted(&parts, parts.iter().map(|p| p.count).sum())
    }

    /// Runs one transaction of the transactional producer: its `k` new
    /// messages spread over partition `q` and the next, the `again` parts
    /// written into it too (invoked only if they are the application's
    /// resends), a batch of producer `p` in between, then the end call, its
    /// answer, and a marker on each partition. Returns its new parts.
    fn simulate(
        &mut self,
        p: Producer,
        q: Partition,
        k: u32,
        shape: Shape,
        again: &[Part],
    ) -> Vec<Part> {
        let t = self.config.producers;
        let txn = self.next_txn;
        self.next_txn += 1;
        let time = self.tick();
        let producer = t;
        self.steps.push(Step::Event(Event::TxnBegin {
            time,
            producer,
            txn,
        }));
        let parts = self.write_parts(t, q, k);
        for part in again {
            let offset = self.write_next(
                t,
                part.partition,
                part.first,
                part.count,
                part.attempt,
                true,
            );
            if part.attempt > 0 {
                let acked = Completion::acked(offset);
                self.record(
                    t,
                    part.partition,
                    part.first.index,
                    part.count,
                    part.attempt,
                    acked,
                );
            }
        }
        self.send(p, q, 1, Fate::Acked);
        self.end(txn, shape);
        let touched = parts.iter().chain(again).map(|p| p.partition);
        let mut marked = Vec::new();
        for (i, partition) in touched.enumerate() {
            if !marked.contains(&partition) {
                marked.push(partition);
                self.mark(partition, shape.markers[i.min(1)]);
            }
        }
        parts
    }

    /// `k` new messages of `t`, over `q` and the next partition when there
    /// are two, each part written and acknowledged.
    fn write_parts(&mut self, t: Producer, q: Partition, k: u32) -> Vec<Part> {
        let partitions = self.config.partitions as Partition;
        let split = if partitions > 1 && k > 1 {
            k.div_ceil(2)
        } else {
            k
        };
        let shares = [(q, split), ((q + 1) % partitions, k - split)];
        let mut parts = Vec::new();
        for (partition, count) in shares.into_iter().filter(|(_, n)| *n > 0) {
            let first = self.invoke(t, partition, count);
            let offset = self.write_next(t, partition, first, count, 0, true);
            self.record(
                t,
                partition,
                first.index,
                count,
                0,
                Completion::acked(offset),
            );
            parts.push(Part {
                partition,
                first,
                count,
                attempt: 0,
                offset,
            });
        }
        parts
    }

    /// The end call of `txn` and its answer.
    fn end(&mut self, txn: crate::ids::Txn, shape: Shape) {
        let (producer, end) = (self.config.producers, shape.end);
        let time = self.tick();
        self.steps.push(Step::Event(Event::TxnEnd {
            time,
            producer,
            txn,
            end,
        }));
        let time = self.tick();
        let answer = match shape.answer {
            Answer::Ok => Event::TxnOk {
                time,
                producer,
                txn,
                end,
            },
            Answer::Unknown => Event::TxnInfo {
                time,
                producer,
                txn,
                end,
                error: TIMEOUT.into(),
            },
            Answer::Fenced => Event::TxnFail {
                time,
                producer,
                txn,
                end,
                error: FENCED.into(),
                definite: false,
            },
        };
        self.steps.push(Step::Event(answer));
    }

    /// A COMMIT (or ABORT) marker of the transactional producer on `q`.
    fn mark(&mut self, q: Partition, commit: bool) {
        let producer = &self.producers[self.config.producers as usize];
        let (pid, epoch) = (producer.pid, producer.epoch);
        let at = self.ends[q as usize];
        super::encode_marker(&mut self.logs[q as usize], at, pid, epoch, commit);
        self.ends[q as usize] += 1;
        self.consumer.mark(q, commit);
    }
}

/// Where a planted transaction is: its first message and record.
fn planted(parts: &[Part], count: u32) -> Planted {
    Planted::at(parts[0].first, Some(parts[0].offset), count)
}
