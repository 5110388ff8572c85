#!/usr/bin/env bash
# The whole test suite: a Release build with every ctest label, then an AddressSanitizer +
# UndefinedBehaviorSanitizer build running the unit tests (file readers, kernels, forward).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
echo "== Release build: all tests"
BUILD_DIR=build bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$jobs"
echo "== AddressSanitizer build: unit tests"
BUILD_DIR=build-asan bash scripts/build.sh -DRMSCORE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j "$jobs" -L unit
