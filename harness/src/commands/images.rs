//! `eoscheck images`, and the flags that name a broker image, shared by every
//! command that starts a cluster.

use anyhow::Result;

use crate::cluster::{
    engine,
    images::{self, BrokerImage},
};

#[derive(clap::Args, Clone)]
pub struct ImageArgs {
    // Kafka release to run: see `version_help`.
    #[arg(long, help = version_help())]
    kafka_version: Option<String>,
    /// Use this broker image instead of building one (e.g. apache/kafka:4.1.0).
    #[arg(long, value_name = "REF")]
    image: Option<String>,
}

/// `--kafka-version`'s help, with its default (resolved in code, so that a
/// version given can be told from none).
fn version_help() -> String {
    format!(
        "Kafka release to run (3.9.x or 4.x); its image is built from Maven Central jars [default: {}]",
        images::DEFAULT_KAFKA_VERSION
    )
}

impl ImageArgs {
    /// Validates the flags before anything slow starts.
    pub fn broker_image(&self) -> Result<BrokerImage> {
        match &self.image {
            Some(reference) => Ok(BrokerImage::External {
                reference: reference.clone(),
            }),
            None => {
                let version = self.kafka_version.as_deref();
                let version = version.unwrap_or(images::DEFAULT_KAFKA_VERSION);
                images::validate_version(version)?;
                Ok(BrokerImage::Local {
                    version: version.to_owned(),
                })
            }
        }
    }

    /// The flag given, if any: a cluster eoscheck does not run takes none.
    pub fn given(&self) -> Option<&'static str> {
        match (&self.kafka_version, &self.image) {
            (Some(_), _) => Some("--kafka-version"),
            (None, Some(_)) => Some("--image"),
            (None, None) => None,
        }
    }
}

/// The broker image ready in the engine, started nothing.
pub async fn execute(args: ImageArgs) -> Result<i32> {
    let image = args.broker_image()?;
    ready_engine(&image).await?;
    println!("images: {} ready", image.reference());
    Ok(0)
}

/// The engine up and `image` built (or confirmed cached): what every command
/// that starts a cluster does first.
pub async fn ready_engine(image: &BrokerImage) -> Result<bollard::Docker> {
    let docker = engine::connect().await?;
    images::ensure(&docker, image).await?;
    Ok(docker)
}
