#!/usr/bin/env bash
# The embedded default: builds rmscore, generates a tiny random-weight test model in the Hugging Face
# layout, and scores the bundled token-id sample with it.
# (The MPI preference-pair job joins this demo as the dataset and pipeline commands land.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
DEMO_DIR=${DEMO_DIR:-build/demo}
mkdir -p "$DEMO_DIR"
build/rmscore make-test-model --out "$DEMO_DIR/model" --layers 2 --shards 2 --quiet
echo "== scores of tests/data/sample-ids.jsonl (one per line):"
build/rmscore score-ids --model "$DEMO_DIR/model" < tests/data/sample-ids.jsonl
