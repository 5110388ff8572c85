#!/usr/bin/env bash
# bench-score-pairs.sh — `rmscore score` on a realistic preference set against PyTorch (not a test).
# Run by hand from the repository root after building:
#
#   RMSCORE=build/rmscore [BENCH_SGEMM=build/bench-sgemm] [BENCH_DIR=/tmp/rmscore-bench] [PAIRS=48] \
#   [THREADS=2] [BATCH=8] [SEED=1234] [REPEATS=1] [MAX_TOKENS=] [MODEL_SHAPE="..."] \
#   benchmarks/bench-score-pairs.sh
#
# Builds nothing. Small run for testing (a tiny model, seconds):
#   MODEL_SHAPE="--hidden 64 --intermediate 128 --layers 2 --heads 4 --kv-heads 2 --dtype bf16" PAIRS=6 \
#   BENCH_DIR=/tmp/rmscore-bench-tiny benchmarks/bench-score-pairs.sh
#
# Steps:
#  1. the Tülu tokenizer dir $BENCH_DIR/tok/tulu (tests/tokenizer/make_tokenizer_dirs.py, once) and a random
#     checkpoint `make-test-model $MODEL_SHAPE --tokenizer $BENCH_DIR/tok/tulu` in $BENCH_DIR/model-1b-tok,
#     regenerated only when its .bench-stamp (the arguments) differs. MODEL_SHAPE defaults to the 1B shape
#     of bench-score-ids.sh: --hidden 2048 --intermediate 8192 --layers 16 --heads 32 --kv-heads 8
#     --dtype bf16 --shards 2.
#  2. PAIRS synthetic preference pairs (deterministic for a SEED), shaped like chat data: prompt and
#     response lengths log-normal (median ~150 and ~300 tokens, clipped to 20..1500), ~25% multi-turn
#     (2-3 user/assistant exchanges in all: 1-2 earlier exchanges, identical in chosen and rejected, then
#     the final user turn); chosen and rejected share everything but the last assistant message. Text is
#     common English words (~1.3 tokens a word) in sentences and paragraphs. `rmscore prepare` renders and
#     tokenizes them with the Tülu template ($BENCH_DIR/pairs-P-sSEED.h5).
#  3. times, best of REPEATS (each from scratch, fresh --out):
#       rmscore score --threads $THREADS --compute fp32 | bf16   wall time of the whole command (start,
#                                                                mmap'd load, scoring, writing)
#       torch_baseline.py --pairs --batch $BATCH --dtype fp32 | bf16 --threads $THREADS
#                                                                its scoring passes only (load excluded;
#                                                                padded batches as transformers users run
#                                                                them: see that script)
#     torch runs with OPENBLAS_CORETYPE = the best OpenBLAS core of this CPU, as `RMSCORE_BLAS_CORE=auto
#     bench-sgemm` picks and validates it (the first line of its output, `OpenBLAS core NAME, ...`); when
#     bench-sgemm is missing, the environment's OPENBLAS_CORETYPE is kept. (torch 1.13 runs its bf16
#     matmuls in oneDNN on AVX-512 CPUs, not in OpenBLAS.)
#  4. prints the CPU (lscpu model name; avx2 fma avx512f avx512_bf16 amx_bf16), the set's statistics,
#     rmscore's prefix-sharing line (`computed N tokens for M tokens of conversations ...`), a table of
#     pairs/s and tokens/s (tokens = the conversations' real tokens, chosen + rejected, the same count for
#     every row of the table: no padding, and no saving from shared prefixes) and the ratios rmscore / torch,
#     and the max relative score difference torch fp32 vs rmscore fp32 (max |diff| / max |score|).
# MAX_TOKENS (default: none) skips pairs with a longer sequence, in rmscore and torch alike.
# Logs and outputs stay in $BENCH_DIR (score-*.log, scores-*.h5, torch-*.out/.log).
set -euo pipefail

RMSCORE=${RMSCORE:-build/rmscore}
BENCH_SGEMM=${BENCH_SGEMM:-$(dirname "$RMSCORE")/bench-sgemm}
BENCH_DIR=${BENCH_DIR:-/tmp/rmscore-bench}
PAIRS=${PAIRS:-48}
THREADS=${THREADS:-2}
BATCH=${BATCH:-8}
SEED=${SEED:-1234}
REPEATS=${REPEATS:-1}
MAX_TOKENS=${MAX_TOKENS:-}
MODEL_SHAPE=${MODEL_SHAPE:---hidden 2048 --intermediate 8192 --layers 16 --heads 32 --kv-heads 8 --dtype bf16 --shards 2}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

