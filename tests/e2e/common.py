"""common.py — the PASS/FAIL bookkeeping shared by the end-to-end drivers in tests/e2e/.

record() prints one `PASS: name` / `FAIL: name -- detail` line per check; finish() prints the failed checks
and the closing `N passed, M failed` line and returns the exit code.
"""

RESULTS = []


def record(name, ok, detail=""):
    RESULTS.append((name, bool(ok)))
    line = "%s: %s" % ("PASS" if ok else "FAIL", name)
    if detail and not ok:
        line += " -- " + detail
    elif detail:
        line += " (" + (detail if len(detail) <= 160 else detail[:160] + "…") + ")"
    print(line, flush=True)
    return ok


def info(msg):
    print("INFO: " + msg, flush=True)


def finish():
    npass = sum(1 for _, ok in RESULTS if ok)
    nfail = len(RESULTS) - npass
    if nfail:
        print("failed checks: " + ", ".join(n for n, ok in RESULTS if not ok))
    print("%d passed, %d failed" % (npass, nfail), flush=True)
    return 1 if nfail else 0


def short(text, n=300):
    text = text.strip().replace("\n", " | ")
    return text if len(text) <= n else text[:n] + "…"
