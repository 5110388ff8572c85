#!/usr/bin/env bash
# blas-selftest.sh RMSCORE WORKDIR — a switch of OpenBLAS core is validated by a self-test in a child
# process before rmscore restarts on it (src/engine/blas.h). With the test-only hook
# RMSCORE_BLAS_SELFTEST_FAIL=crash|wrong|hang the child crashes, reports a wrong product or hangs;
# with a core name OpenBLAS does not know, it loads another core. Each time rmscore prints one
# `rmscore: warning: OpenBLAS core X failed its self-test (...); keeping Y` line, keeps the kernels it
# has and scores exactly as without the switch. A core that passes is switched to, as the log says.
# The hook does nothing when no switch is tried, nor does a self-test marker not set by rmscore's parent.
# Works whatever core the environment loads (OPENBLAS_CORETYPE) and whatever RMSCORE_BLAS_CORE is set.
# Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
set -euo pipefail

unset RMSCORE_BLAS_SELFTEST RMSCORE_BLAS_SELFTEST_FAIL RMSCORE_BLAS_RESTARTED

# shellcheck source=tests/e2e/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
start_driver "$@"

OUT=$W/last.out
ERR=$W/last.err
# score [ENV=VALUE...]: score-ids on the test model under that environment; sets RC, OUT, ERR, SECONDS_TAKEN.
score() {
    RC=0
    local t0 t1
    t0=$(date +%s.%N)
    env "$@" "$RMSCORE" score-ids --model "$W/m" --threads 2 <"$W/ids.txt" >"$OUT" 2>"$ERR" || RC=$?
    t1=$(date +%s.%N)
    SECONDS_TAKEN=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}
err_text() { head -c 600 "$ERR" | tr '\n' '|'; }
warnings() { grep -c '^rmscore: warning:' "$ERR" || true; }

"$RMSCORE" make-test-model --out "$W/m" --hidden 32 --intermediate 64 --layers 2 --heads 4 --kv-heads 2 \
    --vocab 1000 --seed 5 --dtype bf16 >/dev/null 2>&1
printf '[1, 2, 3]\n[999, 0, 17, 4]\n[5]\n' >"$W/ids.txt"

# ------------------------------------------------------------------ the kernels loaded without a switch
score RMSCORE_BLAS_CORE=keep
cp "$OUT" "$W/keep.out"
LOADED=$(sed -n 's/.* threads, OpenBLAS \([A-Za-z0-9_]*\),.*/\1/p' "$ERR" | head -n 1)
DETAIL="exit $RC, stderr: $(err_text)"
check "RMSCORE_BLAS_CORE=keep scores 3 lines and the log names the OpenBLAS core ($LOADED)" \
    test "$RC" -eq 0 -a "$(wc -l <"$OUT")" -eq 3 -a -n "$LOADED"
# a core OpenBLAS provides on every x86-64 CPU, other than the loaded one
OTHER=Prescott
[[ $LOADED != Prescott ]] || OTHER=Core2

same_scores() {
    DETAIL="exit $RC, stdout: $(head -c 200 "$OUT" | tr '\n' '|') stderr: $(err_text)"
    [[ $RC -eq 0 ]] && cmp -s "$OUT" "$W/keep.out"
}
# rejected HOW-PATTERN: exactly one warning line, naming the candidate, why and the core kept; the log
# line names the loaded core without "auto-selected".
rejected() {
    DETAIL="stderr: $(err_text)"
    [[ $(warnings) -eq 1 ]] || return 1
    grep -q "^rmscore: warning: OpenBLAS core $CANDIDATE failed its self-test (.*$1.*); keeping $LOADED\$" "$ERR" ||
        return 1
    grep -q "threads, OpenBLAS $LOADED, compute" "$ERR"
}

