//! The producer configuration a run hands its library, in layers: the
//! preset's settings, the user's on top of them, and eoscheck's own tuning
//! (short timeouts, a small linger) only where neither set one. Each setting
//! keeps where it came from, so run.json and the report can say which were
//! eoscheck's. The library must honour or refuse the preset's and the user's
//! settings; eoscheck's own it gets where it can express them (a library
//! without a delivery timeout is still tested, the protocol's `tuning`).
//!
//! Names are Kafka's standard producer settings or the library's own
//! ([`super::names`]); values are text, as in a `.properties` file: the
//! library's own parsing and refusal are part of what is tested.

use std::{collections::BTreeMap, path::Path, time::Duration};

use checker::{Guarantee, Idempotence};
use serde::{Deserialize, Serialize};

use super::{
    library::Library,
    names,
    preset::{Preset, Processing},
};

/// Where a setting came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Preset,
    /// `--producer-config`, `--producer-config-file` or `--compression`.
    User,
    /// eoscheck's own tuning: a short timeout, so that faults bite within a
    /// short run, or the small linger every preset runs with.
    Eoscheck,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Preset => "preset",
            Origin::User => "user",
            Origin::Eoscheck => "eoscheck",
        }
    }
}

/// One setting and its origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    pub value: String,
    pub origin: Origin,
}

/// The run's producer configuration, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerConfig(pub BTreeMap<String, Setting>);

/// "Give up a request whose response does not come after 5 s and retry it on a
/// new connection; give up a message after 30 s." Left at the libraries'
/// defaults (30–60 s a request, 2–5 min a message), TCP would deliver a delayed
/// response after the fault heals and nothing would ever be retried within a
/// run. librdkafka's client-side request timeout is `socket.timeout.ms`.
const REQUEST_TIMEOUT_MS: u64 = 5_000;
const DELIVERY_TIMEOUT_MS: u64 = 30_000;
/// Batching delay: a few ms lets batches form at the workload's rates.
const LINGER_MS: u64 = 5;
/// How long the quiet phase waits at most for what the producers hold: the
/// library's own delivery timeout where the run leaves it to the library.
pub const LONGEST_DELIVERY: Duration = Duration::from_secs(300);
/// The setting that makes a producer transactional. eoscheck gives every
/// instance its own ([`ProducerConfig::instance`]); the user cannot set it.
const TRANSACTIONAL_ID: &str = "transactional.id";
/// The coordinator aborts a transaction left open this long. As short as
/// librdkafka allows with eoscheck's delivery timeout (it refuses a
/// `message.timeout.ms` above it): the run's quiet phase waits it out, so
/// that nothing is left open when the log is read.
const TRANSACTION_TIMEOUT_MS: u64 = DELIVERY_TIMEOUT_MS;
/// What `transactional.id` holds in run.json: each instance's own is this
/// with the run's id and the producer's number in place of the two names.
const RUN_PLACE: &str = "<run id>";
const PRODUCER_PLACE: &str = "<producer>";

impl ProducerConfig {
    /// The preset's settings, `user`'s over them, and eoscheck's tuning where
    /// neither set it (never for `library-defaults`).
    pub fn layer(preset: Preset, library: Library, user: &UserSettings) -> ProducerConfig {
        let mut config = ProducerConfig::default();
        for (name, value) in preset.settings() {
            config.set(name, value, Origin::Preset);
        }
        for (name, value, _) in &user.0 {
            config.set(name, value.clone(), Origin::User);
        }
        if preset != Preset::LibraryDefaults {
            config.add_tuning(library);
        }
        if preset.transactional() {
            config.add_transactions("");
        }
        if preset.processing() == Some(Processing::ExactlyOnce) {
            config.add_transactions("processor-");
        }
        config
    }

