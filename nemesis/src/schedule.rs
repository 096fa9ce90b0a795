//! Seeded fault schedules: the same seed and configuration give the same sequence
//! of faults at the same times, so a red run can be replayed, and a comparison
//! across clients puts every client under the same faults.

use std::{fmt, time::Duration};

use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::Fault;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleConfig {
    pub faults: Vec<Fault>,
    pub seed: u64,
    /// How long the workload runs; every fault stops before it ends.
    #[serde(with = "secs")]
    pub time_limit: Duration,
    /// The mean quiet time between two faults (each is drawn from half to 1.5 times it).
    #[serde(with = "secs")]
    pub quiet: Duration,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub config: ScheduleConfig,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// When, counted from the start of the workload.
    #[serde(with = "secs")]
    pub at: Duration,
    pub action: StepAction,
    pub fault: Fault,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepAction {
    Start,
    Stop,
}

impl Schedule {
    /// One fault at a time, quiet periods between them, the kinds drawn from a
    /// shuffled bag so that every listed kind comes up before any comes twice.
    /// After each fault the cluster gets its kind's recovery time before the
    /// quiet period counts, so that the next fault finds it whole, on time.
    /// Near the end, a kind too long for the time left is passed over for one
    /// that fits.
    pub fn generate(config: &ScheduleConfig) -> Schedule {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut steps = Vec::new();
        let mut bag: Vec<Fault> = Vec::new();
        let mut t = jittered(config.quiet, &mut rng);
        while !config.faults.is_empty() {
            if bag.is_empty() {
                bag = config.faults.clone();
                bag.shuffle(&mut rng);
            }
            let fault = bag.pop().expect("refilled above");
            let end = t + fault.duration();
            if end > config.time_limit {
                // A shorter kind may still fit in the time left.
                if config
                    .faults
                    .iter()
                    .all(|f| t + f.duration() > config.time_limit)
                {
                    break;
                }
                continue;
            }
            steps.push(Step {
                at: t,
                action: StepAction::Start,
                fault,
            });
            steps.push(Step {
                at: end,
                action: StepAction::Stop,
                fault,
            });
            t = end + fault.recovery() + jittered(config.quiet, &mut rng);
        }
        Schedule {
            config: config.clone(),
            steps,
        }
    }
}

/// Whole milliseconds, so a schedule read back from run.json is the same schedule.
fn jittered(mean: Duration, rng: &mut impl Rng) -> Duration {
    let ms = mean.as_millis() as f64 * rng.random_range(0.5..1.5);
    Duration::from_millis(ms.round() as u64)
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return writeln!(f, "  no faults");
        }
        for step in &self.steps {
            let action = match step.action {
                StepAction::Start => "start",
                StepAction::Stop => "stop ",
            };
            writeln!(
                f,
                "  {:>7.1}s  {action}  {}",
                step.at.as_secs_f64(),
                step.fault
            )?;
        }
        Ok(())
    }
}

/// Durations as seconds (a float) in run.json, readable by people and scripts.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_millis() as f64 / 1000.0)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(serde::de::Error::custom(format!(
                "{secs} is not a duration in seconds"
            )));
        }
        Ok(Duration::from_millis((secs * 1000.0).round() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(seed: u64, faults: &[Fault], limit: u64) -> ScheduleConfig {
        ScheduleConfig {
            faults: faults.to_vec(),
            seed,
            time_limit: Duration::from_secs(limit),
            quiet: Duration::from_secs(5),
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_others_differ() {
        let a = Schedule::generate(&config(7, &Fault::ALL, 300));
        let b = Schedule::generate(&config(7, &Fault::ALL, 300));
        assert_eq!(a, b);
        let differing = (0..20)
            .filter(|seed| Schedule::generate(&config(*seed, &Fault::ALL, 300)).steps != a.steps)
            .count();
        assert_eq!(differing, 19, "every other seed gives another schedule");
    }

    #[test]
    fn faults_do_not_overlap_and_all_stop_within_the_time_limit() {
        for seed in 0..50 {
            let schedule = Schedule::generate(&config(seed, &Fault::ALL, 120));
            assert!(!schedule.steps.is_empty());
            for pair in schedule.steps.chunks(2) {
                assert_eq!(pair[0].action, StepAction::Start);
                assert_eq!(pair[1].action, StepAction::Stop);
                assert_eq!(pair[0].fault, pair[1].fault);
                assert_eq!(pair[1].at - pair[0].at, pair[0].fault.duration());
                assert!(pair[1].at <= Duration::from_secs(120));
            }
            for w in schedule.steps.windows(2) {
                assert!(w[0].at < w[1].at, "seed {seed}: steps in time order");
            }
            // A stop, then the next start: the cluster's recovery, then a quiet.
            for w in schedule.steps[1..].chunks(2).filter(|w| w.len() == 2) {
                let free = w[1].at - w[0].at;
                let least = w[0].fault.recovery() + Duration::from_millis(2_500);
                assert!(free >= least, "seed {seed}: {free:?} after {}", w[0].fault);
            }
        }
    }

    #[test]
    fn every_kind_comes_up_before_any_repeats() {
        let schedule = Schedule::generate(&config(3, &Fault::ALL, 3600));
        let starts: Vec<Fault> = schedule
            .steps
            .iter()
            .filter(|s| s.action == StepAction::Start)
            .map(|s| s.fault)
            .collect();
        let mut first: Vec<Fault> = starts[..Fault::ALL.len()].to_vec();
        first.sort();
        assert_eq!(first, Fault::ALL.to_vec());
    }

    /// The shortest kind fits whenever the time limit holds it after the longest
    /// first quiet, whichever kind the bag offers first (`eoscheck run` promises
    /// that much in its usage error).
    #[test]
    fn a_fault_that_fits_is_scheduled_even_when_a_longer_one_comes_up_first() {
        let shortest = Fault::ALL.iter().map(|f| f.duration()).min().unwrap();
        let limit = shortest + Duration::from_secs(5).mul_f64(1.5);
        for seed in 0..50 {
            let mut config = config(seed, &Fault::ALL, 0);
            config.time_limit = limit;
            let schedule = Schedule::generate(&config);
            assert_eq!(schedule.steps.len(), 2, "seed {seed}: {schedule}");
            assert_eq!(schedule.steps[0].fault.duration(), shortest);
        }
    }

    #[test]
    fn no_faults_means_an_empty_schedule() {
        assert!(Schedule::generate(&config(1, &[], 60)).steps.is_empty());
    }

    #[test]
    fn schedules_round_trip_through_json() {
        let schedule = Schedule::generate(&config(11, &[Fault::AckLoss, Fault::KillLeader], 90));
        let json = serde_json::to_string(&schedule).unwrap();
        assert!(
            json.contains("\"ack-loss\"") || json.contains("\"kill-leader\""),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), schedule);
    }
}
