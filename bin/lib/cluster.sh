# Sourced by bin/cluster-test and bin/cluster-bench: starts a Spark standalone cluster (one master and
# N workers, separate JVMs on 127.0.0.1) from the project's own dependency classpath, and stops it.
# Spark's master and workers need none of instructflow's classes; executors load them from the shaded
# jar (spark.executor.extraClassPath, set by the driver).
#
#   cluster_classpath ROOT WORK   sets cluster_cp (third-party jars only; Maven writes the list, or
#                                 it is copied from $CLUSTER_CLASSPATH_FILE) and SPARK_HOME
#   cluster_start WORK N PORT UI MEMORY   starts the master and N workers (1 core, MEMORY each,
#                                 work dirs WORK/w1..wN, logs in WORK/logs) and waits until all
#                                 are registered; every pid it starts is appended to cluster_pids
#   cluster_stop                  stops the processes in cluster_pids (TERM, then KILL)
# Functions return non-zero (after saying why) instead of exiting, so the caller's trap still runs.

cluster_pids=()
cluster_opens="--add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang.invoke=ALL-UNNAMED"

cluster_classpath() { # ROOT WORK
  local root="$1" work="$2"
  # The sibling modules are resolved from this reactor (-am, with test-compile so that Maven hands
  # out their target/classes, and target/test-classes for generators' test-scoped use of inference's
  # test-jar), never from the local repository: `mvn verify` installs nothing there, and CI starts
  # from an empty one. With -am every module writes the file in turn; pipelines, the last, leaves
  # its own.
  # CLUSTER_CLASSPATH_FILE: the cp.txt of an earlier run, to skip Maven (which waits for the shared
  # build lock while others build)
  local cpcmd=(mvn -q -B -pl pipelines -am test-compile dependency:build-classpath -Dmdep.outputFile="$work/cp.txt")
  if [ -n "${CLUSTER_CLASSPATH_FILE:-}" ]; then
    cp "$CLUSTER_CLASSPATH_FILE" "$work/cp.txt" || return 1
  else
    (cd "$root" && "${cpcmd[@]}" -o >/dev/null 2>&1) || (cd "$root" && "${cpcmd[@]}" >/dev/null) || return 1
  fi
  cluster_cp="$(tr ':' '\n' <"$work/cp.txt" | grep -v -e "^$root/" -e '/io/instructflow/' | paste -sd: -)"
  [ -n "$cluster_cp" ] || { echo "cluster: empty dependency classpath" >&2; return 1; }
  # an empty jars/ satisfies the executor launcher; the classes come from SPARK_DIST_CLASSPATH
  mkdir -p "$work/spark-home/conf" "$work/spark-home/jars" "$work/logs"
  cp "$root/pipelines/src/main/resources/log4j2.properties" "$work/spark-home/conf/log4j2.properties"
  export SPARK_HOME="$work/spark-home" SPARK_SCALA_VERSION=2.12 SPARK_DIST_CLASSPATH="$cluster_cp" SPARK_LOCAL_IP=127.0.0.1
}

cluster_start() { # WORK N PORT UI MEMORY
  local work="$1" n="$2" port="$3" ui="$4" mem="$5" i w
  java $cluster_opens -Xmx512m -cp "$cluster_cp" org.apache.spark.deploy.master.Master --host 127.0.0.1 \
    --port "$port" --webui-port "$ui" >"$work/logs/master.log" 2>&1 &
  cluster_pids+=($!)
  for i in $(seq 1 60); do
    curl -s "http://127.0.0.1:$ui/json/" 2>/dev/null | grep -q '"status" : "ALIVE"' && break
    sleep 1
    [ "$i" = 60 ] && { echo "cluster: master did not come up" >&2; tail -20 "$work/logs/master.log" >&2; return 1; }
  done
  for w in $(seq 1 "$n"); do
    mkdir -p "$work/w$w"
    java $cluster_opens -Xmx512m -cp "$cluster_cp" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --cores 1 \
      --memory "$mem" --work-dir "$work/w$w" --webui-port $((ui + w)) "spark://127.0.0.1:$port" \
      >"$work/logs/worker$w.log" 2>&1 &
    cluster_pids+=($!)
  done
  for i in $(seq 1 60); do
    curl -s "http://127.0.0.1:$ui/json/" 2>/dev/null | grep -q "\"aliveworkers\" : $n\b" && break
    sleep 1
    [ "$i" = 60 ] && { echo "cluster: workers did not register" >&2; tail -20 "$work/logs/worker1.log" >&2; return 1; }
  done
}

cluster_stop() {
  local p
  for p in "${cluster_pids[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  sleep 1
  for p in "${cluster_pids[@]:-}"; do
    [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
  done
}
