//! Every results.json the checker produces validates against the checked-in
//! schema, `reports/results.schema.json`: clean runs, unknown ones, and runs
//! with each kind of anomaly (each duplicate cause), idempotent or not, keyed
//! or not, pipelines clean and with each pipeline anomaly, plus any
//! results.json of real runs in the workspace's `runs/` folder.

use checker::synth::{self, Injection, PipelineInjection, SynthConfig};
use checker::{Checker, Guarantee, Options, Results, Validity};
use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("../results.schema.json")).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("a valid 2020-12 schema")
}

fn assert_valid(validator: &jsonschema::Validator, what: &str, results: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(results)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match the schema:\n{}",
        errors.join("\n")
    );
}

fn check(config: &SynthConfig, read_all: bool) -> Results {
    let run = synth::generate(config).unwrap();
    let mut checker = Checker::new(Options {
        idempotence: run.asked,
        ..Options::new(Guarantee::parse_list("exactly-once,order").unwrap())
    });
    run.for_each_event(|e| checker.observe(e).unwrap());
    checker.consumed(run.consumed.clone());
    checker.begin_log(&run.manifest);
    let read = if read_all { run.logs.len() } else { 1 };
    for (entry, bytes) in run.manifest.partitions.iter().zip(&run.logs).take(read) {
        checker.read_partition(entry, bytes.clone()).unwrap();
    }
    checker.finish()
}

#[test]
fn every_results_json_the_checker_writes_matches_the_schema() {
    let validator = validator();
    let mut verdicts = Vec::new();
    for (idempotent, keys) in [(true, 0), (false, 0), (true, 12)] {
        let clean = SynthConfig {
            idempotent,
            keys,
            ..SynthConfig::clean(3, 1_500)
        };
        for (read_all, what) in [(true, "clean"), (false, "partly read")] {
            let results = check(&clean, read_all);
            verdicts.push(results.valid);
            assert_valid(
                &validator,
                &format!("{what}, idempotent {idempotent}, {keys} keys"),
                &serde_json::to_value(&results).unwrap(),
            );
        }
        for injection in Injection::ALL.into_iter().filter(|i| i.fits(&clean)) {
            let config = SynthConfig {
                inject: vec![injection],
                ..clean.clone()
            };
            let results = check(&config, true);
            assert!(results.anomalies.count(injection.kind()) > 0);
            verdicts.push(results.valid);
            // Through the text, as the file is written and read.
            let text = serde_json::to_string_pretty(&results).unwrap();
            assert_valid(
                &validator,
                &format!("{injection:?}, idempotent {idempotent}, {keys} keys"),
                &serde_json::from_str(&text).unwrap(),
            );
        }
    }
    for verdict in [Validity::Valid, Validity::Invalid, Validity::Unknown] {
        assert!(
            verdicts.contains(&verdict),
            "no {verdict:?} run was validated"
        );
    }
}

#[test]
fn every_pipeline_results_json_matches_the_schema() {
    let validator = validator();
    let options = || Options::new(Guarantee::ALL.to_vec());
    let injections = PipelineInjection::ALL.into_iter().map(Some);
    for injection in std::iter::once(None).chain(injections) {
        let results = synth::pipeline(7, injection).check(options()).unwrap();
        assert!(results.pipeline.is_some());
        if let Some(planted) = injection {
            assert!(results.anomalies.count(planted.kind()) > 0);
        }
        let text = serde_json::to_string_pretty(&results).unwrap();
        assert_valid(
            &validator,
            &format!("pipeline with {injection:?}"),
            &serde_json::from_str(&text).unwrap(),
        );
    }
}

#[test]
fn results_of_real_runs_in_the_workspace_match_the_schema() {
    let validator = validator();
    let runs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runs");
    for run in std::fs::read_dir(runs).into_iter().flatten().flatten() {
        let file = run.path().join("results.json");
        if let Ok(text) = std::fs::read_to_string(&file) {
            assert_valid(
                &validator,
                &file.display().to_string(),
                &serde_json::from_str(&text).unwrap(),
            );
        }
    }
}

#[test]
fn the_schema_rejects_what_the_checker_never_writes() {
    let validator = validator();
    let results = serde_json::to_value(check(&SynthConfig::clean(3, 200), true)).unwrap();
    let broken = |change: fn(&mut Value)| {
        let mut r = results.clone();
        change(&mut r);
        validator.is_valid(&r)
    };
    assert!(validator.is_valid(&results));
    assert!(!broken(|r| r["valid"] = "maybe".into()));
    assert!(!broken(|r| {
        r["anomalies"].as_object_mut().unwrap().remove("phantom");
    }));
    assert!(!broken(
        |r| r["guarantees"] = serde_json::json!(["exactly-twice"])
    ));
    assert!(!broken(|r| r["stats"]["sends"]["ok"] = (-1).into()));
    assert!(!broken(|r| r["surprise"] = 1.into()));

    let config = SynthConfig {
        inject: vec![Injection::Lost],
        ..SynthConfig::clean(3, 200)
    };
    let lost = serde_json::to_value(check(&config, true)).unwrap();
    assert!(validator.is_valid(&lost));
    let mut example = lost.clone();
    example["anomalies"]["lost"]["examples"][0]["surprise"] = 1.into();
    assert!(
        !validator.is_valid(&example),
        "flattened examples admit no unknown field"
    );
    let mut example = lost;
    example["anomalies"]["lost"]["examples"][0]["outcome"]["kind"] = "perhaps".into();
    assert!(!validator.is_valid(&example));

    let keyed = SynthConfig {
        keys: 5,
        ..SynthConfig::clean(3, 200)
    };
    let keyed = serde_json::to_value(check(&keyed, true)).unwrap();
    assert!(validator.is_valid(&keyed));
    let mut key = keyed.clone();
    key["keys"][0]["surprise"] = 1.into();
    assert!(
        !validator.is_valid(&key),
        "a key's placement admits no unknown field"
    );
    let mut asked = keyed;
    asked["idempotence"][0]["asked"] = "maybe".into();
    assert!(!validator.is_valid(&asked));
}
