#!/usr/bin/env bash
# bench-mpi.sh — the MPI pipeline against a single process on the 1B-shaped model (not a test).
#
#   RMSCORE=build/rmscore [BENCH_DIR=/tmp/rmscore-bench] [COPIES=2] [MAX_TOKENS=512] benchmarks/bench-mpi.sh
#
# Scores the bundled sample pairs (COPIES times over, sequences capped at MAX_TOKENS by skipping longer
# pairs) with the 1B-shaped model of bench-score-ids.sh (generated if missing), twice:
#   single:   rmscore score --threads 2                      (1 process, 2 BLAS threads)
#   pipeline: mpirun -np 3 rmscore score --stages 2 --threads 1   (root + 2 stages of 8 layers, 1 thread each)
# and prints tokens/s of each, their ratio, and the pipeline's per-rank compute/wait table and CPU use.
set -euo pipefail
RMSCORE=${RMSCORE:-build/rmscore}
BENCH_DIR=${BENCH_DIR:-/tmp/rmscore-bench}
COPIES=${COPIES:-2}
MAX_TOKENS=${MAX_TOKENS:-512}
MICROBATCH=${MICROBATCH:-2048}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MODEL=$BENCH_DIR/model-1b
if [[ ! -f $MODEL/config.json ]]; then
    "$RMSCORE" make-test-model --out "$MODEL" --hidden 2048 --intermediate 8192 --layers 16 --heads 32 --kv-heads 8 \
        --dtype bf16 --shards 2
fi
/usr/bin/python3 "$REPO/tests/tokenizer/make_tokenizer_dirs.py" "$BENCH_DIR/tok" >/dev/null
DATA=$BENCH_DIR/mpi-pairs.jsonl
: >"$DATA"
for i in $(seq "$COPIES"); do cat "$REPO/tests/data/sample-pairs.jsonl" >>"$DATA"; done
"$RMSCORE" prepare --tokenizer "$BENCH_DIR/tok/tulu" --in "$DATA" --out "$BENCH_DIR/mpi-pairs.h5" --quiet
COMMON=(score --model "$MODEL" --data "$BENCH_DIR/mpi-pairs.h5" --allow-tokenizer-mismatch --max-tokens "$MAX_TOKENS"
        --microbatch-tokens "$MICROBATCH" --progress-every 0)
rm -f "$BENCH_DIR/single.h5" "$BENCH_DIR/pipeline.h5"
t0=$(date +%s.%N)
"$RMSCORE" "${COMMON[@]}" --out "$BENCH_DIR/single.h5" --threads 2 2>"$BENCH_DIR/single.log"
t1=$(date +%s.%N)
mpirun -np 3 --oversubscribe "$RMSCORE" "${COMMON[@]}" --out "$BENCH_DIR/pipeline.h5" --stages 2 --threads 1 \
    2>"$BENCH_DIR/pipeline.log"
t2=$(date +%s.%N)
/usr/bin/python3 - "$BENCH_DIR" "$t0" "$t1" "$t2" <<'PY'
import sys, h5py, numpy as np
d, t0, t1, t2 = sys.argv[1], *map(float, sys.argv[2:])
with h5py.File(d + "/mpi-pairs.h5") as f:
    g = f["pairs"]
    lens = g["chosen_len"][:].astype(int) + g["rejected_len"][:].astype(int)
with h5py.File(d + "/single.h5") as f:
    st = f["scores/status"][:]
    a = (f["scores/chosen"][:], f["scores/rejected"][:])
with h5py.File(d + "/pipeline.h5") as f:
    b = (f["scores/chosen"][:], f["scores/rejected"][:])
tokens = int(lens[st == 1].sum())
ts, tp = t1 - t0, t2 - t1
ok = st == 1
diff = max(np.max(np.abs(a[0][ok] - b[0][ok])), np.max(np.abs(a[1][ok] - b[1][ok])))
print("pairs scored: %d (%d tokens)" % (ok.sum(), tokens))
print("single process, 2 threads:        %.1f s  %.1f tokens/s" % (ts, tokens / ts))
print("mpirun -np 3 --stages 2, 1 thread: %.1f s  %.1f tokens/s" % (tp, tokens / tp))
print("throughput ratio pipeline/single: %.2f   (max |score difference| %.2g)" % (ts / tp, diff))
PY
echo "== pipeline per-rank summary"
grep -E "per-rank|rank replica|score: +[0-9]+ " "$BENCH_DIR/pipeline.log" || true
