//! The transactional application: each producer runs one transaction after
//! another at its share of the run's rate. A transaction is its begin, its
//! messages (spread over the partitions like the plain workload's, or by key),
//! and a commit, or an abort when the seed says the application aborts this
//! one on purpose. The history gets each step as it is asked for and
//! answered, so a send belongs to the transaction begun before it.
//!
//! What the application does with an answer ([`step`]): an abortable error
//! aborts the transaction and goes on; a retriable one makes the same call
//! again, a few times; when that never resolves, or the error is fatal, the
//! instance is replaced by a new one with the same producer number and
//! `transactional.id`, whose init fences the old one. A fenced producer stops
//! for good: its `transactional.id` now belongs to whoever fenced it. Under
//! `transactional-resend` the application does not ask a commit twice: one
//! whose first answer leaves it unknown is given up, the instance replaced,
//! and its messages sent again, as new attempts, first thing in the next
//! transaction.
//!
//! [`Zombies`] starts the `zombie` fault: a second instance with a
//! producer's `transactional.id` while that producer is held mid-transaction.

use std::{sync::Arc, time::Duration};

use anyhow::{bail, Context, Result};
use checker::{
    history::TxnAction,
    ids::{Producer, Txn},
    SendKey,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::oneshot;

use super::{
    sends::{first_send, not_sent, Hand, Pace, BUSY_RETRY},
    Producers, TxnSize,
};
use crate::clients::{Client, Refused, TxnAnswer};

/// How long one commit or abort call waits for its answer (a commit
/// first waits for the transaction's sends).
const END_BOUND: Duration = Duration::from_secs(10);
/// How many times the same call is made while its answer is retriable, so
/// about the transaction timeout in all before the producer is replaced.
const END_CALLS: u32 = 3;
/// How many times a replacement is tried when the new instance cannot start
/// (its init times out during a fault), a second apart.
const REPLACE_TRIES: u32 = 5;
/// How long a zombie waits for its victim to be mid-transaction.
const HOLD_WITHIN: Duration = Duration::from_secs(10);

/// How the producers run their transactions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transactions {
    pub size: TxnSize,
    /// The share of transactions the application aborts on purpose.
    pub abort_rate: f64,
    /// Whether a transaction whose commit's outcome stayed unknown is sent
    /// again (`transactional-resend`).
    pub resend: bool,
}

impl Transactions {
    pub const DEFAULT_ABORT_RATE: f64 = 0.1;
}

impl Default for Transactions {
    fn default() -> Self {
        Transactions {
            size: TxnSize::DEFAULT,
            abort_rate: Transactions::DEFAULT_ABORT_RATE,
            resend: false,
        }
    }
}

/// Each transaction's size and how the application means to end it, drawn
/// from the run's seed: one seed, the same transactions for every producer
/// of every run that has it.
struct TxnPlan {
    rng: ChaCha8Rng,
    transactions: Transactions,
}

impl TxnPlan {
    fn new(transactions: Transactions, seed: u64, producer: Producer) -> TxnPlan {
        let stream = u64::from(producer).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        TxnPlan {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7478_6e00 ^ stream),
            transactions,
        }
    }

    fn next(&mut self) -> (usize, TxnAction) {
        let size = self.transactions.size.draw(&mut self.rng);
        let end = if self.rng.random_bool(self.transactions.abort_rate) {
            TxnAction::Abort
        } else {
            TxnAction::Commit
        };
        (size, end)
    }
}

/// What the application does after the answer to a call ending a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The transaction ended as asked: on to the next.
    Done,
    /// It cannot commit: abort it.
    Abort,
    /// The outcome is not known yet: the same call again.
    Retry,
    /// This instance can do no more: a new one takes over.
    Replace,
    /// Fenced: the producer stops for good.
    Stop,
}

/// The application's policy, after the `calls`-th call asking to `end`. The
/// `transactional-resend` application (`resends`) does not ask twice: a
/// commit whose first answer leaves it unknown is given up, and its messages
/// sent again by a new instance, as an application that treats a timed-out
/// commit as failed does.
fn step(answer: &TxnAnswer, end: TxnAction, calls: u32, resends: bool) -> Step {
    let calls_allowed = match resends && end == TxnAction::Commit {
        true => 1,
        false => END_CALLS,
    };
    match answer {
        TxnAnswer::Ok => Step::Done,
        TxnAnswer::Abortable(_) if end == TxnAction::Commit => Step::Abort,
        TxnAnswer::Retriable(_) if calls < calls_allowed => Step::Retry,
        TxnAnswer::Fatal { fenced: true, .. } => Step::Stop,
        TxnAnswer::Abortable(_) | TxnAnswer::Retriable(_) | TxnAnswer::Fatal { .. } => {
            Step::Replace
        }
    }
}

