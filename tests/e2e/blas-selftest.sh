#!/usr/bin/env bash
# blas-selftest.sh BENCH-SGEMM WORKDIR — bench-sgemm (benchmarks/bench-sgemm.c) measures OpenBLAS's sgemm
# at a model's projection shapes: the reference rate rmscore's own GEMM kernels are measured against. So
# that the reference is not a slow or broken kernel, it first calls rms_blas_restart_if_slow
# (src/engine/blas.h), which may switch OpenBLAS core and re-execute, but only once a self-test in a child
# process validates the candidate; rmscore itself no longer uses OpenBLAS, so this program is where that
# machinery is tested end to end. With the test-only hook RMSCORE_BLAS_SELFTEST_FAIL=crash|wrong|hang the
# child crashes, reports a wrong product or hangs; with a core name OpenBLAS does not know, it loads
# another core. Each time bench-sgemm prints one
# `rmscore: warning: OpenBLAS core X failed its self-test (...); keeping Y` line on stderr, keeps the
# kernels it has (its first stdout line, `OpenBLAS core <NAME>, ...`, names them) and still runs its
# benchmark to the `weighted GFLOP/s: X` line. A core that passes is switched to, as that first line says.
# The hook does nothing when no switch is tried, nor does a self-test marker not set by the parent.
# Each run uses tiny shapes, so it takes a fraction of a second (the hanging child aside: 10 s).
# Works whatever core the environment loads (OPENBLAS_CORETYPE) and whatever RMSCORE_BLAS_CORE is set.
# Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
set -euo pipefail

unset RMSCORE_BLAS_SELFTEST RMSCORE_BLAS_SELFTEST_FAIL RMSCORE_BLAS_RESTARTED

# shellcheck source=tests/e2e/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
start_driver "$@"
BENCH=$RMSCORE # start_driver's name for the first argument: here the bench-sgemm binary

OUT=$W/last.out
ERR=$W/last.err
# bench [ENV=VALUE...]: bench-sgemm at tiny shapes under that environment; sets RC, OUT, ERR, SECONDS_TAKEN.
bench() {
    RC=0
    local t0 t1
    t0=$(date +%s.%N)
    env "$@" "$BENCH" --hidden 64 --intermediate 128 --heads 4 --kv-heads 2 --tokens 8 --threads 2 --reps 1 \
        </dev/null >"$OUT" 2>"$ERR" || RC=$?
    t1=$(date +%s.%N)
    no_sanitizer_report "$ERR" "bench-sgemm $*"
    SECONDS_TAKEN=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}
err_text() { head -c 600 "$ERR" | tr '\n' '|'; }
out_text() { head -c 400 "$OUT" | tr '\n' '|'; }
warnings() { grep -c '^rmscore: warning:' "$ERR" || true; }
# the core named by the first stdout line, `OpenBLAS core <NAME>, <T> threads, M = <m> tokens; rmscore kernels ...`
first_core() { sed -n '1s/^OpenBLAS core \([A-Za-z0-9_]*\), 2 threads, M = 8 tokens;.*$/\1/p' "$OUT"; }
# ran_ok: exit 0, and the last stdout line is `weighted GFLOP/s: X` with X a number.
ran_ok() {
    DETAIL="exit $RC, stdout: $(out_text) stderr: $(err_text)"
    [[ $RC -eq 0 ]] && tail -n 1 "$OUT" | grep -Eq '^weighted GFLOP/s: [0-9]+(\.[0-9]+)?$'
}

# ------------------------------------------------------------------ the kernels loaded without a switch
bench RMSCORE_BLAS_CORE=keep
LOADED=$(first_core)
DETAIL="exit $RC, stdout: $(out_text) stderr: $(err_text)"
check "RMSCORE_BLAS_CORE=keep: bench-sgemm prints 10 lines (header, 7 projections, rmscore's and OpenBLAS's weighted rates), the first naming the OpenBLAS core ($LOADED)" \
    test "$RC" -eq 0 -a "$(wc -l <"$OUT")" -eq 10 -a -n "$LOADED"
check "RMSCORE_BLAS_CORE=keep: the last line is the weighted GFLOP/s rate, a number" ran_ok
# a core OpenBLAS provides on every x86-64 CPU, other than the loaded one
OTHER=Prescott
[[ $LOADED != Prescott ]] || OTHER=Core2

