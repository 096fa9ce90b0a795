//! Broker images, built on this machine because no image registry may be reachable.
//!
//! `eoscheck/base:<recipe>` is a Debian bookworm root made by debootstrap (JRE,
//! iptables, iproute2, procps: what the broker and the nemesis need inside), imported
//! into the engine. `eoscheck/kafka:<version>` adds that version's broker jars from
//! Maven Central and an entrypoint. Both are cached by tag and rebuilt only when the
//! recipe (the files embedded below) changes, which a label on the image records.

use std::{
    fs,
    path::Path,
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context, Result};
use bollard::Docker;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tracing::info;

use super::engine;
use crate::{console::failure::Failure, tools::output};

/// The newest Kafka release when this was written; `--kafka-version` picks another.
pub const DEFAULT_KAFKA_VERSION: &str = "4.4.0";

const BASE_REPO: &str = "eoscheck/base";
const KAFKA_REPO: &str = "eoscheck/kafka";
const RECIPE_LABEL: &str = "eoscheck.recipe";
const BASE_PACKAGES: &str = "openjdk-17-jre-headless,iptables,iproute2,procps";
const SUITE: &str = "bookworm";

const ENTRYPOINT: &str = include_str!("../../image/entrypoint.sh");
const LOG4J: &str = include_str!("../../image/log4j.properties");
const LOG4J2: &str = include_str!("../../image/log4j2.properties");

/// Which broker image a cluster runs.
#[derive(Debug, Clone)]
pub enum BrokerImage {
    /// Built here from Maven jars (the default).
    Local { version: String },
    /// A reference the user named with `--image`, e.g. `apache/kafka:4.1.0`.
    External { reference: String },
}

impl BrokerImage {
    pub fn reference(&self) -> String {
        match self {
            BrokerImage::Local { version } => format!("{KAFKA_REPO}:{version}"),
            BrokerImage::External { reference } => reference.clone(),
        }
    }

    /// The Kafka release, when eoscheck built the image and so knows it.
    pub fn version(&self) -> Option<&str> {
        match self {
            BrokerImage::Local { version } => Some(version),
            BrokerImage::External { .. } => None,
        }
    }
}

/// Checks a `--kafka-version` without touching the engine, so a typo fails fast.
pub fn validate_version(version: &str) -> Result<()> {
    let parts: Vec<u32> = version
        .split('.')
        .map(|p| p.parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            Failure::usage(format!(
                "--kafka-version {version:?} is not a release number like {DEFAULT_KAFKA_VERSION} or 3.9.1"
            ))
        })?;
    let supported_line = matches!(parts.as_slice(), [3, minor, ..] if *minor >= 9)
        || matches!(parts.as_slice(), [4, ..]);
    if !supported_line || parts.len() > 3 {
        return Err(Failure::usage(format!(
            "--kafka-version {version} is not supported: eoscheck runs KRaft clusters of Kafka 3.9.x and 4.x"
        )));
    }
    let published = crate::tools::maven_versions("org.apache.kafka", "kafka_2.13");
    if parts.len() < 3 {
        // A release line (`3.9`, `4`): name its releases.
        return Err(Failure::usage(format!(
            "--kafka-version {version} names a release line, not a release; {}",
            releases_of(version, published.as_deref().ok())
        )));
    }
    match published {
        Ok(published) if !published.iter().any(|v| v == version) => Err(Failure::usage(format!(
            "Kafka {version} is not published on Maven Central; {}",
            releases_of(&parts[0].to_string(), Some(&published))
        ))),
        // Offline checks are best effort: the Maven build names the version if it fails.
        _ => Ok(()),
    }
}

/// The published releases of a release line, for an error message; without
/// Maven Central, an example.
fn releases_of(line: &str, published: Option<&[String]>) -> String {
    let prefix = format!("{line}.");
    let releases: Vec<&str> = published
        .unwrap_or_default()
        .iter()
        .filter(|v| v.starts_with(&prefix) && v.split('.').all(|p| p.parse::<u32>().is_ok()))
        .map(String::as_str)
        .collect();
    if releases.is_empty() {
        format!("name one such as {DEFAULT_KAFKA_VERSION} or 3.9.1")
    } else {
        format!(
            "{line}.x releases on Maven Central: {}",
            releases.join(", ")
        )
    }
}

/// Makes sure the broker image exists, building what is missing.
pub async fn ensure(docker: &Docker, image: &BrokerImage) -> Result<()> {
    match image {
        BrokerImage::External { reference } => ensure_external(docker, reference).await,
        BrokerImage::Local { version } => {
            let base = ensure_base(docker).await?;
            ensure_kafka(docker, &base, version).await
        }
    }
}

async fn ensure_external(docker: &Docker, reference: &str) -> Result<()> {
    if docker.inspect_image(reference).await.is_ok() {
        return Ok(());
    }
    info!("pulling {reference}");
    let status = Command::new("docker").args(["pull", reference]).status();
    match status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(Failure::infrastructure(format!(
            "could not pull {reference}: no image registry is reachable from here. \
             Leave out --image to use the locally built eoscheck/kafka image"
        ))),
    }
}

/// The current recipe's hash: changing the package list or the embedded files
/// changes the tag or label, so stale images are rebuilt instead of reused.
fn recipe_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn has_image(docker: &Docker, reference: &str, recipe: &str) -> bool {
    match docker.inspect_image(reference).await {
        Ok(image) => image
            .config
            .and_then(|c| c.labels)
            .and_then(|l| l.get(RECIPE_LABEL).cloned())
            .is_some_and(|r| r == recipe),
        Err(_) => false,
    }
}

