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
}

/// "Retry for as long as the delivery timeout allows."
const MAX_RETRIES: u32 = i32::MAX as u32;

/// A producer configuration in library-neutral terms: what the driver protocol
/// sends (drivers/PROTOCOL.md) and what the in-process client turns into
/// librdkafka's names.
///
/// The timeouts make faults bite within a short run: a request whose response
/// does not come is given up after 5 s and retried on a new connection (left at
/// librdkafka's 60 s, TCP would deliver the delayed ack after the fault heals and
/// nothing would ever be retried); a message gives up after 30 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProducerSettings {
    pub idempotence: bool,
    /// "all", "1" or "0".
    pub acks: &'static str,
    pub retries: u32,
    pub max_in_flight: u32,
    pub request_timeout_ms: u32,
    pub delivery_timeout_ms: u32,
    pub linger_ms: u32,
}

impl ProducerSettings {
    /// The same settings in Kafka's configuration names (librdkafka accepts them too).
    pub fn kafka_names(&self) -> Vec<(&'static str, String)> {
        vec![
            ("enable.idempotence", self.idempotence.to_string()),
            ("acks", self.acks.to_owned()),
            ("retries", self.retries.to_string()),
            (
                "max.in.flight.requests.per.connection",
                self.max_in_flight.to_string(),
            ),
            ("request.timeout.ms", self.request_timeout_ms.to_string()),
            ("delivery.timeout.ms", self.delivery_timeout_ms.to_string()),
            ("linger.ms", self.linger_ms.to_string()),
        ]
    }
}

impl Preset {
    pub const ALL: [Preset; 7] = [
        Preset::Idempotent,
        Preset::IdempotentInflight1,
        Preset::AtLeastOnce,
        Preset::AtLeastOnceOrdered,
        Preset::AtMostOnce,
        Preset::Inflight6,
        Preset::AppResend,
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
        }
    }

    /// The producer configuration the seeds give for this preset.
    pub fn settings(self) -> ProducerSettings {
        let (idempotence, acks, retries, max_in_flight) = match self {
            Preset::Idempotent | Preset::AppResend => (true, "all", MAX_RETRIES, 5),
            Preset::IdempotentInflight1 => (true, "all", MAX_RETRIES, 1),
            Preset::Inflight6 => (true, "all", MAX_RETRIES, 6),
            Preset::AtLeastOnce => (false, "all", MAX_RETRIES, 5),
            Preset::AtLeastOnceOrdered => (false, "all", MAX_RETRIES, 1),
            Preset::AtMostOnce => (false, "1", 0, 5),
        };
        ProducerSettings {
            idempotence,
            acks,
            retries,
            max_in_flight,
            request_timeout_ms: 5_000,
            delivery_timeout_ms: 30_000,
            linger_ms: 5,
        }
    }

    /// What the configuration promises. `inflight-6` asks for idempotence, so it is
    /// judged by what idempotence promises: a client that silently drops it fails.
    pub fn guarantees(self) -> Vec<Guarantee> {
        match self {
            Preset::Idempotent | Preset::IdempotentInflight1 | Preset::Inflight6 => {
                vec![Guarantee::NoLoss, Guarantee::NoDuplicates, Guarantee::Order]
            }
            Preset::AtLeastOnce | Preset::AppResend => vec![Guarantee::NoLoss],
            Preset::AtLeastOnceOrdered => vec![Guarantee::NoLoss, Guarantee::Order],
            Preset::AtMostOnce => vec![Guarantee::NoDuplicates],
        }
    }

    /// Whether the application itself resends a message whose send failed.
    pub fn app_resends(self) -> bool {
        self == Preset::AppResend
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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
            let (idempotent, retries) = (settings.idempotence, settings.retries > 0);
            if preset.guarantees().contains(&Guarantee::NoDuplicates) {
                assert!(
                    idempotent || !retries,
                    "{preset}: no-duplicates needs idempotence or no retries"
                );
            }
        }
    }
}