/// How a transaction left its producer.
enum After {
    /// Ready for the next.
    Next,
    /// To be replaced; `unknown` holds the sends of a commit whose outcome
    /// was never learnt.
    Replace {
        unknown: Vec<SendKey>,
    },
    Stop,
}

/// A blocking call on `client`, off the async threads.
async fn blocking<T: Send + 'static>(
    client: &Arc<dyn Client>,
    call: impl FnOnce(&dyn Client) -> T + Send + 'static,
) -> T {
    let client = client.clone();
    tokio::task::spawn_blocking(move || call(&*client))
        .await
        .expect("a client call does not panic")
}

/// One producer's transactional application.
struct App {
    producers: Arc<Producers>,
    producer: Producer,
    plan: TxnPlan,
    pace: Pace,
    hand: Hand,
    /// Kept across replacements: a new instance continues the numbering.
    next_index: u64,
    next_txn: Txn,
    /// Sends to send again first thing in the next transaction.
    resend: Vec<SendKey>,
}

pub(super) async fn txn_loop(producers: Arc<Producers>, producer: Producer) {
    let config = &producers.config;
    let transactions = config.transactions.unwrap_or_default();
    let mut app = App {
        plan: TxnPlan::new(transactions, config.seed, producer),
        pace: Pace::new(config.rate, config.producers),
        hand: Hand::new(config.message_size, config.keys),
        producers: producers.clone(),
        producer,
        next_index: 0,
        next_txn: 0,
        resend: Vec::new(),
    };
    while !producers.stopping() {
        let Some(client) = app.slot().current() else {
            app.pace.tick().await;
            continue;
        };
        match app.transaction(&client).await {
            After::Next => {}
            After::Replace { unknown } => {
                if transactions.resend {
                    app.resend.extend(unknown);
                }
                app.replace(&client).await;
            }
            After::Stop => {
                app.retire(&client).await;
                break;
            }
        }
    }
}

impl App {
    fn slot(&self) -> &super::Slot {
        &self.producers.slots[self.producer as usize]
    }

    fn recorder(&self) -> &crate::recording::Recorder {
        &self.producers.sinks.recorder
    }

    /// One transaction, from waiting for its sends to be due to its end.
    async fn transaction(&mut self, client: &Arc<dyn Client>) -> After {
        let (size, end) = self.plan.next();
        while self.pace.due() < size as u64 {
            if self.producers.stopping() {
                return After::Next;
            }
            self.pace.tick().await;
        }
        let txn = self.next_txn;
        self.next_txn += 1;
        self.recorder().txn_begin(self.producer, txn);
        if let Err(answer) = blocking(client, |c| c.begin()).await {
            let error = format!("begin_transaction: {answer:?}");
            self.recorder().fatal(self.producer, error);
            return self.after(
                client,
                step(&answer, TxnAction::Abort, END_CALLS, false),
                Vec::new(),
            );
        }
        let sends = self.sends(size);
        self.recorder().invoke_all(&sends);
        for &send in &sends {
            self.hand_over(client, send).await;
        }
        self.pace.handed(size as u64);
        self.slot().hold.keep().await;
        self.end(client, txn, end, sends).await
    }

    /// The transaction's sends: what is to be sent again, then `size` new ones.
    fn sends(&mut self, size: usize) -> Vec<SendKey> {
        let config = &self.producers.config;
        let again = self.resend.drain(..).map(|s| SendKey {
            attempt: s.attempt + 1,
            ..s
        });
        let first = self.next_index;
        self.next_index += size as u64;
        let new = (first..self.next_index)
            .map(|i| first_send(self.producer, i, config.partitions, config.keys.is_some()));
        again.chain(new).collect()
    }

    /// Hands one send over, waiting while the client is busy; none to a
    /// client that crashed meanwhile.
    async fn hand_over(&mut self, client: &Arc<dyn Client>, send: SendKey) {
        loop {
            if !self.slot().holds(client) {
                return not_sent(&self.producers, send, "its producer crashed");
            }
            if let Ok(()) | Err(Refused::Rejected) = self.hand.send(&**client, send) {
                return;
            }
            if self.producers.stopping() {
                return not_sent(&self.producers, send, "the workload stopped");
            }
            tokio::time::sleep(BUSY_RETRY).await;
        }
    }

