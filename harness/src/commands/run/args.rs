//! The flags of `eoscheck run`, and the workload and fault flags it shares with
//! `eoscheck compare`, each checked before anything slow starts.

use std::path::PathBuf;

use anyhow::Result;
use checker::Guarantee;
use nemesis::Fault;

use super::config::{RunConfig, QUIET};
use crate::{
    clients::{self, ClientSpec, Preset, Resolved},
    commands::images::ImageArgs,
    failure::Failure,
};

#[derive(clap::Args)]
pub struct Args {
    /// Producer configuration and its promise: idempotent, idempotent-inflight-1,
    /// at-least-once, at-least-once-ordered, at-most-once, inflight-6, app-resend.
    #[arg(long, default_value = "idempotent")]
    preset: String,
    /// The client library under test, NAME[@VERSION]: rdkafka (in process), java,
    /// franz-go, sarama, confluent-kafka-python, kafka-python, aiokafka, kafkajs,
    /// confluent-kafka-javascript. Without a version the newest release is used.
    #[arg(long, default_value = "rdkafka")]
    client: String,
    /// Judge against these guarantees instead of the preset's promise
    /// (no-loss, no-duplicates, order, exactly-once, at-least-once, at-most-once).
    #[arg(long)]
    guarantee: Option<String>,
    /// Print the resolved configuration and fault schedule, and start nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

/// What `run` and `compare` share: the workload, the faults and the cluster.
#[derive(clap::Args)]
pub struct WorkloadArgs {
    /// Faults to inject: a comma-separated list of names, `all` or `none`.
    #[arg(long, default_value = "all")]
    nemesis: String,
    /// Seconds of workload (faults included).
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// Messages per second over all producers; 0 sends as fast as possible.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    #[arg(long, default_value_t = 2)]
    producers: u32,
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Bytes per message value.
    #[arg(long, default_value_t = 100)]
    message_size: usize,
    /// Seed of the fault schedule and its targets (random when not given).
    #[arg(long)]
    seed: Option<u64>,
    /// The runs folder; this run goes to DIR/<id>/.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    #[command(flatten)]
    image: ImageArgs,
}

impl Args {
    /// Every flag checked before anything slow starts.
    pub fn config(&self) -> Result<RunConfig> {
        let preset: Preset = self.preset.parse().map_err(Failure::usage)?;
        let client: ClientSpec = self.client.parse().map_err(Failure::usage)?;
        let mut config = self.workload.config(preset, clients::resolve(&client)?)?;
        if let Some(list) = &self.guarantee {
            config.guarantees = parse_guarantees(list)?;
        }
        Ok(config)
    }
}

/// `--guarantee LIST`, a usage error when it names no guarantee eoscheck knows.
pub fn parse_guarantees(list: &str) -> Result<Vec<Guarantee>> {
    Guarantee::parse_list(list).map_err(|e| Failure::usage(format!("--guarantee: {e}")))
}

impl WorkloadArgs {
    /// The run `preset` × `client` would be with these flags.
    pub fn config(&self, preset: Preset, client: Resolved) -> Result<RunConfig> {
        let faults = Fault::parse_list(&self.nemesis).map_err(|e| Failure::usage(e.to_string()))?;
        self.check_counts()?;
        let config = RunConfig {
            preset,
            client,
            guarantees: preset.guarantees(),
            faults,
            time_limit: std::time::Duration::from_secs(self.time_limit),
            rate: self.rate,
            producers: self.producers,
            partitions: self.partitions,
            message_size: self.message_size,
            seed: self.seed.unwrap_or_else(rand::random),
            image: self.image.broker_image()?,
        };
        check_room_for_faults(&config, self.time_limit)?;
        Ok(config)
    }

    fn check_counts(&self) -> Result<()> {
        for (flag, value) in [
            ("--time-limit", self.time_limit),
            ("--producers", self.producers.into()),
            ("--partitions", self.partitions.max(0) as u64),
        ] {
            if value == 0 {
                return Err(Failure::usage(format!("{flag} must be at least 1")));
            }
        }
        if self.message_size < 32 {
            return Err(Failure::usage(
                "--message-size must be at least 32 bytes (the message id lives in the value)",
            ));
        }
        Ok(())
    }
}

/// Faults asked for but none fits the time limit would be a run that silently
/// tests nothing of what was asked.
fn check_room_for_faults(config: &RunConfig, time_limit: u64) -> Result<()> {
    let Some(shortest) = config.faults.iter().map(|f| f.duration()).min() else {
        return Ok(());
    };
    if !config.schedule().steps.is_empty() {
        return Ok(());
    }
    let quiet = QUIET.mul_f64(1.5);
    let needed = (shortest + quiet).as_secs() + 1;
    Err(Failure::usage(format!(
        "--time-limit {time_limit} leaves no room for the faults asked for (the shortest lasts {}s, after up to {}s of quiet); use --time-limit {needed} or more, or --nemesis none",
        shortest.as_secs(),
        quiet.as_secs()
    )))
}
