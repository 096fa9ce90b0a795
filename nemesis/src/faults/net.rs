//! iptables and tc inside the broker containers' network namespaces.
//!
//! Each fault keeps its rules in a chain of its own (`eos-<fault>`, at most 28
//! characters as iptables wants), jumped to from
//! INPUT and OUTPUT, so two active faults on one node never undo each other and
//! healing can find every rule eoscheck ever added.

use anyhow::{bail, Result};

use crate::{Cluster, Fault, NodeId};

const CHAIN_PREFIX: &str = "eos-";
const IFACE: &str = "eth0";

/// The longest chain name iptables takes.
const CHAIN_MAX: usize = 28;

/// The fault's chain, `eos-<fault>`, with `coordinator` shortened to `coord`
/// where the name would be longer than iptables allows.
pub(crate) fn chain(fault: Fault) -> String {
    let chain = format!("{CHAIN_PREFIX}{}", fault.name());
    match chain.len() > CHAIN_MAX {
        true => chain.replace("coordinator", "coord"),
        false => chain,
    }
}

/// Installs `rules` (iptables rule specs without the chain) in the fault's chain.
pub(crate) async fn install_chain<C: Cluster>(
    cluster: &C,
    node: NodeId,
    chain: &str,
    rules: &[String],
) -> Result<()> {
    let mut script = format!(
        "iptables -N {chain} && iptables -I INPUT 1 -j {chain} && iptables -I OUTPUT 1 -j {chain}"
    );
    for rule in rules {
        script.push_str(&format!(" && iptables -A {chain} {rule}"));
    }
    sh(cluster, node, &script).await.map(drop)
}

pub(crate) async fn remove_chain<C: Cluster>(cluster: &C, node: NodeId, chain: &str) -> Result<()> {
    let script = format!(
        "iptables -D INPUT -j {chain} && iptables -D OUTPUT -j {chain} && iptables -F {chain} && iptables -X {chain}"
    );
    sh(cluster, node, &script).await.map(drop)
}

/// Rules that cut every packet between `node` and each of `peers`, both ways.
pub(crate) fn cut_from(cluster: &impl Cluster, peers: &[NodeId]) -> Vec<String> {
    peers
        .iter()
        .flat_map(|&p| {
            let ip = cluster.ip(p);
            [format!("-s {ip} -j DROP"), format!("-d {ip} -j DROP")]
        })
        .collect()
}

/// Installs a root qdisc (`netem ...`, `tbf ...`) on the node's interface.
pub(crate) async fn add_qdisc<C: Cluster>(cluster: &C, node: NodeId, qdisc: &str) -> Result<()> {
    sh(
        cluster,
        node,
        &format!("tc qdisc add dev {IFACE} root {qdisc}"),
    )
    .await
    .map(drop)
}

pub(crate) async fn clear_qdisc<C: Cluster>(cluster: &C, node: NodeId) -> Result<()> {
    sh(cluster, node, &format!("tc qdisc del dev {IFACE} root"))
        .await
        .map(drop)
}

/// Removes every eoscheck chain and qdisc from a node; a no-op on a clean node
/// (whose veth interface has the `noqueue` default).
pub(crate) async fn clear_all<C: Cluster>(cluster: &C, node: NodeId) -> Result<()> {
    let script = format!(
        "for c in $(iptables -S | awk '/^-N {CHAIN_PREFIX}/ {{print $2}}'); do \
           while iptables -D INPUT -j $c 2>/dev/null; do :; done; \
           while iptables -D OUTPUT -j $c 2>/dev/null; do :; done; \
           iptables -F $c && iptables -X $c; \
         done; \
         if tc qdisc show dev {IFACE} | grep -qv noqueue; then tc qdisc del dev {IFACE} root; fi"
    );
    sh(cluster, node, &script).await.map(drop)
}

/// Whatever eoscheck rules or qdiscs a node still has (empty when clean).
pub(crate) async fn leftovers<C: Cluster>(cluster: &C, node: NodeId) -> Result<Vec<String>> {
    let rules = sh(cluster, node, "iptables -S").await?;
    let qdiscs = sh(cluster, node, &format!("tc qdisc show dev {IFACE}")).await?;
    Ok(rules
        .lines()
        .filter(|l| l.contains(CHAIN_PREFIX) || l.contains("DROP"))
        .chain(qdiscs.lines().filter(|l| !l.contains("noqueue")))
        .map(|l| format!("kafka-{node}: {l}"))
        .collect())
}

async fn sh<C: Cluster>(cluster: &C, node: NodeId, script: &str) -> Result<String> {
    match cluster.exec(node, &["sh", "-ec", script]).await {
        Ok(out) => Ok(out),
        Err(e) => bail!("on kafka-{node}, `{script}` failed: {e:#}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chain_name_fits_iptables_and_is_its_faults_own() {
        let chains: Vec<String> = Fault::ALL.iter().map(|&f| chain(f)).collect();
        assert!(chains.iter().all(|c| c.len() <= CHAIN_MAX), "{chains:?}");
        let mut unique = chains.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), chains.len());
        assert_eq!(chain(Fault::AckLoss), "eos-ack-loss");
    }
}
