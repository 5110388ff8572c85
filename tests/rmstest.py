"""rmstest.py — what the Python test drivers under tests/ share.

    sys.path.insert(0, <the tests/ directory>); import rmstest as T

- PASS/FAIL bookkeeping: record() prints one `PASS: name` / `FAIL: name -- detail` line per check, finish()
  prints the closing `N passed, M failed` line and returns the exit code (1 if any check failed).
  configure() picks how a passing check's detail is shown and whether finish() lists the failed checks
  first; each driver keeps the output it always had.
- run() / run_timed(): a command in a child process, its output captured. Every child's stderr is searched for a
  sanitizer report (AddressSanitizer, LeakSanitizer, UBSan's "runtime error:"; sanitizer_report()): one is a
  failed check whatever exit status the test expected. Drivers that start processes themselves call
  check_sanitizers() on what those printed.
- instrumented(binary): built with AddressSanitizer (memory bounds are checked on the Release build only).
- time_scale() / scaled(): RMSTEST_TIME_SCALE (default 1), by which the instrumented (ASan) run of
  tests/run-all.sh stretches the wall-clock bounds tests put on waiting and on rmscore's speed. It never
  changes what rmscore is asked to do or what a check compares; the Release run keeps scale 1.
- The repo's paths (sample data, make_tokenizer_dirs.py), the drivers' common arguments (--rmscore,
  --workdir, --node-modules), a fresh work directory, the tokenizer directories built in a child process,
  sample_setup(): those dirs, a test model and the sample prepared (the common start of e2e tests).
- Score comparisons. rmscore against the float64 reference: design.md's tolerance |a - b| <= 1e-3 * max(1, |b|)
  (SCORE_RTOL, scores_close(), scores_mismatch()). Two rmscore runs on one machine (same_scores()): bit for bit,
  whatever their micro-batches, threads, stage layout, replicas, shared prefixes or resumes — rmscore's kernels
  are batch invariant (src/engine/gemm.h). rows_shifted()/shift_caught(): the comparison would catch rows
  shifted by one (design.md's tolerance, so it also holds against the reference).
"""

import argparse
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time

import numpy as np

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


# ------------------------------------------------------------------ sanitizers and time scale
# The first line of a report from the sanitizers of an ASan + UBSan build (-fsanitize=address,undefined):
# "==123==ERROR: AddressSanitizer: ...", "==123==ERROR: LeakSanitizer: ...", "x.c:12:5: runtime error: ...",
# "SUMMARY: UndefinedBehaviorSanitizer: ..." (and the same from any other sanitizer runtime).
SANITIZER_REPORT = re.compile(r"(?:ERROR|WARNING): [A-Za-z]+Sanitizer\b|SUMMARY: [A-Za-z]+Sanitizer\b|"
                              r"(?:^|: )runtime error: ", re.M)


def sanitizer_report(text):
    """The line of text (str or bytes) where a sanitizer report starts, plus the few lines after it; None if
    there is none."""
    if not text:
        return None
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    m = SANITIZER_REPORT.search(text)
    if not m:
        return None
    start = text.rfind("\n", 0, m.start()) + 1
    return short("\n".join(text[start:].splitlines()[:8]), 600)


def check_sanitizers(what, *texts):
    """Records a failed check when any of texts (a child's stderr, or lines of it) holds a sanitizer report;
    returns True when none does (then nothing is recorded: a clean child adds no line)."""
    for t in texts:
        if isinstance(t, (list, tuple)):
            t = "\n".join(t)
        rep = sanitizer_report(t)
        if rep:
            return record("no sanitizer report from %s" % what, False, rep)
    return True


def time_scale():
    """RMSTEST_TIME_SCALE (a number >= 1; default 1): how much slower than a Release build the binaries under test
    run (tests/run-all.sh sets it for the ASan + UBSan stage)."""
    try:
        return max(1.0, float(os.environ.get("RMSTEST_TIME_SCALE", "1")))
    except ValueError:
        return 1.0


