#!/usr/bin/env bash
# Installs Debian's Slurm (slurm-wlm: slurmctld, slurmd, client tools, basic plugins incl. mpi/pmix) and munge
# for the Slurm tests (tests/slurm/) — users of a real cluster have their site's Slurm. Also procps (pkill,
# used by the batch scripts to stop rmscore gracefully) and libpmix2 (srun --mpi=pmix). Does nothing when all
# are present. Run as root or with sudo. Starts no daemon: tests/slurm/slurm-up.sh does, privately.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for pair in slurmctld:slurm-wlm slurmd:slurm-wlm sbatch:slurm-wlm munged:munge pkill:procps; do
  command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
ls /usr/lib/*/slurm-wlm/mpi_pmix*.so >/dev/null 2>&1 || missing+=(slurm-wlm-basic-plugins)
ls /usr/lib/*/libpmix.so.2* >/dev/null 2>&1 || missing+=(libpmix2)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
readarray -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends: no mail server, no documentation. Under systemd the munge service starts (slurm-up.sh
# then reuses that munged); slurmctld/slurmd services do not start without /etc/slurm/slurm.conf.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "rmscore: installed ${missing[*]}"
