//! Keeping a fault schedule on a real cluster, so that faults never collide
//! with recovery.
//!
//! A schedule is planned before the run, from the seed alone; the cluster then
//! takes its own time to recover from each fault (a killed broker restarts,
//! rejoins the quorum and catches its replicas up). A fault started before that
//! recovery is over aims at a cluster the plan did not mean (a leadership move
//! to a replica still out of the ISR, a kill of the only in-sync copy) and fails
//! or tests something else. So before each fault starts, the keeper waits for
//! the cluster to be whole again, at most [`WHOLE_WITHIN`], and every later
//! step moves back by the wait. A step that no longer fits in the time limit,
//! or an injection that fails twice (the second time against fresh metadata),
//! is reported as failed and its stop skipped; an undo that fails twice is
//! followed by a heal of everything. Nothing is silently skipped: every step
//! ends as [`Kept::Applied`] or [`Kept::Failed`], for the history.

use std::time::Duration;

use tokio::sync::Mutex;
use tracing::warn;

use crate::{Cluster, Fault, FaultEvent, Nemesis, Phase, Schedule, Step, StepAction};

/// The longest wait for the cluster to be whole before a fault starts.
pub const WHOLE_WITHIN: Duration = Duration::from_secs(120);
/// The longest wait for a heal of everything after an undo failed twice.
const HEAL_WITHIN: Duration = Duration::from_secs(120);

/// What became of one step of the schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// The fault started or stopped, or everything was healed.
    Applied(FaultEvent),
    /// The step could not be carried out, and why.
    Failed {
        fault: Option<Fault>,
        phase: Phase,
        error: String,
    },
}

/// A schedule being kept: which steps are left, how far they have moved back,
/// and which faults failed to start (their stops are skipped).
pub struct Keeper {
    steps: std::vec::IntoIter<Step>,
    time_limit: Duration,
    shift: Duration,
    not_started: Vec<Fault>,
}

impl Keeper {
    pub fn new(schedule: &Schedule) -> Keeper {
        Keeper {
            steps: schedule.steps.clone().into_iter(),
            time_limit: schedule.config.time_limit,
            shift: Duration::ZERO,
            not_started: Vec::new(),
        }
    }

    /// The next step and when it is due, counted from the workload's start:
    /// its planned time, moved back by every wait for the cluster so far, but
    /// never past the time limit (a start due later is reported then as not
    /// fitting).
    pub fn next_step(&mut self) -> Option<(Step, Duration)> {
        loop {
            let step = self.steps.next()?;
            // The stop of a fault that did not start is skipped, once: the same
            // kind may come up again later and start then.
            let skipped = (step.action == StepAction::Stop)
                .then(|| self.not_started.iter().position(|f| *f == step.fault))
                .flatten();
            match skipped {
                Some(i) => {
                    self.not_started.swap_remove(i);
                }
                None => return Some((step, (step.at + self.shift).min(self.time_limit))),
            }
        }
    }

    /// Carries out `step`.
    pub async fn keep<C: Cluster>(
        &mut self,
        step: &Step,
        nemesis: &Mutex<Nemesis<C>>,
    ) -> Vec<Kept> {
        match step.action {
            StepAction::Start => vec![self.start(step, nemesis).await],
            StepAction::Stop => stop(step.fault, nemesis).await,
        }
    }

