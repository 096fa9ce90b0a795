//! A pipeline run's own part of the phases: the output topic, the
//! processors of the library under test, their end, and the reads of the
//! output and of the group's offsets.
//!
//! The producers of a pipeline run are its feeder (eoscheck's own
//! transactional producers filling the input topic, aborting some
//! transactions on purpose); what the run tests is the processors. So the
//! quiet phase stops the feeder first, lets its transactions settle, then
//! gives the processors time to catch up with the input before closing
//! them, and only then closes the history: every processor event is in it.
//! The output's transactions are waited out like the input's before the
//! output is read, and the group's committed offsets are read last, once
//! no processor can commit any more.

use std::{sync::Arc, time::Duration};

use anyhow::{Context, Result};
use checker::history::PipelineHeader;
use tracing::warn;

use super::config::RunConfig;
use crate::{
    clients::{Installed, ProcessorCommand, ProcessorSpec},
    cluster::{consumer, final_read, Cluster},
    failure::Failure,
    recording::Recorder,
    run_dir::RunDir,
    workload::{session_settings, Processors},
};

/// How long the processors get to catch up with the input once the feeder
/// has stopped.
const DRAIN_BOUND: Duration = Duration::from_secs(90);
/// How long each processor gets to end its transaction and close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a pipeline run sets up besides the producers' topic.
pub(super) struct PipelineStage {
    command: ProcessorCommand,
    spec: ProcessorSpec,
    processors: u32,
    /// The processors' transaction timeout (exactly-once): what a crashed
    /// one left open is aborted by then.
    transaction_timeout: Option<Duration>,
}

impl PipelineStage {
    /// The output topic created beside `input`, and every processor's
    /// configuration. The library must have a processor (checked with the
    /// flags, before anything slow).
    pub async fn set_up(
        cluster: &Cluster,
        input: &str,
        config: &RunConfig,
        run: &str,
        installed: Option<Installed>,
    ) -> Result<PipelineStage> {
        let (processors, processing) = config.pipeline().context("not a pipeline run")?;
        let command = ProcessorCommand::of(installed.as_ref())
            .ok_or_else(|| Failure::usage(format!("{} has no processor", config.client)))?;
        let output = format!("{input}-out");
        cluster.create_topic(&output, config.partitions).await?;
        let producer = config.producer().of_run(run);
        let spec = ProcessorSpec {
            bootstrap: cluster.bootstrap_servers(),
            input: input.to_owned(),
            output,
            group: format!("eoscheck-{run}"),
            processing,
            config: producer.instance(None).given(),
            tuning: producer.tuning(),
            consumer: session_settings(),
            transactional_ids: (0..processors)
                .filter_map(|p| producer.transactional_id(p))
                .collect(),
        };
        Ok(PipelineStage {
            command,
            spec,
            processors,
            transaction_timeout: producer.transaction_timeout(),
        })
    }

    /// What the history's header says of the pipeline.
    pub fn header(&self) -> PipelineHeader {
        PipelineHeader {
            output: self.spec.output.clone(),
            processors: self.processors,
        }
    }

    /// The processors' consumer group.
    pub fn group(&self) -> &str {
        &self.spec.group
    }

    /// The slots' `transactional.id`s, for the coordinator faults.
    pub fn transactional_ids(&self) -> Vec<String> {
        self.spec.transactional_ids.clone()
    }

    /// Every processor started, each logging into the run's `drivers/`.
    pub async fn start(&self, recorder: Arc<Recorder>, dir: &RunDir) -> Processors {
        Processors::start(
            self.command.clone(),
            self.spec.clone(),
            self.processors,
            recorder,
            dir.join("drivers"),
        )
        .await
    }

    /// The processors caught up (within a bound) and closed.
    pub async fn finish(processors: Processors) {
        if !processors.drain(DRAIN_BOUND).await {
            warn!(
                "the processors had not caught up with the input after {}s; what they left is unprocessed",
                DRAIN_BOUND.as_secs()
            );
        }
        processors.close(CLOSE_TIMEOUT).await;
    }

    /// The output topic read whole into `output/` once its transactions
    /// have ended, then the group's offsets into `group.json`. Returns why
    /// the offsets could not be read, for run.json.
    pub async fn read(
        &self,
        cluster: &Arc<Cluster>,
        partitions: i32,
        dir: &RunDir,
    ) -> Result<Option<String>> {
        let output = &self.spec.output;
        if let Some(timeout) = self.transaction_timeout {
            if !final_read::settle_transactions(cluster, output, partitions, timeout).await {
                warn!(
                    "a transaction of the output was still open past its timeout when it was read"
                );
            }
        }
        let into = dir.join("output");
        let manifest = final_read::read_topic(cluster, output, partitions, &into).await?;
        if !manifest.complete {
            warn!("the final read of the output did not complete for every partition");
        }
        let (bootstrap, group, input) = (
            cluster.bootstrap_servers(),
            self.spec.group.clone(),
            self.spec.input.clone(),
        );
        let read = tokio::task::spawn_blocking(move || {
            consumer::group_offsets(&bootstrap, &group, &input, partitions)
        })
        .await?;
        let written = read.and_then(|offsets| {
            let path = dir.join(checker::group::FILE);
            let text = serde_json::to_string_pretty(&offsets)?;
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
        });
        Ok(written.err().map(|e| {
            warn!("the group's offsets could not be read: {e:#}");
            format!("{e:#}")
        }))
    }
}