if [[ ! -x $RMSCORE ]]; then
    echo "bench-score-pairs: $RMSCORE not found or not executable (build first, or set RMSCORE=)" >&2
    exit 1
fi
if ! "$PY" -c 'import torch, h5py' 2>/dev/null; then
    echo "bench-score-pairs: $PY cannot import torch and h5py (needed for the baseline)" >&2
    exit 1
fi
mkdir -p "$BENCH_DIR"
MAXTOK_ARGS=()
if [[ -n $MAX_TOKENS ]]; then MAXTOK_ARGS=(--max-tokens "$MAX_TOKENS"); fi

# ---------------------------------------------------------------- tokenizer and model
TOK=$BENCH_DIR/tok/tulu
if [[ ! -f $TOK/tokenizer.json ]]; then
    "$PY" "$REPO/tests/tokenizer/make_tokenizer_dirs.py" "$BENCH_DIR/tok" >/dev/null
fi
MODEL=$BENCH_DIR/model-1b-tok
read -r -a SHAPE <<<"$MODEL_SHAPE"
SHAPE+=(--tokenizer "$TOK")
STAMP="${SHAPE[*]}"
if [[ ! -f $MODEL/.bench-stamp || $(cat "$MODEL/.bench-stamp") != "$STAMP" ]]; then
    echo "== generating the model in $MODEL: ${SHAPE[*]}" >&2
    rm -rf "$MODEL"
    "$RMSCORE" make-test-model --out "$MODEL" "${SHAPE[@]}" --quiet
    echo "$STAMP" >"$MODEL/.bench-stamp"
fi

# ---------------------------------------------------------------- the preference set
DATA=$BENCH_DIR/pairs-$PAIRS-s$SEED
"$PY" - "$PAIRS" "$SEED" >"$DATA.jsonl.tmp" <<'EOF'
import json, math, random, sys
n_pairs, seed = int(sys.argv[1]), int(sys.argv[2])
# common English words (Llama 3's BPE: mostly one token each; with punctuation ~1.3 tokens a word)
WORDS = """the of and to a in is that for it as was with be by on not he this are or his from at which but
have an they you were her she there been one all we their has would when if so no will more can who its
out into them only some time could these two may then do first any my now such like other how than our
over new also me most made after did many before must through back years where much your way well down
should because each just those people state good very make world still own see men work long here get
both between life being under never day same another know while last might us great old year off come
since against go came right used take three himself few house use during without again place around
however home small found thought went say part once general high upon school every does number system
data model answer question example result value function code problem method point case answer step
first second third next simple clear important different possible following given below above within
water light story city country family friend group music game book word line name form order power
level change interest area field reason study language information process question result note
therefore because although rather quite often usually always sometimes perhaps certainly probably""".split()
WEIGHTS = [1.0 / (i + 8) for i in range(len(WORDS))]  # mildly Zipf-like
r = random.Random(seed)

def lognormal(median, sigma):
    return int(min(1500, max(20, round(r.lognormvariate(math.log(median), sigma)))))

def text(tokens):
    """About `tokens` tokens: sentences of 6-22 words, paragraphs of 2-6 sentences."""
    words, out, para = max(3, round(tokens / 1.3)), [], []
    while words > 0:
        k = min(words, r.randint(6, 22))
        s = r.choices(WORDS, WEIGHTS, k=k)
        s[0] = s[0].capitalize()
        if k > 8 and r.random() < 0.4:
            s[r.randrange(2, k - 2)] += ","
        para.append(" ".join(s) + r.choice([".", ".", ".", "?", ":"]))
        words -= k
        if len(para) >= r.randint(2, 6):
            out.append(" ".join(para))
            para = []
    if para:
        out.append(" ".join(para))
    return "\n\n".join(out)

for i in range(n_pairs):
    multi = r.random() < 0.25
    conv = []
    for _ in range(r.randint(1, 2) if multi else 0):  # earlier exchanges, shared by chosen and rejected
        conv.append({"role": "user", "content": text(lognormal(150, 1.0))})
        conv.append({"role": "assistant", "content": text(lognormal(300, 0.9))})
    conv.append({"role": "user", "content": text(lognormal(150, 1.0))})
    chosen = conv + [{"role": "assistant", "content": text(lognormal(300, 0.9))}]
    rejected = conv + [{"role": "assistant", "content": text(lognormal(300, 0.9))}]
    print(json.dumps({"id": "bench-%d" % i, "source": "bench/multi-turn" if multi else "bench/single-turn",
                      "prompt": conv[-1]["content"], "chosen": chosen, "rejected": rejected}))