    /// Waits for the cluster to be whole, then starts the fault if it still
    /// fits in the time limit, trying a failed injection once more.
    async fn start<C: Cluster>(&mut self, step: &Step, nemesis: &Mutex<Nemesis<C>>) -> Kept {
        let fault = step.fault;
        if let Some(no_room) = self.no_room(step) {
            return self.not_started(fault, no_room);
        }
        let mut nemesis = nemesis.lock().await;
        match nemesis.wait_whole(WHOLE_WITHIN).await {
            Ok(waited) => self.shift += waited,
            Err(e) => {
                self.shift += WHOLE_WITHIN;
                let error = format!(
                    "the cluster was not whole within {}s: {e:#}",
                    WHOLE_WITHIN.as_secs()
                );
                return self.not_started(fault, error);
            }
        }
        if let Some(no_room) = self.no_room(step) {
            return self.not_started(fault, no_room);
        }
        let first = match nemesis.start(fault).await {
            Ok(event) => return Kept::Applied(event),
            Err(e) => e,
        };
        warn!(%fault, "injection failed, trying once more: {first:#}");
        match nemesis.start(fault).await {
            Ok(event) => Kept::Applied(event),
            Err(e) => self.not_started(fault, format!("{e:#} (the first try: {first:#})")),
        }
    }

    /// Why the fault of `step` no longer fits before the time limit, if so.
    fn no_room(&self, step: &Step) -> Option<String> {
        (step.at + self.shift + step.fault.duration() > self.time_limit).then(|| {
            format!(
                "no room left in the time limit after waiting {:.1}s in all for the cluster to be whole",
                self.shift.as_secs_f64()
            )
        })
    }

    fn not_started(&mut self, fault: Fault, error: String) -> Kept {
        warn!(%fault, "not injected: {error}");
        self.not_started.push(fault);
        Kept::Failed {
            fault: Some(fault),
            phase: Phase::Start,
            error,
        }
    }
}

/// Undoes the fault, once more if that fails, and heals everything if it
/// fails again.
async fn stop<C: Cluster>(fault: Fault, nemesis: &Mutex<Nemesis<C>>) -> Vec<Kept> {
    let mut nemesis = nemesis.lock().await;
    let first = match nemesis.stop(fault).await {
        Ok(event) => return vec![Kept::Applied(event)],
        Err(e) => e,
    };
    warn!(%fault, "undo failed, trying once more: {first:#}");
    let second = match nemesis.stop(fault).await {
        Ok(event) => return vec![Kept::Applied(event)],
        Err(e) => e,
    };
    let failed = Kept::Failed {
        fault: Some(fault),
        phase: Phase::Stop,
        error: format!("{second:#} (the first try: {first:#}); everything was healed instead"),
    };
    // The heal ends this fault too: recorded as its stop, so that nothing
    // after it counts the fault as still active.
    let healed = match nemesis.heal_all(HEAL_WITHIN).await {
        Ok(event) => Kept::Applied(FaultEvent {
            fault: Some(fault),
            ..event
        }),
        Err(e) => Kept::Failed {
            fault: None,
            phase: Phase::Heal,
            error: format!("{e:#}"),
        },
    };
    vec![failed, healed]
}

#[cfg(test)]
mod tests {
    //! The keeper against a cluster played by a fake: how long it takes to be
    //! whole, and how often its injections and restarts fail.

    use std::{
        collections::VecDeque,
        sync::{
            atomic::{AtomicU32, Ordering},
            Mutex as StdMutex,
        },
    };

    use anyhow::{bail, Result};

    use super::*;
    use crate::{NodeId, ScheduleConfig};

    #[derive(Default)]
    struct Fake {
        /// How long each call of `wait_whole` takes, in turn (then none).
        recoveries: StdMutex<VecDeque<Duration>>,
        crash_failures: AtomicU32,
        restart_failures: AtomicU32,
    }

    fn fail_while(counter: &AtomicU32, what: &str) -> Result<()> {
        if counter.load(Ordering::SeqCst) > 0 {
            counter.fetch_sub(1, Ordering::SeqCst);
            bail!("{what} failed");
        }
        Ok(())
    }

