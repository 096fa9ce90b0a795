//! The processors of the pipeline workload (`drivers/PROTOCOL.md`, Processors)
//! on a real cluster, without the workload: a transactional feeder fills a
//! 3-partition input, two processors of a library consume, tag and produce it,
//! one is SIGKILLed half-way and, exactly once, a second instance with the
//! other's `transactional.id` fences it; once the group's committed offsets
//! reach the input's end, the output read with `read_committed` must hold each
//! input record once (exactly once) or at least once.
//!
//! Ignored by default (it installs drivers from Maven Central and starts a
//! cluster): `cargo test -p harness --test pipeline_drivers -- --ignored
//! --nocapture`; `EOSCHECK_PROCESSORS=java@3.9.1,kafka-streams` picks the
//! libraries (default `java,kafka-streams`).

mod common;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use harness::{
    clients::{self, ClientSpec},
    cluster::{self, Cluster},
};
use rdkafka::{
    config::ClientConfig,
    consumer::{BaseConsumer, Consumer},
    producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer},
    Message, Offset, TopicPartitionList,
};
use serde_json::{json, Value};

const PARTITIONS: i32 = 3;
const MESSAGES: usize = 6000;

/// One processor process and the events it printed.
struct Proc {
    child: Child,
    stdin: ChildStdin,
    events: Arc<Mutex<Vec<Value>>>,
}

impl Proc {
    fn start(program: &Path, args: &[String], dir: &Path, configure: Value, log: &Path) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .expect("the processor starts");
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{configure}").unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let out = BufReader::new(child.stdout.take().unwrap());
        let sink = events.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let event: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not an event ({e}): {line}"));
                sink.lock().unwrap().push(event);
            }
        });
        Proc {
            child,
            stdin,
            events,
        }
    }

    fn count(&self, kind: &str) -> usize {
        let events = self.events.lock().unwrap();
        events.iter().filter(|e| e["type"] == kind).count()
    }

    fn wait_for(&self, kind: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.count(kind) > 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

fn feed(bootstrap: &str, topic: &str) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", format!("feeder-{topic}"))
        .create()
        .unwrap();
    producer.init_transactions(Duration::from_secs(30)).unwrap();
    for chunk in 0..MESSAGES / 100 {
        producer.begin_transaction().unwrap();
        for i in chunk * 100..(chunk + 1) * 100 {
            let value = format!("eos1:0:{i}:0:..........");
            let key = (i % 20).to_string();
            producer
                .send(BaseRecord::to(topic).key(&key).payload(&value))
                .map_err(|(e, _)| e)
                .unwrap();
        }
        producer
            .commit_transaction(Duration::from_secs(30))
            .unwrap();
    }
}

fn consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .unwrap()
}

/// Every committed record of `topic`: (partition, offset, value).
fn read_all(bootstrap: &str, topic: &str) -> Vec<(i32, i64, String)> {
    let c = consumer(bootstrap, "eoscheck-test-read");
    let mut all = Vec::new();
    for p in 0..PARTITIONS {
        let (low, high) = c
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(low))
            .unwrap();
        c.assign(&tpl).unwrap();
        let started = Instant::now();
        loop {
            let position = c.position().unwrap().elements()[0].offset().to_raw();
            if position.is_some_and(|o| o >= high) || started.elapsed() > Duration::from_secs(30) {
                break;
            }
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                let m = m.unwrap();
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                all.push((p, m.offset(), value));
            }
        }
    }
    all
}

/// The group's committed offsets are past the input's last record in every
/// partition: at it + 1 (the Java processor), or past the feeder's last commit
/// marker too (Kafka Streams commits its consumer's position).
fn lag_zero(bootstrap: &str, topic: &str, group: &str, ends: &BTreeMap<i32, i64>) -> bool {
    let c = consumer(bootstrap, group);
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(topic, p);
    }
    let Ok(committed) = c.committed_offsets(tpl, Duration::from_secs(10)) else {
        return false;
    };
    ends.iter().all(|(&p, &end)| {
        let at = committed
            .find_partition(topic, p)
            .and_then(|e| e.offset().to_raw());
        at.is_some_and(|at| at >= end)
    })
}

