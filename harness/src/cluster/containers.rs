//! A 3-node Kafka cluster in containers: KRaft combined mode (every node is broker
//! and controller), one user-defined network per run, everything labelled with the
//! run id so that `eoscheck cleanup` finds what a killed process left behind.
//!
//! Clients on the host talk to the containers' own addresses: each broker
//! advertises the IP it has on the run's network, so no ports are mapped and the
//! nemesis can cut exactly the paths it means to.
//!
//! Two other kinds of cluster share the type, since a run talks to all of them
//! alike:
//! - the *kept* cluster of `eoscheck cluster up` ([`Cluster::start_kept`]): the
//!   same containers under the fixed run id [`KEPT_RUN`] and a label that marks
//!   them kept, never torn down when a command ends; `eoscheck cleanup` leaves
//!   it alone unless asked for everything, `eoscheck cluster down` removes it;
//! - a cluster eoscheck does not run ([`Cluster::foreign`], `eoscheck run
//!   --bootstrap`): its brokers as metadata lists them, no containers. Every
//!   request that would enter, kill or freeze a broker is refused there, so
//!   only client-side faults reach it.

use std::{
    collections::{BTreeMap, HashMap},
    net::Ipv4Addr,
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use bollard::{
    exec::{CreateExecOptions, StartExecResults},
    models::{
        ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
        NetworkCreateRequest, NetworkingConfig,
    },
    query_parameters::{
        CreateContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptions,
        ListNetworksOptions, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    },
    Docker,
};
use futures::StreamExt;
use rdkafka::{
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    client::DefaultClientContext,
    metadata::Metadata,
    ClientConfig,
};
use tracing::{info, warn};

use super::admin;
use crate::console::failure::Failure;

pub const NODES: i32 = 3;
pub(super) const LABEL: &str = "eoscheck";
const RUN_LABEL: &str = "eoscheck.run";
/// Marks the kept cluster's containers and network.
const KEPT_LABEL: &str = "eoscheck.kept";
/// The kept cluster's run id: its containers are `eoscheck-cluster-kafka-N`.
pub const KEPT_RUN: &str = "cluster";
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a cluster eoscheck does not run gets to answer at all: it is
/// meant to be up already.
const FOREIGN_TIMEOUT: Duration = Duration::from_secs(30);
/// Why a broker of a cluster eoscheck does not run cannot be entered, killed
/// or frozen.
const NOT_OURS: &str =
    "not a cluster eoscheck runs; broker faults need `eoscheck run` without --bootstrap";
/// Kafka's internal topics a run relies on once they exist: a cluster is
/// whole only when they are, on a cluster eoscheck does not run too.
const INTERNAL_TOPICS: [&str; 2] = ["__consumer_offsets", "__transaction_state"];

/// Broker settings every run gets: the durability configuration under which the
/// idempotent producer's promises are meant to hold.
const BROKER_SETTINGS: &[(&str, &str)] = &[
    ("DEFAULT_REPLICATION_FACTOR", "3"),
    ("MIN_INSYNC_REPLICAS", "2"),
    ("UNCLEAN_LEADER_ELECTION_ENABLE", "false"),
    ("AUTO_CREATE_TOPICS_ENABLE", "false"),
    ("OFFSETS_TOPIC_REPLICATION_FACTOR", "3"),
    ("TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "3"),
    ("TRANSACTION_STATE_LOG_MIN_ISR", "2"),
    // The transaction coordinators' log is made when the first producer
    // initialises; at Kafka's 50 partitions that took 20 s on a 2-core
    // machine, the first transactional run waiting for it.
    ("TRANSACTION_STATE_LOG_NUM_PARTITIONS", "10"),
    ("GROUP_INITIAL_REBALANCE_DELAY_MS", "0"),
    // A cut-off follower leaves the ISR after 10s instead of 30s, so faults show
    // their effect within a short run.
    ("REPLICA_LAG_TIME_MAX_MS", "10000"),
    // A deleted topic's files go after a second instead of a minute: `bench
    // overhead` writes gigabytes a turn and deletes each turn's topic.
    ("LOG_SEGMENT_DELETE_DELAY_MS", "1000"),
    // A transaction left open past its timeout is aborted within a second of
    // it instead of ten, so a run's quiet phase can wait it out.
    (
        "TRANSACTION_ABORT_TIMED_OUT_TRANSACTION_CLEANUP_INTERVAL_MS",
        "1000",
    ),
];

#[derive(Debug, Clone)]
pub struct Node {
    pub id: i32,
    /// Its container; None for a broker eoscheck does not run.
    pub container: Option<String>,
    /// The host and port it advertises to clients.
    pub host: String,
    pub port: u16,
}

impl Node {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

pub struct Cluster {
    /// The engine that runs the nodes' containers; None for a cluster
    /// eoscheck does not run.
    docker: Option<Docker>,
    /// The network's gateway: the address host-side clients come from
    /// (empty for a cluster eoscheck does not run).
    pub gateway: String,
    pub nodes: Vec<Node>,
    /// What clients are told to start from: every node, or the addresses the
    /// user gave for a cluster eoscheck does not run.
    bootstrap: String,
}

/// A broker's environment: its place in the KRaft quorum and [`BROKER_SETTINGS`],
/// which the image's entrypoint writes into `server.properties`.
fn broker_env(id: i32, cluster_id: &str, voters: &str) -> Vec<String> {
    let mut env = vec![
        format!("KAFKA_NODE_ID={id}"),
        format!("KAFKA_CLUSTER_ID={cluster_id}"),
        format!("KAFKA_VOTERS={voters}"),
    ];
    env.extend(
        BROKER_SETTINGS
            .iter()
            .map(|(k, v)| format!("KAFKA_CFG_{k}={v}")),
    );
    env
}

/// One node's container: on the run's network at the node's fixed address,
/// allowed to change its own firewall and queues (the nemesis works inside).
fn container_body(
    image: &str,
    node: &Node,
    env: Vec<String>,
    labels: &HashMap<String, String>,
    network: &str,
) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.to_owned()),
        hostname: Some(format!("kafka-{}", node.id)),
        env: Some(env),
        labels: Some(labels.clone()),
        host_config: Some(HostConfig {
            network_mode: Some(network.to_owned()),
            cap_add: Some(vec!["NET_ADMIN".to_owned()]),
            ..Default::default()
        }),
        // A fixed address: a killed and restarted broker must come back where
        // clients, peers and the nemesis's rules expect it.
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                network.to_owned(),
                EndpointSettings {
                    ipam_config: Some(EndpointIpamConfig {
                        ipv4_address: Some(node.host.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    }
}

/// Runs whose containers exist right now, so that teardown can find them from a
/// signal handler or after a panic, where no `Cluster` value is at hand.
static LIVE: Mutex<Vec<(String, Option<PathBuf>)>> = Mutex::new(Vec::new());

/// The labels of a run's containers and network.
fn run_labels(run_id: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL.to_owned(), "true".to_owned()),
        (RUN_LABEL.to_owned(), run_id.to_owned()),
    ])
}

/// The nodes of a run's cluster, at fixed addresses after the network's
/// gateway.
fn container_nodes(run_id: &str, gateway: Ipv4Addr) -> Vec<Node> {
    (1..=NODES)
        .map(|id| Node {
            id,
            container: Some(container_name(run_id, id)),
            host: host_address(gateway, id as u32).to_string(),
            port: 9092,
        })
        .collect()
}

fn container_name(run_id: &str, node: i32) -> String {
    format!("eoscheck-{run_id}-kafka-{node}")
}

impl Cluster {
    /// Creates the network and the containers and starts them. Broker logs are
    /// saved into `logs_dir` at teardown.
    pub async fn start(
        docker: &Docker,
        run_id: &str,
        image: &str,
        logs_dir: Option<&Path>,
    ) -> Result<Cluster> {
        LIVE.lock()
            .unwrap()
            .push((run_id.to_owned(), logs_dir.map(Path::to_path_buf)));
        Self::launch(docker, run_id, image, run_labels(run_id)).await
    }

    /// The kept cluster (`eoscheck cluster up`): started like a run's, under
    /// [`KEPT_RUN`] and labelled kept, and left running when the command
    /// ends. One that does not come up is removed again.
    pub async fn start_kept(docker: &Docker, image: &str) -> Result<Cluster> {
        let mut labels = run_labels(KEPT_RUN);
        labels.insert(KEPT_LABEL.to_owned(), "true".to_owned());
        let started = Self::launch(docker, KEPT_RUN, image, labels).await;
        if started.is_err() {
            if let Err(e) = remove(docker, Runs::One(KEPT_RUN), None).await {
                warn!("removing the kept cluster that did not come up failed: {e:#}");
            }
        }
        started
    }

    /// The kept cluster and the image it runs, if there is one.
    pub async fn find_kept(docker: &Docker) -> Result<Option<(Cluster, String)>> {
        let containers = list_containers(docker, &Runs::One(KEPT_RUN)).await?;
        let Some(image) = containers.iter().find_map(|c| c.image.clone()) else {
            return Ok(None);
        };
        let network = format!("eoscheck-{KEPT_RUN}");
        let gateway = docker
            .inspect_network(&network, None)
            .await
            .with_context(|| format!("the kept cluster's network {network}"))?
            .ipam
            .and_then(|i| i.config)
            .and_then(|c| c.into_iter().find_map(|c| c.gateway))
            .with_context(|| format!("network {network} has no gateway"))?;
        let nodes = container_nodes(KEPT_RUN, gateway.parse()?);
        Ok(Some((Cluster::of(docker, gateway, nodes), image)))
    }

    /// A cluster eoscheck does not run, found at `bootstrap`
    /// (`HOST:PORT,...`): its brokers as metadata lists them, each checked
    /// to be reachable at the address it advertises.
    pub async fn foreign(bootstrap: &str) -> Result<Cluster> {
        let mut cluster = Cluster {
            docker: None,
            gateway: String::new(),
            nodes: Vec::new(),
            bootstrap: bootstrap.to_owned(),
        };
        let started = Instant::now();
        let metadata = loop {
            match cluster.metadata(None).await {
                Ok(m) if !m.brokers().is_empty() => break m,
                _ if started.elapsed() < FOREIGN_TIMEOUT => {
                    tokio::time::sleep(Duration::from_millis(500)).await
                }
                answer => bail!(Failure::infrastructure(format!(
                    "no Kafka broker at {bootstrap} answered within {}s ({}); check the addresses, that this machine reaches them, and that the brokers take plaintext connections without authentication (eoscheck speaks nothing else)",
                    FOREIGN_TIMEOUT.as_secs(),
                    answer.err().map_or("metadata listed no broker".into(), |e| e.to_string())
                ))),
            }
        };
        cluster.nodes = metadata
            .brokers()
            .iter()
            .map(|b| Node {
                id: b.id(),
                container: None,
                host: b.host().to_owned(),
                port: b.port() as u16,
            })
            .collect();
        for node in &cluster.nodes {
            reachable(node).await?;
        }
        let addresses: Vec<String> = cluster.nodes.iter().map(Node::address).collect();
        info!(
            "cluster at {bootstrap}: {} brokers ({})",
            cluster.nodes.len(),
            addresses.join(", ")
        );
        Ok(cluster)
    }

    /// A cluster of containers on a network with `gateway`.
    fn of(docker: &Docker, gateway: String, nodes: Vec<Node>) -> Cluster {
        let addresses: Vec<String> = nodes.iter().map(Node::address).collect();
        Cluster {
            docker: Some(docker.clone()),
            gateway,
            nodes,
            bootstrap: addresses.join(","),
        }
    }

    /// Creates the network and the containers with `labels` and starts them.
    async fn launch(
        docker: &Docker,
        run_id: &str,
        image: &str,
        labels: HashMap<String, String>,
    ) -> Result<Cluster> {
        let network = format!("eoscheck-{run_id}");
        let (subnet, gateway) = create_network(docker, &network, &labels).await?;
        let nodes = container_nodes(run_id, gateway);
        let voters = (1..=NODES)
            .map(|id| format!("{id}@{}:9093", container_name(run_id, id)))
            .collect::<Vec<_>>()
            .join(",");
        let cluster_id = cluster_id();
        for node in &nodes {
            let env = broker_env(node.id, &cluster_id, &voters);
            let body = container_body(image, node, env, &labels, &network);
            let name = &container_name(run_id, node.id);
            docker
                .create_container(
                    Some(CreateContainerOptionsBuilder::new().name(name).build()),
                    body,
                )
                .await
                .map_err(|e| {
                    Failure::infrastructure(format!("creating container {name} from {image}: {e}"))
                })?;
        }
        for node in &nodes {
            let name = &container_name(run_id, node.id);
            docker
                .start_container(name, None)
                .await
                .map_err(|e| Failure::infrastructure(format!("starting container {name}: {e}")))?;
        }
        let cluster = Cluster::of(docker, gateway.to_string(), nodes);
        tracing::debug!(%subnet, "cluster network");
        cluster.wait_for_brokers().await?;
        Ok(cluster)
    }

    /// Starts (or thaws) every node of the cluster that is not up, as the
    /// kept cluster's after the engine restarted, and waits for the brokers.
    pub async fn wake(&self) -> Result<()> {
        for node in &self.nodes {
            self.resume(node.id).await?;
            if !self.is_up(node.id).await? {
                self.restart(node.id).await?;
            }
        }
        self.wait_for_brokers().await
    }

    pub fn bootstrap_servers(&self) -> String {
        self.bootstrap.clone()
    }

    /// Whether eoscheck runs the brokers (in containers), or only talks to
    /// them.
    pub fn is_foreign(&self) -> bool {
        self.docker.is_none()
    }

    pub fn node(&self, id: i32) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    fn admin(&self) -> Result<AdminClient<DefaultClientContext>> {
        Ok(ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap_servers())
            .set("log_level", "3")
            .create()?)
    }

    /// Cluster metadata as the brokers report it now (optionally for one topic).
    pub async fn metadata(&self, topic: Option<&str>) -> Result<Metadata> {
        let admin = self.admin()?;
        let topic = topic.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            admin
                .inner()
                .fetch_metadata(topic.as_deref(), Duration::from_secs(5))
                .map_err(anyhow::Error::from)
        })
        .await?
    }

    /// Waits until every node is registered as a broker.
    async fn wait_for_brokers(&self) -> Result<()> {
        let started = Instant::now();
        loop {
            self.fail_if_a_node_exited().await?;
            match self.metadata(None).await {
                Ok(m) if m.brokers().len() == NODES as usize => break,
                Ok(_) | Err(_) if started.elapsed() < READY_TIMEOUT => {
                    tokio::time::sleep(Duration::from_millis(500)).await
                }
                Ok(m) => bail!(Failure::infrastructure(format!(
                    "only {} of {NODES} brokers registered within {}s; broker logs are in the run directory",
                    m.brokers().len(),
                    READY_TIMEOUT.as_secs()
                ))),
                Err(e) => bail!(Failure::infrastructure(format!(
                    "the cluster did not answer within {}s: {e}",
                    READY_TIMEOUT.as_secs()
                ))),
            }
        }
        info!(
            "{NODES} brokers registered after {:.1}s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    async fn fail_if_a_node_exited(&self) -> Result<()> {
        for node in &self.nodes {
            let (docker, container) = self.container(node.id)?;
            let state = docker.inspect_container(container, None).await?.state;
            if let Some(state) = state.filter(|s| s.running != Some(true)) {
                let tail = self.logs(node.id).await.unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(20).collect();
                bail!(Failure::infrastructure(format!(
                    "broker container {container} exited (code {:?}); its last log lines:\n{}",
                    state.exit_code,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )));
            }
        }
        Ok(())
    }

    /// Creates a topic with the run's replication settings (a replica on
    /// each of [`NODES`] brokers, or on every broker of a smaller cluster)
    /// and waits until every partition has a leader and all its replicas in
    /// sync.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        let replication = NODES.min(self.nodes.len() as i32);
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
        let results = self
            .admin()?
            .create_topics([&new], &admin_options())
            .await?;
        topic_results("creating", results)?;
        self.wait_whole(topic, partitions, READY_TIMEOUT).await
    }

    pub async fn delete_topic(&self, topic: &str) -> Result<()> {
        let results = self
            .admin()?
            .delete_topics(&[topic], &admin_options())
            .await?;
        topic_results("deleting", results)
    }

    /// Waits until every node is a registered broker, `topic` has all its
    /// `partitions`, and every partition of every topic, Kafka's internal ones
    /// included (the run relies on them once they exist), has a leader and all
    /// its replicas in sync. On a cluster eoscheck does not run, whose other
    /// topics are none of its business, only the run's own (`topic` and the
    /// names it starts) and Kafka's internal ones count.
    pub async fn wait_whole(&self, topic: &str, partitions: i32, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let watched = |name: &str| {
            !self.is_foreign() || name.starts_with(topic) || INTERNAL_TOPICS.contains(&name)
        };
        loop {
            let missing = match self.metadata(None).await {
                Ok(m) => not_whole(&m, self.nodes.len(), topic, partitions, watched),
                Err(e) => Some(format!("metadata did not come: {e}")),
            };
            let Some(missing) = missing else {
                return Ok(());
            };
            if started.elapsed() > timeout {
                bail!(Failure::infrastructure(format!(
                    "the cluster was not whole within {}s: {missing}",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The address of a partition's leader right now.
    pub async fn leader_address(&self, topic: &str, partition: i32) -> Result<String> {
        let leader = self.leader(topic, partition).await?;
        self.node(leader).map(Node::address).with_context(|| {
            format!("leader {leader} of partition {partition} is not a node of this cluster")
        })
    }

    async fn logs(&self, node: i32) -> Result<String> {
        let (docker, container) = self.container(node)?;
        container_logs(docker, container).await
    }

    /// The engine and a node's container: what entering, killing or freezing
    /// a broker goes through, refused on a cluster eoscheck does not run.
    fn container(&self, node: i32) -> Result<(&Docker, &str)> {
        let found = self
            .node(node)
            .with_context(|| format!("no node {node} in this cluster"))?;
        match (&self.docker, &found.container) {
            (Some(docker), Some(container)) => Ok((docker, container)),
            _ => bail!("broker {node}: {NOT_OURS}"),
        }
    }

    /// Runs a command in a node's container; its output, or an error with it if
    /// the command exits non-zero.
    pub async fn exec(&self, node: i32, argv: &[&str]) -> Result<String> {
        let (docker, container) = self.container(node)?;
        let exec = docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(argv.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await?;
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut stream, ..
        } = docker.start_exec(&exec.id, None).await?
        {
            while let Some(chunk) = stream.next().await {
                output.push_str(&chunk?.to_string());
            }
        }
        let code = docker.inspect_exec(&exec.id).await?.exit_code;
        if code != Some(0) {
            bail!("exit code {code:?}: {}", output.trim());
        }
        Ok(output)
    }

    pub async fn kill(&self, node: i32) -> Result<()> {
        let (docker, container) = self.container(node)?;
        let options = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        Ok(docker.kill_container(container, Some(options)).await?)
    }

    pub async fn restart(&self, node: i32) -> Result<()> {
        let (docker, container) = self.container(node)?;
        Ok(docker.start_container(container, None).await?)
    }

    pub async fn pause(&self, node: i32) -> Result<()> {
        let (docker, container) = self.container(node)?;
        Ok(docker.pause_container(container).await?)
    }

    /// Thaws a paused node; a no-op on one that is not paused.
    pub async fn resume(&self, node: i32) -> Result<()> {
        let (docker, container) = self.container(node)?;
        let state = docker.inspect_container(container, None).await?.state;
        if state.and_then(|s| s.paused) == Some(true) {
            docker.unpause_container(container).await?;
        }
        Ok(())
    }

    /// Running and not paused. A broker eoscheck does not run counts as up:
    /// whether it answers is for metadata to say.
    pub async fn is_up(&self, node: i32) -> Result<bool> {
        if self.is_foreign() {
            return Ok(true);
        }
        let (docker, container) = self.container(node)?;
        let state = docker.inspect_container(container, None).await?.state;
        Ok(state.is_some_and(|s| s.running == Some(true) && s.paused != Some(true)))
    }

    /// A partition's leader, replicas and in-sync replicas right now.
    pub async fn partition_state(&self, topic: &str, partition: i32) -> Result<PartitionState> {
        let metadata = self.metadata(Some(topic)).await?;
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .and_then(|t| t.partitions().iter().find(|p| p.id() == partition))
            .map(|p| PartitionState {
                leader: (p.leader() >= 0).then_some(p.leader()),
                replicas: p.replicas().to_vec(),
                in_sync: p.isr().to_vec(),
            })
            .with_context(|| format!("partition {partition} of {topic} missing from metadata"))
    }

    /// The leader of a partition, as a node id.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<i32> {
        self.partition_state(topic, partition)
            .await?
            .leader
            .with_context(|| format!("partition {partition} of {topic} has no leader now"))
    }

    /// The cluster's finalized feature levels, asked of the first broker
    /// that answers.
    pub async fn finalized_features(&self) -> Result<BTreeMap<String, i16>> {
        self.ask_any("reading the feature levels", |a| async move {
            admin::finalized_features(&a).await
        })
        .await
    }

    /// Sends an admin request to the first live broker that answers it.
    pub async fn ask_any<T, F, Fut>(&self, what: &str, f: F) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut last = None;
        for address in self.live_addresses().await {
            match f(address.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e.context(format!("{what} via {address}"))),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("{what}: no broker is up")))
    }

    /// Addresses of the brokers that are up, to send admin requests to.
    pub async fn live_addresses(&self) -> Vec<String> {
        let mut live = Vec::new();
        for node in &self.nodes {
            if self.is_up(node.id).await.unwrap_or(false) {
                live.push(node.address());
            }
        }
        live
    }
}

/// A partition as metadata shows it.
pub struct PartitionState {
    pub leader: Option<i32>,
    pub replicas: Vec<i32>,
    pub in_sync: Vec<i32>,
}

/// What keeps the cluster from being whole, if anything: fewer than `nodes`
/// brokers registered, `topic` without its `partitions`, a partition of a
/// `watched` topic without a leader or with a replica out of sync.
fn not_whole(
    metadata: &Metadata,
    nodes: usize,
    topic: &str,
    partitions: i32,
    watched: impl Fn(&str) -> bool,
) -> Option<String> {
    let brokers = metadata.brokers().len();
    if brokers < nodes {
        return Some(format!("{brokers} of {nodes} brokers registered"));
    }
    let ours = metadata.topics().iter().find(|t| t.name() == topic);
    if ours.map_or(0, |t| t.partitions().len()) != partitions as usize {
        return Some(format!(
            "topic {topic} does not show its {partitions} partitions"
        ));
    }
    let lagging: Vec<String> = metadata
        .topics()
        .iter()
        .filter(|t| watched(t.name()))
        .flat_map(|t| t.partitions().iter().map(move |p| (t.name(), p)))
        .filter(|(_, p)| p.leader() < 0 || p.isr().len() < p.replicas().len())
        .map(|(name, p)| {
            format!(
                "{name}-{} (leader {}, ISR {:?})",
                p.id(),
                p.leader(),
                p.isr()
            )
        })
        .collect();
    (!lagging.is_empty()).then(|| format!("partitions not whole: {}", lagging.join(", ")))
}

fn admin_options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)))
}

