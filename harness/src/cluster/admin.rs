//! Admin requests librdkafka does not offer: who the active KRaft controller is,
//! moving a partition's leadership on purpose (brokers forward both to the
//! controller), which broker coordinates a `transactional.id`'s transactions,
//! and the cluster's finalized feature levels.

use std::{collections::BTreeMap, time::Duration};

use anyhow::{bail, Result};
use kafka_protocol::{
    messages::{
        alter_partition_reassignments_request::{ReassignablePartition, ReassignableTopic},
        describe_quorum_request::{PartitionData, TopicData},
        elect_leaders_request::TopicPartitions,
        AlterPartitionReassignmentsRequest, ApiVersionsRequest, BrokerId, DescribeQuorumRequest,
        ElectLeadersRequest, FindCoordinatorRequest, TopicName,
    },
    protocol::StrBytes,
};

use super::wire::Connection;

const TIMEOUT: Duration = Duration::from_secs(15);
/// Where KRaft keeps the metadata log; its Raft leader is the active controller.
const METADATA_TOPIC: &str = "__cluster_metadata";
const PREFERRED_ELECTION: i8 = 0;
const ELECTION_NOT_NEEDED: i16 = 84;

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// The node id of the active controller, asked of the broker at `broker`.
pub async fn active_controller(broker: &str) -> Result<i32> {
    let mut conn = Connection::open(broker, TIMEOUT).await?;
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic_name(METADATA_TOPIC))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let response = conn.call(0, &request).await?;
    if response.error_code != 0 {
        bail!("DescribeQuorum failed with error {}", response.error_code);
    }
    let partition = response
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .next()
        .ok_or_else(|| anyhow::anyhow!("DescribeQuorum answered without the metadata partition"))?;
    if partition.error_code != 0 || partition.leader_id.0 < 0 {
        bail!(
            "the metadata quorum has no leader now (error {}, leader {})",
            partition.error_code,
            partition.leader_id.0
        );
    }
    Ok(partition.leader_id.0)
}

/// The cluster's finalized feature levels by name (`metadata.version`, and
/// from Kafka 4.0 `transaction.version`, whose level 2 is KIP-890's
/// protocol), as the broker at `broker` reports them in ApiVersions v3. A
/// feature at level 0 is not listed.
pub async fn finalized_features(broker: &str) -> Result<BTreeMap<String, i16>> {
    let mut conn = Connection::open(broker, TIMEOUT).await?;
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("eoscheck"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let response = conn.call(3, &request).await?;
    if response.error_code != 0 {
        bail!("ApiVersions failed with error {}", response.error_code);
    }
    Ok(response
        .finalized_features
        .iter()
        .map(|f| (f.name.to_string(), f.max_version_level))
        .collect())
}

/// The node id of the broker coordinating each of `keys` (each a
/// consumer group or a `transactional.id`, as `kind` says), asked of the
/// broker at `broker` (FindCoordinator v4, which takes several keys; Kafka
/// 3.9 and 4.x serve it).
pub async fn coordinators(
    broker: &str,
    kind: nemesis::Coordinator,
    keys: &[String],
) -> Result<Vec<i32>> {
    let mut conn = Connection::open(broker, TIMEOUT).await?;
    let key_type = match kind {
        nemesis::Coordinator::Group => 0,
        nemesis::Coordinator::Transaction => 1,
    };
    let request = FindCoordinatorRequest::default()
        .with_key_type(key_type)
        .with_coordinator_keys(
            keys.iter()
                .map(|k| StrBytes::from_string(k.clone()))
                .collect(),
        );
    let response = conn.call(4, &request).await?;
    keys.iter()
        .map(|id| {
            let found = response.coordinators.iter().find(|c| c.key.as_str() == id);
            match found {
                Some(c) if c.error_code == 0 && c.node_id.0 >= 0 => Ok(c.node_id.0),
                Some(c) => bail!(
                    "no coordinator for {id} now (error {}: {})",
                    c.error_code,
                    c.error_message.as_deref().unwrap_or("")
                ),
                None => bail!("FindCoordinator answered without {id}"),
            }
        })
        .collect()
}

/// Makes `replicas[0]` the preferred replica of a partition (same replica set,
/// new order) and runs a preferred leader election, which moves leadership to it.
pub async fn transfer_leadership(
    broker: &str,
    topic: &str,
    partition: i32,
    replicas: &[i32],
) -> Result<()> {
    let mut conn = Connection::open(broker, TIMEOUT).await?;
    let reorder = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(TIMEOUT.as_millis() as i32)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(partition)
                .with_replicas(Some(
                    replicas.iter().map(|&r| BrokerId(r)).collect(),
                ))])]);
    let response = conn.call(0, &reorder).await?;
    let code = response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| p.error_code)
        .find(|&c| c != 0)
        .unwrap_or(response.error_code);
    if code != 0 {
        bail!("reordering the replicas of partition {partition} failed with error {code}");
    }
    let elect = ElectLeadersRequest::default()
        .with_election_type(PREFERRED_ELECTION)
        .with_timeout_ms(TIMEOUT.as_millis() as i32)
        .with_topic_partitions(Some(vec![TopicPartitions::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![partition])]));
    let response = conn.call(1, &elect).await?;
    for result in response
        .replica_election_results
        .iter()
        .flat_map(|r| &r.partition_result)
    {
        if result.error_code != 0 && result.error_code != ELECTION_NOT_NEEDED {
            bail!(
                "preferred leader election of partition {partition} failed with error {}: {}",
                result.error_code,
                result.error_message.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}