    /// Asks to end `txn` and acts on the answers until it is over.
    async fn end(
        &mut self,
        client: &Arc<dyn Client>,
        txn: Txn,
        mut end: TxnAction,
        sends: Vec<SendKey>,
    ) -> After {
        let mut calls = 0;
        loop {
            if !self.slot().holds(client) {
                // Crashed meanwhile: the transaction is abandoned, and its
                // successor's init ends it.
                return After::Next;
            }
            self.recorder().txn_end(self.producer, txn, end);
            let answer = blocking(client, move |c| c.end(end, END_BOUND)).await;
            answer.record(self.recorder(), self.producer, txn, end);
            calls += 1;
            match step(&answer, end, calls, self.plan.transactions.resend) {
                Step::Abort => (end, calls) = (TxnAction::Abort, 0),
                Step::Retry => {}
                next => {
                    let open = end == TxnAction::Commit;
                    let unknown = if open { sends } else { Vec::new() };
                    return self.after(client, next, unknown);
                }
            }
        }
    }

    /// What `step` means for the producer. A client that is no longer the
    /// producer's (a `client-crash` replaced it meanwhile) is left behind
    /// whatever it answered: its successor goes on.
    fn after(&self, client: &Arc<dyn Client>, step: Step, unknown: Vec<SendKey>) -> After {
        if !self.slot().holds(client) {
            return After::Next;
        }
        match step {
            Step::Replace => After::Replace { unknown },
            Step::Stop => After::Stop,
            Step::Done | Step::Abort | Step::Retry => After::Next,
        }
    }

    /// A new instance in place of `old`, tried again while it cannot start.
    async fn replace(&self, old: &Arc<dyn Client>) {
        for _ in 0..REPLACE_TRIES {
            let new = self.producers.restart(self.producer, Some(old)).await;
            if new.is_some() || self.producers.stopping() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// The producer stops for good: its client is closed and let go.
    async fn retire(&self, client: &Arc<dyn Client>) {
        let slot = self.slot();
        let mine = {
            let mut current = slot.client.lock().unwrap();
            let mine = current.as_ref().is_some_and(|c| Arc::ptr_eq(c, client));
            if mine {
                *current = None;
            }
            mine
        };
        if mine {
            blocking(client, |c| c.close(Duration::from_secs(1))).await;
        }
    }
}

/// A zombie's request to hold a producer mid-transaction: after its sends,
/// before it asks to end, until the zombie has started.
#[derive(Default)]
pub(super) struct Hold(std::sync::Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>);

impl Hold {
    /// Mid-transaction: when a zombie asks, says so and waits until it lets go.
    async fn keep(&self) {
        let asked = self.0.lock().unwrap().take();
        if let Some((held, resume)) = asked {
            let _ = held.send(());
            let _ = resume.await;
        }
    }

    /// Asks the producer to hold, and waits up to `within` for it to. Returns
    /// whether it holds; it goes on once the returned sender is dropped.
    async fn ask(&self, within: Duration) -> (bool, oneshot::Sender<()>) {
        let (held, is_held) = oneshot::channel();
        let (resume, resumed) = oneshot::channel();
        *self.0.lock().unwrap() = Some((held, resumed));
        let holds = matches!(tokio::time::timeout(within, is_held).await, Ok(Ok(())));
        if !holds {
            self.0.lock().unwrap().take();
        }
        (holds, resume)
    }
}

/// What starting a zombie did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZombieStarted {
    pub victim: Producer,
    pub newcomer: Producer,
    pub transactional_id: String,
    pub mid_transaction: bool,
}

/// Starts zombies of the workload's transactional producers, each under a
/// spare producer number.
#[derive(Clone)]
pub struct Zombies {
    producers: Arc<Producers>,
    /// The spare numbers not yet taken.
    spares: Arc<std::sync::Mutex<std::ops::Range<Producer>>>,
}

impl Zombies {
    pub(super) fn new(producers: Arc<Producers>) -> Zombies {
        let first = producers.config.producers;
        let spares = first..first + producers.config.spares;
        Zombies {
            producers,
            spares: Arc::new(std::sync::Mutex::new(spares)),
        }
    }

    /// The producers a zombie may fence now: transactional and running.
    pub fn candidates(&self) -> Vec<Producer> {
        super::running(&self.producers)
            .into_iter()
            .filter(|&p| {
                self.producers.slots[p as usize]
                    .transactional_id
                    .get()
                    .is_some()
            })
            .collect()
    }

