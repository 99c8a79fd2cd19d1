#!/usr/bin/env bash
# A private RabbitMQ broker for development and tests: its own node name, ports, data and logs under one
# folder, so it never touches (or needs) a system broker, and several can run side by side.
#
#   scripts/rabbitmq.sh install       install rabbitmq-server (Debian) when it is missing
#   scripts/rabbitmq.sh start DIR     start a broker under DIR (created if needed); prints its amqp:// URL.
#                                     Starting again after stop reuses DIR's port, so clients can reconnect.
#   scripts/rabbitmq.sh stop DIR      stop the broker under DIR and wait until it has exited
#   scripts/rabbitmq.sh url DIR       print the URL of the broker under DIR
set -euo pipefail

RABBIT_BIN=/usr/lib/rabbitmq/bin

install_broker() {
  if [[ -x "$RABBIT_BIN/rabbitmq-server" ]]; then
    return
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "rabbitmq-server is not installed; run 'sudo $0 install' (or apt-get install rabbitmq-server)" >&2
    exit 1
  fi
  echo "installing rabbitmq-server (apt-get)..." >&2
  apt-get update -q >&2
  # The package's own service start is not wanted (and is refused in containers); we run private brokers.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q rabbitmq-server >&2
}

# A port is free when no socket on this machine uses it, listening or connected: load generators hold many
# ephemeral ports, and the broker's Erlang distribution port fails to bind on any of them.
port_is_free() {
  if command -v ss >/dev/null 2>&1; then
    [[ -z $(ss -Htan "( sport = :$1 )" 2>/dev/null) ]]
  else
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
  fi
}

# Ports below the kernel's ephemeral range, so no outgoing connection can take them while the broker is down.
pick_port() {
  local low port
  low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  for _ in $(seq 1 200); do
    port=$((10000 + RANDOM % (low - 10002)))
    if port_is_free "$port" && port_is_free $((port + 1)); then
      echo "$port"
      return
    fi
  done
  echo "no free port found for the broker" >&2
  exit 1
}

broker_env() {
  local dir=$1 port
  port=$(cat "$dir/port")
  export HOME="$dir"
  export RABBITMQ_NODENAME="sb$port@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$port"
  export RABBITMQ_DIST_PORT=$((port + 1))
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_PID_FILE="$dir/broker.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_FEATURE_FLAGS_FILE="$dir/feature_flags"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq"
  export ERL_EPMD_ADDRESS=127.0.0.1
}

url_of() {
  echo "amqp://guest:guest@127.0.0.1:$(cat "$1/port")/"
}

start_broker() {
  local dir
  mkdir -p "$1"
  dir=$(cd "$1" && pwd)
  install_broker
  local chosen=0
  if [[ ! -f "$dir/port" ]]; then
    pick_port > "$dir/port"
    chosen=1
  fi
  mkdir -p "$dir/mnesia" "$dir/log"
  # The event exchange lets observers see a killed node's queue vanish at once, not after missed heartbeats.
  echo "[rabbitmq_event_exchange]." > "$dir/enabled_plugins"
  # Quiet logs; the disk alarm would stop publishing on a nearly full test machine for no benefit here.
  printf 'log.console = false\nlog.file.level = warning\ndisk_free_limit.absolute = 1MB\n' > "$dir/rabbitmq.conf"
  local attempt
  for attempt in 1 2 3; do
    broker_env "$dir"
    rm -f "$RABBITMQ_PID_FILE"
    nohup "$RABBIT_BIN/rabbitmq-server" > "$dir/server.out" 2>&1 < /dev/null &
    if "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBITMQ_NODENAME" wait "$RABBITMQ_PID_FILE" --timeout 90 > "$dir/wait.out" 2>&1; then
      url_of "$dir"
      return
    fi
    stop_broker "$dir" 2>/dev/null || true
    # A port taken between the check and the bind: try fresh ports, unless clients expect this one (a restart).
    if [[ $chosen -eq 0 ]] || ! grep -q "already_used\|eaddrinuse" "$dir/server.out" "$dir"/log/* 2>/dev/null; then
      break
    fi
    pick_port > "$dir/port"
    rm -rf "$dir/mnesia" "$dir/log"
    mkdir -p "$dir/mnesia" "$dir/log"
  done
  echo "the broker under $dir did not start; see $dir/server.out and $dir/log" >&2
  tail -20 "$dir/server.out" >&2 || true
  exit 1
}

stop_broker() {
  local dir
  dir=$(cd "$1" && pwd)
  [[ -f "$dir/port" ]] || { echo "no broker under $dir" >&2; exit 1; }
  broker_env "$dir"
  if [[ -f "$RABBITMQ_PID_FILE" ]]; then
    "$RABBIT_BIN/rabbitmqctl" -q -n "$RABBITMQ_NODENAME" stop "$RABBITMQ_PID_FILE" > /dev/null 2>&1 || true
    # If the node did not answer, make sure nothing is left behind holding the port.
    local pid
    pid=$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$RABBITMQ_PID_FILE"
  fi
}

case "${1:-}" in
  install) install_broker ;;
  start) start_broker "${2:?usage: $0 start DIR}" ;;
  stop) stop_broker "${2:?usage: $0 stop DIR}" ;;
  url) url_of "${2:?usage: $0 url DIR}" ;;
  *) echo "usage: $0 install | start DIR | stop DIR | url DIR" >&2; exit 2 ;;
esac
