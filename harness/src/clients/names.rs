//! Which producer setting names a library takes: Kafka's standard ones (the
//! Java client's `ProducerConfig` names, which every driver maps) and the
//! library's own documented ones. A run refuses any other name before
//! anything slow starts, so a typo costs a second, not a cluster.
//!
//! The lists live beside the drivers that honour them (`drivers/java/
//! standard.names`, `drivers/<ecosystem>/<library>.native`; the format is in
//! `drivers/PROTOCOL.md`). librdkafka-based libraries take librdkafka's own
//! property names, read from the librdkafka linked into eoscheck.

use std::{collections::BTreeSet, sync::OnceLock};

use super::{inprocess, library::Library};

static STANDARD: &str = include_str!("../../../drivers/java/standard.names");

/// Kafka's standard producer setting names.
pub fn standard() -> &'static BTreeSet<&'static str> {
    static NAMES: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| lines(STANDARD).collect())
}

/// The names `library` takes besides the standard ones.
pub fn native(library: Library) -> &'static BTreeSet<&'static str> {
    static NAMES: OnceLock<Vec<BTreeSet<&'static str>>> = OnceLock::new();
    let all = NAMES.get_or_init(|| {
        Library::ALL
            .iter()
            .map(|&l| native_names(l).collect())
            .collect()
    });
    &all[Library::ALL
        .iter()
        .position(|&l| l == library)
        .expect("listed")]
}

/// Ok when `library` takes `name`; Err says what it takes instead.
pub fn check(library: Library, name: &str) -> Result<(), String> {
    if standard().contains(name) || native(library).contains(name) {
        return Ok(());
    }
    let close = nearest(library, name)
        .map(|n| format!(" (did you mean `{n}`?)"))
        .unwrap_or_default();
    Err(format!(
        "`{name}` is neither a standard Kafka producer setting nor one {library} documents{close}; \
         the names it takes are Kafka's ProducerConfig names and {}",
        native_source(library)
    ))
}

/// Where `library`'s own names come from, for an error message.
fn native_source(library: Library) -> &'static str {
    match library {
        Library::Java | Library::KafkaStreams => "no others",
        Library::Rdkafka | Library::ConfluentKafkaPython | Library::ConfluentKafkaJavascript => {
            "librdkafka's configuration properties (its CONFIGURATION.md)"
        }
        _ => {
            "the names in the driver's .native file (README: Test your own producer configuration)"
        }
    }
}

fn native_names(library: Library) -> Box<dyn Iterator<Item = &'static str>> {
    match library {
        Library::Java | Library::KafkaStreams => Box::new(std::iter::empty()),
        Library::Rdkafka | Library::ConfluentKafkaPython | Library::ConfluentKafkaJavascript => {
            Box::new(librdkafka_names().iter().map(String::as_str))
        }
        Library::FranzGo => Box::new(lines(include_str!("../../../drivers/go/franz-go.native"))),
        Library::Sarama => Box::new(lines(include_str!("../../../drivers/go/sarama.native"))),
        Library::KafkaPython => Box::new(lines(include_str!(
            "../../../drivers/python/kafka-python.native"
        ))),
        Library::Aiokafka => Box::new(lines(include_str!(
            "../../../drivers/python/aiokafka.native"
        ))),
        Library::Kafkajs => Box::new(lines(include_str!("../../../drivers/node/kafkajs.native"))),
    }
}

/// The names in a list file: one a line, `#` to the end of a line a comment.
fn lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
}

/// Every configuration property of the librdkafka linked in.
fn librdkafka_names() -> &'static Vec<String> {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| inprocess::default_properties().into_keys().collect())
}

/// The known name closest to `name`, when one is a likely typo of it.
fn nearest(library: Library, name: &str) -> Option<&'static str> {
    standard()
        .iter()
        .chain(native(library).iter())
        .map(|&n| (strsim::levenshtein(name, n), n))
        .filter(|&(d, _)| d <= 2)
        .min()
        .map(|(_, n)| n)
}
