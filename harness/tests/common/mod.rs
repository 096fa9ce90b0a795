//! Set-up shared by the tests that need a real cluster: they prepare the engine and
//! the default broker image themselves, as every eoscheck command does.

use harness::{
    cluster::{engine, images},
    run_dir::RunDir,
};

pub async fn engine_and_image() -> (bollard::Docker, images::BrokerImage) {
    let docker = engine::connect().await.expect("a Docker engine");
    let image = images::BrokerImage::Local {
        version: images::DEFAULT_KAFKA_VERSION.to_owned(),
    };
    images::ensure(&docker, &image).await.expect("broker image");
    (docker, image)
}

/// A fresh run directory under the system's temp dir.
#[allow(dead_code)] // only the tests that run in process use it
pub fn run_dir(prefix: &str) -> RunDir {
    RunDir::create(&std::env::temp_dir().join("eoscheck-test-runs"), prefix)
        .expect("a run directory")
}

/// `eoscheck check` on a finished run gives what the run gave: everything the
/// verdict depends on is in the run directory. Some(why) when it does not.
#[allow(dead_code)] // only the tests that make whole runs use it
pub fn recheck_differs(dir: &std::path::Path, results: &checker::Results) -> Option<String> {
    match harness::run_dir::check_dir(dir, None) {
        Ok(again) if again == *results => None,
        Ok(again) => Some(format!(
            "check gives {} where the run gave {}",
            harness::run_dir::verdict_line(&again),
            harness::run_dir::verdict_line(results)
        )),
        Err(e) => Some(format!("check fails: {e:#}")),
    }
}

/// A run of `preset` with `client` (NAME[@VERSION]) on `image`: 2 producers,
/// 3 partitions, 400 msg/s of 100 bytes for 20 s, no faults; tests change
/// what they need.
#[allow(dead_code)] // only the tests that make whole runs use it
pub fn config(
    preset: harness::clients::Preset,
    client: &str,
    image: &images::BrokerImage,
) -> harness::commands::run::RunConfig {
    harness::commands::run::RunConfig {
        preset,
        transactions: Default::default(),
        user: Default::default(),
        client: harness::clients::resolve(&client.parse().unwrap()).unwrap(),
        guarantees: preset.guarantees(),
        faults: Vec::new(),
        time_limit: std::time::Duration::from_secs(20),
        rate: 400,
        producers: 2,
        partitions: 3,
        message_size: "100".parse().unwrap(),
        keys: None,
        processors: 2,
        mutation: None,
        seed: 5,
        image: image.clone(),
        bootstrap: None,
    }
}

/// `config` run on the shared `cluster`, on topics named after `name`;
/// returns its run directory.
#[allow(dead_code)] // only the tests that make whole runs use it
pub async fn run_shared(
    cluster: &std::sync::Arc<harness::cluster::Cluster>,
    name: &str,
    config: harness::commands::run::RunConfig,
) -> std::path::PathBuf {
    let dir = run_dir(&format!("{name}-"));
    let path = dir.path.clone();
    let site = harness::commands::run::Site::Shared {
        cluster: cluster.clone(),
        topic: format!("t-{name}"),
    };
    harness::commands::run::run_at(site, config, dir)
        .await
        .expect("the run completes");
    path
}

/// `config` run on the shared `cluster` (as [`run_shared`]), checked from
/// its run directory, and checked again to the same results.
#[allow(dead_code)] // only the pipeline tests use it
pub async fn run_checked(
    cluster: &std::sync::Arc<harness::cluster::Cluster>,
    name: &str,
    config: harness::commands::run::RunConfig,
) -> (std::path::PathBuf, checker::Results) {
    let path = run_shared(cluster, name, config).await;
    let results = harness::run_dir::check_dir(&path, None).expect("the run checks");
    eprintln!("{name}: {}", harness::run_dir::verdict_line(&results));
    eprintln!("{name}: {:?}", results.pipeline);
    if let Some(why) = recheck_differs(&path, &results) {
        panic!("{name}: {why}");
    }
    (path, results)
}