    /// A `transactional.id` for every instance (`kind` tells a pipeline's
    /// processors from its feeder's producers), and the transaction timeout
    /// at least as long as the delivery timeout (librdkafka requires it).
    fn add_transactions(&mut self, kind: &str) {
        let id = format!("eoscheck-{RUN_PLACE}-{kind}{PRODUCER_PLACE}");
        self.set(TRANSACTIONAL_ID, id, Origin::Eoscheck);
        let delivery = ["delivery.timeout.ms", "message.timeout.ms"]
            .iter()
            .find_map(|n| self.value(n)?.trim().parse::<u64>().ok())
            .unwrap_or(0);
        self.tune(
            &["transaction.timeout.ms"],
            TRANSACTION_TIMEOUT_MS.max(delivery),
        );
    }

    /// The configuration of run `run`: each instance's `transactional.id`
    /// names it, so no two runs on one cluster share one.
    pub fn of_run(mut self, run: &str) -> ProducerConfig {
        if let Some(id) = self.0.get_mut(TRANSACTIONAL_ID) {
            id.value = id.value.replace(RUN_PLACE, run);
        }
        self
    }

    /// The `transactional.id` of producer `producer` of the run; None
    /// unless the producers are transactional.
    pub fn transactional_id(&self, producer: u32) -> Option<String> {
        let id = self.value(TRANSACTIONAL_ID)?;
        Some(id.replace(PRODUCER_PLACE, &producer.to_string()))
    }

    /// The configuration of one instance: with `transactional_id` (which a
    /// second instance of a producer shares with the first), or none.
    pub fn instance(&self, transactional_id: Option<&str>) -> ProducerConfig {
        let mut config = self.clone();
        config.0.remove(TRANSACTIONAL_ID);
        if let Some(id) = transactional_id {
            config.set(TRANSACTIONAL_ID, id.to_owned(), Origin::Eoscheck);
        }
        config
    }

    /// How long the coordinator leaves a transaction open before it aborts
    /// it; None unless the producers are transactional.
    pub fn transaction_timeout(&self) -> Option<Duration> {
        self.value(TRANSACTIONAL_ID)?;
        let ms = self.value("transaction.timeout.ms")?.trim().parse().ok()?;
        Some(Duration::from_millis(ms))
    }

