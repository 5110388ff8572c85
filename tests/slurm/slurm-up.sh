#!/bin/bash
# slurm-up.sh DIR — start a private single-node Slurm on this machine (for tests/slurm/test_slurm.py).
#
#   bash tests/slurm/slurm-up.sh DIR        # then: export SLURM_CONF=DIR/slurm.conf; sinfo; sbatch ...
#   bash tests/slurm/slurm-down.sh DIR      # stop it again
#
# Runs as root, needs no systemd. Everything it writes is under DIR (slurm.conf, state, spool, logs, pid files)
# except the munge key (/etc/munge/munge.key, created only if missing) and munged's socket (/run/munge).
# - munged: reused if one already answers on /run/munge/munge.socket.2; otherwise started here as the munge user
#   (log, seed and pid under DIR/munge) and recorded in DIR/munged.started so that slurm-down.sh stops it.
# - slurm.conf: ClusterName rmscore-test, SlurmctldHost=$(hostname), one node with this machine's CPUs and
#   RealMemory (from `slurmd -C`), one default partition "debug", select/cons_tres + CR_Core,
#   proctrack/linuxproc, task/affinity (SLURM_TASK_PLUGIN), MpiDefault=none, ReturnToService=2, SlurmUser=root,
#   no accounting, KillWait=10, requeued jobs eligible again after 10 s (SLURM_CRED_EXPIRE; Slurm's default is
#   120 s), schedulers every 2 s.
# - slurmctld -f DIR/slurm.conf, slurmd -f DIR/slurm.conf; waits (up to SLURM_UP_TIMEOUT, default 60 s) until
#   sinfo shows the node idle, otherwise prints the logs' tails and exits 1 (after stopping what it started).
# Ports: SLURMCTLD_PORT (default 6817), SLURMD_PORT (default 6818).
set -euo pipefail

die() { echo "slurm-up: error: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: slurm-up.sh DIR"
[ "$(id -u)" -eq 0 ] || die "must run as root (slurmd, SlurmUser=root, munged as the munge user)"
for cmd in munged munge unmunge slurmctld slurmd sinfo scontrol; do
  command -v "$cmd" >/dev/null || die "$cmd not found: install slurm-wlm and munge (bash scripts/install-slurm.sh)"
done

mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
HOST=$(hostname)
CTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
TIMEOUT=${SLURM_UP_TIMEOUT:-60}
export SLURM_CONF="$DIR/slurm.conf"

if [ -s "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
  die "a Slurm from $DIR is already running (slurmctld pid $(cat "$DIR/slurmctld.pid")): run slurm-down.sh $DIR first"
fi

fail() {
  echo "slurm-up: error: $*" >&2
  for log in "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" "$DIR/munge/munged.log"; do
    [ -f "$log" ] && { echo "---- tail of $log" >&2; tail -n 25 "$log" >&2; }
  done
  bash "$HERE/slurm-down.sh" "$DIR" >&2 || true
  exit 1
}

# ---- munge -------------------------------------------------------------------------------------------------
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! getent passwd munge >/dev/null; then die "no munge user: is the munge package installed?"; fi
if [ ! -s /etc/munge/munge.key ]; then
  install -d -m 0700 -o munge -g munge /etc/munge
  if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key --force
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
  echo "slurm-up: created /etc/munge/munge.key"
fi
rm -f "$DIR/munged.started"
if munge_ok; then
  echo "slurm-up: reusing the running munged (/run/munge)"
else
  install -d -m 0755 -o munge -g munge /run/munge
  install -d -m 0700 -o munge -g munge "$DIR/munge"
  rm -f "$DIR/munge/munged.pid"
  runuser -u munge -- munged --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" \
    --pid-file="$DIR/munge/munged.pid" || fail "munged did not start"
  echo "$DIR/munge/munged.pid" >"$DIR/munged.started"
  for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
  munge_ok || fail "munged started but munge -n | unmunge fails"
  echo "slurm-up: munged started (pid $(cat "$DIR/munge/munged.pid" 2>/dev/null || echo '?'))"
fi

# ---- slurm.conf --------------------------------------------------------------------------------------------
rm -rf "$DIR/state" "$DIR/spool" "$DIR/tmp"   # a fresh cluster each time: no jobs recovered from a last run
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/tmp"
chmod 0755 "$DIR/state" "$DIR/spool" "$DIR/log"
chmod 1777 "$DIR/tmp"
# NodeName=… CPUs=… Boards=… SocketsPerBoard=… CoresPerSocket=… ThreadsPerCore=… RealMemory=…
NODE_HW=$(slurmd -C | head -n 1 | sed -E 's/^NodeName=[^ ]+ //')
echo "$NODE_HW" | grep -q 'CPUs=' || die "slurmd -C did not report the node: $(slurmd -C 2>&1 | head -n 3)"
cat >"$DIR/slurm.conf" <<EOF
# Written by tests/slurm/slurm-up.sh: a private single-node Slurm for tests. Everything lives under $DIR.
ClusterName=rmscore-test
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
# job temporary files (srun --mpi=pmix puts its spmix_appdir_* there) stay under DIR too
TmpFS=$DIR/tmp
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$DIR/plugstack.conf
ProctrackType=proctrack/linuxproc
# task/affinity: srun binds each task to its --cpus-per-task CPUs (and the batch script to the job's), as on a
# real cluster; the tests check it
TaskPlugin=${SLURM_TASK_PLUGIN:-task/affinity}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
# a requeued job may start again cred_expire + 1 s after its requeue (default 120 s): 10 s here, and the
# schedulers run every 2 s, so that a job requeueing itself runs again within ~12 s
AuthInfo=cred_expire=${SLURM_CRED_EXPIRE:-10}
SchedulerParameters=sched_interval=2,bf_interval=2
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# keep finished jobs visible to 'scontrol show job' for 10 minutes (there is no accounting)
MinJobAge=600
KillWait=10
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$HOST $NODE_HW State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
: >"$DIR/plugstack.conf"   # no SPANK plugins (do not read /etc/slurm/plugstack.conf)

# ---- daemons -----------------------------------------------------------------------------------------------
rm -f "$DIR/slurmctld.pid" "$DIR/slurmd.pid"
# -c: clear any previous state (none is left after the rm above; belt and braces)
slurmctld -f "$DIR/slurm.conf" -c || fail "slurmctld did not start"
for _ in $(seq 100); do scontrol -Q ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.2; done
scontrol -Q ping 2>/dev/null | grep -q 'is UP' || fail "slurmctld does not answer (scontrol ping)"
slurmd -f "$DIR/slurm.conf" || fail "slurmd did not start"

deadline=$((SECONDS + TIMEOUT))
state=""
while [ $SECONDS -lt $deadline ]; do
  state=$(sinfo -h -n "$HOST" -o '%T' 2>/dev/null | head -n 1 || true)
  [ "$state" = idle ] && break
  sleep 1
done
[ "$state" = idle ] || fail "node $HOST is not idle after ${TIMEOUT}s (state: ${state:-none})"
echo "slurm-up: Slurm is up: SLURM_CONF=$DIR/slurm.conf, node $HOST idle ($NODE_HW)"