/// One library under one guarantee; the line it prints is the finding.
async fn case(cluster: &Cluster, spec: &str, guarantee: &str) -> Result<String, String> {
    let name = format!(
        "{}-{}",
        spec.replace(['@', '.'], "-"),
        &guarantee[..guarantee.find('-').unwrap()]
    );
    let (input, output, group) = (
        format!("in-{name}"),
        format!("out-{name}"),
        format!("g-{name}"),
    );
    cluster.create_topic(&input, PARTITIONS).await.unwrap();
    cluster.create_topic(&output, PARTITIONS).await.unwrap();
    cluster
        .wait_whole(&input, PARTITIONS, Duration::from_secs(30))
        .await
        .unwrap();
    cluster
        .wait_whole(&output, PARTITIONS, Duration::from_secs(30))
        .await
        .unwrap();
    let bootstrap = cluster.bootstrap_servers();
    let spec: ClientSpec = spec.parse().unwrap();
    let guarantee = guarantee.to_owned();
    tokio::task::spawn_blocking(move || {
        feed(&bootstrap, &input);
        let inputs = read_all(&bootstrap, &input);
        let mut ends = BTreeMap::new();
        for &(p, o, _) in &inputs {
            ends.insert(p, o + 1);
        }
        let resolved = clients::resolve(&spec).unwrap();
        let installed = clients::install(&resolved).unwrap().unwrap();
        let (program, args) = installed.processor_command().unwrap();
        let logs = std::env::temp_dir().join(format!("eoscheck-proc-{name}"));
        std::fs::create_dir_all(&logs).unwrap();
        let exactly_once = guarantee == "exactly-once";
        let start = |slot: u32, instance: u32| {
            let configure = json!({
                "type": "configure", "protocol": 3, "role": "processor",
                "bootstrap": bootstrap, "processor": slot, "input": input, "output": output,
                "group": group,
                "transactional_id": if exactly_once { json!(format!("tx-{name}-{slot}")) } else { Value::Null },
                "guarantee": guarantee,
                "config": {"acks": "all"}, "consumer": {"session.timeout.ms": "10000"},
                "tuning": {"linger.ms": "5", "transaction.timeout.ms": "10000"},
            });
            let log = logs.join(format!("proc-{slot}-{instance}.log"));
            let p = Proc::start(&program, &args, &installed.dir, configure, &log);
            assert!(
                p.wait_for("started", Duration::from_secs(120)),
                "{spec} processor {slot} started: {:?}, see {}",
                p.events.lock().unwrap(),
                log.display()
            );
            p
        };
        let mut procs = vec![start(0, 0), start(1, 0)];
        // Half-way through processor 0's share, a crash.
        let deadline = Instant::now() + Duration::from_secs(120);
        while procs[0].count("poll") < 5 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        procs[0].child.kill().unwrap();
        procs[0].child.wait().unwrap();
        // A second instance of slot 1 takes its transactional.id: the first is fenced.
        if exactly_once {
            procs.push(start(1, 1));
        }
        let deadline = Instant::now() + Duration::from_secs(180);
        while !lag_zero(&bootstrap, &input, &group, &ends) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(500));
        }
        let lagging = !lag_zero(&bootstrap, &input, &group, &ends);
        for p in procs.iter_mut().skip(1) {
            let _ = writeln!(p.stdin, "{}", json!({"type": "close", "timeout_ms": 10000}));
            let _ = p.wait_for("closed", Duration::from_secs(20));
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        let outputs = read_all(&bootstrap, &output);
        let mut copies: BTreeMap<(i32, i64), usize> =
            inputs.iter().map(|&(p, o, _)| ((p, o), 0)).collect();
        let mut misplaced = 0;
        for (p, _, value) in &outputs {
            let f: Vec<&str> = value.splitn(6, ':').collect();
            let (ip, io): (i32, i64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
            misplaced += usize::from(ip != *p);
            *copies.entry((ip, io)).or_default() += 1;
        }
        let missing = copies.values().filter(|&&c| c == 0).count();
        let duplicated: usize = copies.values().map(|&c| c.saturating_sub(1)).sum();
        let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
        let mut results: BTreeMap<String, usize> = BTreeMap::new();
        for (i, p) in procs.iter().enumerate() {
            let events = p.events.lock().unwrap();
            let lines: Vec<String> = events.iter().map(Value::to_string).collect();
            std::fs::write(logs.join(format!("events-{i}.jsonl")), lines.join("\n")).unwrap();
            for e in events.iter() {
                if e.get("error").is_some() {
                    eprintln!("{spec} {guarantee} instance {i}: {e}");
                }
                *kinds.entry(e["type"].as_str().unwrap().to_owned()).or_default() += 1;
                if let Some(r) = e["result"].as_str() {
                    *results.entry(format!("{}:{r}", e["type"].as_str().unwrap())).or_default() += 1;
                }
            }
        }
        let line = format!(
            "{spec} {guarantee}: {} inputs, {} outputs, {duplicated} duplicates, {missing} missing, {misplaced} misplaced, lag {}; events {kinds:?}; ends {results:?}; logs in {}",
            inputs.len(),
            outputs.len(),
            if lagging { "not 0" } else { "0" },
            logs.display()
        );
        let bad = missing > 0 || misplaced > 0 || lagging || (exactly_once && duplicated > 0);
        if bad {
            Err(line)
        } else {
            Ok(line)
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "installs drivers and starts a cluster"]
async fn processors_keep_their_guarantee_through_a_crash_and_a_fencing() {
    let specs = std::env::var("EOSCHECK_PROCESSORS").unwrap_or("java,kafka-streams".into());
    let (docker, image) = common::engine_and_image().await;
    let id = format!("proc-{:04x}", rand::random::<u16>());
    let job = {
        let docker = docker.clone();
        async move {
            let cluster = Cluster::start(&docker, &id, &image.reference(), None).await?;
            let mut failures = Vec::new();
            for spec in specs.split(',') {
                for guarantee in ["exactly-once", "at-least-once"] {
                    match case(&cluster, spec, guarantee).await {
                        Ok(line) => eprintln!("{line}"),
                        Err(line) => {
                            eprintln!("FAILED {line}");
                            failures.push(line);
                        }
                    }
                }
            }
            anyhow::Ok(failures)
        }
    };
    let failures = cluster::with_teardown(&docker, job)
        .await
        .expect("the cluster");
    assert!(failures.is_empty(), "{failures:#?}");
}