/// The first topic an admin request failed for, as an infrastructure failure.
fn topic_results(doing: &str, results: Vec<rdkafka::admin::TopicResult>) -> Result<()> {
    for r in results {
        if let Err((name, code)) = r {
            bail!(Failure::infrastructure(format!(
                "{doing} topic {name}: {code}"
            )));
        }
    }
    Ok(())
}

/// Creates the run's network on a subnet the engine picks, then pins that subnet:
/// the engine only assigns fixed container addresses on networks whose subnet was
/// given explicitly.
async fn create_network(
    docker: &Docker,
    name: &str,
    labels: &HashMap<String, String>,
) -> Result<(String, Ipv4Addr)> {
    let request = |ipam| NetworkCreateRequest {
        name: name.to_owned(),
        labels: Some(labels.clone()),
        ipam,
        ..Default::default()
    };
    let failed = |e: bollard::errors::Error| {
        Failure::infrastructure(format!("creating network {name}: {e}"))
    };
    docker.create_network(request(None)).await.map_err(failed)?;
    let picked = docker
        .inspect_network(name, None)
        .await?
        .ipam
        .and_then(|i| i.config)
        .and_then(|c| {
            c.into_iter()
                .find(|c| c.subnet.as_deref().is_some_and(|s| s.contains('.')))
        })
        .context("the engine gave the network no IPv4 subnet")?;
    docker.remove_network(name).await?;
    let subnet = picked.subnet.clone().unwrap_or_default();
    let gateway: Ipv4Addr = match &picked.gateway {
        Some(g) => g.parse()?,
        None => host_address(subnet.split('/').next().unwrap_or_default().parse()?, 1),
    };
    let ipam = Ipam {
        config: Some(vec![IpamConfig {
            subnet: Some(subnet.clone()),
            gateway: Some(gateway.to_string()),
            ..Default::default()
        }]),
        ..Default::default()
    };
    docker
        .create_network(request(Some(ipam)))
        .await
        .map_err(failed)?;
    Ok((subnet, gateway))
}

