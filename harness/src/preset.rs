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

const MAX_RETRIES: &str = "2147483647";

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

    /// The producer settings, in Kafka's (and librdkafka's) configuration names.
    pub fn producer_settings(self) -> Vec<(&'static str, &'static str)> {
        let idempotent = |in_flight| {
            vec![
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("retries", MAX_RETRIES),
                ("max.in.flight.requests.per.connection", in_flight),
            ]
        };
        match self {
            Preset::Idempotent | Preset::AppResend => idempotent("5"),
            Preset::IdempotentInflight1 => idempotent("1"),
            Preset::Inflight6 => idempotent("6"),
            Preset::AtLeastOnce | Preset::AtLeastOnceOrdered => vec![
                ("enable.idempotence", "false"),
                ("acks", "all"),
                ("retries", MAX_RETRIES),
                (
                    "max.in.flight.requests.per.connection",
                    if self == Preset::AtLeastOnce {
                        "5"
                    } else {
                        "1"
                    },
                ),
            ],
            Preset::AtMostOnce => vec![
                ("enable.idempotence", "false"),
                ("acks", "1"),
                ("retries", "0"),
            ],
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
            let settings = preset.producer_settings();
            let idempotent = settings.contains(&("enable.idempotence", "true"));
            let retries = !settings.contains(&("retries", "0"));
            if preset.guarantees().contains(&Guarantee::NoDuplicates) {
                assert!(
                    idempotent || !retries,
                    "{preset}: no-duplicates needs idempotence or no retries"
                );
            }
        }
    }
}
