#!/usr/bin/env bash
# The project's test command: restores, builds and runs every test project, then prints one summary line.
# Usage: scripts/test.sh [extra dotnet test arguments]
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v dotnet >/dev/null 2>&1; then
  echo "error: the .NET 10 SDK (dotnet) is required" >&2
  exit 2
fi

log=$(mktemp)
broker=$(mktemp -d)
cleanup() {
  scripts/rabbitmq.sh stop "$broker" >/dev/null 2>&1 || true
  rm -rf "$log" "$broker"
}
trap cleanup EXIT

# The write-delay tests read the node's TCP counters with ss (iproute2); install it when missing (root, Debian).
if ! command -v ss >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing iproute2 (apt-get) for ss..." >&2
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q iproute2 >&2
  else
    echo "warning: ss (iproute2) is missing; the write-delay tests will fail" >&2
  fi
fi

# The RabbitMQ tests need a broker: one private broker (installed first when missing) is shared by every test
# that does not stop it; tests that restart a broker start their own through the same script.
if [[ -z "${SWITCHBOARD_TEST_AMQP:-}" ]]; then
  if ! SWITCHBOARD_TEST_AMQP=$(scripts/rabbitmq.sh start "$broker"); then
    echo "error: could not start a private RabbitMQ broker (scripts/rabbitmq.sh)" >&2
    exit 2
  fi
  export SWITCHBOARD_TEST_AMQP
  echo "RabbitMQ for tests: $SWITCHBOARD_TEST_AMQP"
fi

# A hung test fails the run (with a dump of what hung) instead of stalling it.
dotnet test Switchboard.slnx --blame-hang-timeout 5m "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
skipped=$(grep -Eo 'Skipped: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
echo
echo "Total: $passed passed, $failed failed, $skipped skipped"
exit "$status"