fn host_address(base: Ipv4Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base) + n)
}

/// A broker of a cluster eoscheck does not run answers TCP at the address it
/// advertises: the final read and the clients connect there, not to the
/// bootstrap addresses.
async fn reachable(node: &Node) -> Result<()> {
    let address = node.address();
    let connect = tokio::net::TcpStream::connect(&address);
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => bail!(Failure::infrastructure(format!(
            "broker {} advertises {address}, which this machine cannot connect to ({e}); clients must reach every broker at its advertised listener",
            node.id
        ))),
        Err(_) => bail!(Failure::infrastructure(format!(
            "broker {} advertises {address}, which did not answer within 5s; clients must reach every broker at its advertised listener",
            node.id
        ))),
    }
}

async fn container_logs(docker: &Docker, container: &str) -> Result<String> {
    let options = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
    let mut stream = docker.logs(container, Some(options));
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(&chunk?.to_string());
    }
    Ok(text)
}

/// Whose containers and networks a removal takes.
#[derive(Debug, Clone, Copy)]
pub enum Runs<'a> {
    /// One run's (the kept cluster's is [`KEPT_RUN`]).
    One(&'a str),
    /// Every run's but the kept cluster's: what killed processes left.
    Leftovers,
    /// Every run's, the kept cluster's too.
    All,
}

