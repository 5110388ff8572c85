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
# and SEQS random sequences of TOKENS ids. After one warm-up of each, it runs REPEATS rounds; a round is one
# `score-ids --threads $THREADS --compute fp32`, one `--compute bf16` (wall times, model loading included: it
# is part of a run) and one bench-sgemm with OpenBLAS's best core for the CPU (RMSCORE_BLAS_CORE=auto). A shared
# or throttled machine changes speed from minute to minute, so the fp32/sgemm ratio is given both ways: best
# rmscore time against best sgemm rate, and the median of the rounds' own ratios (each from runs a few seconds
# apart). Then the PyTorch baseline (benchmarks/torch_baseline.py, fp32 and bf16, OPENBLAS_CORETYPE = that
# core) on the same ids. Prints the CPU model and flags, tokens/s of each and the ratios.
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
# Effective GFLOP/s = (matmul + attention FLOPs) / best fp32 wall time; it is compared with the
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

echo "== CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1); $(nproc) CPUs here"
FLAGS=$(grep -m1 '^flags' /proc/cpuinfo)
echo "   flags: $(for f in avx2 fma avx512f avx512_bf16 amx_bf16; do [[ " $FLAGS " == *" $f "* ]] && printf '%s ' "$f" || printf 'no-%s ' "$f"; done)"
echo "== rmscore score-ids: $SEQS x $TOKENS tokens, --threads $THREADS"
echo "   model $MODEL: ${SHAPE[*]}; matmul weights per token $PARAMS"
# run_once COMPUTE: wall seconds of one score-ids run (model loading included: it is part of a run)
run_once() {
    local t0 t1
    t0=$(date +%s.%N)
    "$RMSCORE" score-ids --model "$MODEL" --threads "$THREADS" --compute "$1" <"$IDS" >"$BENCH_DIR/scores-$1.txt" \
        2>"$BENCH_DIR/score-ids-$1.err"
    t1=$(date +%s.%N)
    "$PY" -c "print('%.4f' % ($t1 - $t0))"
}
FLOP_G=$("$PY" -c "print(($MM_FLOP + $ATT_FLOP) / 1e9)")
# sgemm_once: bench-sgemm's output (OpenBLAS's best core, validated by its self-test)
sgemm_once() {
    RMSCORE_BLAS_CORE=auto "$BENCH_SGEMM" --hidden 2048 --intermediate 8192 --heads 32 --kv-heads 8 \
        --tokens "$NTOK" --threads "$THREADS" || true
}
[[ -x $BENCH_SGEMM ]] || echo "   ($BENCH_SGEMM not found: no sgemm comparison)"
for compute in fp32 bf16; do
    echo "   $compute warm-up: $(run_once "$compute") s"
done
declare -A BEST
SGEMM= OWN= CORE= RATIOS=
for r in $(seq "$REPEATS"); do
    line="   round $r:"
    for compute in fp32 bf16; do
        t=$(run_once "$compute")
        [[ $(wc -l <"$BENCH_DIR/scores-$compute.txt") -eq $SEQS ]] || { echo "bench-score-ids: expected $SEQS scores" >&2; exit 1; }
        line+=" $compute $t s;"
        if [[ -z ${BEST[$compute]:-} ]] || "$PY" -c "import sys; sys.exit(0 if $t < ${BEST[$compute]} else 1)"; then
            BEST[$compute]=$t
        fi
        [[ $compute == fp32 ]] && T32=$t
    done
    if [[ -x $BENCH_SGEMM ]]; then
        out=$(sgemm_once)
        CORE=$(printf '%s\n' "$out" | sed -n '1s/^OpenBLAS core \([A-Za-z0-9_]*\),.*/\1/p')
        sg=$(printf '%s\n' "$out" | tail -n 1 | sed -n 's/^weighted GFLOP\/s: *\([0-9.eE+-]*\).*/\1/p')
        own=$(printf '%s\n' "$out" | sed -n 's/^rmscore weighted GFLOP\/s: fp32 \([0-9.]*\), bf16 \([0-9.]*\)/\1 \2/p')
        if [[ -n $sg ]]; then
            ratio=$("$PY" -c "print('%.3f' % ($FLOP_G / $T32 / $sg))")
            RATIOS+=" $ratio"
            line+=" sgemm $sg GFLOP/s (rmscore's kernels alone, fp32 bf16: $own); fp32 effective / sgemm $ratio"
            if [[ -z $SGEMM ]] || "$PY" -c "import sys; sys.exit(0 if $sg > $SGEMM else 1)"; then SGEMM=$sg OWN=$own; fi
        fi
    fi
    echo "$line"
