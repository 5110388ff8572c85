#!/usr/bin/env bash
# bench-8b.sh — the full 8B shape (Llama-3.1-Tulu-3-8B-RM) as an MPI pipeline, and the cost line (not a test).
#
#   RMSCORE=build/rmscore [BENCH_DIR=/tmp/rmscore-bench] [STAGES=4] [THREADS=1] [COPIES=1] [MAX_TOKENS=512]
#   [COMPUTE="fp32 bf16"] [PAIR_TOKENS=1400] [SHARED=0.2] benchmarks/bench-8b.sh
#
# Generates once (cached in $BENCH_DIR/model-8b, ~16 GB of bf16) a random checkpoint of the 8B shape
#   make-test-model --hidden 4096 --intermediate 14336 --layers 32 --heads 32 --kv-heads 8 --shards 4
# tokenizes the bundled sample pairs (COPIES times over; pairs longer than MAX_TOKENS skipped) and, for each
# COMPUTE, runs  mpirun -np STAGES+1 rmscore score --stages STAGES --threads THREADS  (root + one replica of
# STAGES stages of 32/STAGES layers). Prints the CPU, tokens/s (tokens of the conversations scored, and the
# tokens computed after shared prompts), the job's per-rank table (compute/wait seconds, peak RSS), and the
# cost line: CPU core-hours per million Tülu-like pairs, extrapolated from the measured tokens/s per core
#   core-hours = 1e6 * PAIR_TOKENS * (1 - SHARED) / (computed tokens/s / cores busy) / 3600
# PAIR_TOKENS: tokens of both conversations of an average pair (Tülu 3 8B preference mixture: ~1.4k);
# SHARED: the share of them a shared prompt saves (measured on the sample here; Tülu-like prompts are
# shorter than the sample's, so a conservative 0.2 by default). Cores busy = STAGES * THREADS, or the
# machine's CPUs if fewer (oversubscribed ranks share them).
set -euo pipefail
RMSCORE=${RMSCORE:-build/rmscore}
BENCH_DIR=${BENCH_DIR:-/tmp/rmscore-bench}
STAGES=${STAGES:-4}
THREADS=${THREADS:-1}
COPIES=${COPIES:-1}
MAX_TOKENS=${MAX_TOKENS:-512}
MICROBATCH=${MICROBATCH:-1024}
COMPUTE=${COMPUTE:-fp32 bf16}
PAIR_TOKENS=${PAIR_TOKENS:-1400}
SHARED=${SHARED:-0.2}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PY=/usr/bin/python3
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$BENCH_DIR"
MODEL=$BENCH_DIR/model-8b
SHAPE=(--hidden 4096 --intermediate 14336 --layers 32 --heads 32 --kv-heads 8 --dtype bf16 --shards 4)
if [[ ! -f $MODEL/.bench-stamp || $(cat "$MODEL/.bench-stamp") != "${SHAPE[*]}" ]]; then
    echo "== generating the 8B-shaped model in $MODEL (once, ~16 GB)" >&2
    rm -rf "$MODEL"
    "$RMSCORE" make-test-model --out "$MODEL" "${SHAPE[@]}"
    echo "${SHAPE[*]}" >"$MODEL/.bench-stamp"
fi
"$PY" "$REPO/tests/tokenizer/make_tokenizer_dirs.py" "$BENCH_DIR/tok" >/dev/null
DATA=$BENCH_DIR/pairs-8b.jsonl
: >"$DATA"
for _ in $(seq "$COPIES"); do cat "$REPO/tests/data/sample-pairs.jsonl" >>"$DATA"; done
"$RMSCORE" prepare --tokenizer "$BENCH_DIR/tok/tulu" --in "$DATA" --out "$BENCH_DIR/pairs-8b.h5" --quiet

echo "== CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1); $(nproc) CPUs here"
FLAGS=$(grep -m1 '^flags' /proc/cpuinfo)
echo "   flags: $(for f in avx2 fma avx512f avx512_bf16 amx_bf16; do [[ " $FLAGS " == *" $f "* ]] && printf '%s ' "$f" || printf 'no-%s ' "$f"; done)"
CORES=$((STAGES * THREADS))
[[ $CORES -le $(nproc) ]] || CORES=$(nproc)
for compute in $COMPUTE; do
    OUT=$BENCH_DIR/scores-8b-$compute.h5
    LOG=$BENCH_DIR/scores-8b-$compute.log
    rm -f "$OUT"
    t0=$(date +%s.%N)
    mpirun -np $((STAGES + 1)) --oversubscribe "$RMSCORE" score --model "$MODEL" --data "$BENCH_DIR/pairs-8b.h5" \
        --out "$OUT" --allow-tokenizer-mismatch --max-tokens "$MAX_TOKENS" --microbatch-tokens "$MICROBATCH" \
        --stages "$STAGES" --threads "$THREADS" --compute "$compute" --progress-every 60 2>"$LOG"
    t1=$(date +%s.%N)
    echo "== mpirun -np $((STAGES + 1)) --stages $STAGES --threads $THREADS --compute $compute"
    grep -E "kernels|computed [0-9]+ tokens" "$LOG" | sed 's/^/   /' || true
    "$PY" - "$OUT" "$LOG" "$t0" "$t1" "$CORES" "$PAIR_TOKENS" "$SHARED" <<'EOF'
import re, sys, h5py, numpy as np
out, log, t0, t1, cores, pair_tokens, shared = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
with h5py.File(out) as f:
    st = f["scores/status"][:]
text = open(log).read()
m = re.search(r"computed (\d+) tokens for (\d+) tokens of conversations", text)
computed, conv = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
wall = t1 - t0
print("   pairs scored: %d; %d conversation tokens, %d computed; wall %.1f s (model mapping included)" % (
    int((st == 1).sum()), conv, computed, wall))
print("   %.2f conversation tokens/s, %.2f computed tokens/s; %.2f computed tokens/s per core (%d cores busy)" % (
    conv / wall, computed / wall, computed / wall / cores, cores))
per_core = computed / wall / cores
ch = 1e6 * pair_tokens * (1 - shared) / per_core / 3600
print("   cost: %.0f CPU core-hours per million pairs of %d tokens (%.0f%% shared prompt computed once)" % (
    ch, pair_tokens, 100 * shared))
EOF
    echo "   per-rank table:"
    sed -n '/per-rank/,$p' "$LOG" | sed 's/^/   /' | head -n 12
done