def scaled(seconds):
    """A wall-clock bound of the Release run, stretched by time_scale()."""
    return seconds * time_scale()


def instrumented(binary):
    """Whether binary was built with AddressSanitizer (RMSCORE_SANITIZE, RMSCORE_FUZZ): its shadow memory, quarantine
    and redzones count in its RSS, so a bound on a process's memory says nothing there."""
    try:
        with open(binary, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def _what(cmd):
    """A command named for a check: its program and first argument or two."""
    return " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd[:3]))


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
        err = p.stderr.decode("utf-8", "replace")
    else:
        p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, errors=errors, timeout=timeout, env=env)
        err = p.stderr
    check_sanitizers(_what(cmd), err)
    return p.returncode, p.stdout, err, time.time() - t0


class StderrJob:
    """A process whose stderr is read line by line in a thread (stdout discarded), for drivers that watch a job
    while it runs. Popen keyword arguments (env, cwd, start_new_session, ...) pass through. drain() moves the lines
    read so far into self.lines; text() joins them."""

    def __init__(self, cmd, **popen_kw):
        self.cmd = [str(c) for c in cmd]
        self.p = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  errors="replace", **popen_kw)
        self.lines, self.q = [], queue.Queue()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stderr:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)  # end of stderr

    def drain(self):
        while True:
            try:
                line = self.q.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.lines.append(line)

    def text(self):
        return "\n".join(self.lines)


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


def sample_setup(rms, workdir, node_modules, layers=2, scores=None):
    """The common start of an e2e test: the tokenizer dirs, a test model with `layers` layers (W/model) on the Tülu
    tokenizer, the bundled sample prepared (W/pairs.h5) and, with `scores` (a path), scored into it, each recorded
    as a check. Returns (tulu dir, model dir, pairs path), or None if a step failed."""
    dirs = build_tokenizer_dirs(workdir, node_modules)
    if not dirs:
        return None
    tulu = dirs[0]
    model = os.path.join(workdir, "model")
    rc, _, err = run([rms, "make-test-model", "--out", model, "--layers", str(layers), "--tokenizer", tulu, "--quiet"])
    if not record("make-test-model", rc == 0, short(err)):
        return None
    pairs = os.path.join(workdir, "pairs.h5")
    rc, _, err = run([rms, "prepare", "--tokenizer", tulu, "--in", SAMPLE, "--out", pairs, "--quiet"])
    if not record("prepare the sample", rc == 0, short(err)):
        return None
    if scores:
        rc, _, err = run([rms, "score", "--model", model, "--data", pairs, "--out", scores, "--quiet"])
        if not record("score the sample", rc == 0, short(err)):
            return None
    return tulu, model, pairs


def plant_scores(src, dst, edit):
    """dst: a copy of the scores file src whose chosen, rejected and status columns edit(c, r, s) changed in place
    (planted scores for the report and compare tests)."""
    import h5py  # only the tests that plant scores need it
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        g = f["scores"]
        c, r, s = g["chosen"][()], g["rejected"][()], g["status"][()]
        edit(c, r, s)
        g["chosen"][...] = c
        g["rejected"][...] = r
        g["status"][...] = s


# ------------------------------------------------------------------ score comparisons
# design.md "Numerics": "Tolerance against a float64 reference: |Δscore| <= 1e-3 · max(1, |score|) in fp32
# mode." The same bound holds between two rmscore runs that batch, thread or split the model differently: each
# is within it of the reference, and nothing tighter holds on every x86-64 kernel class (SSE fallback, AVX2,
# AVX-512, AVX-512+BF16), whose reduction orders differ.
SCORE_RTOL = 1e-3


def score_tolerance(ref):
    """The allowed |Δscore| around ref (a number or an array): SCORE_RTOL * max(1, |ref|)."""
    return SCORE_RTOL * np.maximum(1.0, np.abs(np.asarray(ref, dtype=np.float64)))


