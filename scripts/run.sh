#!/usr/bin/env bash
# Sluice's two commands for a fresh Debian 12 machine, as root:
#   bash scripts/run.sh demo   # installs what is missing, then runs the end-to-end demo
#   bash scripts/run.sh test   # installs what is missing, then lint, type check and the whole test suite
# Each step checks before it acts, so running either command again does nothing twice.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

DEB_PACKAGES=(
  mariadb-server mariadb-client
  memcached tcpdump tcpreplay sysbench tshark percona-toolkit
  rabbitmq-server redis-server nats-server mosquitto
  build-essential python3 ca-certificates procps iproute2 zstd
)

need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "this step installs Debian packages and starts services: run it as root (sudo bash scripts/run.sh $1)" >&2
    exit 2
  fi
}

install_debian_packages() {
  local missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ! command -v node >/dev/null 2>&1; then missing+=(nodejs npm); fi
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root setup
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not start their own daemons here: we start them below, the same way on every machine.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

check_node() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  if [ "$major" -lt 20 ]; then
    echo "Sluice needs Node.js 20 or newer; this machine has $(node --version). Install Node.js 20 (e.g. Debian's nodejs from bookworm-backports or NodeSource) and run again." >&2
    exit 2
  fi
}

listening() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

wait_port() {
  local port=$1 name=$2 i
  for i in $(seq 1 120); do listening "$port" && return 0; sleep 0.5; done
  echo "$name did not start listening on port $port; see its log" >&2
  exit 1
}

start_services() {
  # The tests start their own MariaDB and memcached sandboxes; these shared brokers are used as they are.
  if ! listening 5672; then
    log "starting RabbitMQ"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    wait_port 5672 RabbitMQ
  fi
  if ! listening 6379; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/sluice.log
    wait_port 6379 Redis
  fi
  if ! listening 4222; then
    log "starting NATS (JetStream)"
    mkdir -p /var/lib/nats-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
    wait_port 4222 NATS
  fi
  if ! listening 1883; then
    log "starting Mosquitto"
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
    wait_port 1883 Mosquitto
  fi
}

install_npm() {
  local stamp=node_modules/.sluice-lock-stamp want
  want=$( (sha256sum package-lock.json; node --version) | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "installing npm dependencies"
  # npm install (not ci): the lock omits optional per-platform packages of other platforms, which ci rejects.
  npm install --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
}

build() {
  local stamp=dist/.sluice-src-stamp want
  want=$(find src bin package.json tsconfig.json scripts/bundle.mjs -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  log "building"
  rm -rf dist
  # tsc, then the CLI's bundle (scripts/bundle.mjs)
  npm run --silent build
  echo "$want" >"$stamp"
}

setup() {
  install_debian_packages
  check_node
  start_services
  install_npm
  build
}

case "${1:-}" in
  setup) setup ;;
  demo)
    setup
    shift
    exec node bin/sluice.js demo "$@"
    ;;
  test)
    setup
    log "lint and format check"
    npx biome check .
    log "type check"
    npx tsc -p tsconfig.json --noEmit
    log "tests"
    exec node scripts/run-tests.mjs
    ;;
  *)
    echo "usage: bash scripts/run.sh demo|test|setup" >&2
    exit 2
    ;;
esac
