//! Presets: the producer configurations from the seed articles, and what each one
//! promises. The verdict judges only the promise; the report shows everything.

use std::{fmt, str::FromStr};

use checker::Guarantee;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    Idempotent,
    IdempotentInflight1,
    AtLeastOnce,
    AtLeastOnceOrdered,
    AtMostOnce,
    Inflight6,
    AppResend,
    /// Idempotent settings, a `transactional.id` per producer instance, and
    /// every message sent inside a transaction.
    Transactional,
    /// `transactional`, and the application resends a transaction's messages
    /// in its next transaction when a commit's outcome stays unknown, which
    /// Kafka's exactly-once does not cover.
    TransactionalResend,
    /// Nothing set beyond what connecting and the workload need: the
    /// library's own defaults for its version decide.
    LibraryDefaults,
    /// A pipeline whose processors commit the consumed offsets inside the
    /// transaction that writes their output (Kafka Streams:
    /// `exactly_once_v2`).
    EosPipeline,
    /// A pipeline whose processors commit the consumed offsets after the
    /// output is written, outside any transaction (Kafka Streams:
    /// `at_least_once`).
    AloPipeline,
}

/// How a pipeline's processors commit the input they consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processing {
    ExactlyOnce,
    AtLeastOnce,
}

impl Processing {
    /// As the processor protocol names it.
    pub fn name(self) -> &'static str {
        match self {
            Processing::ExactlyOnce => "exactly-once",
            Processing::AtLeastOnce => "at-least-once",
        }
    }
}

/// "Retry for as long as the delivery timeout allows."
const MAX_RETRIES: u32 = i32::MAX as u32;