    fn set(&mut self, name: &str, value: String, origin: Origin) {
        self.0.insert(name.to_owned(), Setting { value, origin });
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.value.as_str())
    }

    /// eoscheck's tuning, each only where the configuration has none (under
    /// any of its names: librdkafka's own set the same thing), and the
    /// delivery timeout long enough for the request timeout and linger it
    /// gets (the Java client refuses less).
    fn add_tuning(&mut self, library: Library) {
        let number = |c: &Self, name| c.value(name).and_then(|v| v.parse::<u64>().ok());
        self.tune(&["linger.ms", "queue.buffering.max.ms"], LINGER_MS);
        self.tune(&["request.timeout.ms"], REQUEST_TIMEOUT_MS);
        if library.is_librdkafka() {
            let request = number(self, "request.timeout.ms").unwrap_or(REQUEST_TIMEOUT_MS);
            self.tune(&["socket.timeout.ms"], request);
        }
        let least = number(self, "request.timeout.ms").unwrap_or(0)
            + number(self, "linger.ms").unwrap_or(0);
        self.tune(
            &["delivery.timeout.ms", "message.timeout.ms"],
            DELIVERY_TIMEOUT_MS.max(least),
        );
    }

    /// Sets `names[0]` to `value` as eoscheck's, unless one of `names` is set.
    fn tune(&mut self, names: &[&str], value: u64) {
        if names.iter().all(|n| self.value(n).is_none()) {
            self.set(names[0], value.to_string(), Origin::Eoscheck);
        }
    }

    /// Name → value, every setting.
    pub fn values(&self) -> BTreeMap<String, String> {
        self.of(|_, _| true)
    }

    /// The preset's and the user's settings, and the instance's
    /// `transactional.id`: the library honours or refuses them.
    pub fn given(&self) -> BTreeMap<String, String> {
        self.of(|name, o| o != Origin::Eoscheck || name == TRANSACTIONAL_ID)
    }

    /// eoscheck's tuning: applied where the library can express it.
    pub fn tuning(&self) -> BTreeMap<String, String> {
        self.of(|name, o| o == Origin::Eoscheck && name != TRANSACTIONAL_ID)
    }

    fn of(&self, keep: impl Fn(&str, Origin) -> bool) -> BTreeMap<String, String> {
        self.0
            .iter()
            .filter(|(name, s)| keep(name, s.origin))
            .map(|(k, s)| (k.clone(), s.value.clone()))
            .collect()
    }

    /// What the configuration asks of idempotence: `enable.idempotence` (the
    /// name every driver maps) set true or false, or not set at all.
    pub fn idempotence(&self) -> Idempotence {
        match self.value("enable.idempotence").map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("true") => Idempotence::ExplicitTrue,
            Some(v) if v.eq_ignore_ascii_case("false") => Idempotence::ExplicitFalse,
            _ => Idempotence::LeftToLibrary,
        }
    }

    /// How long the producers get after the workload to complete what they
    /// hold: the delivery timeout they were given, a little more, and
    /// [`LONGEST_DELIVERY`] at most (also where it is left to the library).
    pub fn delivery_bound(&self) -> Duration {
        ["delivery.timeout.ms", "message.timeout.ms"]
            .iter()
            .find_map(|n| self.value(n)?.trim().parse::<u64>().ok())
            .map(|ms| Duration::from_millis(ms) + Duration::from_secs(5))
            .unwrap_or(LONGEST_DELIVERY)
            .min(LONGEST_DELIVERY)
    }

    /// The user's settings that contradict the promise being judged, each said
    /// in a sentence. The data decides the verdict; this says why it may fail.
    pub fn contradictions(&self, guarantees: &[Guarantee]) -> Vec<String> {
        let user = |name: &str| {
            self.0
                .get(name)
                .filter(|s| s.origin == Origin::User)
                .map(|s| s.value.trim().to_ascii_lowercase())
        };
        let promised = |g| guarantees.contains(&g);
        let mut found = Vec::new();
        if let Some(acks) = user("acks").filter(|a| a == "0" || a == "1") {
            if promised(Guarantee::NoLoss) {
                found.push(format!(
                    "acks={acks} under no-loss: the leader acknowledges before its followers have the record, so a leader that fails takes acknowledged records with it"
                ));
            }
            if self.idempotence() != Idempotence::ExplicitFalse {
                found.push(format!(
                    "acks={acks} with idempotence asked or left to the library: idempotence needs acks=all, so the library refuses the configuration or turns idempotence off"
                ));
            }
        }
        if user("enable.idempotence").as_deref() == Some("false")
            && (promised(Guarantee::NoDuplicates) || promised(Guarantee::Order))
        {
            found.push(
                "enable.idempotence=false under no-duplicates or order: a retried batch can be written twice, or after a later one".into(),
            );
        }
        if let Some(n) = user("max.in.flight.requests.per.connection")
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|&n| n > 5)
        {
            found.push(format!(
                "max.in.flight.requests.per.connection={n}: idempotence allows at most 5, so the library refuses it or turns idempotence off"
            ));
        }
        found
    }
}

/// The user's settings in the order given: name, value, and where (for errors).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserSettings(pub Vec<(String, String, String)>);