    impl Cluster for Fake {
        fn nodes(&self) -> Vec<NodeId> {
            vec![1, 2, 3]
        }
        fn ip(&self, node: NodeId) -> String {
            format!("10.0.0.{node}")
        }
        fn client_ip(&self) -> String {
            "10.0.0.254".into()
        }
        fn partitions(&self) -> i32 {
            3
        }
        async fn exec(&self, _: NodeId, _: &[&str]) -> Result<String> {
            Ok(String::new())
        }
        async fn kill(&self, _: NodeId) -> Result<()> {
            Ok(())
        }
        async fn restart(&self, _: NodeId) -> Result<()> {
            fail_while(&self.restart_failures, "restart")
        }
        async fn pause(&self, _: NodeId) -> Result<()> {
            Ok(())
        }
        async fn resume(&self, _: NodeId) -> Result<()> {
            Ok(())
        }
        async fn is_up(&self, _: NodeId) -> Result<bool> {
            Ok(true)
        }
        async fn leader(&self, partition: i32) -> Result<NodeId> {
            Ok(partition % 3 + 1)
        }
        async fn in_sync(&self, _: i32) -> Result<Vec<NodeId>> {
            Ok(vec![1, 2, 3])
        }
        async fn controller(&self) -> Result<NodeId> {
            Ok(1)
        }
        async fn transfer_leadership(&self, _: i32, _: NodeId) -> Result<()> {
            Ok(())
        }
        async fn crash_client(&self) -> Result<String> {
            fail_while(&self.crash_failures, "the producer's restart")?;
            Ok("producer 0".into())
        }
        async fn start_zombie(&self) -> Result<crate::Zombie> {
            bail!("this cluster runs no transactional producers")
        }
        async fn coordinators(&self, _: crate::Coordinator) -> Result<Vec<(String, NodeId)>> {
            bail!("this cluster runs no transactional producers")
        }
        async fn pause_client(&self) -> Result<String> {
            bail!("this cluster runs no pipeline")
        }
        async fn resume_client(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn wait_whole(&self, timeout: Duration) -> Result<()> {
            let took = self
                .recoveries
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_default();
            tokio::time::sleep(took.min(timeout)).await;
            if took > timeout {
                bail!("not whole");
            }
            Ok(())
        }
    }

    /// A schedule of the given faults, each right after the one before, with
    /// `gap` between them, starting at `gap`.
    fn schedule(faults: &[Fault], gap: Duration, time_limit: Duration) -> Schedule {
        let mut steps = Vec::new();
        let mut at = gap;
        for &fault in faults {
            steps.push(Step {
                at,
                action: StepAction::Start,
                fault,
            });
            at += fault.duration();
            steps.push(Step {
                at,
                action: StepAction::Stop,
                fault,
            });
            at += gap;
        }
        Schedule {
            config: ScheduleConfig {
                faults: faults.to_vec(),
                seed: 0,
                time_limit,
                quiet: gap,
            },
            steps,
        }
    }

