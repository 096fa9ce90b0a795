//! The client libraries eoscheck can test, by their stable names, and where each
//! one comes from. `NAME[@VERSION]` on the command line is a [`ClientSpec`].

use std::{fmt, str::FromStr};

/// The registry a library is installed from, with its coordinates there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Linked into eoscheck itself (the `rdkafka` crate, librdkafka built from source).
    InProcess,
    /// Maven Central: group and artifact.
    Maven(&'static str, &'static str),
    /// The Go module proxy: module path.
    Go(&'static str),
    /// PyPI: package name.
    Pip(&'static str),
    /// The npm registry: package name.
    Npm(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Library {
    Rdkafka,
    Java,
    FranzGo,
    Sarama,
    ConfluentKafkaPython,
    KafkaPython,
    Aiokafka,
    Kafkajs,
    ConfluentKafkaJavascript,
    /// Kafka Streams: a processor only (the pipeline workload), no producer driver.
    KafkaStreams,
}

impl Library {
    pub const ALL: [Library; 10] = [
        Library::Rdkafka,
        Library::Java,
        Library::FranzGo,
        Library::Sarama,
        Library::ConfluentKafkaPython,
        Library::KafkaPython,
        Library::Aiokafka,
        Library::Kafkajs,
        Library::ConfluentKafkaJavascript,
        Library::KafkaStreams,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Library::Rdkafka => "rdkafka",
            Library::Java => "java",
            Library::FranzGo => "franz-go",
            Library::Sarama => "sarama",
            Library::ConfluentKafkaPython => "confluent-kafka-python",
            Library::KafkaPython => "kafka-python",
            Library::Aiokafka => "aiokafka",
            Library::Kafkajs => "kafkajs",
            Library::ConfluentKafkaJavascript => "confluent-kafka-javascript",
            Library::KafkaStreams => "kafka-streams",
        }
    }

    /// The library in one line, for `--help`: what it is and where it
    /// comes from.
    pub fn about(self) -> &'static str {
        match self {
            Library::Rdkafka => "librdkafka, linked into eoscheck (the rdkafka crate)",
            Library::Java => "Apache Kafka's Java client, org.apache.kafka:kafka-clients",
            Library::FranzGo => "Go, github.com/twmb/franz-go",
            Library::Sarama => "Go, github.com/IBM/sarama",
            Library::ConfluentKafkaPython => "Python, confluent-kafka (librdkafka)",
            Library::KafkaPython => "Python, kafka-python",
            Library::Aiokafka => "Python, aiokafka (asyncio)",
            Library::Kafkajs => "Node.js, kafkajs",
            Library::ConfluentKafkaJavascript => {
                "Node.js, @confluentinc/kafka-javascript (librdkafka)"
            }
            Library::KafkaStreams => {
                "Kafka Streams (pipelines only), org.apache.kafka:kafka-streams"
            }
        }
    }

    pub fn source(self) -> Source {
        match self {
            Library::Rdkafka => Source::InProcess,
            Library::Java => Source::Maven("org.apache.kafka", "kafka-clients"),
            Library::FranzGo => Source::Go("github.com/twmb/franz-go"),
            Library::Sarama => Source::Go("github.com/IBM/sarama"),
            Library::ConfluentKafkaPython => Source::Pip("confluent-kafka"),
            Library::KafkaPython => Source::Pip("kafka-python"),
            Library::Aiokafka => Source::Pip("aiokafka"),
            Library::Kafkajs => Source::Npm("kafkajs"),
            Library::ConfluentKafkaJavascript => Source::Npm("@confluentinc/kafka-javascript"),
            Library::KafkaStreams => Source::Maven("org.apache.kafka", "kafka-streams"),
        }
    }
}

impl Library {
    /// Whether the library has a producer driver (or is in process): every
    /// workload but the pipeline needs one.
    pub fn has_producer(self) -> bool {
        !matches!(self, Library::KafkaStreams)
    }

    /// Whether the library is librdkafka underneath (and takes its names).
    pub fn is_librdkafka(self) -> bool {
        matches!(
            self,
            Library::Rdkafka | Library::ConfluentKafkaPython | Library::ConfluentKafkaJavascript
        )
    }

    /// Debian packages the library's install builds against, each with a file
    /// it provides: librdkafka in `@confluentinc/kafka-javascript` is compiled
    /// on install, and has zstd only when zstd's headers are there.
    pub fn build_packages(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Library::ConfluentKafkaJavascript => &[("libzstd-dev", "/usr/include/zstd.h")],
            _ => &[],
        }
    }

    /// Packages installed beside the library so that every `compression.type`
    /// works (pip or npm specifiers, installed with it). Empty where the
    /// library carries its codecs itself.
    pub fn codec_packages(self) -> &'static [&'static str] {
        match self {
            Library::KafkaPython => &["lz4", "python-snappy", "zstandard"],
            Library::Aiokafka => &["aiokafka[lz4,snappy,zstd]"],
            Library::Kafkajs => &[
                "kafkajs-snappy@1.1.0",
                "kafkajs-lz4@1.2.1",
                "@bokuweb/zstd-wasm@0.0.27",
            ],
            _ => &[],
        }
    }
}

impl fmt::Display for Library {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Library {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Library::ALL
            .into_iter()
            .find(|l| l.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Library::ALL.iter().map(|l| l.name()).collect();
                format!("unknown client {name:?}; clients: {}", names.join(", "))
            })
    }
}

/// A library and, optionally, the exact release wanted (else the newest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSpec {
    pub library: Library,
    pub version: Option<String>,
}

impl fmt::Display for ClientSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(v) => write!(f, "{}@{v}", self.library),
            None => write!(f, "{}", self.library),
        }
    }
}

impl FromStr for ClientSpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (name, version) = match spec.split_once('@') {
            Some((name, version)) => (name, Some(version)),
            None => (spec, None),
        };
        let library = name.trim().parse()?;
        let version = match version.map(str::trim) {
            None => None,
            Some(v) if is_version(v) => Some(v.to_owned()),
            Some(v) => {
                return Err(format!(
                    "client {name}: {v:?} is not a release number (e.g. {name}@1.2.3)"
                ))
            }
        };
        Ok(ClientSpec { library, version })
    }
}

/// A release number as the registries spell them: digits, dots and the usual
/// pre-release marks, never anything a shell or a path could misread.
fn is_version(v: &str) -> bool {
    !v.is_empty()
        && v.starts_with(|c: char| c.is_ascii_digit() || c == 'v')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_versions_parse() {
        for library in Library::ALL {
            assert_eq!(library.name().parse::<Library>().unwrap(), library);
        }
        let spec: ClientSpec = "franz-go@1.18.0".parse().unwrap();
        assert_eq!(spec.library, Library::FranzGo);
        assert_eq!(spec.version.as_deref(), Some("1.18.0"));
        assert_eq!(spec.to_string(), "franz-go@1.18.0");
        assert_eq!("java".parse::<ClientSpec>().unwrap().version, None);
    }

    #[test]
    fn bad_specs_say_what_is_accepted() {
        let err = "kafka-go".parse::<ClientSpec>().unwrap_err();
        assert!(err.contains("confluent-kafka-javascript"), "{err}");
        let err = "java@latest;rm".parse::<ClientSpec>().unwrap_err();
        assert!(err.contains("not a release number"), "{err}");
    }
}
