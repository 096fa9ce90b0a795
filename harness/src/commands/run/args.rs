//! The flags of `eoscheck run`, and the workload and fault flags it shares with
//! `eoscheck compare`, each checked before anything slow starts.

use std::path::PathBuf;

use anyhow::Result;
use checker::Guarantee;
use nemesis::Fault;

use super::config::{RunConfig, QUIET};
use crate::workload::{MessageSize, Transactions, TxnSize};
use crate::{
    clients::{self, ClientSpec, Library, Mutation, Preset, Processing, Resolved, UserSettings},
    commands::images::ImageArgs,
    console::failure::Failure,
};

#[derive(clap::Args)]
pub struct Args {
    /// Producer configuration and its promise [default: idempotent, or
    /// eos-pipeline for a pipeline].
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// The client library under test, NAME[@VERSION]; without a version the
    /// newest release is used.
    #[arg(long, value_name = "NAME[@VERSION]", default_value = "rdkafka", value_parser = ClientParser)]
    client: ClientSpec,
    /// Judge against these guarantees instead of the preset's promise
    /// (no-loss, no-duplicates, order, exactly-once, at-least-once, at-most-once).
    #[arg(long)]
    guarantee: Option<String>,
    /// Print the resolved configuration and fault schedule, and start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Break eoscheck's own processor on purpose, to see a pipeline anomaly
    /// bite (`--client rdkafka --workload pipeline` only; see the
    /// `mutation` module).
    #[arg(long, value_enum, hide = true)]
    mutate: Option<Mutation>,
    /// End stdout with one JSON object (verdict, exit code, counts, paths);
    /// the other lines go to stderr.
    #[arg(long)]
    pub json: bool,
    /// Test against a Kafka cluster eoscheck does not run (yours, or
    /// `eoscheck cluster up`'s), reached at these addresses: no containers,
    /// only client-side faults (client-crash, zombie, pause-processor), the
    /// run's topics `eoscheck-<id>` created there and deleted after the
    /// final read.
    #[arg(long, value_name = "HOST:PORT,...", value_parser = bootstrap_list)]
    pub bootstrap: Option<String>,
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

/// What `run` and `compare` share: the workload, the faults and the cluster.
#[derive(clap::Args)]
pub struct WorkloadArgs {
    /// What the run tests: `produce` (the producers under test write one
    /// topic) or `pipeline` (eoscheck's transactional producers fill an input
    /// topic; processors of the library under test consume it, transform and
    /// produce to an output topic, committing the consumed offsets)
    /// [default: pipeline with a pipeline preset, else produce].
    #[arg(long, value_parser = ["produce", "pipeline"])]
    workload: Option<String>,
    /// Processor instances of a pipeline, in one consumer group [default: 2].
    #[arg(long)]
    processors: Option<u32>,
    /// Faults to inject, separated by commas: their names, `all` or `none`
    /// [default: all; client-crash with `run --bootstrap`].
    #[arg(long, value_name = "FAULTS", value_delimiter = ',', value_parser = fault_names())]
    nemesis: Vec<String>,
    /// Seconds of workload (faults included).
    #[arg(long, default_value_t = 60)]
    time_limit: u64,
    /// Messages per second over all producers; 0 sends as fast as possible.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Producer instances of the library under test (a pipeline's feeder:
    /// eoscheck's transactional producers).
    #[arg(long, default_value_t = 2)]
    producers: u32,
    /// Partitions of the topic (a pipeline's input and output alike).
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Bytes per message value: N, or LEAST..MOST for sizes spread over a range.
    #[arg(long, default_value = "100")]
    message_size: String,
    /// Spread the messages over N record keys and let the library's default
    /// partitioner place them (no explicit partition).
    #[arg(long)]
    keys: Option<u32>,
    /// A producer setting over the preset's, Kafka's standard name or the
    /// library's own: `--producer-config linger.ms=20` (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    producer_config: Vec<String>,
    /// Producer settings from a Java .properties file (before any
    /// --producer-config).
    #[arg(long, value_name = "FILE")]
    producer_config_file: Option<PathBuf>,
    /// Messages per transaction, N or LEAST..MOST (each transaction's drawn
    /// from the seed); transactional presets only [default: 1..10].
    #[arg(long)]
    txn_size: Option<String>,
    /// The share of transactions the application aborts on purpose, 0 to 1;
    /// transactional presets only [default: 0.1].
    #[arg(long)]
    abort_rate: Option<f64>,
    /// Shorthand for --producer-config compression.type=CODEC.
    #[arg(long, value_name = "CODEC", value_parser = codecs())]
    compression: Option<String>,
    /// Seed of the fault schedule and its targets (random when not given).
    #[arg(long)]
    seed: Option<u64>,
    /// The runs folder; this run goes to DIR/<id>/.
    #[arg(long, default_value = "runs")]
    pub out: PathBuf,
    #[command(flatten)]
    image: ImageArgs,
}

impl Args {
    /// Every flag checked before anything slow starts.
    pub fn config(&self) -> Result<RunConfig> {
        let preset: Preset = match self.preset {
            Some(preset) => preset,
            None if self.workload.workload.as_deref() == Some("pipeline") => Preset::EosPipeline,
            None => Preset::Idempotent,
        };
        let client = self.client.clone();
        self.workload.fits(&[preset], &[client.library])?;
        let foreign = self.bootstrap.as_deref();
        self.workload.fits_cluster(&[preset], foreign)?;
        let user = self.workload.user_settings(&[client.library])?;
        let resolved = clients::resolve(&client)?;
        let mut config = self
            .workload
            .config_at(&[preset], resolved, user, foreign)?;
        if let Some(list) = &self.guarantee {
            config.guarantees = parse_guarantees(list)?;
        }
        config.mutation = self.mutate.map(|m| mutation_fits(m, &config)).transpose()?;
        Ok(config)
    }
}

/// A mutation breaks eoscheck's own processor: a pipeline of the rdkafka
/// client; `commit-on-poll` commits outside any transaction, at least once.
fn mutation_fits(mutation: Mutation, config: &RunConfig) -> Result<Mutation> {
    let why = match config.pipeline() {
        _ if config.client.library != Library::Rdkafka => "--client rdkafka",
        None => "--workload pipeline",
        Some((_, Processing::ExactlyOnce)) if mutation == Mutation::CommitOnPoll => {
            "--preset alo-pipeline"
        }
        Some(_) => return Ok(mutation),
    };
    Err(Failure::usage(format!(
        "--mutate {} breaks eoscheck's own processor and needs {why}",
        mutation.name()
    )))
}

/// `--guarantee LIST`, a usage error when it names no guarantee eoscheck knows.
pub fn parse_guarantees(list: &str) -> Result<Vec<Guarantee>> {
    Guarantee::parse_list(list).map_err(|e| Failure::usage(format!("--guarantee: {e}")))
}

impl WorkloadArgs {
    /// The run the first of `presets` × `client` would be with these flags,
    /// the flags checked against every preset (`compare` runs them all under
    /// one schedule). `user` comes from [`WorkloadArgs::user_settings`].
    pub fn config(
        &self,
        presets: &[Preset],
        client: Resolved,
        user: UserSettings,
    ) -> Result<RunConfig> {
        self.config_at(presets, client, user, None)
    }