impl Preset {
    pub const ALL: [Preset; 12] = [
        Preset::Idempotent,
        Preset::IdempotentInflight1,
        Preset::AtLeastOnce,
        Preset::AtLeastOnceOrdered,
        Preset::AtMostOnce,
        Preset::Inflight6,
        Preset::AppResend,
        Preset::Transactional,
        Preset::TransactionalResend,
        Preset::LibraryDefaults,
        Preset::EosPipeline,
        Preset::AloPipeline,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Idempotent => "idempotent",
            Preset::IdempotentInflight1 => "idempotent-inflight-1",
            Preset::AtLeastOnce => "at-least-once",
            Preset::AtLeastOnceOrdered => "at-least-once-ordered",
            Preset::AtMostOnce => "at-most-once",
            Preset::Inflight6 => "inflight-6",
            Preset::AppResend => "app-resend",
            Preset::Transactional => "transactional",
            Preset::TransactionalResend => "transactional-resend",
            Preset::LibraryDefaults => "library-defaults",
            Preset::EosPipeline => "eos-pipeline",
            Preset::AloPipeline => "alo-pipeline",
        }
    }

    /// The preset in one line, for `--help`.
    pub fn about(self) -> &'static str {
        match self {
            Preset::Idempotent => {
                "idempotence, acks=all, 5 in flight: exactly once per partition, in order"
            }
            Preset::IdempotentInflight1 => "idempotence with one request in flight",
            Preset::AtLeastOnce => "retries without idempotence: nothing lost, duplicates allowed",
            Preset::AtLeastOnceOrdered => {
                "retries without idempotence, one in flight: nothing lost, in order"
            }
            Preset::AtMostOnce => "acks=1, no retries: no duplicates, loss allowed",
            Preset::Inflight6 => "idempotence asked with 6 in flight, past the limit of 5",
            Preset::AppResend => "idempotence, and the application resends what failed",
            Preset::Transactional => "transactions with a transactional.id per producer",
            Preset::TransactionalResend => "transactions, an unknown commit's messages resent",
            Preset::LibraryDefaults => "nothing set: the library's own defaults decide",
            Preset::EosPipeline => "pipeline: offsets committed in the output's transaction",
            Preset::AloPipeline => "pipeline: output flushed, then offsets committed",
        }
    }

    /// The producer settings the seeds give for this preset, in Kafka's names
    /// (eoscheck's short timeouts are added apart: [`super::ProducerConfig`]).
    pub fn settings(self) -> Vec<(&'static str, String)> {
        let (idempotence, acks, retries, max_in_flight) = match self {
            Preset::Idempotent
            | Preset::AppResend
            | Preset::Transactional
            | Preset::TransactionalResend
            | Preset::EosPipeline
            | Preset::AloPipeline => (true, "all", MAX_RETRIES, 5),
            Preset::IdempotentInflight1 => (true, "all", MAX_RETRIES, 1),
            Preset::Inflight6 => (true, "all", MAX_RETRIES, 6),
            Preset::AtLeastOnce => (false, "all", MAX_RETRIES, 5),
            Preset::AtLeastOnceOrdered => (false, "all", MAX_RETRIES, 1),
            Preset::AtMostOnce => (false, "1", 0, 5),
            Preset::LibraryDefaults => return Vec::new(),
        };
        vec![
            ("enable.idempotence", idempotence.to_string()),
            ("acks", acks.to_owned()),
            ("retries", retries.to_string()),
            (
                "max.in.flight.requests.per.connection",
                max_in_flight.to_string(),
            ),
        ]
    }

    /// What the configuration promises. `inflight-6` asks for idempotence, so it is
    /// judged by what idempotence promises: a client that silently drops it fails.
    /// `library-defaults` promises what modern defaults are said to give.
    /// A pipeline is judged on input against committed output: exactly-once
    /// promises every input's output once, in order, from committed input
    /// only; at-least-once promises none lost.
    /// `transactional-resend` promises what `app-resend` does, and atomicity:
    /// a resent transaction is a new one, all or nothing like every other.
    pub fn guarantees(self) -> Vec<Guarantee> {
        match self {
            Preset::Transactional | Preset::EosPipeline => vec![
                Guarantee::NoLoss,
                Guarantee::NoDuplicates,
                Guarantee::Order,
                Guarantee::Atomicity,
            ],
            Preset::TransactionalResend => vec![Guarantee::NoLoss, Guarantee::Atomicity],
            Preset::Idempotent
            | Preset::IdempotentInflight1
            | Preset::Inflight6
            | Preset::LibraryDefaults => {
                vec![Guarantee::NoLoss, Guarantee::NoDuplicates, Guarantee::Order]
            }
            Preset::AtLeastOnce | Preset::AppResend | Preset::AloPipeline => {
                vec![Guarantee::NoLoss]
            }
            Preset::AtLeastOnceOrdered => vec![Guarantee::NoLoss, Guarantee::Order],
            Preset::AtMostOnce => vec![Guarantee::NoDuplicates],
        }
    }

    /// Whether the application itself resends a message whose send failed.
    pub fn app_resends(self) -> bool {
        self == Preset::AppResend
    }

    /// Whether the producers send in transactions, each instance with a
    /// `transactional.id` of its own.
    pub fn transactional(self) -> bool {
        matches!(self, Preset::Transactional | Preset::TransactionalResend)
    }

    /// How the processors commit, when the preset is a pipeline's.
    pub fn processing(self) -> Option<Processing> {
        match self {
            Preset::EosPipeline => Some(Processing::ExactlyOnce),
            Preset::AloPipeline => Some(Processing::AtLeastOnce),
            _ => None,
        }
    }

    /// Whether the application resends a transaction whose commit's outcome
    /// it never learnt, in its next transaction.
    pub fn resends_transactions(self) -> bool {
        self == Preset::TransactionalResend
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--preset` and `--presets` list every preset with its line.
impl clap::ValueEnum for Preset {
    fn value_variants<'a>() -> &'a [Self] {
        &Preset::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.about()))
    }
}

impl FromStr for Preset {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
                format!("unknown preset {name:?}; presets: {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_typos_list_the_presets() {
        for preset in Preset::ALL {
            assert_eq!(preset.name().parse::<Preset>().unwrap(), preset);
        }
        let err = "idempotant".parse::<Preset>().unwrap_err();
        assert!(err.contains("idempotent-inflight-1"), "{err}");
    }

    #[test]
    fn only_idempotent_presets_promise_no_duplicates_with_retries() {
        for preset in Preset::ALL {
            let settings = preset.settings();
            let value = |name| settings.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
            let idempotent = value("enable.idempotence").is_some_and(|v| v == "true");
            let retries = value("retries").is_some_and(|v| v != "0");
            if preset.guarantees().contains(&Guarantee::NoDuplicates)
                && preset != Preset::LibraryDefaults
            {
                assert!(
                    idempotent || !retries,
                    "{preset}: no-duplicates needs idempotence or no retries"
                );
            }
        }
    }
}
