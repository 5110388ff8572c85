#!/usr/bin/env bash
# bench-memory.sh — peak memory per pipeline stage of the 8B-shaped model, measured, beside the memory
# pre-flight's estimate: the README's memory table ("Running on a cluster").
#
#   bash benchmarks/bench-memory.sh                      # the default configurations below
#   CONFIGS="4:1024 2:2048" COMPUTE=bf16 bash benchmarks/bench-memory.sh
#
# CONFIGS: STAGES:MICROBATCH_TOKENS pairs. Each runs `mpirun -np STAGES+1 rmscore score --stages STAGES
# --microbatch-tokens N` (STAGES 1: one process) on copies of the bundled sample until the first micro-batches
# have passed every stage (--time-budget BUDGET seconds), then prints each rank's peak RSS (VmHWM: its mapped
# weight pages and its activations; the root's is the dataset and results) and the estimate rmscore prints at
# start-up. The 8B-shaped checkpoint (~16 GB) is generated once into BENCH_DIR like bench-8b.sh.
# Run it on a quiet machine: the budget is wall time.
set -euo pipefail
RMSCORE=${RMSCORE:-build/rmscore}
BENCH_DIR=${BENCH_DIR:-/tmp/rmscore-bench}
CONFIGS=${CONFIGS:-"4:1024 4:4096 2:2048 1:1024"}
COMPUTE=${COMPUTE:-bf16}
BUDGET=${BUDGET:-240}
COPIES=${COPIES:-4}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$BENCH_DIR"
MODEL=$BENCH_DIR/model-8b
SHAPE=(--hidden 4096 --intermediate 14336 --layers 32 --heads 32 --kv-heads 8 --dtype bf16 --shards 4)
if [[ ! -f $MODEL/.bench-stamp || $(cat "$MODEL/.bench-stamp") != "${SHAPE[*]}" ]]; then
    if [[ ! -f $MODEL/config.json ]]; then
        echo "== generating the 8B-shaped model in $MODEL (once, ~16 GB)" >&2
        "$RMSCORE" make-test-model --out "$MODEL" "${SHAPE[@]}"
    fi
    echo "${SHAPE[*]}" >"$MODEL/.bench-stamp"
fi
/usr/bin/python3 "$REPO/tests/tokenizer/make_tokenizer_dirs.py" "$BENCH_DIR/tok" >/dev/null
DATA=$BENCH_DIR/pairs-mem.jsonl
: >"$DATA"
for _ in $(seq "$COPIES"); do cat "$REPO/tests/data/sample-pairs.jsonl" >>"$DATA"; done
"$RMSCORE" prepare --tokenizer "$BENCH_DIR/tok/tulu" --in "$DATA" --out "$BENCH_DIR/pairs-mem.h5" --quiet
echo "== CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1); $(nproc) CPUs; $(free -g | awk '/^Mem:/ {print $2}') GiB"
printf "%-7s %-11s %-6s %-10s %-14s %-14s\n" stages microbatch rank layers "peak RSS GiB" "estimate GiB"
for cfg in $CONFIGS; do
    STAGES=${cfg%%:*} MB=${cfg##*:}
    OUT=$BENCH_DIR/scores-mem.h5
    LOG=$BENCH_DIR/scores-mem-$STAGES-$MB.log
    rm -f "$OUT" "$OUT.partial" "$OUT.lock"
    ARGS=(score --model "$MODEL" --data "$BENCH_DIR/pairs-mem.h5" --out "$OUT" --allow-tokenizer-mismatch
          --microbatch-tokens "$MB" --compute "$COMPUTE" --time-budget "$BUDGET" --progress-every 60)
    set +e
    if [[ $STAGES == 1 ]]; then
        /usr/bin/time -f "peak-rss-kb %M" "$RMSCORE" "${ARGS[@]}" --threads "$(nproc)" 2>"$LOG"
    else
        mpirun -np $((STAGES + 1)) --oversubscribe "$RMSCORE" "${ARGS[@]}" --stages "$STAGES" --threads 1 2>"$LOG"
    fi
    set -e
    /usr/bin/python3 - "$LOG" "$STAGES" "$MB" <<'EOF'
import re, sys
log, stages, mb = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(log, errors="replace").read()
est = {}
for m in re.finditer(r"memory: rank (\d+): .*? needs ([0-9.]+) GiB", text):
    est[int(m.group(1))] = float(m.group(2))
m1 = re.search(r"memory: one process \(all layers\) needs ([0-9.]+) GiB", text)
if stages == "1":
    m = re.search(r"peak-rss-kb (\d+)", text)
    peak = int(m.group(1)) / 2**20 if m else float("nan")
    e = float(m1.group(1)) if m1 else float("nan")
    print("%-7s %-11s %-6s %-10s %-14.2f %-14.2f" % (stages, mb, "0", "0-31", peak, e))
    sys.exit(0)
rows = re.findall(r"rmscore: score:\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+([0-9.]+)\s*$", text, re.M)
if not rows:
    print("%-7s %-11s (no per-rank table in %s)" % (stages, mb, log))
for rank, rep, stage, layers, rss in rows:
    print("%-7s %-11s %-6s %-10s %-14.2f %-14s" % (stages, mb, rank, layers, float(rss) / 1024,
                                                  "%.2f" % est[int(rank)] if int(rank) in est else "-"))
EOF
done