    /// [`WorkloadArgs::config`] for a run on the cluster at `bootstrap`, one
    /// eoscheck does not run, or (None) on a fresh cluster of its own.
    pub fn config_at(
        &self,
        presets: &[Preset],
        client: Resolved,
        user: UserSettings,
        bootstrap: Option<&str>,
    ) -> Result<RunConfig> {
        let preset = *presets
            .first()
            .ok_or_else(|| Failure::usage("--presets names no preset"))?;
        let faults = self.faults(presets, bootstrap.is_some())?;
        let message_size = self.message_size()?;
        self.check_counts(message_size)?;
        let transactions = self.transactions(presets)?;
        let config = RunConfig {
            preset,
            transactions,
            user,
            client,
            guarantees: preset.guarantees(),
            faults,
            time_limit: std::time::Duration::from_secs(self.time_limit),
            rate: self.rate,
            producers: self.producers,
            partitions: self.partitions,
            message_size,
            keys: self.keys,
            processors: self.processors.unwrap_or(DEFAULT_PROCESSORS),
            mutation: None,
            seed: self.seed.unwrap_or_else(rand::random),
            image: self.image.broker_image()?,
            bootstrap: bootstrap.map(str::to_owned),
        };
        check_room_for_faults(&config, self.time_limit)?;
        Ok(config)
    }

