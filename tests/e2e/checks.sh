# checks.sh — the PASS/FAIL bookkeeping of the bash test drivers in tests/e2e/ (sourced, not run).
#   pass NAME / fail NAME [DETAIL]     one `PASS: name` / `FAIL: name -- detail` line, counted
#   check NAME COMMAND...              pass if COMMAND succeeds, else fail with $DETAIL (then cleared)
#   finish                             the closing `N passed, M failed` line; status 1 if any failed
#   start_driver "$@"                  the drivers' arguments RMSCORE WORKDIR: sets RMSCORE (absolute) and W (emptied)
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
