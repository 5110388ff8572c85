#!/usr/bin/env bash
# The whole test suite: a Release build with every ctest label, then an AddressSanitizer +
# UndefinedBehaviorSanitizer build running the unit tests (file readers, kernels, forward) and the e2e tests of
# every subcommand (RMSCORE_TEST_ASAN_ALL=1: also the MPI, kill/resume and budget tests), then 30 s of every fuzz
# target but the HDF5 ones. Each stage prints its wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

# stage NAME COMMAND...: runs COMMAND, then prints the stage's wall time.
stage() {
    local name=$1 t0=$SECONDS
    shift
    echo "== $name"
    "$@"
    local s=$((SECONDS - t0))
    echo "== $name: done in $((s / 60)) min $((s % 60)) s"
}

stage "Release build: all tests" \
    bash -c 'BUILD_DIR=build bash scripts/build.sh && ctest --test-dir build --output-on-failure -j "$1"' _ "$jobs"

# The sanitizers' settings for every instrumented process (the Python drivers and checks.sh also fail a check on
# any report they see in a child's output, whatever exit status the check expected):
# - a report ends the process with status 86, which rmscore never uses (0-4), so it cannot pass for an expected
#   error exit; halt_on_error stops at the first report;
# - leaks are checked at every exit (detect_leaks=1) except in libraries named in tests/sanitizers/lsan.supp
#   (Open MPI, PMIx, hwloc, libevent: see its policy); fast_unwind_on_malloc=0 gives allocation stacks that reach
#   through libraries built without frame pointers, so those entries can match; print_suppressions=0 keeps
#   stderr to rmscore's own lines (tests count them);
# - UBSan prints its stack (the build aborts on the first finding: -fno-sanitize-recover=undefined).
# RMSTEST_TIME_SCALE stretches the wall-clock bounds tests put on waiting and on speed (rmstest.scaled): the
# instrumented binaries are slower; what each check compares is unchanged.
SAN=$PWD/tests/sanitizers
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:exitcode=86:fast_unwind_on_malloc=0:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1"
export LSAN_OPTIONS="suppressions=$SAN/lsan.supp:print_suppressions=0:exitcode=86"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=86:suppressions=$SAN/ubsan.supp"
export RMSTEST_TIME_SCALE=${RMSTEST_TIME_SCALE:-3}

stage "AddressSanitizer build: unit tests" \
    bash -c 'BUILD_DIR=build-asan bash scripts/build.sh -DRMSCORE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
             ctest --test-dir build-asan --output-on-failure -j "$1" -L unit' _ "$jobs"
# The e2e tests whose instrumented run has been timed on a 2-core machine run here; RMSCORE_TEST_ASAN_ALL=1 runs every
# e2e and MPI test instrumented (kill/resume, budgets, identity, hostile inputs, mpirun pipelines and faults: about
# half an hour more on 2 cores, not yet inside CI's budget with the stages above).
ASAN_E2E='e2e-(pairs_e2e|bad_rows|formats_e2e|write_failures|nonfinite_e2e|score-ids-cli|blas-selftest)$'
if [[ ${RMSCORE_TEST_ASAN_ALL:-0} == 1 ]]; then
    stage "AddressSanitizer build: every e2e and MPI test" \
        ctest --test-dir build-asan --output-on-failure -j "$jobs" -L 'e2e|mpi'
else
    stage "AddressSanitizer build: e2e tests ($ASAN_E2E)" \
        ctest --test-dir build-asan --output-on-failure -j "$jobs" -R "$ASAN_E2E"
fi

# Fuzzing (benchmarks/fuzz.sh; README "Fuzzing"): the clang build with libFuzzer, every target but the two HDF5 ones
# 30 s on its corpus, $jobs at a time, each for its whole time (fork mode: on past findings); any finding fails the
# stage. libFuzzer sets its own sanitizer options. The HDF5 targets (pairs-h5, scores-h5) report crashes in
# libFuzzer's fork mode that do not reproduce when their input is run alone (state carried across inputs inside
# libhdf5 or the forked probe, under investigation): they run by hand (benchmarks/fuzz.sh 600 pairs-h5 scores-h5)
# and their regressions are replayed by the unit tests.
FUZZ_CI_TARGETS="chat-template config ids-input pref-row run-config safetensors-index safetensors tokenize tokenizer-load"
stage "Fuzzing: every target but pairs-h5 and scores-h5, 30 s each" \
    env -u ASAN_OPTIONS -u LSAN_OPTIONS -u UBSAN_OPTIONS FUZZ_PARALLEL="$jobs" FUZZ_KEEP_GOING=1 \
    bash benchmarks/fuzz.sh 30 $FUZZ_CI_TARGETS
