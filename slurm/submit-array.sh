#!/usr/bin/env bash
# submit-array.sh [--missing | --tasks LIST] CONFIG N OUTDIR [extra sbatch options...]
#
# Submits a job array scoring the N shards of CONFIG's dataset into OUTDIR/shard-I-of-N.h5
# (rmscore-array.sbatch, N passed as an argument so every task keeps its shard I/N) and a merge job
# (rmscore-merge.sbatch, --dependency=afterany on the array) that writes OUTDIR/scores.h5 and its report
# once every shard is complete — or, if some are not (a task failed, was cancelled, or stopped at its
# requeue limit), names them and prints the command that reruns them. Prints "array JOBID" and
# "merge JOBID". Extra options go to both sbatch calls (e.g. -p PARTITION -A ACCOUNT --time=12:00:00).
#   --missing     submit only the shards that are not complete (no OUTDIR/shard-I-of-N.done), and a new
#                 merge after them: the way to rerun failed tasks (they resume their shard files)
#   --tasks LIST  submit only these array indices (sbatch --array syntax, e.g. 3,7 or 0-3)
set -euo pipefail
usage="usage: submit-array.sh [--missing | --tasks LIST] CONFIG N OUTDIR [sbatch options...]"
MODE=all TASKS=""
case "${1:-}" in
  --missing) MODE=missing; shift ;;
  --tasks) MODE=tasks; TASKS=${2:-}; shift 2 || { echo "$usage" >&2; exit 2; } ;;
esac
if [ $# -lt 3 ]; then
  echo "$usage" >&2
  exit 2
fi
CONFIG=$1 N=$2 OUTDIR=$3
shift 3
case "$N" in ''|*[!0-9]*|0) echo "submit-array.sh: N must be a positive integer, not '$N'" >&2; exit 2;; esac
[ -f "$CONFIG" ] || { echo "submit-array.sh: no config file $CONFIG" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$OUTDIR"
CONFIG=$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")
OUTDIR=$(cd "$OUTDIR" && pwd)

case $MODE in
  all) TASKS=0-$((N - 1)) ;;
  missing)
    TASKS=""
    for ((i = 0; i < N; i++)); do
      [ -e "$OUTDIR/shard-$i-of-$N.done" ] || TASKS+=${TASKS:+,}$i
    done
    [ -n "$TASKS" ] || echo "submit-array.sh: all $N shards in $OUTDIR are complete: only the merge is submitted" >&2
    ;;
  tasks) [ -n "$TASKS" ] || { echo "$usage" >&2; exit 2; } ;;
esac

# the merge job prints this when shards are missing: the exact command to rerun them
RESUBMIT="bash $(printf '%q ' "$HERE/submit-array.sh" --missing "$CONFIG" "$N" "$OUTDIR" "$@")"
export RMSCORE_SLURM_DIR=$HERE   # where rmscore-array.sbatch finds rmscore-job.sh
DEP=()
if [ -n "$TASKS" ]; then
  ARRAY=$(sbatch --parsable --array="$TASKS" --output="$OUTDIR/array-%A_%a.out" "$@" \
          "$HERE/rmscore-array.sbatch" "$CONFIG" "$OUTDIR" "$N")
  ARRAY=${ARRAY%%;*}
  DEP=(--dependency=afterany:"$ARRAY")
fi
MERGE=$(RMSCORE_RESUBMIT=${RESUBMIT% } sbatch --parsable "${DEP[@]}" --output="$OUTDIR/merge-%j.out" "$@" \
        "$HERE/rmscore-merge.sbatch" "$OUTDIR" "$OUTDIR/scores.h5" "$N")
MERGE=${MERGE%%;*}
echo "submit-array.sh: tasks ${TASKS:-none} of shards 0-$((N - 1)) into $OUTDIR" >&2
echo "array ${ARRAY:-none}"
echo "merge $MERGE"