EOF
mv "$DATA.jsonl.tmp" "$DATA.jsonl"
"$RMSCORE" prepare --tokenizer "$TOK" --in "$DATA.jsonl" --out "$DATA.h5" --quiet

# ---------------------------------------------------------------- OpenBLAS core for torch
CORE=${OPENBLAS_CORETYPE:-}
CORE_FROM="environment"
if [[ -x $BENCH_SGEMM ]]; then
    SG=$(RMSCORE_BLAS_CORE=auto "$BENCH_SGEMM" --tokens 8 --hidden 64 --intermediate 128 --heads 4 --kv-heads 2 \
        --threads 1 --reps 1 2>/dev/null || true)
    C=$(printf '%s\n' "$SG" | sed -n '1s/^OpenBLAS core \([A-Za-z0-9_]*\),.*/\1/p')
    if [[ -n $C ]]; then CORE=$C; CORE_FROM="bench-sgemm, RMSCORE_BLAS_CORE=auto"; fi
fi

# ---------------------------------------------------------------- CPU and the set
echo "== CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) CPUs available"
FLAGS=$(grep -m 1 '^flags' /proc/cpuinfo || true)
HAVE=()
for f in avx2 fma avx512f avx512_bf16 amx_bf16; do
    if [[ " ${FLAGS#*:} " == *" $f "* ]]; then HAVE+=("$f yes"); else HAVE+=("$f no"); fi
done
printf -v J '%s, ' "${HAVE[@]}"
echo "   flags: ${J%, }"
echo "   model $MODEL: ${SHAPE[*]}"
"$PY" - "$DATA.jsonl" "$DATA.h5" <<'EOF'
import json, sys
import h5py, numpy as np
multi = [len(json.loads(l)["chosen"]) > 2 for l in open(sys.argv[1]) if l.strip()]
with h5py.File(sys.argv[2], "r") as f:
    g = f["pairs"]
    ok = g["status"][:] == 0
    lens = np.concatenate([g["chosen_len"][:][ok], g["rejected_len"][:][ok]]).astype(np.int64)
    shared = g["shared_prefix"][:][ok].astype(np.int64)
print("== set: %d pairs (%d ok), %d tokens in %d sequences; sequence length mean %.0f, median %.0f, max %d; "
      "multi-turn %.0f%%; shared prompt prefix %.0f%% of the tokens"
      % (len(multi), ok.sum(), lens.sum(), len(lens), lens.mean(), np.median(lens), lens.max(),
         100.0 * np.mean(multi), 100.0 * 2 * shared.sum() / lens.sum()))
EOF

# ---------------------------------------------------------------- timings
now() { date +%s.%N; }
best_of() {  # best_of CURRENT NEW -> the smaller
    "$PY" -c "import sys; a, b = sys.argv[1], float(sys.argv[2]); print(b if not a or b < float(a) else a)" "$1" "$2"
}
declare -A T
for c in fp32 bf16; do
    T[rm_$c]=
    for _ in $(seq "$REPEATS"); do
        out=$BENCH_DIR/scores-$c.h5
        rm -f "$out" "$out.partial"
        t0=$(now)
        if ! "$RMSCORE" score --model "$MODEL" --data "$DATA.h5" --out "$out" --threads "$THREADS" --compute "$c" \
            "${MAXTOK_ARGS[@]}" --progress-every 0 2>"$BENCH_DIR/score-$c.log"; then
            echo "bench-score-pairs: rmscore score --compute $c failed:" >&2
            tail -n 5 "$BENCH_DIR/score-$c.log" >&2
            exit 1
        fi
        t1=$(now)
        T[rm_$c]=$(best_of "${T[rm_$c]}" "$("$PY" -c "print($t1 - $t0)")")
    done
    printf '== rmscore score --compute %s --threads %s: best of %s: %.3f s\n' "$c" "$THREADS" "$REPEATS" "${T[rm_$c]}"
    sed -n 's/^rmscore: score: \(computed .*\)/   \1/p' "$BENCH_DIR/score-$c.log"
done
for c in fp32 bf16; do
    echo "== torch $c, batch $BATCH, --threads $THREADS, OPENBLAS_CORETYPE=${CORE:-unset} ($CORE_FROM)"
    OPENBLAS_CORETYPE=$CORE "$PY" "$HERE/torch_baseline.py" --model "$MODEL" --pairs "$DATA.h5" --batch "$BATCH" \
        --threads "$THREADS" --dtype "$c" --repeats "$REPEATS" "${MAXTOK_ARGS[@]}" \
        --scores-out "$BENCH_DIR/torch-$c.scores" --check-against "$BENCH_DIR/scores-$c.h5" \
        >"$BENCH_DIR/torch-$c.out" 2>"$BENCH_DIR/torch-$c.log" || {
        echo "bench-score-pairs: torch_baseline.py --dtype $c failed:" >&2
        tail -n 5 "$BENCH_DIR/torch-$c.log" >&2
        exit 1
    }
    sed 's/^/   /' "$BENCH_DIR/torch-$c.out"
