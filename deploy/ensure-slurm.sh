#!/usr/bin/env bash
# Install the Slurm daemons and client commands when missing (Debian). The tests start
# their own private single-node cluster; nothing is started here.
set -euo pipefail
PATH="$PATH:/usr/sbin"
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-slurm: need root to install slurm-wlm (the Slurm tests will be skipped)" >&2
  exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm >/dev/null
