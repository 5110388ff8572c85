#!/usr/bin/env bash
# bench-score-ids.sh — throughput of `rmscore score-ids` on a 1B-shaped Llama reward model.
# Not a test; run by hand from the repository root after building:
#
#   RMSCORE=build/rmscore [BENCH_SGEMM=build/bench-sgemm] [BENCH_DIR=/tmp/rmscore-bench] \
#   [THREADS=2] [SEQS=4] [TOKENS=256] [REPEATS=3] benchmarks/bench-score-ids.sh
#
# Builds nothing. Generates once (cached in $BENCH_DIR) a random checkpoint with
#   make-test-model --hidden 2048 --intermediate 8192 --layers 16 --heads 32 --kv-heads 8
#                   --dtype bf16 --shards 2          (default vocab 128264, head_dim 64)
# and SEQS random sequences of TOKENS ids, runs `score-ids --threads $THREADS` once as warm-up and
# REPEATS times, and reports the best wall time (model loading included: it is part of a run).
#
# What is counted as FLOPs (per run):
#   matmul:    2 * P * N, N = all tokens, P = weights of the per-token matmuls
#              = layers * (hidden*(heads*hd) [q] + 2*hidden*(kv*hd) [k,v] + (heads*hd)*hidden [o]
#                          + 3*hidden*intermediate [gate, up, down]);
#              the embedding lookup is not counted, the score head (hidden per sequence) is negligible
#              and not counted either.
#   attention: per layer and sequence of length T, causal half only:
#              2 (QK^T and PV) * 2 (multiply + add) * heads * hd * T*(T+1)/2.
#              Softmax, RMSNorm, RoPE and SwiGLU elementwise work are not counted.
# Effective GFLOP/s = (matmul + attention FLOPs) / best wall time; it is compared with the
# model-shape sgemm rate of build/bench-sgemm (its last line `weighted GFLOP/s: X`).
set -euo pipefail

RMSCORE=${RMSCORE:-build/rmscore}
BENCH_SGEMM=${BENCH_SGEMM:-$(dirname "$RMSCORE")/bench-sgemm}
BENCH_DIR=${BENCH_DIR:-/tmp/rmscore-bench}
THREADS=${THREADS:-2}
SEQS=${SEQS:-4}
TOKENS=${TOKENS:-256}
REPEATS=${REPEATS:-3}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ ! -x $RMSCORE ]]; then
    echo "bench-score-ids: $RMSCORE not found or not executable (build first, or set RMSCORE=)" >&2
    exit 1
fi
mkdir -p "$BENCH_DIR"
MODEL=$BENCH_DIR/model-1b
SHAPE=(--hidden 2048 --intermediate 8192 --layers 16 --heads 32 --kv-heads 8 --dtype bf16 --shards 2)
STAMP="${SHAPE[*]}"
if [[ ! -f $MODEL/.bench-stamp || $(cat "$MODEL/.bench-stamp") != "$STAMP" ]]; then
    echo "== generating the 1B-shaped model in $MODEL (once)" >&2
    rm -rf "$MODEL"
    "$RMSCORE" make-test-model --out "$MODEL" "${SHAPE[@]}"
    echo "$STAMP" >"$MODEL/.bench-stamp"
fi
IDS=$BENCH_DIR/ids-${SEQS}x${TOKENS}.txt
if [[ ! -f $IDS ]]; then
    "$PY" - "$MODEL/config.json" "$SEQS" "$TOKENS" >"$IDS.tmp" <<'EOF'
import json, random, sys
vocab = json.load(open(sys.argv[1]))["vocab_size"]
r = random.Random(1234)
for _ in range(int(sys.argv[2])):
    print(json.dumps([r.randrange(vocab) for _ in range(int(sys.argv[3]))]))
EOF
    mv "$IDS.tmp" "$IDS"
fi

