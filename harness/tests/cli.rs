//! Exit codes of the command line itself, before any cluster is involved.

use std::{path::Path, process::Command};

fn eoscheck(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(args)
        .output()
        .expect("the eoscheck binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().expect("exited, not killed"), stderr)
}

/// Each command line exits 64 before any work, saying what it is paired with.
fn assert_usage_errors(cases: &[(&[&str], &str)]) {
    for (args, says) in cases {
        let (code, stderr) = eoscheck(args);
        assert_eq!(code, 64, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?} says {says:?}: {stderr}");
    }
}

/// A flag clap rejects is a usage error (64), never clap's default 2, which
/// eoscheck reserves for an unknown verdict.
#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["run", "--time-limit", "abc"][..],
        &["bench", "checker", "--records", "many"],
        &["no-such-command"],
        &["run", "--preset", "no-such-preset"],
    ] {
        let (code, stderr) = eoscheck(args);
        assert_eq!(code, 64, "{args:?}: {stderr}");
        assert!(!stderr.is_empty(), "{args:?} says what was wrong");
    }
}

#[test]
fn help_is_not_an_error() {
    assert_eq!(eoscheck(&["--help"]).0, 0);
    assert_eq!(eoscheck(&["run", "--help"]).0, 0);
}

/// Flags that would run something other than what was asked, or that no run
/// could carry out, are refused before any work with a message that says what
/// to use instead.
#[test]
fn flags_out_of_bounds_or_contradicting_each_other_say_what_to_use() {
    let not_a_dir = tempfile::NamedTempFile::new().unwrap();
    let out = not_a_dir.path().join("runs");
    let out = out.to_str().unwrap();
    assert_usage_errors(&[
        (
            &["run", "--dry-run", "--nemesis", ""][..],
            "a value is required for '--nemesis <FAULTS>'",
        ),
        (&["run", "--dry-run", "--nemesis", "all,none"], "contradict"),
        (
            &["run", "--dry-run", "--partitions", "100000"],
            "more than 10000",
        ),
        (
            &["run", "--dry-run", "--time-limit", "1000000000"],
            "a week",
        ),
        (
            &["run", "--dry-run", "--time-limit", "18446744073709551615"],
            "a week",
        ),
        (
            &["run", "--dry-run", "--producers", "5000"],
            "more than 1000",
        ),
        (
            &["run", "--dry-run", "--message-size", "2000000"],
            "message.max.bytes",
        ),
        (&["run", "--dry-run", "--message-size", "10"], "at least 32"),
        (
            &["run", "--dry-run", "--kafka-version", "3.9"],
            "release line",
        ),
        (
            &["run", "--nemesis", "none", "--out", out],
            "cannot write run directories",
        ),
        (
            &["compare", "--clients", "rdkafka,rdkafka", "--dry-run"],
            "rdkafka twice",
        ),
        (
            &[
                "compare",
                "--clients",
                "rdkafka",
                "--presets",
                "idempotent,idempotent",
                "--dry-run",
            ],
            "idempotent twice",
        ),
        (
            &["compare", "--clients", "rdkafka", "--out", out],
            "cannot write run directories",
        ),
    ]);
}

