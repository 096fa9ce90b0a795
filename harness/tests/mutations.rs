//! The sensitivity of the pipeline checker on a real cluster: eoscheck's
//! own processor (rdkafka) makes one deliberate mistake per run
//! (`harness::clients::Mutation`, each the imitation of a bug real
//! consume-transform-produce code has), and the run must come out invalid
//! with the kind that mistake shows as. The property tests show the checker
//! finds a planted anomaly in a synthetic history; these show the anomaly
//! can be seen in what a real cluster, consumer group and processor leave
//! behind. All six share one cluster, each on topics of its own.

mod common;

use std::{sync::Arc, time::Duration};

use checker::{Kind, Validity};
use harness::{
    clients::{Mutation, Preset},
    cluster::{self, Cluster},
    run_dir::verdict_line,
};
use nemesis::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_processor_mistake_shows_as_its_anomaly_kind() {
    let (docker, image) = common::engine_and_image().await;
    // A test binary is not eoscheck: rdkafka's processor is.
    std::env::set_var("EOSCHECK_EXE", env!("CARGO_BIN_EXE_eoscheck"));
    let id = format!("mut-{:04x}", rand::random::<u16>());
    let job = {
        let docker = docker.clone();
        async move {
            let cluster = Arc::new(Cluster::start(&docker, &id, &image.reference(), None).await?);
            let mut missed = Vec::new();
            for mutation in [
                Mutation::ReadUncommitted,
                Mutation::CommitOnPoll,
                Mutation::CommitLast,
                Mutation::Reverse,
                Mutation::Skip,
                Mutation::Replay,
            ] {
                let name = mutation.name();
                // Only commit-on-poll needs a crash to lose input in mid-run
                // (and time for the successor to write what comes after);
                // every other mistake shows without faults.
                let (preset, faults, seconds) = match mutation {
                    Mutation::CommitOnPoll => (Preset::AloPipeline, vec![Fault::ClientCrash], 30),
                    _ => (Preset::EosPipeline, Vec::new(), 15),
                };
                let config = harness::commands::run::RunConfig {
                    faults,
                    time_limit: Duration::from_secs(seconds),
                    rate: 600,
                    seed: 3,
                    mutation: Some(mutation),
                    ..common::config(preset, "rdkafka", &image)
                };
                let (_, results) = common::run_checked(&cluster, name, config).await;
                let mut must = vec![mutation.shows()];
                if mutation == Mutation::CommitOnPoll {
                    // What the crashed instance held was never written.
                    must.push(Kind::PipelineLost);
                }
                let shown = results.valid == Validity::Invalid
                    && must.iter().all(|k| results.anomalies.count(*k) > 0);
                if !shown {
                    missed.push(format!(
                        "{name} (must show {must:?}): {}",
                        verdict_line(&results)
                    ));
                }
            }
            assert!(missed.is_empty(), "{missed:#?}");
            anyhow::Ok(())
        }
    };
    cluster::with_teardown(&docker, job)
        .await
        .expect("the cluster and its six runs");
}
