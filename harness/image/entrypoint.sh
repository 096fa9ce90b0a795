#!/bin/bash
# Starts one KRaft broker+controller. Configuration comes from the environment:
#   KAFKA_NODE_ID, KAFKA_CLUSTER_ID, KAFKA_VOTERS (1@host:9093,...)
#   KAFKA_CFG_<NAME>=value  ->  <name>=value, '_' becoming '.' (e.g. KAFKA_CFG_MIN_INSYNC_REPLICAS)
#   KAFKA_HEAP (default -Xmx512m -Xms512m)
# Storage is formatted only when it is not formatted yet, so a container that is
# killed and started again keeps its log (the nemesis relies on that).
set -euo pipefail
home=/opt/kafka
data=/var/lib/kafka/data
conf=$home/server.properties
# Advertise the address this container has now: host-side clients connect to it directly.
ip=$(hostname -i | awk '{print $1}')

{
  echo "process.roles=broker,controller"
  echo "node.id=${KAFKA_NODE_ID:?KAFKA_NODE_ID must be set}"
  echo "controller.quorum.voters=${KAFKA_VOTERS:?KAFKA_VOTERS must be set}"
  echo "listeners=PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093"
  echo "advertised.listeners=PLAINTEXT://$ip:9092"
  echo "controller.listener.names=CONTROLLER"
  echo "inter.broker.listener.name=PLAINTEXT"
  echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  echo "log.dirs=$data"
  env | grep '^KAFKA_CFG_' | while IFS='=' read -r name value; do
    key=${name#KAFKA_CFG_}
    key=${key,,}
    echo "${key//_/.}=$value"
  done
} > "$conf"

cp_libs="$home/libs/*"
if compgen -G "$home/libs/log4j-core-*.jar" > /dev/null; then
  log_opt="-Dlog4j2.configurationFile=$home/log4j2.properties"
else
  log_opt="-Dlog4j.configuration=file:$home/log4j.properties"
fi

mkdir -p "$data"
if [ ! -f "$data/meta.properties" ]; then
  java -cp "$cp_libs" $log_opt kafka.tools.StorageTool format \
    -t "${KAFKA_CLUSTER_ID:?KAFKA_CLUSTER_ID must be set}" -c "$conf"
fi

exec java ${KAFKA_HEAP:--Xmx512m -Xms512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
  -Djava.awt.headless=true $log_opt -cp "$cp_libs" kafka.Kafka "$conf"
