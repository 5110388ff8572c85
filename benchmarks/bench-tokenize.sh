#!/usr/bin/env bash
# bench-tokenize.sh — speed of `rmscore tokenize` against the Hugging Face `tokenizers` library.
# Not a test; run by hand from the repository root after building and `npm ci`:
#
#   RMSCORE=build/rmscore [BENCH_DIR=/tmp/rmscore-bench-tok] [MBYTES=4] [REPEATS=3] benchmarks/bench-tokenize.sh
#
# Writes once (cached in $BENCH_DIR) the llama3 tokenizer dir (tests/tokenizer/make_tokenizer_dirs.py,
# the npm Llama 3.1 tokenizer.json) and ~MBYTES MB of mixed text lines (tests/tokenizer/corpus.py
# --bytes: prose and code, every script, emoji, whitespace runs, special-token text), one JSON string a line.
# Then the best of REPEATS wall times of
#   rmscore tokenize --tokenizer DIR < lines.jsonl        (process start + tokenizer load included)
#   HF tokenizers (node, hf_reference.js bench): one encode() per line, single-threaded (load excluded);
#   and one encodeBatch() over all lines (the Rust thread pool, all cores).
# MB/s = UTF-8 bytes of the texts (not of the JSON) / seconds. The ids of both are compared once too.
set -euo pipefail

RMSCORE=${RMSCORE:-build/rmscore}
BENCH_DIR=${BENCH_DIR:-/tmp/rmscore-bench-tok}
MBYTES=${MBYTES:-4}
REPEATS=${REPEATS:-3}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
TT=$ROOT/tests/tokenizer
NODE_MODULES=${NODE_MODULES:-$ROOT/node_modules}

if [[ ! -x $RMSCORE ]]; then
    echo "bench-tokenize: $RMSCORE not found or not executable (build first, or set RMSCORE=)" >&2
    exit 1
fi
if [[ ! -d $NODE_MODULES/@anush008/tokenizers ]]; then
    echo "bench-tokenize: $NODE_MODULES/@anush008/tokenizers missing (run npm ci in the repo root)" >&2
    exit 1
fi
mkdir -p "$BENCH_DIR"
TOKDIR=$BENCH_DIR/tok/llama3
LINES=$BENCH_DIR/lines-${MBYTES}MB.jsonl
[[ -f $TOKDIR/tokenizer.json ]] || $PY "$TT/make_tokenizer_dirs.py" "$BENCH_DIR/tok" --node-modules "$NODE_MODULES" >/dev/null
[[ -f $LINES ]] || $PY "$TT/corpus.py" "$LINES" --bytes $((MBYTES * 1000000)) 2>/dev/null

BYTES=$($PY -c 'import json,sys; print(sum(len(json.loads(l).encode()) for l in open(sys.argv[1])))' "$LINES")
NLINES=$(wc -l < "$LINES")
echo "input: $NLINES lines, $BYTES bytes of text ($(du -h "$LINES" | cut -f1) of JSON)"

$PY - "$RMSCORE" "$TOKDIR" "$LINES" "$BENCH_DIR/rmscore.ids" "$REPEATS" "$BYTES" "$NLINES" <<'PYEOF'
import subprocess, sys, time
rmscore, tokdir, lines, out = sys.argv[1:5]
repeats, nbytes, nlines = (int(x) for x in sys.argv[5:8])
def run(inp, outp):
    with open(inp, "rb") as fi, open(outp, "wb") as fo:
        t0 = time.perf_counter()
        subprocess.run([rmscore, "tokenize", "--tokenizer", tokdir], stdin=fi, stdout=fo, check=True)
        return time.perf_counter() - t0
best = min(run(lines, out) for _ in range(repeats))
load = min(run("/dev/null", "/dev/null") for _ in range(repeats))
print("rmscore: %d bytes %d lines %.3f s %.2f MB/s (tokenizer load alone: %.3f s; without it %.2f MB/s)"
      % (nbytes, nlines, best, nbytes / 1e6 / best, load, nbytes / 1e6 / max(best - load, 1e-9)))
PYEOF

NODE_PATH=$NODE_MODULES node "$TT/hf_reference.js" bench "$TOKDIR/tokenizer.json" special "$LINES" "$REPEATS"

NODE_PATH=$NODE_MODULES node "$TT/hf_reference.js" encode "$TOKDIR/tokenizer.json" special "$LINES" > "$BENCH_DIR/hf.ids"
$PY - "$BENCH_DIR/hf.ids" "$BENCH_DIR/rmscore.ids" <<'PYEOF'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
same = sum(x == y for x, y in zip(a, b))
print("ids: %d/%d lines equal to HF%s" % (same, len(a), "" if len(a) == len(b) else " (line counts differ)"))
PYEOF
