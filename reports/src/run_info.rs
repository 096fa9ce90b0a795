//! `run.json`: how the harness configured a run. Read leniently, because a
//! report must still open for a run directory written by an older or newer
//! harness: unknown fields are ignored and every field may be missing.

use serde::Deserialize;
use std::collections::BTreeMap;

/// What the harness recorded about a run before and after it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    pub id: Option<String>,
    /// Wall-clock start, RFC 3339 UTC (`2026-11-23T19:33:15Z`): sorts as text.
    pub started: Option<String>,
    pub preset: Option<String>,
    pub guarantees: Vec<String>,
    pub client: Option<Client>,
    /// Producer configuration as the client was given it.
    pub producer_settings: BTreeMap<String, serde_json::Value>,
    /// Where each setting came from: `preset`, `user` or `eoscheck`.
    pub producer_origins: BTreeMap<String, String>,
    /// `explicit-true`, `explicit-false` or `left-to-library`.
    pub idempotence_asked: Option<String>,
    /// User settings that contradict the promise, each in a sentence.
    pub contradictions: Vec<String>,
    /// The mistake eoscheck's own processor made on purpose (a sensitivity
    /// run), if any.
    pub mutation: Option<String>,
    /// The first producer's effective configuration, and who reported it.
    pub effective_config: BTreeMap<String, String>,
    pub effective_config_source: Option<String>,
    pub keys: Option<u64>,
    pub kafka_version: Option<String>,
    /// The cluster's finalized feature levels; a feature at level 0 is not listed.
    pub cluster_features: BTreeMap<String, i64>,
    pub image: Option<String>,
    pub topic: Option<String>,
    pub seed: Option<u64>,
    pub time_limit_s: Option<f64>,
    pub rate: Option<f64>,
    pub producers: Option<u64>,
    /// A pipeline's processor instances; none for a producer run.
    pub processors: Option<u64>,
    pub partitions: Option<u64>,
    pub message_size: Option<u64>,
    pub message_size_max: Option<u64>,
    pub nemesis: Option<NemesisPlan>,
    pub kept: Vec<KeptStep>,
    pub phases: Vec<Phase>,
    pub final_read: Option<StoredLog>,
    pub outcome: Option<RunOutcome>,
}

/// The final read's size: the batches as fetched, and the bytes of `log/`
/// that keep them (`raw` or `zstd`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct StoredLog {
    pub fetched_bytes: u64,
    pub stored_bytes: u64,
    pub storage: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Client {
    pub name: String,
    pub version: Option<String>,
}

impl Client {
    /// `name@version`, as `--client` takes it; the name alone when the
    /// version was not recorded.
    pub fn spec(&self) -> String {
        match &self.version {
            Some(v) => format!("{}@{v}", self.name),
            None => self.name.clone(),
        }
    }
}

impl std::fmt::Display for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{} {v}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The nemesis configuration and the schedule it resolved to.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct NemesisPlan {
    pub config: NemesisConfig,
    pub steps: Vec<NemesisStep>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct NemesisConfig {
    pub faults: Vec<String>,
    pub seed: Option<u64>,
    pub time_limit: Option<f64>,
    pub quiet: Option<f64>,
}

/// One planned step: `at` seconds into the workload, `start` or `stop`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct NemesisStep {
    pub at: f64,
    pub action: String,
    pub fault: String,
}

/// One step of the schedule as it was carried out: planned against actual
/// seconds into the workload; `done_s` none when it could not be done.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct KeptStep {
    pub fault: String,
    pub action: String,
    pub planned_s: f64,
    pub done_s: Option<f64>,
    pub note: Option<String>,
}

/// A stage of the run (setup, workload, heal, final read), in seconds since
/// the same origin as the history's times.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Phase {
    pub name: String,
    pub start_s: f64,
    pub end_s: Option<f64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RunOutcome {
    pub exit_code: Option<i32>,
    pub verdict: Option<String>,
    pub error: Option<String>,
}

impl RunInfo {
    /// Parses `run.json`; only text that is not a JSON object is an error.
    pub fn parse(text: &str) -> Result<RunInfo, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The faults the nemesis was configured with.
    pub fn faults(&self) -> &[String] {
        self.nemesis.as_ref().map_or(&[], |n| &n.config.faults)
    }

    /// What tells this run's cell from another's: `client@version preset
    /// kafka-VERSION`, each part the run recorded.
    pub fn label(&self) -> String {
        let parts = [
            self.client.as_ref().map(Client::spec),
            self.preset.clone(),
            self.kafka_version.as_ref().map(|v| format!("kafka-{v}")),
        ];
        parts.into_iter().flatten().collect::<Vec<_>>().join(" ")
    }

    /// Seconds from the first phase's start to the last one's end.
    pub fn duration_s(&self) -> Option<f64> {
        let start = self.phases.first()?.start_s;
        let end = self
            .phases
            .iter()
            .filter_map(|p| p.end_s)
            .reduce(f64::max)?;
        Some((end - start).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored_and_missing_ones_are_fine() {
        let info =
            RunInfo::parse(r#"{"id":"x","future":{"a":1},"client":{"name":"java"}}"#).unwrap();
        assert_eq!(info.id.as_deref(), Some("x"));
        assert_eq!(info.client.as_ref().unwrap().to_string(), "java");
        assert!(info.faults().is_empty() && info.phases.is_empty());
        assert!(RunInfo::parse("[1]").is_err());
    }
}