    /// Whether `--seed` was given (a comparison's shards need one seed).
    pub fn has_seed(&self) -> bool {
        self.seed.is_some()
    }

    /// The workload `presets` ask for is the one asked with `--workload`, all
    /// of them the same, and every library in `libraries` can run it; a
    /// pipeline's flags only with a pipeline.
    pub fn fits(&self, presets: &[Preset], libraries: &[Library]) -> Result<()> {
        let pipeline = |p: &Preset| p.processing().is_some();
        let asked = self.workload.as_deref();
        let wrong = presets.iter().find(|p| match asked {
            Some("pipeline") => !pipeline(p),
            Some(_) => pipeline(p),
            None => pipeline(p) != presets.first().is_some_and(pipeline),
        });
        if let Some(preset) = wrong {
            return Err(Failure::usage(format!(
                "preset {preset} does not fit {}: the pipeline presets are eos-pipeline and alo-pipeline (--workload pipeline), the others a producer workload (--workload produce)",
                match asked {
                    Some(w) => format!("--workload {w}"),
                    None => "the other presets' workload".into(),
                }
            )));
        }
        let is_pipeline = presets.first().is_some_and(pipeline);
        // Every library has a processor; kafka-streams has no producer.
        if let Some(library) = libraries.iter().find(|l| !is_pipeline && !l.has_producer()) {
            let able: Vec<&str> = Library::ALL
                .iter()
                .filter(|l| l.has_producer())
                .map(|l| l.name())
                .collect();
            return Err(Failure::usage(format!(
                "{library} has no producer in eoscheck (it runs the pipeline workload only: --workload pipeline); the libraries with one: {}",
                able.join(", ")
            )));
        }
        if let Some(n) = self.processors {
            if !is_pipeline {
                return Err(Failure::usage(
                    "--processors applies to a pipeline (--workload pipeline)",
                ));
            }
            PROCESSORS.check("--processors", n.into())?;
        }
        Ok(())
    }

    /// A cluster eoscheck does not run (at `bootstrap`) takes no broker
    /// image and no fault that acts on a broker: checked before anything
    /// slow, the client's look-up included.
    pub fn fits_cluster(&self, presets: &[Preset], bootstrap: Option<&str>) -> Result<()> {
        if bootstrap.is_none() {
            return Ok(());
        }
        if let Some(flag) = self.image.given() {
            return Err(Failure::usage(format!(
                "--bootstrap with {flag}: eoscheck cannot choose the version of a cluster it does not run; leave out {flag}, or leave out --bootstrap for a cluster of eoscheck's own"
            )));
        }
        self.faults(presets, true).map(drop)
    }

    /// `--nemesis` for `presets` (`all` when not given; on a cluster
    /// eoscheck does not run, `client-crash`, and only client-side faults).
    fn faults(&self, presets: &[Preset], foreign: bool) -> Result<Vec<Fault>> {
        let workload = if presets.iter().all(|p| p.processing().is_some()) {
            nemesis::Workload::Pipeline
        } else if presets.iter().all(|p| p.transactional()) {
            nemesis::Workload::Transactional
        } else {
            nemesis::Workload::Produce
        };
        let list = match (self.nemesis.is_empty(), foreign) {
            (false, _) => self.nemesis.join(","),
            (true, false) => "all".to_owned(),
            (true, true) => Fault::ClientCrash.name().to_owned(),
        };
        let faults = match foreign {
            false => Fault::parse_list(&list, workload),
            true => Fault::parse_list_client_side(&list, workload),
        };
        faults.map_err(|e| Failure::usage(format!("--nemesis: {e}")))
    }

    fn message_size(&self) -> Result<MessageSize> {
        self.message_size
            .parse()
            .map_err(|e| Failure::usage(format!("--message-size {e}")))
    }