impl UserSettings {
    /// `--producer-config-file FILE` (Java `.properties` syntax) first, then each
    /// `--producer-config KEY=VALUE` over it. Err names the file and line, or
    /// the flag, and says what to do.
    pub fn parse(flags: &[String], file: Option<&Path>) -> Result<UserSettings, String> {
        let mut settings = UserSettings::default();
        if let Some(path) = file {
            settings.read_file(path)?;
        }
        for flag in flags {
            let Some((name, value)) = flag.split_once('=') else {
                return Err(format!(
                    "--producer-config {flag:?} is not KEY=VALUE (e.g. --producer-config acks=all)"
                ));
            };
            settings.push(
                name.trim(),
                value.trim(),
                format!("--producer-config {flag}"),
            )?;
        }
        Ok(settings)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), String> {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("--producer-config-file {}: {e}", path.display()))?;
        for line in java_properties::PropertiesIter::new(std::io::BufReader::new(file)) {
            let line = line.map_err(|e| {
                let at = e
                    .line_number()
                    .map(|n| format!(" line {n}"))
                    .unwrap_or_default();
                format!("{}{at} is not a Java .properties file: {e}", path.display())
            })?;
            let at = format!("{} line {}", path.display(), line.line_number());
            if let java_properties::LineContent::KVPair(name, value) = line.consume_content() {
                self.push(&name, &value, at)?;
            }
        }
        Ok(())
    }

    fn push(&mut self, name: &str, value: &str, at: String) -> Result<(), String> {
        if name.is_empty() {
            return Err(format!("{at}: a setting without a name"));
        }
        if name == TRANSACTIONAL_ID {
            return Err(format!(
                "{at}: `{TRANSACTIONAL_ID}` is eoscheck's to give: every instance of a transactional preset (--preset transactional) gets one of its own"
            ));
        }
        if value.is_empty() {
            return Err(format!(
                "{at}: `{name}` has no value; give one (`{name}=...`) or leave the setting out"
            ));
        }
        self.0.retain(|(n, _, _)| n != name);
        self.0.push((name.to_owned(), value.to_owned(), at));
        Ok(())
    }

    /// Adds `compression.type` for `--compression`, over any earlier one.
    pub fn compression(&mut self, codec: &str) {
        let at = format!("--compression {codec}");
        self.0.retain(|(n, _, _)| n != "compression.type");
        self.0.push(("compression.type".into(), codec.into(), at));
    }

    /// Err for the first name `library` does not take, saying where it was given.
    pub fn check_names(&self, library: Library) -> Result<(), String> {
        for (name, _, at) in &self.0 {
            names::check(library, name).map_err(|e| format!("{at}: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(flags: &[&str]) -> UserSettings {
        let flags: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        UserSettings::parse(&flags, None).unwrap()
    }

    fn file(text: &str) -> Result<UserSettings, String> {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        UserSettings::parse(&[], Some(f.path()))
    }

    #[test]
    fn user_settings_override_the_presets_and_eoschecks_timeouts_fill_only_gaps() {
        let config = ProducerConfig::layer(
            Preset::Idempotent,
            Library::Java,
            &user(&["acks=1", "request.timeout.ms=40000"]),
        );
        let origin = |n: &str| config.0[n].origin;
        assert_eq!(config.0["acks"].value, "1");
        assert_eq!(origin("acks"), Origin::User);
        assert_eq!(origin("enable.idempotence"), Origin::Preset);
        assert_eq!(origin("request.timeout.ms"), Origin::User);
        // Long enough for the user's request timeout and eoscheck's linger.
        assert_eq!(config.0["delivery.timeout.ms"].value, "40005");
        assert_eq!(origin("linger.ms"), Origin::Eoscheck);
        assert!(config.given().contains_key("acks") && !config.given().contains_key("linger.ms"));
        assert!(config.tuning().contains_key("linger.ms") && !config.tuning().contains_key("acks"));
        assert_eq!(origin("delivery.timeout.ms"), Origin::Eoscheck);
        assert!(
            !config.0.contains_key("socket.timeout.ms"),
            "librdkafka's name, not Java's"
        );
        let rdkafka = ProducerConfig::layer(Preset::Idempotent, Library::Rdkafka, &user(&[]));
        assert_eq!(rdkafka.0["socket.timeout.ms"].value, "5000");
        // librdkafka's own name for the linger is the user's linger.
        let own = user(&["queue.buffering.max.ms=50", "message.timeout.ms=9000"]);
        let rdkafka = ProducerConfig::layer(Preset::Idempotent, Library::Rdkafka, &own);
        assert!(
            !rdkafka.0.contains_key("linger.ms") && !rdkafka.0.contains_key("delivery.timeout.ms")
        );
    }

    #[test]
    fn library_defaults_set_nothing_and_leave_idempotence_to_the_library() {
        let config = ProducerConfig::layer(Preset::LibraryDefaults, Library::Rdkafka, &user(&[]));
        assert!(config.0.is_empty(), "{config:?}");
        assert_eq!(config.idempotence(), Idempotence::LeftToLibrary);
        assert_eq!(config.delivery_bound(), LONGEST_DELIVERY);
        let config = ProducerConfig::layer(
            Preset::LibraryDefaults,
            Library::Java,
            &user(&["max.in.flight.requests.per.connection=6"]),
        );
        assert_eq!(config.idempotence(), Idempotence::LeftToLibrary);
        assert_eq!(config.0.len(), 1);
        let at_least_once = ProducerConfig::layer(Preset::AtLeastOnce, Library::Java, &user(&[]));
        assert_eq!(at_least_once.idempotence(), Idempotence::ExplicitFalse);
        assert_eq!(at_least_once.delivery_bound(), Duration::from_secs(35));
    }

    #[test]
    fn contradictions_name_the_users_settings_only() {
        let promise = Preset::Idempotent.guarantees();
        let preset_only = ProducerConfig::layer(Preset::AtMostOnce, Library::Java, &user(&[]));
        assert!(preset_only.contradictions(&promise).is_empty());
        let config = ProducerConfig::layer(
            Preset::Idempotent,
            Library::Java,
            &user(&["acks=1", "enable.idempotence=false"]),
        );
        let found = config.contradictions(&promise);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("acks=1 under no-loss"), "{found:?}");
        assert!(
            found[1].starts_with("enable.idempotence=false"),
            "{found:?}"
        );
    }

    #[test]
    fn a_properties_file_is_read_with_its_lines_and_flags_go_over_it() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let text = "# ours\n! also a comment\nacks = all\nlinger.ms: 20\ncompression.type lz4\nbatch.size=\\\n  65536\n";
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        let flags = vec!["linger.ms=50".to_owned()];
        let settings = UserSettings::parse(&flags, Some(f.path())).unwrap();
        let got: Vec<(&str, &str)> = settings
            .0
            .iter()
            .map(|(n, v, _)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("acks", "all"),
                ("compression.type", "lz4"),
                ("batch.size", "65536"),
                ("linger.ms", "50")
            ]
        );
        assert!(settings.0[1].2.ends_with("line 5"), "{:?}", settings.0[1]);
    }

    #[test]
    fn malformed_input_is_refused_naming_the_file_line_or_flag() {
        let err = file("acks=all\nlinger.ms=\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("`linger.ms` has no value"),
            "{err}"
        );
        let err = file("acks=all\nbad\\u12x4=1\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("not a Java .properties file"),
            "{err}"
        );
        let err = UserSettings::parse(&["acks".into()], None).unwrap_err();
        assert!(
            err.contains("--producer-config \"acks\" is not KEY=VALUE"),
            "{err}"
        );
        let missing = UserSettings::parse(&[], Some(Path::new("/nonexistent/p.properties")));
        assert!(missing.unwrap_err().contains("/nonexistent/p.properties"));
    }

    #[test]
    fn names_a_library_does_not_take_are_refused_where_they_were_given() {
        let settings = user(&["acks=all", "linger.ms=5", "lingr.ms=5"]);
        let err = settings.check_names(Library::Java).unwrap_err();
        assert!(
            err.starts_with("--producer-config lingr.ms=5: `lingr.ms`"),
            "{err}"
        );
        assert!(err.contains("did you mean `linger.ms`?"), "{err}");
        // librdkafka's own names are the librdkafka-based libraries' own.
        let native = user(&["queue.buffering.max.messages=1000", "compression.codec=lz4"]);
        native.check_names(Library::Rdkafka).unwrap();
        native.check_names(Library::ConfluentKafkaPython).unwrap();
        assert!(native.check_names(Library::Java).is_err());
    }
}