done
# torch fp32 against rmscore fp32 (printed in torch-fp32.out above: check vs .../scores-fp32.h5)
"$PY" - "$DATA.h5" "$BENCH_DIR" "${T[rm_fp32]}" "${T[rm_bf16]}" "${CORE:-unset}" <<'EOF'
import re, sys
import h5py, numpy as np
data, d, t32, t16, core = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
with h5py.File(data, "r") as f:
    g = f["pairs"]
    lens = g["chosen_len"][:].astype(np.int64) + g["rejected_len"][:].astype(np.int64)

def rm(c):
    with h5py.File("%s/scores-%s.h5" % (d, c), "r") as f:
        ok = f["scores/status"][:] == 1
    return int(ok.sum()), int(lens[ok].sum())

def torch_of(c):
    out = open("%s/torch-%s.out" % (d, c)).read()
    m = re.search(r"^torch: best of \d+: ([0-9.eE+-]+) s, (\d+) pairs, (\d+) tokens", out, re.M)
    chk = re.search(r"^check vs .*?max rel diff ([0-9.eE+-]+|nan|inf)", out, re.M)
    return float(m.group(1)), int(m.group(2)), int(m.group(3)), chk.group(1) if chk else "n/a"

rows = {}
for c, t in (("fp32", t32), ("bf16", t16)):
    p, n = rm(c)
    rows["rmscore " + c] = (p / t, n / t, p, n)
for c in ("fp32", "bf16"):
    t, p, n, _ = torch_of(c)
    rows["torch " + c + (" (core %s)" % core if c == "fp32" else "")] = (p / t, n / t, p, n)
counts = {(v[2], v[3]) for v in rows.values()}
print("== throughput (tokens: the conversations' own, chosen + rejected)")
print("   %-28s %10s %12s" % ("", "pairs/s", "tokens/s"))
for k, v in rows.items():
    print("   %-28s %10.3f %12.1f" % (k, v[0], v[1]))
if len(counts) != 1:
    print("   warning: the runs scored different sets (pairs, tokens): %s" % sorted(counts))
r32, r16 = rows["rmscore fp32"][0], rows["rmscore bf16"][0]
tk = [k for k in rows if k.startswith("torch ")]
t32p, t16p = rows[tk[0]][0], rows[tk[1]][0]
print("   ratio rmscore fp32 / torch fp32: %.2f" % (r32 / t32p))
print("   ratio rmscore bf16 / torch fp32: %.2f" % (r16 / t32p))
print("   ratio rmscore bf16 / torch bf16: %.2f" % (r16 / t16p))
print("   max rel score difference torch fp32 vs rmscore fp32: %s   (torch bf16 vs rmscore bf16: %s; "
      "max |diff| / max |score|)" % (torch_of("fp32")[3], torch_of("bf16")[3]))

# rmscore bf16 against rmscore fp32: the accuracy README documents (margin sign, relative score error)
def scores(c):
    with h5py.File("%s/scores-%s.h5" % (d, c), "r") as f:
        return f["scores/chosen"][:].astype(np.float64), f["scores/rejected"][:].astype(np.float64), \
            f["scores/status"][:] == 1
c32, r32s, ok32 = scores("fp32")
c16, r16s, ok16 = scores("bf16")
ok = ok32 & ok16
m32, m16 = (c32 - r32s)[ok], (c16 - r16s)[ok]
s32 = np.concatenate([c32[ok], r32s[ok]])
s16 = np.concatenate([c16[ok], r16s[ok]])
scale = max(float(np.max(np.abs(s32))), 1e-30)
print("== rmscore bf16 vs fp32 on %d pairs: margin sign agrees on %.1f%%; max |score diff| %.3g = %.3g of the "
      "largest |score| (%.3g), %.3g relative to max(1, |score|); median per-score relative %.3g" % (
          int(ok.sum()), 100.0 * float(np.mean(np.sign(m32) == np.sign(m16))), float(np.max(np.abs(s16 - s32))),
          float(np.max(np.abs(s16 - s32))) / scale, scale,
          float(np.max(np.abs(s16 - s32) / np.maximum(1.0, np.abs(s32)))),
          float(np.median(np.abs(s16 - s32) / np.maximum(np.abs(s32), 1e-30)))))
EOF
