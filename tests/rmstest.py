"""rmstest.py — what the Python test drivers under tests/ share.

    sys.path.insert(0, <the tests/ directory>); import rmstest as T

- PASS/FAIL bookkeeping: record() prints one `PASS: name` / `FAIL: name -- detail` line per check, finish()
  prints the closing `N passed, M failed` line and returns the exit code (1 if any check failed).
  configure() picks how a passing check's detail is shown and whether finish() lists the failed checks
  first; each driver keeps the output it always had.
- run() / run_timed(): a command in a child process, its output captured.
- The repo's paths (sample data, make_tokenizer_dirs.py), the drivers' common arguments (--rmscore,
  --workdir, --node-modules), a fresh work directory, the tokenizer directories built in a child process.
"""

import argparse
import json
import os
import shutil
import subprocess
import time

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
PY = "/usr/bin/python3"
SAMPLE = os.path.join(TESTS, "data", "sample-pairs.jsonl")
BAD = os.path.join(TESTS, "data", "bad-pairs.jsonl")
MAKE_TOK = os.path.join(TESTS, "tokenizer", "make_tokenizer_dirs.py")
NODE_MODULES = os.path.join(REPO, "node_modules")

# ------------------------------------------------------------------ PASS/FAIL bookkeeping
RESULTS = []
_STYLE = {"detail_on_pass": "brief", "list_failed": True}


def configure(detail_on_pass=None, list_failed=None):
    """detail_on_pass: "brief" (default: a passing check's detail in parentheses, cut at 160 characters; a
    failing one's after ` -- `) or "full" (any detail after ` -- `). list_failed: finish() prints a
    `failed checks: ...` line before the summary (default True)."""
    if detail_on_pass is not None:
        assert detail_on_pass in ("brief", "full"), detail_on_pass
        _STYLE["detail_on_pass"] = detail_on_pass
    if list_failed is not None:
        _STYLE["list_failed"] = bool(list_failed)


def record(name, ok, detail=""):
    """One check: prints its PASS/FAIL line, remembers it for finish(); returns ok."""
    RESULTS.append((name, bool(ok)))
    line = "%s: %s" % ("PASS" if ok else "FAIL", name)
    if detail and (not ok or _STYLE["detail_on_pass"] == "full"):
        line += " -- " + detail
    elif detail:
        line += " (" + (detail if len(detail) <= 160 else detail[:160] + "…") + ")"
    print(line, flush=True)
    return ok


def info(msg):
    print("INFO: " + msg, flush=True)


def finish():
    """Prints `N passed, M failed` (after the failed checks' names, if configured); returns the exit code."""
    npass = sum(1 for _, ok in RESULTS if ok)
    nfail = len(RESULTS) - npass
    if nfail and _STYLE["list_failed"]:
        print("failed checks: " + ", ".join(n for n, ok in RESULTS if not ok))
    print("%d passed, %d failed" % (npass, nfail), flush=True)
    return 1 if nfail else 0


def short(text, n=300):
    """text on one line (newlines as ` | `), cut at n characters."""
    text = text.strip().replace("\n", " | ")
    return text if len(text) <= n else text[:n] + "…"


def strict_json(text):
    """json.loads that rejects NaN/Infinity (not JSON, though Python's json accepts them)."""
    def bad(c):
        raise ValueError("non-JSON constant %s" % c)
    return json.loads(text, parse_constant=bad)


# ------------------------------------------------------------------ child processes
def run_timed(cmd, stdin=None, timeout=900, env=None, binary=False, errors="replace"):
    """Runs cmd (its items through str()), output captured; returns (rc, stdout, stderr, seconds).

    Text mode: stdin is a str (None: the parent's stdin), stdout and stderr are decoded with `errors`
    (None: strict, a non-UTF-8 byte raises). binary: stdin and stdout are bytes, stderr is decoded with
    replacement."""
    cmd = [str(c) for c in cmd]
    t0 = time.time()
    if binary:
        p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, env=env)
        return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"), time.time() - t0
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, errors=errors, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr, time.time() - t0


def run(cmd, stdin=None, timeout=900, **kw):
    """run_timed() without the seconds: (rc, stdout, stderr)."""
    return run_timed(cmd, stdin, timeout, **kw)[:3]


# ------------------------------------------------------------------ arguments, work directory, set-up
def arg_parser(description=None, node_modules=True):
    """The drivers' common arguments: --rmscore and --workdir (required), --node-modules (default
    <repo>/node_modules) unless node_modules is False."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--rmscore", required=True)
    ap.add_argument("--workdir", required=True)
    if node_modules:
        ap.add_argument("--node-modules", default=NODE_MODULES)
    return ap


def fresh_workdir(path):
    """The absolute path of an emptied (removed and re-created) work directory."""
    path = os.path.abspath(path)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def tokenizer_dirs_cmd(workdir, node_modules):
    """The make_tokenizer_dirs.py command that writes workdir/tok/tulu and workdir/tok/llama3."""
    return [PY, MAKE_TOK, os.path.join(workdir, "tok"), "--node-modules", node_modules]


def build_tokenizer_dirs(workdir, node_modules, label="make_tokenizer_dirs.py", timeout=900):
    """Runs tokenizer_dirs_cmd() and records it as the check `label`; returns the tok/tulu and tok/llama3
    paths, or None if it failed."""
    rc, out, err = run(tokenizer_dirs_cmd(workdir, node_modules), timeout=timeout)
    if not record(label, rc == 0, short(err)):
        return None
    return os.path.join(workdir, "tok", "tulu"), os.path.join(workdir, "tok", "llama3")
