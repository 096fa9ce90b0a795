//! Every fault kind against one real cluster: each must show its effect in the
//! cluster (not just run a command), and heal-all must leave nothing behind.

mod common;

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use harness::{
    cluster::{final_read, Cluster, Target},
    run_dir::RunDir,
};
use nemesis::{Cluster as _, Fault, Nemesis};
use rdkafka::{
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
    ClientConfig,
};

const TOPIC: &str = "eoscheck-nemesis";
const PARTITIONS: i32 = 3;
const HEAL_TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_shows_its_effect_and_heals() {
    let (docker, image) = common::engine_and_image().await;
    let run = common::run_dir("nemesis-");
    let reference = image.reference();
    harness::cluster::with_teardown(&docker, {
        let docker = docker.clone();
        async move {
            let cluster =
                Cluster::start(&docker, &run.id, &reference, Some(&run.join("nodes"))).await?;
            cluster.create_topic(TOPIC, PARTITIONS).await?;
            exercise_every_fault(Arc::new(cluster), &run).await
        }
    })
    .await
    .expect("every fault");
}

async fn exercise_every_fault(cluster: Arc<Cluster>, run: &RunDir) -> anyhow::Result<()> {
    let producer = Arc::new(Mutex::new(idempotent_producer(&cluster)));
    let crash_target = producer.clone();
    let crash_cluster = cluster.clone();
    let target = Arc::new(Target {
        cluster: cluster.clone(),
        topic: TOPIC.to_owned(),
        partitions: PARTITIONS,
        crash_client: Some(Arc::new(move || {
            let (producer, cluster) = (crash_target.clone(), crash_cluster.clone());
            Box::pin(async move {
                *producer.lock().unwrap() = idempotent_producer(&cluster);
                Ok("test producer".to_owned())
            })
        })),
        start_zombie: None,
        freeze_client: None,
        transactional_ids: Vec::new(),
        group: None,
    });
    let mut nemesis = Nemesis::new(target.clone(), 42);
    let mut heal_times = Vec::new();
    // The first producer's writes, for client-crash to compare producer ids against.
    send_idempotent(&producer, 0, 20).await;

    // A zombie and the coordinator faults need transactional producers
    // (tests/transactions.rs runs them with the real workload), the
    // pipeline's faults a pipeline (tests/pipeline.rs).
    let plain = |f: &Fault| f.applies(nemesis::Workload::Produce);
    for fault in Fault::ALL.into_iter().filter(plain) {
        eprintln!("--- {fault}");
        let before = Snapshot::take(&target).await;
        let mut records_before = Vec::new();
        let plain = plain_producer(&cluster, Duration::from_secs(4));
        let patient = plain_producer(&cluster, Duration::from_secs(120));
        let mut blob_times = Vec::new();
        if fault == Fault::Netem {
            for p in 0..PARTITIONS {
                blob_times.push(time_blobs(&patient, p).await);
            }
        }
        if fault == Fault::AckLoss {
            // Ack loss hits connections already open (a new one never gets its
            // handshake answered), so the producer is connected to every leader first.
            // Counted now too: during ack-loss the leader's fetch responses are lost.
            for p in 0..PARTITIONS {
                assert_eq!(
                    send_plain(&plain, p, 1).await,
                    1,
                    "warm-up send to partition {p}"
                );
                records_before.push(count_records(&cluster, run, p).await?);
            }
        }
        let started = nemesis.start(fault).await?;
        eprintln!("started: {}", started.detail);
        let node = started
            .targets
            .first()
            .and_then(|t| t.strip_prefix("kafka-"))
            .and_then(|n| n.parse().ok());
        match fault {
            Fault::PartitionLeader => {
                let node = node.unwrap();
                assert!(
                    !reachable_from(&target, node, other(&target, node)).await,
                    "leader cannot reach peers"
                );
                wait_until(fault, "leadership leaves the isolated leader", || async {
                    Snapshot::take(&target).await.led_by(node).is_empty()
                })
                .await?;
            }
            Fault::PartitionHalves => {
                let minority = nodes_with_chain(&target, fault).await;
                assert_eq!(minority.len(), 1, "one node of three is the minority");
                let majority: Vec<i32> = target
                    .nodes()
                    .into_iter()
                    .filter(|n| !minority.contains(n))
                    .collect();
                for &m in &majority {
                    assert!(
                        !reachable_from(&target, minority[0], m).await,
                        "minority cut from kafka-{m}"
                    );
                }
                assert!(
                    reachable_from(&target, majority[0], majority[1]).await,
                    "majority still connected"
                );
                wait_until(fault, "the minority leads nothing", || async {
                    Snapshot::take(&target).await.led_by(minority[0]).is_empty()
                })
                .await?;
            }
            Fault::PartitionRing => {
                let a = nodes_with_chain(&target, fault).await;
                assert_eq!(a.len(), 1);
                let cut: Vec<i32> = started
                    .targets
                    .iter()
                    .filter_map(|t| t[6..].parse().ok())
                    .collect();
                let third = target
                    .nodes()
                    .into_iter()
                    .find(|n| !cut.contains(n))
                    .unwrap();
                assert!(
                    !reachable_from(&target, cut[0], cut[1]).await,
                    "the cut link is down"
                );
                assert!(
                    reachable_from(&target, cut[0], third).await,
                    "one end still reaches the third"
                );
                assert!(
                    reachable_from(&target, cut[1], third).await,
                    "the other end too"
                );
            }
            Fault::PartitionClientLeader => {
                let node = node.unwrap();
                assert!(
                    !host_reaches(&target.ip(node)).await,
                    "clients cannot reach the leader"
                );
                assert!(
                    host_reaches(&target.ip(other(&target, node))).await,
                    "other brokers still reachable"
                );
                assert!(
                    reachable_from(&target, other(&target, node), node).await,
                    "brokers still reach it"
                );
            }
            Fault::AckLoss => {
                let node = node.unwrap();
                let partition = *before
                    .led_by(node)
                    .first()
                    .expect("ack-loss targets a leader");
                let acked = send_plain(&plain, partition, 50).await;
                assert_eq!(acked, 0, "no acknowledgement gets through");
                heal_times.push((fault, stop_and_heal(&mut nemesis, fault).await?));
                let landed = count_records(&cluster, run, partition).await?
                    - records_before[partition as usize];
                assert!(
                    landed >= 50,
                    "the unacknowledged writes landed ({landed} records)"
                );
                continue;
            }
            Fault::KillLeader | Fault::KillController | Fault::KillRandom => {
                let node = node.unwrap();
                assert!(!target.is_up(node).await?, "kafka-{node} is down");
                if fault == Fault::KillController {
                    wait_until(fault, "another controller takes over", || async {
                        target.controller().await.is_ok_and(|c| c != node)
                    })
                    .await?;
                } else {
                    wait_until(fault, "the killed node leads nothing", || async {
                        Snapshot::take(&target).await.led_by(node).is_empty()
                    })
                    .await?;
                }
            }
            Fault::PauseLeader => {
                let node = node.unwrap();
                assert!(!target.is_up(node).await?, "kafka-{node} is frozen");
                wait_until(fault, "leadership leaves the frozen leader", || async {
                    Snapshot::take(&target).await.led_by(node).is_empty()
                })
                .await?;
            }
            Fault::Netem => {
                // Whether real netem or its stand-in, the same writes through that
                // leader (and its replication) now take several times as long.
                let node = node.unwrap();
                let partition = *before.led_by(node).first().expect("netem targets a leader");
                let baseline = blob_times[partition as usize];
                let slowed = time_blobs(&patient, partition).await;
                eprintln!("netem: 200 KB through kafka-{node}: {baseline:?} before, {slowed:?} during ({})", started.detail);
                assert!(
                    slowed >= baseline * 3 && slowed >= Duration::from_millis(500),
                    "traffic through kafka-{node} slowed: {baseline:?} -> {slowed:?}"
                );
            }
            Fault::LeaderTransfer => {
                let to: i32 = started.targets[1][6..].parse().unwrap();
                let from = node.unwrap();
                let after = Snapshot::take(&target).await;
                let moved: Vec<i32> = before
                    .led_by(from)
                    .into_iter()
                    .filter(|p| after.leader(*p) == Some(to))
                    .collect();
                assert!(
                    !moved.is_empty(),
                    "a partition led by kafka-{from} is now led by kafka-{to}"
                );
            }
            Fault::ClientCrash => {
                // Sends before and after the restart carry two producer ids.
                send_idempotent(&producer, 0, 20).await;
                let pids = producer_ids(&cluster, run, 0).await?;
                assert!(
                    pids.len() >= 2,
                    "the restarted producer has a new producer id: {pids:?}"
                );
            }
            Fault::Zombie
            | Fault::KillTxnCoordinator
            | Fault::PartitionTxnCoordinator
            | Fault::AckLossTxnCoordinator
            | Fault::PauseProcessor
            | Fault::KillGroupCoordinator
            | Fault::PartitionGroupCoordinator => unreachable!("left out above"),
        }
        heal_times.push((fault, stop_and_heal(&mut nemesis, fault).await?));
    }
    for node in target.nodes() {
        let rules = target.exec(node, &["iptables", "-S"]).await?;
        assert!(
            !rules.contains("eos-") && !rules.contains("DROP"),
            "kafka-{node}: {rules}"
        );
        let qdisc = target
            .exec(node, &["tc", "qdisc", "show", "dev", "eth0"])
            .await?;
        assert!(!qdisc.contains("netem"), "kafka-{node}: {qdisc}");
    }
    for (fault, took) in heal_times {
        eprintln!("heal + full ISR after {fault}: {:.1}s", took.as_secs_f64());
    }
    Ok(())
}