# ------------------------------------------------------------------ rejected switches
CANDIDATE=$OTHER
score RMSCORE_BLAS_CORE="$OTHER" RMSCORE_BLAS_SELFTEST_FAIL=crash
check "a candidate whose self-test child crashes: rmscore still scores, exactly as with keep" same_scores
check "a crashing child: one warning line naming the signal, '$LOADED' kept" rejected "crashed with signal"
score RMSCORE_BLAS_CORE="$OTHER" RMSCORE_BLAS_SELFTEST_FAIL=wrong
check "a candidate that computes a wrong product: rmscore still scores, exactly as with keep" same_scores
check "a wrong product: one warning line naming the element and the plain loop's value, '$LOADED' kept" \
    rejected "C\[0,0\] = .* where the plain loop gives"
score RMSCORE_BLAS_CORE="$OTHER" RMSCORE_BLAS_SELFTEST_FAIL=hang
HANG_SECONDS=$SECONDS_TAKEN
check "a candidate whose child hangs: rmscore still scores, exactly as with keep" same_scores
check "a hanging child: killed after 10 s, one warning line, '$LOADED' kept" rejected "no answer within 10 s"
DETAIL="took $HANG_SECONDS s"
check "a hanging child does not hold rmscore much beyond the 10 s deadline" \
    awk -v t="$HANG_SECONDS" 'BEGIN { exit !(t >= 10 && t < 20) }'
CANDIDATE=NoSuchCore
score RMSCORE_BLAS_CORE=NoSuchCore
check "a core name OpenBLAS does not know: rmscore still scores, exactly as with keep" same_scores
check "an unknown core: one warning line saying what OpenBLAS loaded instead, '$LOADED' kept" \
    rejected "OpenBLAS does not provide it here: it loaded"

# ------------------------------------------------------------------ the hook is inert outside a switch
score RMSCORE_BLAS_CORE=keep RMSCORE_BLAS_SELFTEST_FAIL=crash
DETAIL="stderr: $(err_text)"
check "RMSCORE_BLAS_SELFTEST_FAIL without a switch: no warning" \
    bash -c '[[ $(grep -c "^rmscore: warning:" "$1" || true) -eq 0 ]]' _ "$ERR"
check "RMSCORE_BLAS_SELFTEST_FAIL without a switch: same scores" same_scores
score RMSCORE_BLAS_CORE="$LOADED" RMSCORE_BLAS_SELFTEST_FAIL=crash
DETAIL="stderr: $(err_text)"
check "RMSCORE_BLAS_CORE naming the loaded core: no self-test, no warning" \
    bash -c '[[ $(grep -c "^rmscore: warning:" "$1" || true) -eq 0 ]]' _ "$ERR"
score RMSCORE_BLAS_CORE=keep RMSCORE_BLAS_SELFTEST=$PPID # a live process, not rmscore's parent
check "a self-test marker that does not name rmscore's parent is ignored: rmscore scores as usual" same_scores

# ------------------------------------------------------------------ an accepted switch
score RMSCORE_BLAS_CORE="$OTHER"
SWITCH_SECONDS=$SECONDS_TAKEN
DETAIL="exit $RC, stderr: $(err_text)"
check "a candidate that passes its self-test is switched to: no warning, the log names $OTHER" \
    bash -c '[[ $0 -eq 0 ]] && [[ $(grep -c "^rmscore: warning:" "$1" || true) -eq 0 ]] &&
             grep -q "threads, OpenBLAS $2 (auto-selected, library picked $3), compute" "$1"' \
    "$RC" "$ERR" "$OTHER" "$LOADED"
close_scores() {
    DETAIL="stdout: $(head -c 200 "$OUT" | tr '\n' '|') keep: $(head -c 200 "$W/keep.out" | tr '\n' '|')"
    [[ $RC -eq 0 ]] && paste -d ' ' "$OUT" "$W/keep.out" |
        awk '{ d = $1 - $2; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2; if (d > 1e-5 * (1 + s)) bad = 1 }
             END { exit bad || NR != 3 }'
}
check "the switched kernels score within 1e-5 of the loaded ones" close_scores
score RMSCORE_BLAS_CORE=keep
KEEP_SECONDS=$SECONDS_TAKEN
echo "start-up: a tiny score-ids with RMSCORE_BLAS_CORE=keep took $KEEP_SECONDS s; with a validated switch" \
    "to $OTHER $SWITCH_SECONDS s"

finish
