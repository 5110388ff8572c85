# checks.sh — the PASS/FAIL bookkeeping of the bash test drivers in tests/e2e/ (sourced, not run).
#   pass NAME / fail NAME [DETAIL]     one `PASS: name` / `FAIL: name -- detail` line, counted
#   check NAME COMMAND...              pass if COMMAND succeeds, else fail with $DETAIL (then cleared)
#   finish                             the closing `N passed, M failed` line; status 1 if any failed
#   start_driver "$@"                  the drivers' arguments RMSCORE WORKDIR: sets RMSCORE (absolute) and W (emptied)
#   no_sanitizer_report FILE WHAT      after each child process: a failed check if FILE (its stderr) holds a report
#                                      from AddressSanitizer, LeakSanitizer or UBSan ("runtime error:"), whatever
#                                      exit status the check itself expects (an ASan + UBSan build; see run-all.sh)
#   time_scaled SECONDS                SECONDS times $RMSTEST_TIME_SCALE (default 1): a Release run's wall-clock
#                                      bound, stretched for the instrumented run (as rmstest.scaled)
PASSED=0
FAILED=0
DETAIL=
pass() { echo "PASS: $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL: $1${2:+ -- $2}"; FAILED=$((FAILED + 1)); }
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name" "${DETAIL:-}"; fi
    DETAIL=
}
SANITIZER_RE='(ERROR|WARNING): [A-Za-z]+Sanitizer\b|SUMMARY: [A-Za-z]+Sanitizer\b|(^|: )runtime error: '
no_sanitizer_report() {
    if grep -qE "$SANITIZER_RE" "$1"; then
        fail "no sanitizer report from $2" "$(grep -m1 -E -A4 "$SANITIZER_RE" "$1" | tr '\n' '|' | head -c 600)"
    fi
}
time_scaled() {
    awk -v t="$1" -v s="${RMSTEST_TIME_SCALE:-1}" 'BEGIN { if (s + 0 < 1) s = 1; printf "%g", t * s }'
}
finish() {
    echo "$PASSED passed, $FAILED failed"
    [[ $FAILED -eq 0 ]]
}
start_driver() {
    if [[ $# -ne 2 ]]; then
        echo "usage: $0 RMSCORE WORKDIR" >&2
        exit 2
    fi
    RMSCORE=$(realpath "$1")
    W=$2
    rm -rf "$W"
    mkdir -p "$W"
}
