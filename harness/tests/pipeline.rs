//! The pipeline workload on one shared real cluster, judged from the run
//! directory alone: eoscheck's feeder fills the input in transactions
//! (aborting some on purpose), two processors of the library under test
//! consume, transform and produce in one group.
//!
//! - Java's processors (kafka-clients, the reference) under exactly-once,
//!   one killed and one frozen past its session (a zombie, whose partitions
//!   the group takes away): every committed input has exactly one committed
//!   output, in order, and the verdict is valid.
//! - The same processors under at-least-once, killed the same way: the
//!   restarted instance processes again what the killed one wrote but had
//!   not committed offsets for yet (they commit once a second), and the
//!   checker finds `pipeline-duplicate` — the anomaly bites on a real
//!   cluster.
//! - Kafka Streams under `exactly_once_v2`, one instance killed: valid.
//! - librdkafka's processors (eoscheck itself as the child process) under
//!   exactly-once, one killed: valid.

mod common;

use std::{path::PathBuf, sync::Arc, time::Duration};

use checker::{Kind, Results, Validity};
use harness::{
    clients::Preset,
    cluster::{self, BrokerImage, Cluster},
    commands::run::RunConfig,
    run_dir::verdict_line,
};
use nemesis::Fault;

/// One pipeline run of `client` on `cluster`, on topics of its own.
async fn run_case(
    cluster: &Arc<Cluster>,
    image: &BrokerImage,
    (name, client, preset): (&str, &str, Preset),
    faults: Vec<Fault>,
    seconds: u64,
) -> (PathBuf, Results) {
    let config = RunConfig {
        faults,
        time_limit: Duration::from_secs(seconds),
        // Input enough to keep the processors busy, so that a kill lands
        // mid-batch (the feeder's transactions bound its rate).
        rate: 1_500,
        producers: 3,
        seed: 11,
        ..common::config(preset, client, image)
    };
    common::run_checked(cluster, name, config).await
}

/// Valid, every committed input processed exactly once, the aborted ones
/// not at all, and an instance ended by the nemesis.
fn assert_exactly_once(name: &str, results: &Results) {
    assert_eq!(
        results.valid,
        Validity::Valid,
        "{name}: {}",
        verdict_line(results)
    );
    let stats = results.pipeline.as_ref().expect("pipeline stats");
    assert!(stats.inputs_committed > 1_000, "{name}: {stats:?}");
    assert!(stats.inputs_aborted > 0, "{name}: {stats:?}");
    assert_eq!(stats.processed_once, stats.inputs_committed, "{name}");
    assert_eq!(stats.outputs_of_uncommitted, 0, "{name}");
    assert!(
        stats.instances > 2,
        "{name}: a crash starts another: {stats:?}"
    );
    assert!(stats.stops.contains_key("crashed"), "{name}: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_process_every_input_once_under_crashes_and_zombies() {
    let (docker, image) = common::engine_and_image().await;
    let id = format!("pipe-{:04x}", rand::random::<u16>());
    let job = {
        let docker = docker.clone();
        async move {
            let cluster = Arc::new(Cluster::start(&docker, &id, &image.reference(), None).await?);
            let crash_and_freeze = vec![Fault::ClientCrash, Fault::PauseProcessor];
            let java = ("java-eos", "java", Preset::EosPipeline);
            let (_, eos) = run_case(&cluster, &image, java, crash_and_freeze, 45).await;
            assert_exactly_once("java-eos", &eos);
            // Frozen past its session, the zombie lost its partitions to the
            // other (whatever it held open then could not commit: the verdict).
            let stats = eos.pipeline.as_ref().unwrap();
            assert!(
                stats.lost_assignments > 0,
                "the zombie's partitions moved: {stats:?}"
            );

            let java = ("java-alo", "java", Preset::AloPipeline);
            let (_, alo) = run_case(&cluster, &image, java, vec![Fault::ClientCrash], 30).await;
            assert!(
                alo.anomalies.count(Kind::PipelineDuplicate) > 0,
                "at least once redoes what the killed processor wrote: {}",
                verdict_line(&alo)
            );
            assert_eq!(alo.anomalies.count(Kind::PipelineLost), 0);
            assert_eq!(alo.valid, Validity::Valid, "no loss is all it promises");

            let streams = ("streams-eos", "kafka-streams", Preset::EosPipeline);
            let (_, eos) = run_case(&cluster, &image, streams, vec![Fault::ClientCrash], 30).await;
            assert_exactly_once("streams-eos", &eos);

            // A test binary is not eoscheck: rdkafka's processor is.
            std::env::set_var("EOSCHECK_EXE", env!("CARGO_BIN_EXE_eoscheck"));
            let rdkafka = ("rdkafka-eos", "rdkafka", Preset::EosPipeline);
            let (_, eos) = run_case(&cluster, &image, rdkafka, vec![Fault::ClientCrash], 30).await;
            assert_exactly_once("rdkafka-eos", &eos);
            anyhow::Ok(())
        }
    };
    cluster::with_teardown(&docker, job)
        .await
        .expect("the cluster and its four runs");
}