impl Runs<'_> {
    /// The engine's label filter.
    fn filter(&self) -> HashMap<String, Vec<String>> {
        let label = match self {
            Runs::One(id) => format!("{RUN_LABEL}={id}"),
            Runs::Leftovers | Runs::All => LABEL.to_owned(),
        };
        HashMap::from([("label".to_owned(), vec![label])])
    }

    /// Whether what the filter listed, labelled `labels`, is taken: all of
    /// it, but the kept cluster's for [`Runs::Leftovers`] (the engine cannot
    /// filter on a label's absence).
    fn takes(&self, labels: Option<&HashMap<String, String>>) -> bool {
        let kept = labels.is_some_and(|l| l.contains_key(KEPT_LABEL));
        !(kept && matches!(self, Runs::Leftovers))
    }
}

async fn list_containers(
    docker: &Docker,
    runs: &Runs<'_>,
) -> Result<Vec<bollard::models::ContainerSummary>> {
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(runs.filter()),
            ..Default::default()
        }))
        .await?;
    Ok(containers
        .into_iter()
        .filter(|c| runs.takes(c.labels.as_ref()))
        .collect())
}

/// What a cleanup removed.
#[derive(Debug, Default)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
}

/// Removes the containers and networks of `runs`. Broker logs are saved
/// first when a directory is given.
pub async fn remove(docker: &Docker, runs: Runs<'_>, logs_dir: Option<&Path>) -> Result<Removed> {
    let mut removed = Removed::default();
    for c in list_containers(docker, &runs).await? {
        let Some(id) = c.id else { continue };
        let name = c
            .names
            .and_then(|n| n.first().cloned())
            .unwrap_or_else(|| id.clone());
        let name = name.trim_start_matches('/');
        if let Some(dir) = logs_dir {
            save_logs(docker, name, dir).await;
        }
        docker
            .remove_container(
                &id,
                Some(
                    RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .v(true)
                        .build(),
                ),
            )
            .await
            .with_context(|| format!("removing container {name}"))?;
        removed.containers += 1;
    }
    let networks = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(runs.filter()),
        }))
        .await?;
    for n in networks
        .into_iter()
        .filter(|n| runs.takes(n.labels.as_ref()))
    {
        let Some(id) = n.id else { continue };
        docker
            .remove_network(&id)
            .await
            .with_context(|| format!("removing network {}", n.name.unwrap_or_default()))?;
        removed.networks += 1;
    }
    Ok(removed)
}

