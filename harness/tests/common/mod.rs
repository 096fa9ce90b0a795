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
