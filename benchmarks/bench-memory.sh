#!/usr/bin/env bash
# bench-memory.sh — memory per pipeline stage of the 8B model, measured (peak RSS, VmHWM), beside the memory
# pre-flight's estimate: the README's memory table ("Running on a cluster").
#
#   bash benchmarks/bench-memory.sh                         # the 8B-width model, the default configurations
#   CONFIGS="2:1024 2:8192 1:8192" bash benchmarks/bench-memory.sh
#   FULL=1 CONFIGS="4:1024" bash benchmarks/bench-memory.sh # the whole 32-layer 8B model (slow: see below)
#
# What a stage holds: the pages of its layers' weights (file-backed: exactly the slice's bytes once touched; the
# first stage also the embedding rows of the tokens it saw), its activations for the largest micro-batch of the run,
# two transfer buffers and the process itself (libraries, MPI). All but the weights are the same whatever the
# number of layers a stage holds, so by default each configuration runs on a model of the 8B width (hidden 4096,
# MLP 14336, 32/8 heads, Tülu vocabulary) with only WIDTH_LAYERS decoder layers (4: two per stage with P = 2; a
# stage needs at least two layers to touch both of its hidden-state buffers) — a micro-batch of 8192 tokens takes
# minutes instead of the 32-layer model's hour on 2 cores — and the 8B figure of a stage is its measured peak plus
# the bytes of the layers the 8B stage holds beyond the measured one's. FULL=1 runs the 32-layer model itself (it
# checks that extrapolation; ~4 minutes per 1024 tokens per stage on 2 cores).
#
# CONFIGS: STAGES:MICROBATCH_TOKENS pairs; STAGES 1 runs one process (--threads $(nproc)), more run
# `mpirun -np STAGES+1 ... --threads 1`. P8B: the 8B stage counts the extrapolated figures are printed for.
# The dataset: synthetic pairs of about PAIR_TOKENS tokens each (a prompt and two answers of random words, so each
# micro-batch is filled to its budget), prepared with the Llama 3.1 tokenizer; every run stops after its first
# micro-batch (PAIRS_H5 names another prepared pairs file to use) (--time-budget 30: the first goes out alone, the largest of the run, and nothing starts that the
# measured speed says would end after the 30 s). Checkpoints are generated once
# into BENCH_DIR (the full one ~16 GB, shared with bench-8b.sh).
set -euo pipefail
RMSCORE=${RMSCORE:-build/rmscore}
BENCH_DIR=${BENCH_DIR:-/tmp/rmscore-bench}
FULL=${FULL:-0}
WIDTH_LAYERS=${WIDTH_LAYERS:-4}
CONFIGS=${CONFIGS:-"2:1024 2:2048 2:4096 2:8192 1:8192"}
P8B=${P8B:-"1 2 4 8"}
COMPUTE=${COMPUTE:-bf16}
PAIR_TOKENS=${PAIR_TOKENS:-1024}
PAIRS_H5=${PAIRS_H5:-} # a prepared pairs file to measure on instead of the synthetic pairs
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$BENCH_DIR"

# make_model DIR LAYERS SHARDS: the 8B width with LAYERS decoder layers, generated once (a stamp names the shape)
make_model() {
    local dir=$1 shape=(--hidden 4096 --intermediate 14336 --layers "$2" --heads 32 --kv-heads 8 --dtype bf16 --shards "$3")
    if [[ ! -f $dir/.bench-stamp || $(cat "$dir/.bench-stamp") != "${shape[*]}" ]]; then
        if [[ ! -f $dir/config.json || -f $dir/.bench-stamp ]]; then
            echo "== generating $dir (${shape[*]})" >&2
            rm -rf "$dir"
            "$RMSCORE" make-test-model --out "$dir" "${shape[@]}" --quiet
        fi
        echo "${shape[*]}" >"$dir/.bench-stamp"
    fi
}
if [[ $FULL == 1 ]]; then
    MODEL=$BENCH_DIR/model-8b
    make_model "$MODEL" 32 4
else
    MODEL=$BENCH_DIR/model-8b-width$WIDTH_LAYERS
    make_model "$MODEL" "$WIDTH_LAYERS" 1
fi

if [[ -z $PAIRS_H5 ]]; then
PAIRS_H5=$BENCH_DIR/pairs-fill.h5
/usr/bin/python3 "$REPO/tests/tokenizer/make_tokenizer_dirs.py" "$BENCH_DIR/tok" >/dev/null
DATA=$BENCH_DIR/pairs-fill.jsonl
/usr/bin/python3 - "$DATA" "$PAIR_TOKENS" <<'EOF'
import json, random, sys
path, pair_tokens = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
words = ("time year people way day man thing woman life child world school state family student group country "
         "problem hand part place case week company system program question work government number night point "
         "home water room mother area money story fact month lot right study book eye job word business issue side "
         "kind head house service friend father power hour game line end member law car city community name").split()
def text(n):
    return " ".join(rng.choice(words) for _ in range(n))
