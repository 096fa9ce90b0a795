//! A pipeline run's own part of the phases: the output topic, the
//! processors of the library under test, their end, and the reads of the
//! output and of the group's offsets.
//!
//! The producers of a pipeline run are its feeder (eoscheck's own
//! transactional producers filling the input topic, aborting some
//! transactions on purpose); what the run tests is the processors. So the
//! quiet phase stops the feeder first, lets its transactions settle, then
//! gives the processors time to catch up with the input before closing
//! them (caught up: the group's offsets have reached the end of the
//! committed input), and only then closes the history: every processor
//! event is in it.
//! The output's transactions are waited out like the input's before the
//! output is read, and the group's committed offsets are read last, once
//! no processor can commit any more.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use checker::{
    consumed::ConsumedPartition,
    group::GroupOffsets,
    history::PipelineHeader,
    ids::{Offset, Partition},
};
use tracing::{info, warn};

use super::config::RunConfig;
use crate::{
    clients::{Installed, ProcessorCommand, ProcessorSpec},
    cluster::{consumer, final_read, Cluster},
    recording::Recorder,
    run_dir::RunDir,
    workload::{session_settings, Processors},
};

/// How long the processors get to catch up with the input once the feeder
/// has stopped: longer than a crashed exactly-once processor's transaction
/// can hold its partitions' committed offsets unstable (its timeout, 30 s),
/// which stalls whoever takes them over.
const DRAIN_BOUND: Duration = Duration::from_secs(90);
/// How often the group's offsets are asked while the processors catch up.
const DRAIN_POLL: Duration = Duration::from_secs(1);
/// How long each processor gets to end its transaction and close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The output topic of a pipeline whose input is `input`.
pub(super) fn output_topic(input: &str) -> String {
    format!("{input}-out")
}

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
    /// configuration.
    pub async fn set_up(
        cluster: &Cluster,
        input: &str,
        config: &RunConfig,
        run: &str,
        installed: Option<Installed>,
    ) -> Result<PipelineStage> {
        let (processors, processing) = config.pipeline().context("not a pipeline run")?;
        let command =
            ProcessorCommand::of(installed.as_ref()).context("finding eoscheck's own binary")?;
        let output = output_topic(input);
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
            mutation: config.mutation,
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

    /// The processors caught up with the input (within a bound) and closed.
    /// Caught up: the group's committed offset of every input partition has
    /// reached the offset after its last committed record, as a
    /// `read_committed` consumer reads the input once the feeder has
    /// stopped and its transactions have settled.
    pub async fn finish(&self, processors: Processors, cluster: &Cluster, partitions: i32) {
        let started = tokio::time::Instant::now();
        let caught_up = match self.input_ends(cluster, partitions).await {
            Ok(ends) => self.reach(cluster, partitions, &ends, started).await,
            Err(e) => {
                warn!(
                    "the input's end could not be read ({e:#}); the processors get {}s",
                    DRAIN_BOUND.as_secs()
                );
                tokio::time::sleep_until(started + DRAIN_BOUND).await;
                false
            }
        };
        if caught_up {
            info!(
                "the processors caught up in {:.1}s",
                started.elapsed().as_secs_f64()
            );
        } else {
            warn!(
                "the processors had not caught up with the input after {}s; what they left is unprocessed",
                DRAIN_BOUND.as_secs()
            );
        }
        processors.close(CLOSE_TIMEOUT).await;
    }

    /// Per input partition, the offset after its last committed record
    /// (its log start when it has none).
    async fn input_ends(
        &self,
        cluster: &Cluster,
        partitions: i32,
    ) -> Result<BTreeMap<Partition, Offset>> {
        let (bootstrap, input) = (cluster.bootstrap_servers(), self.spec.input.clone());
        let read =
            tokio::task::spawn_blocking(move || consumer::read(&bootstrap, &input, partitions));
        let consumed = read.await??;
        let end = |p: &ConsumedPartition| p.delivered.last().map_or(p.from, |r| r.1);
        Ok(consumed
            .partitions
            .iter()
            .map(|p| (p.partition, end(p)))
            .collect())
    }

    /// Waits until the group's offsets reach `ends`, at most until
    /// [`DRAIN_BOUND`] after `started`; says whether they did.
    async fn reach(
        &self,
        cluster: &Cluster,
        partitions: i32,
        ends: &BTreeMap<Partition, Offset>,
        started: tokio::time::Instant,
    ) -> bool {
        loop {
            if let Ok(group) = self.group_offsets(cluster, partitions).await {
                let short =
                    |(p, end): (&Partition, &Offset)| group.offsets.get(p).is_none_or(|o| o < end);
                if !ends.iter().any(short) {
                    return true;
                }
            }
            if started.elapsed() >= DRAIN_BOUND {
                return false;
            }
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }

    /// The group's committed offsets now (OffsetFetch).
    async fn group_offsets(&self, cluster: &Cluster, partitions: i32) -> Result<GroupOffsets> {
        let (bootstrap, group, input) = (
            cluster.bootstrap_servers(),
            self.spec.group.clone(),
            self.spec.input.clone(),
        );
        tokio::task::spawn_blocking(move || {
            consumer::group_offsets(&bootstrap, &group, &input, partitions)
        })
        .await?
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
        let manifest = final_read::read_topic(cluster, output, partitions, &into)
            .await?
            .manifest;
        if !manifest.complete {
            warn!("the final read of the output did not complete for every partition");
        }
        let read = self.group_offsets(cluster, partitions).await;
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