/// A cluster eoscheck does not run (`--bootstrap`) takes no broker image and
/// no fault that acts on a broker: refused before anything connects to it
/// (nothing answers at the address given here); compare takes no
/// `--bootstrap`; the plan shows the cluster and the faults that can go
/// there.
#[test]
fn bootstrap_refuses_broker_faults_and_image_flags_before_any_work() {
    let nowhere = "127.0.0.1:1";
    assert_usage_errors(&[
        (
            &["run", "--bootstrap", nowhere, "--nemesis", "kill-leader"][..],
            "kill-leader needs the brokers' containers; eoscheck can only crash, pause and fence clients on a cluster it does not run",
        ),
        (
            &["run", "--bootstrap", nowhere, "--kafka-version", "3.9.1"],
            "--bootstrap with --kafka-version: eoscheck cannot choose the version of a cluster it does not run",
        ),
        (
            &["run", "--bootstrap", nowhere, "--image", "apache/kafka:4.1.0"],
            "cannot choose the version",
        ),
        (&["run", "--bootstrap", "localhost", "--dry-run"], "is not HOST:PORT"),
        (
            &["run", "--bootstrap", "a:9092,b:x", "--dry-run"],
            "\"b:x\" is not HOST:PORT",
        ),
        (
            &["compare", "--clients", "rdkafka", "--bootstrap", nowhere, "--dry-run"],
            "--bootstrap",
        ),
    ]);
    let plan = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
            .args([
                "run",
                "--dry-run",
                "--seed",
                "1",
                "--bootstrap",
                "10.0.0.5:9092",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let default = plan(&[]);
    assert!(
        default.contains("cluster: 10.0.0.5:9092, not eoscheck's"),
        "{default}"
    );
    assert!(default.contains("client-crash") && !default.contains("kill-leader"));
    let all = plan(&["--preset", "transactional", "--nemesis", "all"]);
    assert!(all.contains("zombie") && !all.contains("ack-loss"), "{all}");
}

/// A producer setting the library does not take, or a settings file that does
/// not parse, is refused before the registry is even asked for the library:
/// exit 64 naming the setting, where it was given, and what to use.
#[test]
fn producer_settings_a_library_does_not_take_are_usage_errors_naming_them() {
    let mut bad_file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut bad_file, b"acks=all\nlinger.ms=\n").unwrap();
    let bad_file = bad_file.path().to_str().unwrap().to_owned();
    assert_usage_errors(&[
        (
            &["run", "--dry-run", "--producer-config", "lingr.ms=5"][..],
            "`lingr.ms` is neither a standard Kafka producer setting nor one rdkafka documents (did you mean `linger.ms`?)",
        ),
        (
            &["run", "--dry-run", "--client", "java", "--producer-config", "queue.buffering.max.ms=5"],
            "`queue.buffering.max.ms` is neither a standard Kafka producer setting nor one java documents",
        ),
        (
            &["run", "--dry-run", "--client", "franz-go", "--producer-config", "enable_idempotence=true"],
            "nor one franz-go documents",
        ),
        (
            &["run", "--dry-run", "--client", "kafka-python", "--producer-config", "idempotent=true"],
            "nor one kafka-python documents",
        ),
        (
            &["run", "--dry-run", "--client", "kafkajs", "--producer-config", "enable_idempotence=true"],
            "nor one kafkajs documents",
        ),
        (
            &["compare", "--dry-run", "--clients", "rdkafka,sarama", "--producer-config", "Producer.Bogus=1"],
            "--producer-config Producer.Bogus=1: `Producer.Bogus`",
        ),
        (
            &["run", "--dry-run", "--producer-config", "acks"],
            "is not KEY=VALUE",
        ),
        (
            &["run", "--dry-run", "--producer-config-file", &bad_file],
            "line 2: `linger.ms` has no value",
        ),
        (
            &["run", "--dry-run", "--compression", "brotli"],
            "brotli",
        ),
        (
            &["run", "--dry-run", "--message-size", "500..100"],
            "the least size is more than the most",
        ),
        (
            &["run", "--dry-run", "--message-size", "100..2000000"],
            "message.max.bytes",
        ),
        (&["run", "--dry-run", "--keys", "0"], "--keys must be at least 1"),
    ]);
}

/// The dry run shows where every setting came from and warns of the user's
/// settings that contradict the promise.
#[test]
fn the_plan_shows_each_settings_origin_and_the_users_contradictions() {
    let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args([
            "run",
            "--dry-run",
            "--producer-config",
            "acks=1",
            "--compression",
            "zstd",
            "--keys",
            "100",
            "--message-size",
            "100..50000",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for line in [
        "  acks=1 (user)",
        "  compression.type=zstd (user)",
        "  enable.idempotence=true (preset)",
        "  request.timeout.ms=5000 (eoscheck)",
        "warning: acks=1 under no-loss",
        "100..50000 bytes, 100 keys placed by the library's partitioner",
    ] {
        assert!(stdout.contains(line), "{line:?} in {stdout}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(["run", "--dry-run", "--preset", "library-defaults"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("preset: library-defaults\npromised:"),
        "nothing set: {stdout}"
    );
}

/// The transactional flags and the zombie apply only to producers that send
/// in transactions, and `transactional.id` is eoscheck's to give: each is
/// refused before any work, saying what applies.
#[test]
fn transactional_flags_and_faults_are_refused_where_nothing_is_transactional() {
    assert_usage_errors(&[
        (
            &["run", "--dry-run", "--txn-size", "3"][..],
            "--txn-size applies to transactional presets (transactional, transactional-resend) and to a pipeline's feeder (eos-pipeline, alo-pipeline); idempotent sends no transactions",
        ),
        (
            &["run", "--dry-run", "--preset", "app-resend", "--abort-rate", "0.5"],
            "--abort-rate applies to transactional presets",
        ),
        (
            &["compare", "--dry-run", "--clients", "rdkafka", "--txn-size", "3"],
            "idempotent, at-least-once sends no transactions",
        ),
        (
            &["run", "--dry-run", "--nemesis", "kill-leader,zombie"],
            "--nemesis: zombie needs producers that send in transactions",
        ),
        (
            &["compare", "--dry-run", "--clients", "rdkafka", "--presets", "transactional,idempotent", "--nemesis", "zombie"],
            "zombie needs producers that send in transactions",
        ),
        (
            &["run", "--dry-run", "--preset", "transactional", "--abort-rate", "1.5"],
            "--abort-rate 1.5 is not a share from 0 to 1",
        ),
        (
            &["run", "--dry-run", "--preset", "transactional", "--txn-size", "0..4"],
            "a transaction holds at least 1 message",
        ),
        (
            &["run", "--dry-run", "--preset", "transactional", "--txn-size", "5..2"],
            "the least count is more than the most",
        ),
        (
            &["run", "--dry-run", "--preset", "transactional", "--txn-size", "20000"],
            "--txn-size 20000 is more than 10000",
        ),
        (
            &["run", "--dry-run", "--preset", "transactional", "--producer-config", "transactional.id=mine"],
            "`transactional.id` is eoscheck's to give",
        ),
    ]);
}

/// A pipeline's flags and presets go together, kafka-streams runs only a
/// pipeline, and its zombie is not the produce workload's.
#[test]
fn pipeline_flags_presets_and_clients_are_refused_where_they_do_not_fit() {
    assert_usage_errors(&[
        (
            &[
                "run",
                "--dry-run",
                "--workload",
                "produce",
                "--client",
                "kafka-streams",
            ][..],
            "kafka-streams has no producer in eoscheck (it runs the pipeline workload only: --workload pipeline)",
        ),
        (
            &[
                "run",
                "--dry-run",
                "--workload",
                "produce",
                "--preset",
                "eos-pipeline",
            ],
            "preset eos-pipeline does not fit --workload produce",
        ),
        (
            &[
                "run",
                "--dry-run",
                "--workload",
                "pipeline",
                "--preset",
                "idempotent",
            ],
            "preset idempotent does not fit --workload pipeline",
        ),
        (
            &[
                "compare",
                "--dry-run",
                "--clients",
                "java@3.9.1",
                "--presets",
                "eos-pipeline,idempotent",
            ],
            "preset idempotent does not fit the other presets' workload",
        ),
        (
            &["run", "--dry-run", "--processors", "3"],
            "--processors applies to a pipeline (--workload pipeline)",
        ),
        (
            &[
                "run",
                "--dry-run",
                "--workload",
                "pipeline",
                "--client",
                "java@3.9.1",
                "--processors",
                "0",
            ],
            "--processors must be at least 1",
        ),
        (
            &[
                "run",
                "--dry-run",
                "--preset",
                "alo-pipeline",
                "--client",
                "java@3.9.1",
                "--nemesis",
                "zombie",
            ],
            "a pipeline's processors meet client-crash",
        ),
    ]);
}

/// A pipeline's plan: the processors' preset, their `transactional.id`s
/// apart from the feeder's, and a schedule without the zombie.
#[test]
fn the_pipeline_plan_shows_its_processors_and_leaves_out_the_zombie() {
    let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(["run", "--dry-run", "--seed", "3", "--time-limit", "900"])
        .args(["--workload", "pipeline", "--client", "java@3.9.1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in [
        "preset: eos-pipeline",
        "  transactional.id=eoscheck-<run id>-processor-<producer> (eoscheck)",
        "promised: no-loss, no-duplicates, order, atomicity",
        "pipeline: 2 processors of the client, exactly-once, input eoscheck, output eoscheck-out",
        "start  client-crash",
        "start  kill-txn-coordinator",
    ] {
        assert!(stdout.contains(line), "{line:?} in {stdout}");
    }
    assert!(!stdout.contains("zombie"), "{stdout}");
}

/// A transactional run's plan: each instance's `transactional.id`, the
/// transaction timeout, the transactions, and `all` with the zombie in it
/// (left out of a plain preset's `all`).
#[test]
fn the_transactional_plan_shows_its_ids_timeout_transactions_and_the_zombie() {
    let plan = |preset: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
            .args(["run", "--dry-run", "--seed", "3", "--time-limit", "900"])
            .args([
                "--preset",
                preset,
                "--txn-size",
                "2..5",
                "--abort-rate",
                "0.25",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{preset}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let stdout = plan("transactional");
    for line in [
        "  transactional.id=eoscheck-<run id>-<producer> (eoscheck)",
        "  transaction.timeout.ms=30000 (eoscheck)",
        "promised: no-loss, no-duplicates, order, atomicity",
        "transactions: 2..5 messages each, 0.25 aborted on purpose\n",
        "start  zombie",
    ] {
        assert!(stdout.contains(line), "{line:?} in {stdout}");
    }
    let stdout = plan("transactional-resend");
    assert!(stdout.contains("promised: no-loss, atomicity"), "{stdout}");
    assert!(
        stdout.contains("an unknown commit's messages resent"),
        "{stdout}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(["run", "--dry-run", "--seed", "3", "--time-limit", "900"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("start  client-crash"), "{stdout}");
    assert!(
        !stdout.contains("zombie") && !stdout.contains("transaction"),
        "{stdout}"
    );
}

/// `compare --dry-run` shows every cell and the one schedule they share.
#[test]
fn compare_dry_run_prints_every_cell_and_the_shared_schedule() {
    let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args([
            "compare",
            "--clients",
            "rdkafka",
            "--seed",
            "11",
            "--dry-run",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("cells: 2 (1 clients × 2 presets)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(" × idempotent (promised: no-loss, no-duplicates, order)")
            && stdout.contains(" × at-least-once (promised: no-loss)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("seed: 11") && stdout.contains("start  client-crash"),
        "{stdout}"
    );
}

/// A run directory killed before its final read, with the run.json it wrote
/// at the start (no outcome yet).
fn killed_run_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let record = serde_json::json!({
        "format": 1, "id": "killed", "started": "2026-11-30T00:00:00Z", "preset": "idempotent",
        "guarantees": ["no-loss", "no-duplicates", "order"],
        "client": {"name": "rdkafka", "version": "2.12.1"}, "producer_settings": {},
        "kafka_version": "4.4.0", "image": "eoscheck/kafka:4.4.0", "topic": "t", "seed": 1,
        "time_limit_s": 60.0, "rate": 1000, "producers": 1, "partitions": 1, "message_size": 100,
        "nemesis": {"config": {"faults": ["kill-leader"], "seed": 1, "time_limit": 60.0, "quiet": 5.0},
                    "steps": []},
        "phases": [], "outcome": null
    });
    std::fs::write(dir.path().join("run.json"), record.to_string()).unwrap();
    std::fs::write(
        dir.path().join("history.jsonl"),
        "{\"type\":\"header\",\"format\":4,\"topic\":\"t\",\"producers\":1}\n\
         {\"type\":\"invoke\",\"t\":5,\"m\":[0,0],\"p\":0}\n",
    )
    .unwrap();
    dir
}

fn outcome(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("run.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["outcome"].clone()
}

/// `check` judged against the run's own promise brings run.json's outcome up
/// to date; judged against another promise it writes results.json only; a
/// check that fails on damage leaves both as they were.
#[test]
fn check_updates_the_outcome_only_for_the_runs_own_promise_and_never_on_damage() {
    let dir = killed_run_dir();
    let path = dir.path().to_str().unwrap();
    assert_eq!(eoscheck(&["check", path, "--guarantee", "no-loss"]).0, 2);
    assert!(dir.path().join("results.json").is_file());
    assert_eq!(
        outcome(dir.path()),
        serde_json::Value::Null,
        "another promise"
    );

    assert_eq!(eoscheck(&["check", path]).0, 2);
    assert_eq!(outcome(dir.path())["verdict"], "unknown");
    let results = std::fs::read(dir.path().join("results.json")).unwrap();
    let record = std::fs::read(dir.path().join("run.json")).unwrap();

    let history = dir.path().join("history.jsonl");
    let mut text = std::fs::read_to_string(&history).unwrap();
    text.insert_str(text.find('\n').unwrap() + 1, "not json\n");
    std::fs::write(&history, text).unwrap();
    let (code, stderr) = eoscheck(&["check", path]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("history.jsonl"), "names the file: {stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("results.json")).unwrap(),
        results
    );
    assert_eq!(std::fs::read(dir.path().join("run.json")).unwrap(), record);
}

/// A log file that is not what the brokers served (here one byte of a batch,
/// under its CRC) is the run directory's fault, not a client's: `check`
/// exits 64 naming the file and the batch's byte, says it is no anomaly, and
/// writes no results.
#[test]
fn check_refuses_a_damaged_log_as_a_usage_error_not_an_anomaly() {
    use checker::synth::{generate, SynthConfig};
    let run = generate(&SynthConfig {
        partitions: 1,
        ..SynthConfig::clean(5, 200)
    })
    .unwrap();
    let dir = synth_run_dir(&run);
    let mut bytes = run.logs[0].to_vec();
    bytes[70] ^= 1; // in the first batch's records, which its CRC covers
    std::fs::write(dir.path().join("log/partition-0.bin"), bytes).unwrap();

    let args = [
        "check",
        dir.path().to_str().unwrap(),
        "--guarantee",
        "exactly-once",
    ];
    let (code, stderr) = eoscheck(&args);
    assert_eq!(code, 64, "{stderr}");
    for says in [
        "partition-0.bin: byte 0:",
        "damaged",
        "Cyclic redundancy check failed",
        "not a client anomaly",
    ] {
        assert!(stderr.contains(says), "says {says:?}: {stderr}");
    }
    assert!(!dir.path().join("results.json").exists());
}

/// `consumed.json` is checked with the run: a consumer's read that matches
/// the log passes, one that delivered an aborted record is `aborted-read`,
/// and a file whose ranges do not hold together is damage (exit 64 naming
/// it), never an anomaly.
#[test]
fn check_compares_what_the_consumer_delivered_and_refuses_a_damaged_file() {
    use checker::synth::{generate, Injection, SynthConfig};
    let write = |inject: Vec<Injection>| {
        let run = generate(&SynthConfig {
            inject,
            ..SynthConfig::clean(5, 300)
        })
        .unwrap();
        let dir = synth_run_dir(&run);
        let consumed = serde_json::to_string(&run.consumed).unwrap();
        std::fs::write(dir.path().join("consumed.json"), consumed).unwrap();
        dir
    };
    let check = |dir: &tempfile::TempDir| {
        let path = dir.path().to_str().unwrap().to_owned();
        eoscheck(&["check", &path, "--guarantee", "exactly-once,atomicity"])
    };
    let clean = write(Vec::new());
    assert_eq!(check(&clean).0, 0, "{}", check(&clean).1);
    let broken = write(vec![Injection::AbortedRead]);
    let (code, stderr) = check(&broken);
    assert_eq!(code, 1, "{stderr}");
    let results = std::fs::read_to_string(broken.path().join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&results).unwrap();
    assert_eq!(
        results["anomalies"]["aborted-read"]["count"], 1,
        "{results}"
    );

    let path = clean.path().join("consumed.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"from\":0", "\"from\":100000", 1)).unwrap();
    let (code, stderr) = check(&clean);
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("consumed.json") && stderr.contains("out of order or outside"),
        "{stderr}"
    );
}

/// A run directory holding a synthetic run's history and log.
fn synth_run_dir(run: &checker::synth::SynthRun) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut history = String::new();
    run.for_each_event(|e| history += &(serde_json::to_string(e).unwrap() + "\n"));
    std::fs::write(dir.path().join("history.jsonl"), history).unwrap();
    write_log(&dir.path().join("log"), &run.manifest, &run.logs);
    dir
}

/// A final read as the harness leaves it: the manifest and a file per
/// partition.
fn write_log(folder: &std::path::Path, manifest: &checker::Manifest, logs: &[bytes::Bytes]) {
    std::fs::create_dir(folder).unwrap();
    let text = serde_json::to_string(manifest).unwrap();
    std::fs::write(folder.join("manifest.json"), text).unwrap();
    for (entry, bytes) in manifest.partitions.iter().zip(logs) {
        std::fs::write(folder.join(&entry.file), bytes).unwrap();
    }
}

/// A pipeline's run directory is checked from its history, both logs and
/// `group.json`: whole, it is valid; without its output, unknown saying
/// why; with a damaged `group.json`, exit 64 naming the file.
#[test]
fn check_judges_a_pipeline_from_its_files_and_refuses_a_damaged_group() {
    let run = checker::synth::pipeline(5, None);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("history.jsonl"), &run.history).unwrap();
    write_log(&dir.path().join("log"), &run.input.0, &run.input.1);
    write_log(&dir.path().join("output"), &run.output.0, &run.output.1);
    let group = checker::group::GroupOffsets {
        format: checker::group::FORMAT,
        group: "g".into(),
        offsets: run.group.clone().unwrap(),
    };
    let group_file = dir.path().join("group.json");
    std::fs::write(&group_file, serde_json::to_string(&group).unwrap()).unwrap();
    let path = dir.path().to_str().unwrap();
    let check = || eoscheck(&["check", path, "--guarantee", "exactly-once,atomicity"]);
    assert_eq!(check().0, 0, "{}", check().1);

    std::fs::write(
        &group_file,
        "{\"format\":1,\"group\":\"g\",\"offsets\":{\"0\":-5}}",
    )
    .unwrap();
    let (code, stderr) = check();
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("group.json") && stderr.contains("damaged"),
        "{stderr}"
    );

    std::fs::remove_file(&group_file).unwrap();
    std::fs::remove_dir_all(dir.path().join("output")).unwrap();
    assert_eq!(check().0, 2);
    let results = std::fs::read_to_string(dir.path().join("results.json")).unwrap();
    assert!(
        results.contains("output"),
        "says the output was not read: {results}"
    );
}

/// `--json` keeps stdout for one JSON object, its last line: the verdict,
/// exit code, counts and paths a CI step acts on; the human lines go to
/// stderr, without colour codes when it is not a terminal. A refusal is
/// one JSON object too.
#[test]
fn check_json_ends_stdout_with_one_object_and_stderr_has_no_escape_codes() {
    let run = checker::synth::generate(&checker::synth::SynthConfig::clean(3, 200)).unwrap();
    let dir = synth_run_dir(&run);
    let path = dir.path().to_str().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(["check", path, "--guarantee", "no-loss", "--json"])
        .env("CI", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().expect("a line on stdout");
    let object: serde_json::Value = serde_json::from_str(last).expect("the last line is JSON");
    assert_eq!(object["exit_code"], out.status.code().unwrap());
    assert_eq!(object["verdict"], "valid", "{object}");
    assert!(object["results"]
        .as_str()
        .unwrap()
        .ends_with("results.json"));
    assert_eq!(
        stdout.lines().count(),
        1,
        "nothing but the object: {stdout}"
    );
    assert!(!out.stderr.contains(&0x1b), "no ESC byte in stderr");
    assert!(String::from_utf8_lossy(&out.stderr).contains("verdict: valid"));

    let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(["check", "/no/such/run", "--json"])
        .output()
        .unwrap();
    let object: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(object["exit_code"], 64);
    assert!(object["error"]
        .as_str()
        .unwrap()
        .contains("not a directory"));
}

/// `--help` lists the presets, clients and faults with a line each, and
/// the completion scripts know them.
#[test]
fn help_lists_every_choice_and_completions_know_them() {
    let help = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for choice in [
        "eos-pipeline:",
        "franz-go:",
        "kafka-streams:",
        "kill-leader:",
        "zstd:",
    ] {
        assert!(help.contains(choice), "run --help lists {choice}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
            .args(["completions", shell])
            .output()
            .unwrap();
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{shell}");
        assert!(
            script.contains("idempotent-inflight-1") && script.contains("pause-processor"),
            "{shell} completes presets and faults"
        );
    }
    assert_eq!(eoscheck(&["completions", "tcsh"]).0, 64);
}

/// The final read stored as zstd streams (manifest format 2) checks to the
/// same results as the raw bytes; a damaged stream, or a damaged batch
/// inside a sound one, exits 64 naming the file, with the batch's byte
/// counted in the decompressed stream.
#[test]
fn a_zstd_stored_log_checks_as_the_raw_one_and_its_damage_is_named() {
    use checker::synth::{generate, SynthConfig};
    let run = generate(&SynthConfig::clean(9, 300)).unwrap();
    let raw = synth_run_dir(&run);
    let check = |dir: &std::path::Path| {
        let args = [
            "check",
            dir.to_str().unwrap(),
            "--guarantee",
            "exactly-once",
        ];
        let (code, stderr) = eoscheck(&args);
        let results = std::fs::read_to_string(dir.join("results.json")).ok();
        (code, stderr, results)
    };
    let (raw_code, _, raw_results) = check(raw.path());

    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        raw.path().join("history.jsonl"),
        dir.path().join("history.jsonl"),
    )
    .unwrap();
    let mut manifest = run.manifest.clone();
    manifest.format = checker::log::FORMAT;
    manifest.storage = checker::Storage::Zstd;
    for entry in &mut manifest.partitions {
        entry.file = checker::Storage::Zstd.file_name(entry.partition);
    }
    let stored: Vec<bytes::Bytes> = run
        .logs
        .iter()
        .map(|log| zstd::encode_all(&log[..], 3).unwrap().into())
        .collect();
    write_log(&dir.path().join("log"), &manifest, &stored);
    let (code, stderr, results) = check(dir.path());
    assert_eq!((code, &results), (raw_code, &raw_results), "{stderr}");

    let file = dir.path().join("log/partition-0.bin.zst");
    // Cut short, as a copy that stopped half-way leaves it.
    std::fs::write(&file, &stored[0][..stored[0].len() / 2]).unwrap();
    let (code, stderr, _) = check(dir.path());
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("partition-0.bin.zst") && stderr.contains("zstd stream is damaged"),
        "{stderr}"
    );

    let mut batch_damaged = run.logs[0].to_vec();
    batch_damaged[70] ^= 1;
    std::fs::write(&file, zstd::encode_all(&batch_damaged[..], 3).unwrap()).unwrap();
    let (code, stderr, _) = check(dir.path());
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("partition-0.bin.zst: byte 0:"), "{stderr}");
}

/// `prune --keep 1` leaves the newest run and comparison, and the older run
/// the kept comparison shows; `latest` points at the newest run left; a
/// directory eoscheck did not name stays; `--dry-run` removes nothing.
#[test]
fn prune_keeps_the_newest_and_what_kept_comparisons_show() {
    let runs = tempfile::tempdir().unwrap();
    let r = runs.path();
    let names = [
        "20261101T000000-0001",
        "20261102T000000-0002",
        "20261103T000000-0003",
        "20261104T000000-0004",
        "compare-20261101T000000-00c1",
        "compare-20261105T000000-00c2",
        "my-notes",
    ];
    for name in names {
        std::fs::create_dir(r.join(name)).unwrap();
        std::fs::write(r.join(name).join("x"), [0u8; 1000]).unwrap();
    }
    let compare = serde_json::json!({
        "format": 1, "id": "20261105T000000-00c2", "started": "2026-11-05T00:00:00Z",
        "seed": 1, "nemesis": [], "time_limit_s": 10.0, "kafka_version": null,
        "clients": ["java@4.1.0"], "presets": ["idempotent"],
        "cells": [{"client": "java@4.1.0", "preset": "idempotent", "run": "../20261102T000000-0002", "exit_code": 0}]
    });
    std::fs::write(
        r.join("compare-20261105T000000-00c2/compare.json"),
        compare.to_string(),
    )
    .unwrap();
    std::os::unix::fs::symlink("20261101T000000-0001", r.join("latest")).unwrap();
    let out = r.to_str().unwrap();

    let (code, _) = eoscheck(&["prune", "--out", out, "--keep", "1", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        names.iter().all(|n| r.join(n).exists()),
        "a dry run removes nothing"
    );

    let (code, stderr) = eoscheck(&["prune", "--out", out, "--keep", "1"]);
    assert_eq!(code, 0, "{stderr}");
    let left: std::collections::BTreeSet<String> = std::fs::read_dir(r)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected = [
        "20261102T000000-0002",
        "20261104T000000-0004",
        "compare-20261105T000000-00c2",
        "my-notes",
        "latest",
        "index.html",
    ];
    assert_eq!(left, expected.iter().map(|s| s.to_string()).collect());
    let latest = std::fs::read_link(r.join("latest")).unwrap();
    assert_eq!(latest, std::path::Path::new("20261104T000000-0004"));
    assert_eq!(
        eoscheck(&["prune", "--out", out]).0,
        64,
        "--keep or --older-than"
    );
}

/// The cells `compare --dry-run` lists, as `client × preset`.
fn planned_cells(args: &[&str]) -> (Vec<String>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(["compare", "--dry-run", "--clients", "rdkafka,java"])
        .args(["--presets", "idempotent,at-least-once,at-most-once"])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let cells = stdout
        .lines()
        .filter_map(|l| Some(l.trim().split_once(" (promised")?.0.to_owned()))
        .collect();
    (cells, stdout)
}

#[test]
fn shards_split_the_matrix_between_them_under_one_comparison_id() {
    let (whole, _) = planned_cells(&["--seed", "5"]);
    assert_eq!(whole.len(), 6);
    let (first, plan1) = planned_cells(&["--seed", "5", "--shard", "1/2"]);
    let (second, plan2) = planned_cells(&["--seed", "5", "--shard", "2/2"]);
    assert_eq!(
        first,
        [whole[0].clone(), whole[2].clone(), whole[4].clone()],
        "every other cell"
    );
    assert_eq!(
        second,
        [whole[1].clone(), whole[3].clone(), whole[5].clone()]
    );
    let id = |plan: &str| {
        let line = plan.lines().find(|l| l.starts_with("shard ")).unwrap();
        line.split_whitespace().nth(3).unwrap().to_owned()
    };
    assert!(id(&plan1).starts_with("compare-s5-"), "{plan1}");
    assert_eq!(id(&plan1), id(&plan2), "one comparison");
    let (_, other) = planned_cells(&["--seed", "5", "--shard", "1/2", "--rate", "10"]);
    assert_ne!(id(&other), id(&plan1), "another workload, another id");
    let compare = |shard: &'static str, seed: bool| {
        let mut args = vec!["compare", "--dry-run", "--clients", "rdkafka", "--shard"];
        args.push(shard);
        if seed {
            args.extend(["--seed", "1"]);
        }
        args
    };
    let (unseeded, past_n, zeroth) = (
        compare("1/2", false),
        compare("3/2", true),
        compare("0/2", true),
    );
    assert_usage_errors(&[
        (&unseeded[..], "--shard needs --seed"),
        (&past_n, "1 <= I <= N"),
        (&zeroth, "1 <= I <= N"),
    ]);
}

/// A runs folder as one share of a comparison leaves it: its runs (a
/// run.json each) and `compare-<id>/compare.json` with its cells.
fn share_folder(index: u32, runs: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let folder = tempfile::tempdir().unwrap();
    let cells: Vec<serde_json::Value> = runs
        .iter()
        .map(|(run, client, preset)| {
            let dir = folder.path().join(run);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("run.json"), format!(r#"{{"id":"{run}"}}"#)).unwrap();
            serde_json::json!({"client": client, "preset": preset, "run": format!("../{run}"),
                               "exit_code": 0, "summary": null})
        })
        .collect();
    let compare = serde_json::json!({
        "format": 1, "id": "s5-0badcafe", "started": format!("2026-12-0{index}T02:00:00Z"),
        "seed": 5, "nemesis": ["client-crash"], "time_limit_s": 10.0, "kafka_version": "4.4.0",
        "clients": ["rdkafka@0.39.0", "java@4.4.0"], "presets": ["idempotent", "at-least-once"],
        "cells": cells, "shards": [{"index": index, "count": 2, "started": "2026-12-01T02:00:00Z"}]
    });
    let dir = folder.path().join("compare-s5-0badcafe");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("compare.json"), compare.to_string()).unwrap();
    std::os::unix::fs::symlink(runs[0].0, folder.path().join("latest")).unwrap();
    folder
}

#[test]
fn report_index_gathers_runs_folders_and_puts_shares_back_together() {
    let one = share_folder(
        1,
        &[
            ("20261201T020000-0001", "rdkafka@0.39.0", "idempotent"),
            ("20261201T020500-0002", "java@4.4.0", "idempotent"),
        ],
    );
    let two = share_folder(
        2,
        &[
            ("20261201T020000-0003", "rdkafka@0.39.0", "at-least-once"),
            ("20261201T020500-0004", "java@4.4.0", "at-least-once"),
        ],
    );
    let merged = tempfile::tempdir().unwrap();
    let into = merged.path().join("all");
    let path = |d: &tempfile::TempDir| d.path().to_str().unwrap().to_owned();
    let (a, b, out) = (path(&one), path(&two), into.to_str().unwrap().to_owned());
    let gathered = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(["report", "--index", &a, &b, "--out", &out])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&gathered.stdout);
    assert_eq!(gathered.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("gathered: 4 runs copied, 0 there already, 1 comparisons"),
        "{stdout}"
    );

    let text = std::fs::read_to_string(into.join("compare-s5-0badcafe/compare.json")).unwrap();
    let compare: serde_json::Value = serde_json::from_str(&text).unwrap();
    let runs: Vec<&str> = compare["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["run"].as_str().unwrap())
        .collect();
    let matrix_order = [
        "../20261201T020000-0001",
        "../20261201T020000-0003",
        "../20261201T020500-0002",
        "../20261201T020500-0004",
    ];
    assert_eq!(runs, matrix_order);
    assert_eq!(compare["shards"].as_array().unwrap().len(), 2);
    assert_eq!(
        compare["started"], "2026-12-01T02:00:00Z",
        "the first share's"
    );
    let page = std::fs::read_to_string(into.join("compare-s5-0badcafe/index.html")).unwrap();
    assert!(page.contains("2 of 2: 1/2, 2/2; all merged"));
    assert!(
        into.join("index.html").is_file() && into.join("20261201T020500-0004/run.json").is_file()
    );
    assert!(
        !one.path().join("20261201T020000-0003").exists(),
        "the sources are left as they were"
    );

    // Gathered again: nothing new; a different run under a taken name is refused.
    let again = Command::new(env!("CARGO_BIN_EXE_eoscheck"))
        .args(["report", "--index", &out, &a, &b])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 runs copied, 4 there already"));
    std::fs::write(two.path().join("20261201T020000-0003/run.json"), "{}").unwrap();
    let missing = merged.path().join("no-such-runs");
    let missing = missing.to_str().unwrap();
    assert_usage_errors(&[
        (
            &["report", "--index", &out, &b][..],
            "are different runs under one name",
        ),
        (&["report", "--index", missing], "no runs folder there"),
    ]);
    assert!(
        !Path::new(missing).exists(),
        "a mistyped folder is not made"
    );
}