    /// `--txn-size` and `--abort-rate`, refused unless one of `presets`
    /// sends transactions (a flag that changes nothing would mislead).
    fn transactions(&self, presets: &[Preset]) -> Result<Transactions> {
        let given = [
            ("--txn-size", self.txn_size.is_some()),
            ("--abort-rate", self.abort_rate.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
            if !presets
                .iter()
                .any(|p| p.transactional() || p.processing().is_some())
            {
                let names: Vec<String> = presets.iter().map(|p| p.to_string()).collect();
                return Err(Failure::usage(format!(
                    "{flag} applies to transactional presets (transactional, transactional-resend) and to a pipeline's feeder (eos-pipeline, alo-pipeline); {} sends no transactions",
                    names.join(", ")
                )));
            }
        }
        let size = match &self.txn_size {
            Some(text) => text
                .parse()
                .map_err(|e| Failure::usage(format!("--txn-size {e}")))?,
            None => TxnSize::DEFAULT,
        };
        TXN_SIZE.check("--txn-size", size.most as u64)?;
        let abort_rate = self.abort_rate.unwrap_or(Transactions::DEFAULT_ABORT_RATE);
        if !(0.0..=1.0).contains(&abort_rate) {
            return Err(Failure::usage(format!(
                "--abort-rate {abort_rate} is not a share from 0 to 1 (e.g. 0.1 aborts one transaction in ten)"
            )));
        }
        Ok(Transactions {
            size,
            abort_rate,
            resend: false,
        })
    }

    /// The user's producer settings (the file, the flags, `--compression`),
    /// refused when one of `libraries` does not take a name: call it before
    /// the registry is even asked for them.
    pub fn user_settings(&self, libraries: &[Library]) -> Result<UserSettings> {
        let mut user =
            UserSettings::parse(&self.producer_config, self.producer_config_file.as_deref())
                .map_err(Failure::usage)?;
        if let Some(codec) = &self.compression {
            user.compression(codec);
        }
        for &library in libraries {
            user.check_names(library).map_err(Failure::usage)?;
        }
        Ok(user)
    }

    /// Every count within what a run can do; each bound says why it is there.
    fn check_counts(&self, size: MessageSize) -> Result<()> {
        for (flag, value, bounds) in [
            ("--time-limit", self.time_limit, TIME_LIMIT),
            ("--producers", self.producers.into(), PRODUCERS),
            ("--partitions", self.partitions.max(0) as u64, PARTITIONS),
            ("--message-size", size.least as u64, MESSAGE_SIZE),
            ("--message-size", size.most as u64, MESSAGE_SIZE),
            ("--keys", self.keys.unwrap_or(1).into(), KEYS),
        ] {
            bounds.check(flag, value)?;
        }
        Ok(())
    }
}

/// A count's least and greatest value, and why.
struct Bounds {
    least: u64,
    /// After the number in "must be at least N…".
    least_why: &'static str,
    most: u64,
    most_why: &'static str,
}

impl Bounds {
    fn check(&self, flag: &str, value: u64) -> Result<()> {
        let Bounds {
            least,
            least_why,
            most,
            most_why,
        } = self;
        if value < *least {
            return Err(Failure::usage(format!(
                "{flag} must be at least {least}{least_why}"
            )));
        }
        if value > *most {
            return Err(Failure::usage(format!(
                "{flag} {value} is more than {most}, {most_why}"
            )));
        }
        Ok(())
    }
}

const TIME_LIMIT: Bounds = Bounds {
    least: 1,
    least_why: "",
    most: 7 * 24 * 3600,
    most_why: "a week, the longest run eoscheck plans",
};
const PRODUCERS: Bounds = Bounds {
    least: 1,
    least_why: "",
    most: 1_000,
    most_why:
        "the most producers one machine runs side by side (each a client, a driver each a process)",
};
const PARTITIONS: Bounds = Bounds {
    least: 1,
    least_why: "",
    most: 10_000,
    most_why: "the most partitions a run's topic gets on a 3-node test cluster",
};
const MESSAGE_SIZE: Bounds = Bounds {
    least: 32,
    least_why: " bytes (the message id lives in the value)",
    most: 1_000_000,
    most_why:
        "under the brokers' default message.max.bytes (1 MiB), with room for the batch around it",
};

/// A pipeline's processors when `--processors` is not given: two, so that a
/// crash or a freeze hands partitions to the other.
const DEFAULT_PROCESSORS: u32 = 2;
const PROCESSORS: Bounds = Bounds {
    least: 1,
    least_why: "",
    most: 64,
    most_why: "the most processor processes one machine runs beside a cluster",
};

const TXN_SIZE: Bounds = Bounds {
    least: 1,
    least_why: "",
    most: 10_000,
    most_why:
        "more than a producer's queue takes for one transaction at the message sizes eoscheck sends",
};

const KEYS: Bounds = Bounds {
    least: 1,
    least_why: "",
    most: 1_000_000,
    most_why: "the most keys whose placement a report lists",
};

/// Faults asked for but none fits the time limit would be a run that silently
/// tests nothing of what was asked.
fn check_room_for_faults(config: &RunConfig, time_limit: u64) -> Result<()> {
    let Some(shortest) = config.faults.iter().map(|f| f.duration()).min() else {
        return Ok(());
    };
    if !config.schedule().steps.is_empty() {
        return Ok(());
    }
    let quiet = QUIET.mul_f64(1.5);
    let needed = (shortest + quiet).as_secs() + 1;
    Err(Failure::usage(format!(
        "--time-limit {time_limit} leaves no room for the faults asked for (the shortest lasts {}s, after up to {}s of quiet); use --time-limit {needed} or more, or --nemesis none",
        shortest.as_secs(),
        quiet.as_secs()
    )))
}

/// `--nemesis`'s possible values: `all`, `none` and every fault, each with
/// its line (the label the report gives its intervals).
fn fault_names() -> clap::builder::PossibleValuesParser {
    use clap::builder::PossibleValue;
    let special = [
        PossibleValue::new("all").help("every fault that applies to the workload"),
        PossibleValue::new("none").help("no faults"),
    ];
    let faults = Fault::ALL
        .iter()
        .map(|f| PossibleValue::new(f.name()).help(f.label()));
    special.into_iter().chain(faults).collect::<Vec<_>>().into()
}

/// `--bootstrap`: HOST:PORT, separated by commas, each port a number.
fn bootstrap_list(text: &str) -> Result<String, String> {
    for address in text.split(',') {
        let port = address.rsplit_once(':').and_then(|(host, port)| {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            (!host.is_empty()).then_some(port)
        });
        match port.map(str::parse::<u16>) {
            Some(Ok(port)) if port > 0 => {}
            _ => {
                return Err(format!(
                    "{address:?} is not HOST:PORT; give the brokers' addresses as HOST:PORT[,HOST:PORT...], e.g. 10.0.0.5:9092"
                ))
            }
        }
    }
    Ok(text.to_owned())
}

/// `--compression`'s codecs.
fn codecs() -> clap::builder::PossibleValuesParser {
    use clap::builder::PossibleValue;
    [
        ("none", "no compression"),
        ("gzip", "gzip (deflate)"),
        ("snappy", "Snappy"),
        ("lz4", "LZ4 frames"),
        ("zstd", "Zstandard (Kafka 2.1 on)"),
    ]
    .into_iter()
    .map(|(name, about)| PossibleValue::new(name).help(about))
    .collect::<Vec<_>>()
    .into()
}

/// `NAME[@VERSION]` with the library names as its possible values, for
/// `--help` and completions (the version is whatever the registry has).
#[derive(Clone)]
pub struct ClientParser;

impl clap::builder::TypedValueParser for ClientParser {
    type Value = ClientSpec;

    fn parse_ref(
        &self,
        _: &clap::Command,
        _: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<ClientSpec, clap::Error> {
        let text = value.to_string_lossy();
        text.parse().map_err(|e: String| {
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n"))
        })
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        let names = Library::ALL
            .iter()
            .map(|l| clap::builder::PossibleValue::new(l.name()).help(l.about()));
        Some(Box::new(names))
    }
}
