#!/usr/bin/env bash
# submit-array.sh CONFIG N OUTDIR [extra sbatch options...]
# Submits an N-task job array scoring the N shards of CONFIG's dataset into OUTDIR/shard-I.h5, and a
# merge job that runs when all of them succeeded, writing OUTDIR/scores.h5 and its report. Prints the
# two job ids ("array JOBID" and "merge JOBID"). Extra options go to both sbatch calls. If a task fails
# (or stops with exit 3 without RMSCORE_REQUEUE=1), Slurm cancels the merge job (--kill-on-invalid-dep)
# instead of leaving it pending: fix the cause, then rerun the failed tasks (`scontrol requeue ARRAYJOB_I`, or
# `RMSCORE_SHARDS=N sbatch --array=I,... slurm/rmscore-array.sbatch CONFIG OUTDIR`; both resume their shard
# files) and submit the merge again (`sbatch slurm/rmscore-merge.sbatch OUTDIR OUTDIR/scores.h5`).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: submit-array.sh CONFIG N OUTDIR [sbatch options...]" >&2
  exit 2
fi
CONFIG=$1 N=$2 OUTDIR=$3
shift 3
case "$N" in ''|*[!0-9]*|0) echo "submit-array.sh: N must be a positive integer, not '$N'" >&2; exit 2;; esac
[ -f "$CONFIG" ] || { echo "submit-array.sh: no config file $CONFIG" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$OUTDIR"
export RMSCORE_SHARDS=$N   # the tasks' N, whatever subset of the array runs
ARRAY=$(sbatch --parsable --array=0-$((N - 1)) --output="$OUTDIR/array-%A_%a.out" "$@" \
        "$HERE/rmscore-array.sbatch" "$CONFIG" "$OUTDIR")
ARRAY=${ARRAY%%;*}
MERGE=$(sbatch --parsable --dependency=afterok:"$ARRAY" --kill-on-invalid-dep=yes --output="$OUTDIR/merge-%j.out" "$@" \
        "$HERE/rmscore-merge.sbatch" "$OUTDIR" "$OUTDIR/scores.h5")
MERGE=${MERGE%%;*}
echo "array $ARRAY"
echo "merge $MERGE"