    /// Keeps the whole schedule; every step's due time and what became of it.
    async fn keep_all(fake: Fake, schedule: &Schedule) -> Vec<(Duration, StepAction, Vec<Kept>)> {
        let nemesis = Mutex::new(Nemesis::new(std::sync::Arc::new(fake), 1));
        let mut keeper = Keeper::new(schedule);
        let mut kept = Vec::new();
        while let Some((step, due)) = keeper.next_step() {
            kept.push((due, step.action, keeper.keep(&step, &nemesis).await));
        }
        kept
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn error(kept: &Kept) -> &str {
        match kept {
            Kept::Failed { error, .. } => error,
            Kept::Applied(event) => panic!("applied: {event:?}"),
        }
    }

    fn failed_phases(kept: &[Kept]) -> Vec<Phase> {
        kept.iter()
            .filter_map(|k| match k {
                Kept::Failed { phase, .. } => Some(*phase),
                Kept::Applied(_) => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_waits_for_a_whole_cluster_and_later_steps_move_back() {
        let fake = Fake::default();
        // Whole at once for the first fault, 8 s of recovery before the second.
        *fake.recoveries.lock().unwrap() = VecDeque::from([secs(0), secs(8)]);
        let plan = schedule(&[Fault::KillRandom, Fault::ClientCrash], secs(5), secs(60));
        let kept = keep_all(fake, &plan).await;
        let due: Vec<u64> = kept.iter().map(|(d, ..)| d.as_secs()).collect();
        // Planned 5, 15, 20, 25: the second start waits 8 s, its stop follows.
        assert_eq!(due, [5, 15, 20, 33]);
        assert!(
            kept.iter().all(|(.., k)| failed_phases(k).is_empty()),
            "{kept:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_injection_is_tried_twice_then_reported_and_its_stop_skipped() {
        let fake = Fake::default();
        fake.crash_failures.store(1, Ordering::SeqCst);
        let plan = schedule(&[Fault::ClientCrash], secs(5), secs(60));
        let kept = keep_all(fake, &plan).await;
        assert_eq!(kept.len(), 2, "a failed first try is tried again: {kept:?}");
        assert!(matches!(kept[0].2[..], [Kept::Applied(_)]));

        let fake = Fake::default();
        fake.crash_failures.store(2, Ordering::SeqCst);
        let plan = schedule(
            &[Fault::ClientCrash, Fault::KillRandom, Fault::ClientCrash],
            secs(5),
            secs(60),
        );
        let kept = keep_all(fake, &plan).await;
        let actions: Vec<StepAction> = kept.iter().map(|(_, a, _)| *a).collect();
        assert_eq!(
            actions,
            [
                StepAction::Start,
                StepAction::Start,
                StepAction::Stop,
                StepAction::Start,
                StepAction::Stop
            ],
            "the failed fault's stop is skipped, and only that one"
        );
        assert!(matches!(kept[3].2[..], [Kept::Applied(_)]), "{kept:?}");
        let Kept::Failed {
            fault,
            phase,
            error,
        } = &kept[0].2[0]
        else {
            panic!("{kept:?}");
        };
        assert_eq!((*fault, *phase), (Some(Fault::ClientCrash), Phase::Start));
        assert!(error.contains("the first try"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_with_no_room_left_after_the_wait_is_reported() {
        let fake = Fake::default();
        *fake.recoveries.lock().unwrap() = VecDeque::from([secs(0), secs(40)]);
        // Planned: kill 5-15, kill 20-30, of a 40 s run; the second waits 40 s.
        let plan = schedule(&[Fault::KillRandom, Fault::KillLeader], secs(5), secs(40));
        let kept = keep_all(fake, &plan).await;
        assert_eq!(kept.len(), 3, "{kept:?}");
        let error = error(&kept[2].2[0]);
        assert!(error.contains("no room left"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_start_pushed_past_the_time_limit_is_reported_at_the_limit_without_waiting() {
        let fake = Fake::default();
        // The third start, planned at 35 s, is pushed to 79 s of a 75 s run.
        *fake.recoveries.lock().unwrap() = VecDeque::from([secs(0), secs(44), secs(1000)]);
        let plan = schedule(
            &[Fault::KillRandom, Fault::KillLeader, Fault::KillController],
            secs(5),
            secs(75),
        );
        let kept = keep_all(fake, &plan).await;
        let due: Vec<u64> = kept.iter().map(|(d, ..)| d.as_secs()).collect();
        assert_eq!(due, [5, 15, 20, 74, 75], "{kept:?}");
        assert_eq!(failed_phases(&kept[4].2), [Phase::Start]);
        let error = error(&kept[4].2[0]);
        assert!(error.contains("after waiting 44.0s"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_undo_that_fails_twice_heals_everything() {
        let fake = Fake::default();
        fake.restart_failures.store(2, Ordering::SeqCst);
        let plan = schedule(&[Fault::KillRandom], secs(5), secs(60));
        let kept = keep_all(fake, &plan).await;
        let stop = &kept[1].2;
        assert_eq!(failed_phases(stop), [Phase::Stop], "{stop:?}");
        assert!(
            matches!(&stop[1], Kept::Applied(e) if e.phase == Phase::Heal && e.fault == Some(Fault::KillRandom)),
            "{stop:?}"
        );
    }
}