# FLOPs of one run from the checkpoint's config.json and the ids file.
read -r NTOK MM_FLOP ATT_FLOP PARAMS < <("$PY" - "$MODEL/config.json" "$IDS" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
h, i, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
nh = c["num_attention_heads"]; kv = c.get("num_key_value_heads") or nh
hd = c.get("head_dim") or h // nh
P = L * (h * nh * hd + 2 * h * kv * hd + nh * hd * h + 3 * h * i)
lens = [len(json.loads(l)) for l in open(sys.argv[2]) if l.strip()]
N = sum(lens)
att = sum(L * 2 * 2 * nh * hd * T * (T + 1) // 2 for T in lens)
print(N, 2 * P * N, att, P)
EOF
)

echo "== rmscore score-ids: $SEQS x $TOKENS tokens, --threads $THREADS"
echo "   model $MODEL: ${SHAPE[*]}; matmul weights per token $PARAMS"
run_once() {
    local t0 t1
    t0=$(date +%s.%N)
    "$RMSCORE" score-ids --model "$MODEL" --threads "$THREADS" <"$IDS" >"$BENCH_DIR/scores.txt" \
        2>"$BENCH_DIR/score-ids.err"
    t1=$(date +%s.%N)
    "$PY" -c "print('%.4f' % ($t1 - $t0))"
}
echo "   warm-up: $(run_once) s"
BEST=
for r in $(seq "$REPEATS"); do
    t=$(run_once)
    echo "   run $r: $t s"
    if [[ -z $BEST ]] || "$PY" -c "import sys; sys.exit(0 if $t < $BEST else 1)"; then BEST=$t; fi
done
[[ $(wc -l <"$BENCH_DIR/scores.txt") -eq $SEQS ]] || { echo "bench-score-ids: expected $SEQS scores" >&2; exit 1; }
KERNELS=$(sed -n 's/.*threads, \(OpenBLAS .*\), compute.*/\1/p' "$BENCH_DIR/score-ids.err" | head -n 1)
CORE=$(printf '%s\n' "$KERNELS" | awk '{print $2}')
echo "   kernels: $KERNELS"

SGEMM=
if [[ -x $BENCH_SGEMM ]]; then
    SGEMM_OUT=$("$BENCH_SGEMM" --hidden 2048 --intermediate 8192 --heads 32 --kv-heads 8 --tokens "$NTOK" --threads "$THREADS" || true)
    SGEMM=$(printf '%s\n' "$SGEMM_OUT" | tail -n 1 | sed -n 's/^weighted GFLOP\/s: *\([0-9.eE+-]*\).*/\1/p')
else
    echo "   ($BENCH_SGEMM not found: no sgemm comparison)"
fi

"$PY" - "$NTOK" "$MM_FLOP" "$ATT_FLOP" "$BEST" "${SGEMM:-}" <<'EOF'
import sys
n, mm, att, best = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
sg = float(sys.argv[5]) if sys.argv[5] else None
eff = (mm + att) / best / 1e9
print("== best of runs: %.3f s for %d tokens" % (best, n))
print("tokens/s:                %.1f" % (n / best))
print("FLOPs counted:           %.1f G matmul + %.2f G causal attention" % (mm / 1e9, att / 1e9))
print("effective GFLOP/s:       %.1f" % eff)
if sg:
    print("sgemm GFLOP/s (model shapes, bench-sgemm): %.1f" % sg)
    print("ratio effective / sgemm: %.2f" % (eff / sg))
else:
    print("sgemm GFLOP/s:           n/a")
EOF

# ---------------------------------------------------------------- optional PyTorch baseline
if "$PY" -c 'import torch' 2>/dev/null; then
    # torch gets the same OpenBLAS kernels rmscore runs with (a fair baseline)
    echo "== PyTorch baseline (fp32, $THREADS threads, same checkpoint and ids, OPENBLAS_CORETYPE=${CORE:-unset})"
    OPENBLAS_CORETYPE=${CORE:-${OPENBLAS_CORETYPE:-}} "$PY" "$HERE/torch_baseline.py" --model "$MODEL" --ids "$IDS" --threads "$THREADS" \
        --repeats "$REPEATS" | tail -n 1
else
    echo "== PyTorch baseline skipped (python3 cannot import torch)"
fi