async fn ensure_base(docker: &Docker) -> Result<String> {
    let recipe = recipe_hash(&[SUITE, BASE_PACKAGES]);
    let reference = format!("{BASE_REPO}:{SUITE}-{recipe}");
    if has_image(docker, &reference, &recipe).await {
        return Ok(reference);
    }
    if engine::which("debootstrap").is_none() {
        engine::install_packages(&["debootstrap"])?;
    }
    let started = Instant::now();
    let root = build_dir("base")?;
    info!("building {reference} with debootstrap (about a minute)");
    output(Command::new("debootstrap").args([
        "--variant=minbase",
        &format!("--include={BASE_PACKAGES}"),
        SUITE,
        path_str(&root),
        &debian_mirror(),
    ]))
    .context("debootstrap of the base image failed")?;
    // Package caches are dead weight in every container started from the image.
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        clear_dir(&root.path().join(dir))?;
    }
    let import = format!(
        "tar -C {} -c . | docker import --change 'LABEL {RECIPE_LABEL}={recipe}' \
         --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - {reference}",
        path_str(&root)
    );
    output(Command::new("bash").args(["-o", "pipefail", "-c", &import]))
        .context("docker import of the base image failed")?;
    info!(
        "built {reference} in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(reference)
}

async fn ensure_kafka(docker: &Docker, base: &str, version: &str) -> Result<()> {
    let reference = format!("{KAFKA_REPO}:{version}");
    let recipe = recipe_hash(&[base, ENTRYPOINT, LOG4J, LOG4J2, &pom(version)]);
    if has_image(docker, &reference, &recipe).await {
        return Ok(());
    }
    let started = Instant::now();
    info!("building {reference} from Maven Central jars");
    let ctx = build_dir("kafka")?;
    fs::write(ctx.path().join("pom.xml"), pom(version))?;
    let opt = ctx.path().join("opt");
    fs::create_dir_all(&opt)?;
    output(Command::new("mvn").args([
        "-q",
        "-B",
        "-f",
        &ctx.path().join("pom.xml").to_string_lossy(),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        &format!("-DoutputDirectory={}", opt.join("libs").display()),
    ]))
    .map_err(|e| {
        Failure::infrastructure(format!(
            "fetching the jars of Kafka {version} from Maven Central failed: {e:#}"
        ))
    })?;
    for (name, text) in [
        ("entrypoint.sh", ENTRYPOINT),
        ("log4j.properties", LOG4J),
        ("log4j2.properties", LOG4J2),
    ] {
        fs::write(opt.join(name), text)?;
    }
    output(Command::new("chmod").args(["0755", &opt.join("entrypoint.sh").to_string_lossy()]))?;

    // create + cp + commit layers the jars on the base image without `docker build`,
    // which the engine's legacy builder and newer CLIs disagree about.
    let builder = format!("eoscheck-build-{}", std::process::id());
    // Labelled like a cluster's containers, so that `eoscheck cleanup` removes a
    // builder that a killed build left behind (the image inherits the label,
    // and so do the brokers, which carry it anyway).
    output(Command::new("docker").args([
        "create",
        "--name",
        &builder,
        "--label",
        &format!("{}=true", super::containers::LABEL),
        base,
        "true",
    ]))?;
    let result = output(Command::new("docker").args([
        "cp",
        &format!("{}/.", opt.display()),
        &format!("{builder}:/opt/kafka"),
    ]))
    .and_then(|_| {
        output(Command::new("docker").args([
            "commit",
            "--change",
            "ENTRYPOINT [\"/opt/kafka/entrypoint.sh\"]",
            "--change",
            &format!("LABEL {RECIPE_LABEL}={recipe} eoscheck.kafka-version={version}"),
            &builder,
            &reference,
        ]))
    });
    let _ = Command::new("docker")
        .args(["rm", "-f", &builder])
        .stdout(Stdio::null())
        .status();
    result.context("assembling the Kafka image failed")?;
    info!(
        "built {reference} in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The Maven project whose runtime dependencies are a broker's classpath. Kafka's
/// artifacts carry no logging backend: 3.x logs through slf4j to reload4j, 4.x
/// through slf4j to log4j2 (the BOM keeps every log4j2 jar on one version).
fn pom(version: &str) -> String {
    let logging = if version.starts_with("3.") {
        "<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>"
    } else {
        "<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId></dependency>"
    };
    format!(
        r#"<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>eoscheck</groupId><artifactId>kafka-broker</artifactId><version>{version}</version>
  <dependencyManagement><dependencies>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-bom</artifactId>
      <version>2.25.5</version><type>pom</type><scope>import</scope></dependency>
  </dependencies></dependencyManagement>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>{version}</version></dependency>
    {logging}
  </dependencies>
</project>
"#
    )
}

/// The mirror apt already uses, so debootstrap reaches the same place.
fn debian_mirror() -> String {
    let sources = [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ];
    for path in sources {
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        for line in text.lines().map(str::trim) {
            let url = line.strip_prefix("URIs:").map(str::trim).or_else(|| {
                line.strip_prefix("deb ")
                    .and_then(|r| r.split_whitespace().find(|w| w.starts_with("http")))
            });
            if let Some(url) = url.and_then(|u| u.split_whitespace().next()) {
                if !url.contains("security") {
                    return url.to_owned();
                }
            }
        }
    }
    "http://deb.debian.org/debian".to_owned()
}

fn clear_dir(dir: &Path) -> Result<()> {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                fs::remove_file(path)?;
            }
        }
    }
    Ok(())
}

/// A scratch directory removed when the build ends, however it ends.
fn build_dir(what: &str) -> Result<TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("eoscheck-{what}-"))
        .tempdir()
        .context("creating a scratch directory for the image build")
}

fn path_str(dir: &TempDir) -> &str {
    dir.path().to_str().expect("temp dir paths are UTF-8")
}