done
for compute in fp32 bf16; do
    echo "   $compute: $(sed -n 's/.* threads, \(kernels .*\)/\1/p' "$BENCH_DIR/score-ids-$compute.err" | head -n 1)"
done
if [[ -n $SGEMM ]]; then
    echo "== bench-sgemm at the model's shapes, M = $NTOK: OpenBLAS $CORE, best round $SGEMM GFLOP/s" \
         "(rmscore's kernels alone in that round, fp32 bf16: $OWN)"
fi

TORCH32= TORCH16=
if "$PY" -c 'import torch' 2>/dev/null; then
    for dt in fp32 bf16; do
        line=$(OPENBLAS_CORETYPE=${CORE:-${OPENBLAS_CORETYPE:-}} "$PY" "$HERE/torch_baseline.py" --model "$MODEL" \
            --ids "$IDS" --threads "$THREADS" --repeats "$REPEATS" --dtype "$dt" 2>/dev/null | tail -n 1)
        echo "== PyTorch $dt (OPENBLAS_CORETYPE=${CORE:-unset}, $THREADS threads): $line"
        v=$(printf '%s\n' "$line" | sed -n 's/.* \([0-9.]*\) tok\/s$/\1/p')
        if [[ $dt == fp32 ]]; then TORCH32=$v; else TORCH16=$v; fi
    done
else
    echo "== PyTorch baseline skipped (python3 cannot import torch)"
fi

"$PY" - "$NTOK" "$MM_FLOP" "$ATT_FLOP" "${BEST[fp32]}" "${BEST[bf16]}" "${SGEMM:-}" "${TORCH32:-}" "${TORCH16:-}" \
    "${RATIOS:-}" <<'EOF'
import statistics, sys
n, mm, att = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
t32, t16 = float(sys.argv[4]), float(sys.argv[5])
num = lambda s: float(s) if s else None  # noqa: E731
sg, th32, th16 = num(sys.argv[6]), num(sys.argv[7]), num(sys.argv[8])
rounds = [float(v) for v in sys.argv[9].split()]
r32, r16 = n / t32, n / t16
eff = (mm + att) / t32 / 1e9
print("== best of runs, %d tokens; FLOPs counted %.1f G matmul + %.2f G causal attention" % (n, mm / 1e9, att / 1e9))
print("rmscore fp32:            %.1f tokens/s (%.1f effective GFLOP/s)" % (r32, eff))
print("rmscore bf16:            %.1f tokens/s (%.2fx fp32)" % (r16, r16 / r32))
if sg:
    print("fp32 effective / OpenBLAS sgemm (best core): %.2f best against best; %.2f median of %d rounds (%s)"
          % (eff / sg, statistics.median(rounds), len(rounds), " ".join("%.2f" % v for v in rounds)))
if th32:
    print("PyTorch fp32:            %.1f tokens/s; rmscore fp32 / PyTorch fp32 = %.2f, rmscore bf16 / PyTorch fp32 = %.2f"
          % (th32, r32 / th32, r16 / th32))
if th16:
    print("PyTorch bf16:            %.1f tokens/s; rmscore bf16 / PyTorch bf16 = %.2f" % (th16, r16 / th16))
EOF
