//! Against a real cluster: the foundation end to end. Needs a Docker engine, which
//! the test sets up itself like every eoscheck command does.

mod common;

use std::time::Instant;

use harness::{cluster, commands::smoke};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_cluster_takes_idempotent_writes_and_gives_them_back_raw() {
    let (docker, image) = common::engine_and_image().await;
    let run = common::run_dir("test-");

    let started = Instant::now();
    let (run_id, nodes_dir, log_dir, reference) = (
        run.id.clone(),
        run.join("nodes"),
        run.join("log"),
        image.reference(),
    );
    let report = cluster::with_teardown(&docker, {
        let docker = docker.clone();
        async move {
            let cluster =
                cluster::Cluster::start(&docker, &run_id, &reference, Some(&nodes_dir)).await?;
            eprintln!("cluster ready in {:.1}s", started.elapsed().as_secs_f64());
            smoke::send_and_read_back(&cluster, 3_000, &log_dir).await
        }
    })
    .await
    .expect("smoke against the cluster");

    assert_eq!(report.sent, 3_000);
    assert_eq!(report.acked, 3_000, "every send acknowledged");
    assert_eq!(
        report.read, 3_000,
        "every acknowledged message in the raw log, once"
    );
    assert_eq!(
        report.producers, 1,
        "one idempotent producer, one producer id"
    );
    for node in 1..=cluster::NODES {
        let log =
            std::fs::read_to_string(run.join("nodes").join(format!("kafka-{node}.log"))).unwrap();
        assert!(
            log.contains("Kafka Server started"),
            "broker {node} log kept"
        );
    }
    let left = cluster::remove(&docker, cluster::Runs::One(&run.id), None)
        .await
        .unwrap();
    assert_eq!(
        (left.containers, left.networks),
        (0, 0),
        "teardown left nothing behind"
    );
}