/// Stops the fault, heals everything, and returns how long until the cluster was
/// whole again (all brokers back, full ISR everywhere).
async fn stop_and_heal(nemesis: &mut Nemesis<Target>, fault: Fault) -> anyhow::Result<Duration> {
    let started = Instant::now();
    nemesis.stop(fault).await?;
    nemesis.heal_all(HEAL_TIMEOUT).await?;
    Ok(started.elapsed())
}

/// Leaders of the topic's partitions, as the cluster reports them.
struct Snapshot(Vec<Option<i32>>);

impl Snapshot {
    async fn take(target: &Target) -> Snapshot {
        let mut leaders = Vec::new();
        for p in 0..PARTITIONS {
            leaders.push(target.cluster.leader(TOPIC, p).await.ok());
        }
        Snapshot(leaders)
    }

    fn leader(&self, partition: i32) -> Option<i32> {
        self.0[partition as usize]
    }

    fn led_by(&self, node: i32) -> Vec<i32> {
        (0..PARTITIONS)
            .filter(|&p| self.leader(p) == Some(node))
            .collect()
    }
}

fn other(target: &Target, node: i32) -> i32 {
    target.nodes().into_iter().find(|&n| n != node).unwrap()
}

async fn wait_until<F, Fut>(fault: Fault, what: &str, check: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(45) {
        if check().await {
            eprintln!(
                "{fault}: {what} after {:.1}s",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("{fault}: {what} did not happen within 45s")
}

async fn nodes_with_chain(target: &Target, fault: Fault) -> Vec<i32> {
    let mut nodes = Vec::new();
    for node in target.nodes() {
        let rules = target.exec(node, &["iptables", "-S"]).await.unwrap();
        if rules.contains(&format!("-N eos-{fault}")) {
            nodes.push(node);
        }
    }
    nodes
}

/// Whether `from` can open a TCP connection to `to`'s broker port.
async fn reachable_from(target: &Target, from: i32, to: i32) -> bool {
    let script = format!("timeout 3 bash -c 'echo > /dev/tcp/{}/9092'", target.ip(to));
    target.exec(from, &["sh", "-c", &script]).await.is_ok()
}

async fn host_reaches(ip: &str) -> bool {
    let connect = tokio::net::TcpStream::connect(format!("{ip}:9092"));
    matches!(
        tokio::time::timeout(Duration::from_secs(3), connect).await,
        Ok(Ok(_))
    )
}

/// How long 20 blobs of 10 KB take to be acknowledged, all of them.
async fn time_blobs(producer: &FutureProducer, partition: i32) -> Duration {
    let blob = vec![b'x'; 10_000];
    let started = Instant::now();
    let sends = (0..20).map(|_| {
        let record = FutureRecord::<(), _>::to(TOPIC)
            .partition(partition)
            .payload(&blob);
        producer.send(record, Timeout::Never)
    });
    let acked = futures::future::join_all(sends)
        .await
        .into_iter()
        .filter(Result::is_ok)
        .count();
    assert_eq!(acked, 20, "every blob acknowledged");
    started.elapsed()
}

fn idempotent_producer(cluster: &Cluster) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("enable.idempotence", "true")
        .create()
        .unwrap()
}

async fn send_idempotent(producer: &Mutex<FutureProducer>, partition: i32, n: usize) {
    let producer = producer.lock().unwrap().clone();
    for i in 0..n {
        let record = FutureRecord::<(), _>::to(TOPIC)
            .partition(partition)
            .payload("crash test");
        producer
            .send(record, Timeout::After(Duration::from_secs(10)))
            .await
            .unwrap_or_else(|e| panic!("send {i}: {e:?}"));
    }
}

/// A producer without idempotence or retries: each send lands at most once.
fn plain_producer(cluster: &Cluster, timeout: Duration) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .set("enable.idempotence", "false")
        .set("acks", "all")
        .set("retries", "0")
        .set("message.timeout.ms", timeout.as_millis().to_string())
        .create()
        .unwrap()
}

/// Sends `n` messages at once and counts acknowledgements.
async fn send_plain(producer: &FutureProducer, partition: i32, n: usize) -> usize {
    let sends = (0..n).map(|_| async move {
        let record = FutureRecord::<(), _>::to(TOPIC)
            .partition(partition)
            .payload("ack-loss test");
        producer.send(record, Timeout::Never).await.is_ok()
    });
    futures::future::join_all(sends)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count()
}

async fn read(cluster: &Cluster, run: &RunDir, partition: i32) -> anyhow::Result<bytes::Bytes> {
    let file = run.join(&checker::log::file_name(partition));
    final_read::read_raw(cluster, TOPIC, partition, &file).await
}

async fn count_records(cluster: &Cluster, run: &RunDir, partition: i32) -> anyhow::Result<u64> {
    let mut bytes = read(cluster, run, partition).await?;
    let mut n = 0;
    while !bytes.is_empty() {
        n += kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes)?
            .records
            .len() as u64;
    }
    Ok(n)
}

async fn producer_ids(
    cluster: &Cluster,
    run: &RunDir,
    partition: i32,
) -> anyhow::Result<BTreeSet<i64>> {
    let mut bytes = read(cluster, run, partition).await?;
    let mut pids = BTreeSet::new();
    while !bytes.is_empty() {
        for r in kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes)?.records {
            if r.producer_id >= 0 {
                pids.insert(r.producer_id);
            }
        }
    }
    Ok(pids)
}
