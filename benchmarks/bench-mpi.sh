#!/usr/bin/env bash
# bench-mpi.sh — the MPI pipeline against a single process on the 1B-shaped model (not a test).
#
#   RMSCORE=build/rmscore [BENCH_DIR=/tmp/rmscore-bench] [COPIES=4] [MAX_TOKENS=512] [MICROBATCH=1024] [ROUNDS=3] \
#   benchmarks/bench-mpi.sh
#
# Scores the bundled sample pairs (COPIES times over, sequences capped at MAX_TOKENS by skipping longer
# pairs; the defaults give 19 micro-batches, enough for the pipeline to be full most of the time as in a
# real job — with COPIES=2 MICROBATCH=2048 it gets 5, and filling and draining it dominates) with the 1B-shaped model of bench-score-ids.sh (generated if missing), twice:
#   single:   rmscore score --threads 2                      (1 process, 2 BLAS threads)
#   pipeline: mpirun -np 3 rmscore score --stages 2 --threads 1   (root + 2 stages of 8 layers, 1 thread each)
# in ROUNDS rounds of one run each (a shared machine changes speed from minute to minute: each round's ratio
# compares runs a minute apart), and prints tokens/s of each, the ratio per round, their median and best
# against best, and the last pipeline's per-rank compute/wait table and CPU use.
set -euo pipefail
RMSCORE=${RMSCORE:-build/rmscore}
BENCH_DIR=${BENCH_DIR:-/tmp/rmscore-bench}
COPIES=${COPIES:-4}
MAX_TOKENS=${MAX_TOKENS:-512}
MICROBATCH=${MICROBATCH:-1024}
ROUNDS=${ROUNDS:-3}
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
TIMES=()
for r in $(seq "$ROUNDS"); do
    rm -f "$BENCH_DIR/single.h5" "$BENCH_DIR/pipeline.h5"
    t0=$(date +%s.%N)
    "$RMSCORE" "${COMMON[@]}" --out "$BENCH_DIR/single.h5" --threads 2 2>"$BENCH_DIR/single.log"
    t1=$(date +%s.%N)
    mpirun -np 3 --oversubscribe "$RMSCORE" "${COMMON[@]}" --out "$BENCH_DIR/pipeline.h5" --stages 2 --threads 1 \
        2>"$BENCH_DIR/pipeline.log"
    t2=$(date +%s.%N)
    TIMES+=("$t0,$t1,$t2")
done
/usr/bin/python3 - "$BENCH_DIR" "${TIMES[@]}" <<'PY'
import statistics, sys, h5py, numpy as np
d = sys.argv[1]
rounds = [tuple(map(float, a.split(","))) for a in sys.argv[2:]]
with h5py.File(d + "/mpi-pairs.h5") as f:
    g = f["pairs"]
    lens = g["chosen_len"][:].astype(int) + g["rejected_len"][:].astype(int)
with h5py.File(d + "/single.h5") as f:
    st = f["scores/status"][:]
    a = (f["scores/chosen"][:], f["scores/rejected"][:])
with h5py.File(d + "/pipeline.h5") as f:
    b = (f["scores/chosen"][:], f["scores/rejected"][:])
tokens = int(lens[st == 1].sum())
ok = st == 1
diff = max(np.max(np.abs(a[0][ok] - b[0][ok])), np.max(np.abs(a[1][ok] - b[1][ok])))
print("pairs scored: %d (%d tokens)" % (ok.sum(), tokens))
ratios = []
for i, (t0, t1, t2) in enumerate(rounds):
    ts, tp = t1 - t0, t2 - t1
    ratios.append(ts / tp)
    print("round %d: single process, 2 threads %.1f s (%.1f tokens/s); mpirun -np 3 --stages 2, 1 thread %.1f s "
          "(%.1f tokens/s); ratio %.2f" % (i + 1, ts, tokens / ts, tp, tokens / tp, ts / tp))
best_s = min(t1 - t0 for t0, t1, t2 in rounds)
best_p = min(t2 - t1 for t0, t1, t2 in rounds)
print("throughput ratio pipeline/single: %.2f median of %d rounds, %.2f best against best "
      "(single %.1f, pipeline %.1f tokens/s)   (max |score difference| %.2g)"
      % (statistics.median(ratios), len(ratios), best_s / best_p, tokens / best_s, tokens / best_p, diff))
PY
echo "== pipeline per-rank summary"
grep -E "per-rank|rank replica|score: +[0-9]+ " "$BENCH_DIR/pipeline.log" || true
