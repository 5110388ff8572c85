#!/bin/bash
# slurm-down.sh DIR — stop the private Slurm started by slurm-up.sh DIR and leave nothing of it running.
#
# Cancels the jobs still queued or running, stops slurmd and slurmctld (pid files in DIR: SIGTERM, then SIGKILL
# after 10 s), kills any slurmstepd or job process left behind by this instance (found by SLURM_CONF=DIR/slurm.conf
# in its environment, never by name alone), and stops munged if slurm-up.sh started it. Keeps DIR (logs) in place.
# Idempotent: running it twice, or on a DIR where nothing runs, is fine.
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: slurm-down.sh DIR" >&2; exit 2; }
[ -d "$1" ] || { echo "slurm-down: nothing to do ($1 does not exist)"; exit 0; }
DIR=$(cd "$1" && pwd -P)
export SLURM_CONF="$DIR/slurm.conf"

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { [ -s "$1" ] && tr -dc '0-9' <"$1"; }

stop_pid() {  # stop_pid NAME PID: SIGTERM, wait up to 10 s, then SIGKILL
  local name=$1 pid=$2 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 100); do alive "$pid" || { echo "slurm-down: stopped $name (pid $pid)"; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  sleep 0.2
  echo "slurm-down: killed $name (pid $pid) with SIGKILL"
}

# Processes of this instance: slurmstepd and job processes inherit SLURM_CONF=DIR/slurm.conf from slurmd / sbatch.
instance_pids() {
  local p env comm
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = $$ ] && continue
    env=$( { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null) || continue
    grep -qxF "SLURM_CONF=$DIR/slurm.conf" <<<"$env" || continue
    comm=$( { cat "/proc/$p/comm"; } 2>/dev/null)
    # the daemons and step daemons of this instance, and processes of its jobs (not the shell that ran slurm-up)
    case "$comm" in
      slurmstepd|slurmd|slurmctld) echo "$p"; continue ;;
    esac
    if grep -q '^SLURM_JOB_ID=' <<<"$env"; then
      echo "$p"
    fi
  done
}

ctld=$(pid_of "$DIR/slurmctld.pid")
if alive "$ctld" && [ -f "$DIR/slurm.conf" ]; then
  # cancel every job and give the steps a few seconds to end cleanly
  scancel --quiet --full $(squeue -h -o '%A' 2>/dev/null) 2>/dev/null
  for _ in $(seq 50); do [ -z "$(squeue -h -o '%A' -t PD,R,CG,S 2>/dev/null)" ] && break; sleep 0.2; done
fi

stop_pid slurmd "$(pid_of "$DIR/slurmd.pid")"
stop_pid slurmctld "$ctld"

left=$(instance_pids)
if [ -n "$left" ]; then
  echo "slurm-down: killing leftover processes of this instance: $(echo $left)"
  kill -TERM $left 2>/dev/null
  sleep 1
  left=$(instance_pids)
  [ -n "$left" ] && kill -KILL $left 2>/dev/null
fi

if [ -s "$DIR/munged.started" ]; then
  mpid=$(pid_of "$(cat "$DIR/munged.started")")
  stop_pid munged "$mpid"
  rm -f "$DIR/munged.started"
fi

rc=0
for f in "$DIR/slurmd.pid" "$DIR/slurmctld.pid"; do
  p=$(pid_of "$f"); alive "$p" && { echo "slurm-down: error: pid $p ($f) still running" >&2; rc=1; }
done
left=$(instance_pids)
[ -n "$left" ] && { echo "slurm-down: error: still running: $(echo $left)" >&2; rc=1; }
[ $rc -eq 0 ] && echo "slurm-down: Slurm in $DIR is down"
exit $rc