# about one token per word: a prompt of a fifth of the pair, two answers of two fifths each
with open(path, "w") as f:
    for i in range(64):
        p, a = pair_tokens // 5, 2 * pair_tokens // 5 - 8
        prompt = [{"role": "user", "content": text(p)}]
        f.write(json.dumps({"id": "fill-%d" % i, "source": "fill",
                            "chosen": prompt + [{"role": "assistant", "content": text(a)}],
                            "rejected": prompt + [{"role": "assistant", "content": text(a)}]}) + "\n")
EOF
"$RMSCORE" prepare --tokenizer "$BENCH_DIR/tok/tulu" --in "$DATA" --out "$PAIRS_H5" --quiet
fi

echo "== CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1); $(nproc) CPUs; $(free -g | awk '/^Mem:/ {print $2}') GiB;" \
     "model $(basename "$MODEL"); compute $COMPUTE"
RESULTS=$BENCH_DIR/memory-results.txt
: >"$RESULTS"
for cfg in $CONFIGS; do
    STAGES=${cfg%%:*} MB=${cfg##*:}
    OUT=$BENCH_DIR/scores-mem.h5
    LOG=$BENCH_DIR/scores-mem-$STAGES-$MB.log
    rm -f "$OUT" "$OUT.partial" "$OUT.lock"
    ARGS=(score --model "$MODEL" --data "$PAIRS_H5" --out "$OUT" --allow-tokenizer-mismatch
          --microbatch-tokens "$MB" --compute "$COMPUTE" --time-budget 30 --progress-every 60)
    echo "== $STAGES stage(s), --microbatch-tokens $MB" >&2
    set +e
    if [[ $STAGES == 1 ]]; then
        /usr/bin/time -f "peak-rss-kb %M" "$RMSCORE" "${ARGS[@]}" --threads "$(nproc)" 2>"$LOG"
    else
        mpirun -np $((STAGES + 1)) --oversubscribe "$RMSCORE" "${ARGS[@]}" --stages "$STAGES" --threads 1 2>"$LOG"
    fi
    set -e
    echo "$STAGES $MB $LOG" >>"$RESULTS"
done

/usr/bin/python3 - "$RESULTS" "$MODEL/config.json" "$P8B" <<'EOF'
import json, re, sys
results, config, p8b = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3].split()]
c = json.load(open(config))
h, inter, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
hd = c.get("head_dim") or h // c["num_attention_heads"]
q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
layer_gib = 2 * (h * q + 2 * h * kv + q * h + 3 * h * inter + 2 * h) / 2**30  # bf16 bytes of one decoder layer
GIB = 2**30
def parse(log, stages):
    text = open(log, errors="replace").read()
    rows = []  # (kind, layers held, batch tokens, peak GiB, estimate GiB)
    if stages == 1:
        m = re.search(r"peak-rss-kb (\d+)", text)
        e = re.search(r"memory: one process \(all layers\) needs ([0-9.]+) GiB", text)
        rows.append(("one process", layers, None, int(m.group(1)) / 2**20 if m else float("nan"),
                     float(e.group(1)) if e else float("nan")))
        return rows
    est = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"memory: rank (\d+): .*? needs ([0-9.]+) GiB", text)}
    for m in re.finditer(r"rmscore: score:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)-(\d+)\s+(\d+)\s+(\d+)\s+\S+\s+\S+\s+\S+\s+\S+\s+"
                         r"([0-9.]+)\s*$", text, re.M):
        rank, stage, l0, l1, batches, tokens, rss = (int(m.group(1)), int(m.group(3)), int(m.group(4)),
                                                      int(m.group(5)), int(m.group(6)), int(m.group(7)),
                                                      float(m.group(8)))
        kind = "first stage" if stage == 0 else ("last stage" if stage == stages - 1 else "middle stage")
        rows.append((kind, l1 - l0 + 1, tokens // max(batches, 1), rss / 1024, est.get(rank, float("nan"))))
    return rows
print("%-6s %-10s %-13s %-7s %-8s %-9s %-9s | %s" % ("stages", "microbatch", "rank", "layers", "batch", "peak GiB",
                                                     "est. GiB", "8B (32 layers), per stage: P -> measured + layers "
                                                     "beyond / estimate"))
for line in open(results):
    stages, mb, log = line.split()
    stages, mb = int(stages), int(mb)
    for kind, held, batch, peak, est in parse(log, stages):
        ext = []
        for p in ([p for p in p8b if p > 1] if stages > 1 else [1]):
            want = 32 if p == 1 else 32 // p
            extra = (want - held) * layer_gib
            ext.append("P=%d %.2f/%.2f" % (p, peak + extra, est + extra))
        print("%-6d %-10d %-13s %-7d %-8s %-9.2f %-9.2f | %s" % (stages, mb, kind, held,
                                                                  "-" if batch is None else str(batch), peak, est,
                                                                  "  ".join(ext)))
print("(one decoder layer of the 8B width: %.3f GiB in bf16; a stage's weight pages are its layers' bytes)" % layer_gib)
EOF
