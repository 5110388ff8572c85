#!/usr/bin/env bash
# submit-array.sh CONFIG N OUTDIR [extra sbatch options...]
# Submits an N-task job array scoring the N shards of CONFIG's dataset into OUTDIR/shard-I.h5, and a
# merge job that runs when all of them succeeded, writing OUTDIR/scores.h5 and its report. Prints the
# two job ids ("array JOBID" and "merge JOBID"). Extra options go to both sbatch calls.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: submit-array.sh CONFIG N OUTDIR [sbatch options...]" >&2
  exit 2
fi
CONFIG=$1 N=$2 OUTDIR=$3
shift 3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$OUTDIR"
ARRAY=$(sbatch --parsable --array=0-$((N - 1)) --output="$OUTDIR/array-%A_%a.out" "$@" \
        "$HERE/rmscore-array.sbatch" "$CONFIG" "$OUTDIR")
ARRAY=${ARRAY%%;*}
MERGE=$(sbatch --parsable --dependency=afterok:"$ARRAY" --output="$OUTDIR/merge-%j.out" "$@" \
        "$HERE/rmscore-merge.sbatch" "$OUTDIR" "$OUTDIR/scores.h5")
MERGE=${MERGE%%;*}
echo "array $ARRAY"
echo "merge $MERGE"
