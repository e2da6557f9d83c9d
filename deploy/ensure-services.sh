#!/usr/bin/env bash
# Make sure the local PostgreSQL and RabbitMQ answer; start them (by hand: no systemd here)
# when they do not. Installs the Debian packages first on a machine that lacks them.
set -euo pipefail

have_port() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then echo "ensure-services: need root to install $*" >&2; return 1; fi
  [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! have_port 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do have_port 5432 && break; sleep 1; done
  # trust auth on loopback, as the test and dev URLs expect
  hba="/etc/postgresql/$ver/main/pg_hba.conf"
  if ! grep -q "^host all all 127.0.0.1/32 trust" "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main reload || true
  fi
fi
have_port 5432 || { echo "ensure-services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }

if ! have_port 5672; then
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  rabbitmq-server -detached || true
  for _ in $(seq 1 45); do
    rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1 && have_port 5672 && break
    sleep 2
  done
fi
have_port 5672 || { echo "ensure-services: RabbitMQ is not reachable on 127.0.0.1:5672" >&2; exit 1; }
echo "ensure-services: PostgreSQL and RabbitMQ are up"
