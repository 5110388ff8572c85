#!/usr/bin/env bash
# Installs Debian's Slurm (slurmctld, slurmd, client tools) and munge, for the Slurm tests
# (tests/slurm/) — users of a real cluster have their site's Slurm. Run as root or with sudo.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
echo "rmscore: slurm-wlm and munge installed"