def scores_mismatch(got, ref):
    """Elementwise design.md tolerance, ref the reference side. Returns (bad, worst): bad = the indices where
    |got - ref| > SCORE_RTOL * max(1, |ref|) or either value is not finite (a NaN never matches: where NaN is
    expected, compare statuses or NaN positions exactly instead), worst = max |got - ref| / tolerance (inf
    when a value is not finite, 0 for empty arrays)."""
    g = np.asarray(got, dtype=np.float64).ravel()
    r = np.asarray(ref, dtype=np.float64).ravel()
    if g.shape != r.shape:
        raise ValueError("scores_mismatch: %d values vs %d" % (g.size, r.size))
    finite = np.isfinite(g) & np.isfinite(r)
    ratio = np.full(g.shape, np.inf)
    ratio[finite] = np.abs(g[finite] - r[finite]) / score_tolerance(r[finite])
    bad = np.nonzero(~(ratio <= 1.0))[0]
    return bad, float(ratio.max(initial=0.0))


def scores_close(got, ref):
    """One score against its reference within design.md's tolerance: |got - ref| <= 1e-3 * max(1, |ref|)."""
    return len(scores_mismatch([got], [ref])[0]) == 0


def same_scores(got, ref):
    """Two rmscore runs' results, each (chosen, rejected, status) arrays over the same rows, ref the reference
    run. Statuses must be equal; the scored rows' (status 1) chosen and rejected scores identical as float32
    bits (batch invariance). Returns (ok, detail)."""
    (c1, r1, s1), (c2, r2, s2) = got, ref
    s1, s2 = np.asarray(s1), np.asarray(s2)
    if s1.shape != s2.shape:
        return False, "%d rows vs %d" % (len(s1), len(s2))
    if not np.array_equal(s1, s2):
        d = np.nonzero(s1 != s2)[0]
        return False, "statuses differ in %d rows (first %s: %s vs %s)" % (
            len(d), d[:5].tolist(), s1[d[:5]].tolist(), s2[d[:5]].tolist())
    ok = s1 == 1
    rows = np.nonzero(ok)[0]
    problems, worst = [], 0.0
    for side, a, b in (("chosen", c1, c2), ("rejected", r1, r2)):
        a = np.asarray(a, np.float32)[ok]
        b = np.asarray(b, np.float32)[ok]
        bad = np.nonzero(a.view(np.uint32) != b.view(np.uint32))[0]
        if len(a):
            worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b))))
        for j in bad[:3]:
            problems.append("row %d %s %.9g vs %.9g" % (rows[j], side, a[j], b[j]))
        if len(bad) > 3:
            problems.append("%d %s values in all" % (len(bad), side))
    detail = "%d scored rows, max |d| %.3g (bitwise required)" % (len(rows), worst)
    return not problems, "; ".join(problems + [detail])


def rows_shifted(result):
    """(chosen, rejected, status) with the scored rows' scores moved down by one scored row (np.roll): what a
    wrong row mapping would produce. Statuses are kept, so same_scores() against it can only fail on scores."""
    c, r, s = (np.array(x) for x in result)
    ok = s == 1
    c[ok], r[ok] = np.roll(c[ok], 1), np.roll(r[ok], 1)
    return c, r, s


def shift_caught(got, ref, min_fraction=0.5):
    """Sensitivity of the tolerance: same_scores(got, rows_shifted(ref)) must fail, flagging at least
    min_fraction of the scored values (if the model's scores were too close together for the tolerance to tell
    neighbouring rows apart, a wrong mapping would mostly pass: fix the test model then, not this check).
    Returns (caught, detail)."""
    c1, r1, s1 = got
    c2, r2, s2 = rows_shifted(ref)
    ok, _ = same_scores(got, (c2, r2, s2))
    sc = np.asarray(s1) == 1
    n = 2 * int(sc.sum())
    flagged = len(scores_mismatch(np.asarray(c1)[sc], c2[sc])[0]) + len(scores_mismatch(np.asarray(r1)[sc], r2[sc])[0])
    return (not ok and n > 0 and flagged >= min_fraction * n,
            "the shifted reference fails %d of %d scored values" % (flagged, n))