    /// Starts a second instance of `victim`, with its `transactional.id`,
    /// under the next spare number, while `victim` is held mid-transaction
    /// (when it gets there within [`HOLD_WITHIN`]); the newcomer then runs
    /// transactions of its own.
    pub async fn start(&self, victim: Producer) -> Result<ZombieStarted> {
        let producers = &self.producers;
        let slot = producers
            .slots
            .get(victim as usize)
            .context("no such producer")?;
        let id = slot
            .transactional_id
            .get()
            .with_context(|| format!("producer {victim} is not transactional"))?
            .clone();
        let Some(newcomer) = self.spares.lock().unwrap().next() else {
            bail!("no producer number is left for a zombie: the run kept as many as its schedule starts");
        };
        let (held, resume) = slot.hold.ask(HOLD_WITHIN).await;
        let _ = producers.slots[newcomer as usize]
            .transactional_id
            .set(id.clone());
        let started = producers.restart(newcomer, None).await;
        drop(resume);
        if started.is_none() {
            bail!("producer {newcomer} with transactional.id {id} did not start (see its events in the history)");
        }
        producers.spawn(txn_loop(producers.clone(), newcomer));
        Ok(ZombieStarted {
            victim,
            newcomer,
            transactional_id: id,
            mid_transaction: held,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64, producer: Producer, abort_rate: f64) -> Vec<(usize, TxnAction)> {
        let transactions = Transactions {
            abort_rate,
            ..Transactions::default()
        };
        let mut plan = TxnPlan::new(transactions, seed, producer);
        (0..2000).map(|_| plan.next()).collect()
    }

    #[test]
    fn the_seed_decides_every_transactions_size_and_end() {
        assert_eq!(plan(7, 0, 0.1), plan(7, 0, 0.1));
        assert_ne!(plan(7, 0, 0.1), plan(8, 0, 0.1), "another seed");
        assert_ne!(plan(7, 0, 0.1), plan(7, 1, 0.1), "another producer");
        let aborts =
            |p: &[(usize, TxnAction)]| p.iter().filter(|(_, e)| *e == TxnAction::Abort).count();
        let ten_percent = aborts(&plan(7, 0, 0.1));
        assert!((150..=250).contains(&ten_percent), "{ten_percent} of 2000");
        assert_eq!(aborts(&plan(7, 0, 0.0)), 0);
        assert_eq!(aborts(&plan(7, 0, 1.0)), 2000);
        assert!(plan(7, 0, 0.1).iter().all(|(n, _)| (1..=10).contains(n)));
    }

    #[test]
    fn the_application_aborts_retries_replaces_or_stops_as_the_answer_says() {
        use TxnAction::{Abort, Commit};
        let abortable = TxnAnswer::Abortable("x".into());
        let retriable = TxnAnswer::Retriable("timed out".into());
        let fatal = |fenced| TxnAnswer::Fatal {
            error: "x".into(),
            fenced,
        };
        assert_eq!(step(&TxnAnswer::Ok, Commit, 1, false), Step::Done);
        assert_eq!(step(&abortable, Commit, 1, false), Step::Abort);
        assert_eq!(
            step(&abortable, Abort, 1, false),
            Step::Replace,
            "an abort that cannot abort"
        );
        assert_eq!(step(&retriable, Commit, 1, false), Step::Retry);
        assert_eq!(step(&retriable, Abort, END_CALLS - 1, false), Step::Retry);
        assert_eq!(step(&retriable, Commit, END_CALLS, false), Step::Replace);
        assert_eq!(step(&fatal(false), Commit, 1, false), Step::Replace);
        assert_eq!(step(&fatal(true), Commit, 1, false), Step::Stop);
        assert_eq!(step(&fatal(true), Abort, 1, false), Step::Stop);
        // The resending application gives a commit one call, an abort more.
        assert_eq!(step(&retriable, Commit, 1, true), Step::Replace);
        assert_eq!(step(&retriable, Abort, 1, true), Step::Retry);
    }

    #[tokio::test]
    async fn a_held_producer_waits_until_its_zombie_lets_go() {
        let hold = Arc::new(Hold::default());
        let (asked, _) = hold.ask(Duration::from_millis(20)).await;
        assert!(!asked, "nobody was mid-transaction to hold");
        hold.keep().await; // the request was taken back: no wait
        let producer = {
            let hold = hold.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                hold.keep().await;
            })
        };
        let (asked, resume) = hold.ask(Duration::from_secs(5)).await;
        assert!(asked);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!producer.is_finished(), "held until let go");
        drop(resume);
        producer.await.unwrap();
    }
}