async fn save_logs(docker: &Docker, container: &str, dir: &Path) {
    let node = container.rsplit('-').take(2).collect::<Vec<_>>();
    let file = dir.join(format!("{}-{}.log", node[1], node[0]));
    let result = async {
        std::fs::create_dir_all(dir)?;
        std::fs::write(&file, container_logs(docker, container).await?)?;
        Ok::<_, anyhow::Error>(())
    }
    .await;
    if let Err(e) = result {
        warn!(
            "could not save the log of {container} to {}: {e:#}",
            file.display()
        );
    }
}

/// Runs a job that starts clusters, and tears them down when it ends, whether it
/// returns or panics (the job runs as its own task, so a panic ends only it).
pub async fn with_teardown<T, F>(docker: &Docker, job: F) -> Result<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let outcome = tokio::spawn(job).await;
    teardown_live(docker).await;
    outcome.unwrap_or_else(|e| Err(anyhow::anyhow!("eoscheck failed unexpectedly: {e}")))
}

/// Runs a job that owns clusters so that they are torn down on every way out:
/// success, error, panic, Ctrl-C and SIGTERM.
pub async fn guarded<F>(docker: &Docker, job: F) -> Result<i32>
where
    F: std::future::Future<Output = Result<i32>> + Send + 'static,
{
    tokio::select! {
        outcome = with_teardown(docker, job) => outcome,
        signal = shutdown_signal() => {
            teardown_live(docker).await;
            Err(Failure::interrupted(signal))
        }
    }
}

async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler installs");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

/// Tears down every run this process started and has not torn down yet. Called on
/// every way out: normal end, error, panic, Ctrl-C and SIGTERM.
pub async fn teardown_live(docker: &Docker) {
    let live: Vec<_> = std::mem::take(&mut *LIVE.lock().unwrap());
    for (run_id, logs_dir) in live {
        match remove(docker, Runs::One(&run_id), logs_dir.as_deref()).await {
            Ok(r) => info!(
                "removed run {run_id}: {} containers, {} networks",
                r.containers, r.networks
            ),
            Err(e) => warn!("teardown of run {run_id} failed: {e:#}; run `eoscheck cleanup`"),
        }
    }
}

/// A random KRaft cluster id. Like Kafka's own `Uuid.randomUuid`, never one that
/// starts with '-': the storage tool would read it as an option (`-t -abc…`) and
/// the broker would not start, one cluster in 64.
fn cluster_id() -> String {
    loop {
        let id =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        if !id.starts_with('-') {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cluster_ids_never_look_like_options() {
        // One raw id in 64 starts with '-': 10,000 draws would meet many.
        for _ in 0..10_000 {
            let id = super::cluster_id();
            assert!(!id.starts_with('-') && id.len() == 22, "{id}");
        }
    }
}