# rejected HOW-PATTERN: exactly one warning line, naming the candidate, why and the core kept; the first
# stdout line names the loaded core.
rejected() {
    DETAIL="stdout line 1: $(head -n 1 "$OUT") stderr: $(err_text)"
    [[ $(warnings) -eq 1 ]] || return 1
    grep -q "^rmscore: warning: OpenBLAS core $CANDIDATE failed its self-test (.*$1.*); keeping $LOADED\$" "$ERR" ||
        return 1
    [[ $(first_core) == "$LOADED" ]]
}

# ------------------------------------------------------------------ rejected switches
CANDIDATE=$OTHER
bench RMSCORE_BLAS_CORE="$OTHER" RMSCORE_BLAS_SELFTEST_FAIL=crash
check "a candidate whose self-test child crashes: bench-sgemm still runs to its weighted rate" ran_ok
check "a crashing child: one warning line naming the signal, '$LOADED' kept" rejected "crashed with signal"
bench RMSCORE_BLAS_CORE="$OTHER" RMSCORE_BLAS_SELFTEST_FAIL=wrong
check "a candidate that computes a wrong product: bench-sgemm still runs to its weighted rate" ran_ok
check "a wrong product: one warning line naming the element and the plain loop's value, '$LOADED' kept" \
    rejected "C\[0,0\] = .* where the plain loop gives"
bench RMSCORE_BLAS_CORE="$OTHER" RMSCORE_BLAS_SELFTEST_FAIL=hang
HANG_SECONDS=$SECONDS_TAKEN
check "a candidate whose child hangs: bench-sgemm still runs to its weighted rate" ran_ok
check "a hanging child: killed after 10 s, one warning line, '$LOADED' kept" rejected "no answer within 10 s"
DETAIL="took $HANG_SECONDS s"
HANG_LIMIT=$(awk -v s="$(time_scaled 10)" 'BEGIN { print 10 + s }') # 20 s in a Release run
check "a hanging child does not hold bench-sgemm much beyond the 10 s deadline (under $HANG_LIMIT s)" \
    awk -v t="$HANG_SECONDS" -v lim="$HANG_LIMIT" 'BEGIN { exit !(t >= 10 && t < lim) }'
CANDIDATE=NoSuchCore
bench RMSCORE_BLAS_CORE=NoSuchCore
check "a core name OpenBLAS does not know: bench-sgemm still runs to its weighted rate" ran_ok
check "an unknown core: one warning line saying what OpenBLAS loaded instead, '$LOADED' kept" \
    rejected "OpenBLAS does not provide it here: it loaded"

# ------------------------------------------------------------------ the hook is inert outside a switch
no_warning() {
    DETAIL="stderr: $(err_text)"
    [[ $(warnings) -eq 0 ]]
}
bench RMSCORE_BLAS_CORE=keep RMSCORE_BLAS_SELFTEST_FAIL=crash
check "RMSCORE_BLAS_SELFTEST_FAIL without a switch: no warning" no_warning
check "RMSCORE_BLAS_SELFTEST_FAIL without a switch: bench-sgemm runs to its weighted rate" ran_ok
bench RMSCORE_BLAS_CORE="$LOADED" RMSCORE_BLAS_SELFTEST_FAIL=crash
check "RMSCORE_BLAS_CORE naming the loaded core: no self-test, no warning" no_warning
bench RMSCORE_BLAS_CORE=keep RMSCORE_BLAS_SELFTEST=$PPID # a live process, not bench-sgemm's parent
check "a self-test marker that does not name bench-sgemm's parent is ignored: it runs to its weighted rate" ran_ok

# ------------------------------------------------------------------ an accepted switch
bench RMSCORE_BLAS_CORE="$OTHER"
SWITCH_SECONDS=$SECONDS_TAKEN
switched() {
    DETAIL="exit $RC, stdout line 1: $(head -n 1 "$OUT") stderr: $(err_text)"
    [[ $RC -eq 0 && $(warnings) -eq 0 && $(first_core) == "$OTHER" ]]
}
check "a candidate that passes its self-test is switched to: no warning, the first line names $OTHER" switched
check "the switched kernels run the benchmark to its weighted rate" ran_ok
bench RMSCORE_BLAS_CORE=keep
KEEP_SECONDS=$SECONDS_TAKEN
echo "start-up: a tiny bench-sgemm with RMSCORE_BLAS_CORE=keep took $KEEP_SECONDS s; with a validated switch" \
    "to $OTHER $SWITCH_SECONDS s"

finish
