//! Every client library, newest release, through its driver (rdkafka in process)
//! against one shared cluster: a short idempotent run with one-way ack loss, the
//! fault that turns retries into duplicates. Each must install from its registry,
//! speak the protocol, and keep the idempotent promise; the run directory must
//! hold the driver's log. One cluster serves all, each run on its own topic.

mod common;

use std::{sync::Arc, time::Duration};

use checker::{Kind, Results, Validity};
use harness::{
    cluster::{self, Cluster},
    install,
    library::{ClientSpec, Library},
    preset::Preset,
    run::{self, RunConfig, Site},
};
use nemesis::Fault;

/// The preset each library is held to. sarama refuses idempotence with more than
/// one request in flight (its own config check), so it is held to the in-flight-1
/// variant, which promises the same.
fn preset_for(library: Library) -> Preset {
    match library {
        Library::Sarama => Preset::IdempotentInflight1,
        _ => Preset::Idempotent,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_driver_keeps_the_idempotent_promise_under_ack_loss() {
    let (docker, image) = common::engine_and_image().await;
    let id = format!("drivers-{:04x}", rand::random::<u16>());
    let job = {
        let docker = docker.clone();
        let image = image.clone();
        async move {
            let cluster = Arc::new(Cluster::start(&docker, &id, &image.reference(), None).await?);
            let mut failures = Vec::new();
            for library in Library::ALL {
                let preset = preset_for(library);
                let client = install::resolve(&ClientSpec {
                    library,
                    version: None,
                })?;
                let config = RunConfig {
                    preset,
                    client: client.clone(),
                    guarantees: preset.guarantees(),
                    faults: vec![Fault::AckLoss],
                    time_limit: Duration::from_secs(25),
                    rate: 500,
                    producers: 2,
                    partitions: 3,
                    message_size: 100,
                    seed: 3,
                    image: image.clone(),
                };
                let dir = common::run_dir(&format!("{library}-"));
                let path = dir.path.clone();
                let site = Site::Shared {
                    cluster: cluster.clone(),
                    topic: format!("t-{library}"),
                };
                let code = run::run_at(site, config, dir).await;
                let results: Option<Results> = std::fs::read_to_string(path.join("results.json"))
                    .ok()
                    .and_then(|s| serde_json::from_str(&s).ok());
                let Some(results) = results else {
                    failures.push(format!(
                        "{client}: no results ({code:?}), see {}",
                        path.display()
                    ));
                    continue;
                };
                eprintln!("{client} {preset}: {}", harness::check::summary(&results));
                let history =
                    std::fs::read_to_string(path.join("history.jsonl")).unwrap_or_default();
                let problems = [
                    (results.valid != Validity::Valid, "verdict is not valid"),
                    (
                        results.stats.sends.ok < 2_000,
                        "fewer than 2,000 acknowledged sends",
                    ),
                    (results.anomalies.count(Kind::Duplicate) > 0, "duplicates"),
                    (
                        !history.contains("\"fault\":\"ack-loss\""),
                        "ack-loss never injected",
                    ),
                    (
                        library != Library::Rdkafka
                            && !path.join("drivers/producer-0.log").is_file(),
                        "no driver log",
                    ),
                ];
                for (failed, what) in problems {
                    if failed {
                        failures.push(format!("{client}: {what}; see {}", path.display()));
                    }
                }
            }
            anyhow::Ok(failures)
        }
    };
    let failures = cluster::with_teardown(&docker, job)
        .await
        .expect("the cluster and every run start");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
