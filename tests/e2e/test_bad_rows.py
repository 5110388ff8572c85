#!/usr/bin/python3
"""test_bad_rows.py — `prepare`, `score`, `report`, `export` on tests/data/bad-pairs.jsonl.

    /usr/bin/python3 tests/e2e/test_bad_rows.py --rmscore build/rmscore --workdir DIR --node-modules node_modules

tests/data/README.md documents every line of bad-pairs.jsonl. Checks: prepare exits 0; one row per line
(the empty line included); valid rows have status 0, ids and error ""; broken rows status 3, a non-empty
error and no ids; the stderr summary counts rows, ok and bad rows; score marks the bad rows status 3
with NaN scores and scores the others; report counts n_bad / n_scored; export lists every row.
Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
"""

import csv
import io
import json
import math
import os
import re
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from rmstest import (BAD, arg_parser, build_tokenizer_dirs, finish, fresh_workdir, info, record,  # noqa: E402
                     run, short, strict_json)

# row -> (valid?, expected id, expected source); see tests/data/README.md
EXPECT = {
    0: (True, "bad-01", "sample/bad"),
    1: (False, None, None),          # invalid JSON
    2: (False, None, None),          # JSON array
    3: (False, "bad-04", "sample/bad"),  # no chosen
    4: (True, "bad-05", "sample/bad"),
    5: (False, "bad-06", "sample/bad"),  # rejected is a string
    6: (False, "bad-07", "sample/bad"),  # message without content
    7: (False, "bad-08", "sample/bad"),  # content null
    8: (False, None, None),          # invalid UTF-8
    9: (True, "9", ""),              # no id/source/prompt: id = row number
    10: (False, None, None),         # empty line
    11: (False, "bad-12", "sample/bad"),  # content is a list
    12: (True, "bad-13", "sample/bad"),  # role is a number: the Tulu template skips that message, as jinja2 does
    13: (False, None, None),         # two objects on one line
    14: (True, "bad-15", "sample/bad"),
}
N_ROWS = len(EXPECT)
VALID = [i for i, e in EXPECT.items() if e[0]]
BROKEN = [i for i, e in EXPECT.items() if not e[0]]


def main():
    a = arg_parser(__doc__.split("\n")[0]).parse_args()
    rms = os.path.abspath(a.rmscore)
    W = fresh_workdir(a.workdir)

    raw = open(BAD, "rb").read()
    lines = raw.split(b"\n")
    record("bad-pairs.jsonl has %d lines as documented" % N_ROWS, len(lines) == N_ROWS, "%d lines" % len(lines))

    if not build_tokenizer_dirs(W, a.node_modules):
        return finish()
    tulu = os.path.join(W, "tok", "tulu")
    model = os.path.join(W, "model")
    rc, out, err = run([rms, "make-test-model", "--out", model, "--layers", "2", "--tokenizer", tulu, "--quiet"])
    if not record("make-test-model --tokenizer tok/tulu", rc == 0, short(err)):
        return finish()

    # ---------------------------------------------------------------- prepare
    pairs = os.path.join(W, "bad.h5")
    rc, out, err = run([rms, "prepare", "--tokenizer", tulu, "--in", BAD, "--out", pairs])
    if not record("prepare bad-pairs.jsonl: exit 0", rc == 0, "rc %d, stderr %s" % (rc, short(err))):
        return finish()
    info("prepare stderr: " + short(err, 1500))
    with h5py.File(pairs, "r") as f:
        g = f["pairs"]
        n = g["status"].shape[0]
        status = g["status"][()].astype(int)
        ids = list(g["id"].asstr()[()])
        sources = list(g["source"].asstr()[()])
        errors = list(g["error"].asstr()[()])
        clen, rlen = g["chosen_len"][()].astype(int), g["rejected_len"][()].astype(int)
        cids = [len(x) for x in g["chosen_ids"][()]]
        rids = [len(x) for x in g["rejected_ids"][()]]
        ctext = list(g["chosen_text"].asstr()[()])
        n_attr = int(np.asarray(g.attrs.get("n_rows", -1)))
    record("one row per input line (%d), n_rows attribute" % N_ROWS, n == N_ROWS and n_attr == N_ROWS,
           "rows %d, n_rows %d" % (n, n_attr))
    if n != N_ROWS:
        return finish()

    problems = []
    for i in VALID:
        _, want_id, want_src = EXPECT[i]
        if status[i] != 0:
            problems.append("row %d status %d (error %r)" % (i, status[i], errors[i]))
        if ids[i] != want_id or sources[i] != want_src:
            problems.append("row %d id/source %r/%r, want %r/%r" % (i, ids[i], sources[i], want_id, want_src))
        if errors[i] != "":
            problems.append("row %d error %r" % (i, errors[i]))
        if not (clen[i] > 0 and rlen[i] > 0 and cids[i] == clen[i] and rids[i] == rlen[i]):
            problems.append("row %d lens %d/%d ids %d/%d" % (i, clen[i], rlen[i], cids[i], rids[i]))
        try:
            if json.loads(ctext[i]) != json.loads(lines[i])["chosen"]:
                problems.append("row %d chosen_text differs" % i)
        except ValueError as e:
            problems.append("row %d chosen_text: %s" % (i, e))
    record("valid rows %s: status 0, id/source (row 9: id '9', source ''), error '', ids" % VALID, not problems,
           "; ".join(problems))

    problems = []
    for i in BROKEN:
        if status[i] != 3:
            problems.append("row %d (line %d) status %d" % (i, i + 1, status[i]))
        if not errors[i].strip():
            problems.append("row %d (line %d) empty error" % (i, i + 1))
        if clen[i] != 0 or rlen[i] != 0 or cids[i] != 0 or rids[i] != 0:
            problems.append("row %d (line %d) has ids (%d/%d)" % (i, i + 1, clen[i], rlen[i]))
    record("broken rows %s: status 3, non-empty error, no ids" % BROKEN, not problems, "; ".join(problems))
    for i in BROKEN:
        info("row %2d (line %2d) id=%r source=%r error=%r" % (i, i + 1, ids[i], sources[i], errors[i]))
    kept = [(i, ids[i], EXPECT[i][1]) for i in BROKEN if EXPECT[i][1] is not None and ids[i] != EXPECT[i][1]]
    record("broken rows keep a parsed string id", not kept, "row, id, expected: %s" % kept)
    record("invalid UTF-8 row: error mentions UTF-8", "utf-8" in errors[8].lower() or "utf8" in errors[8].lower(),
           "error %r" % errors[8])
    valid_utf8 = True
    with h5py.File(pairs, "r") as f:
        for name in ("id", "source", "error", "chosen_text", "rejected_text"):
            for b in f["pairs"][name][()]:
                try:
                    (b if isinstance(b, bytes) else str(b).encode()).decode("utf-8")
                except UnicodeDecodeError:
                    valid_utf8 = False
    record("every stored string is valid UTF-8", valid_utf8)

    # Below, the rows prepare actually marked ok/bad are the truth (one prepare mistake fails only the checks above).
    ok_rows = [i for i in range(N_ROWS) if status[i] == 0]
    bad_rows = [i for i in range(N_ROWS) if status[i] != 0]
    if ok_rows != VALID:
        info("downstream checks use prepare's statuses: ok rows %s (expected %s)" % (ok_rows, VALID))
    nb, nv = len(bad_rows), len(ok_rows)
    summary = [l for l in err.splitlines() if re.search(r"\b%d\b" % nb, l) and "bad" in l.lower()]
    record("stderr summary counts %d rows, %d ok, %d bad" % (N_ROWS, nv, nb),
           any(re.search(r"\b%d\b" % N_ROWS, l) and re.search(r"\b%d\b" % nv, l) for l in summary),
           "stderr: %s" % short(err, 600))
    per_line = sum(1 for i in bad_rows if re.search(r"line %d\b" % (i + 1), err))
    info("stderr names %d of the %d bad lines by number" % (per_line, nb))

    # ---------------------------------------------------------------- score, report, export
    scores = os.path.join(W, "scores.h5")
    rc, out, err = run([rms, "score", "--model", model, "--data", pairs, "--out", scores, "--threads", "2"])
    if not record("score: exit 0", rc == 0, "rc %d, stderr %s" % (rc, short(err))):
        return finish()
    with h5py.File(scores, "r") as f:
        st = f["scores/status"][()].astype(int)
        ch, rj = f["scores/chosen"][()], f["scores/rejected"][()]
    problems = []
    for i in range(N_ROWS):
        if status[i] == 0:
            if st[i] != 1 or not (np.isfinite(ch[i]) and np.isfinite(rj[i])):
                problems.append("valid row %d: status %d %r %r" % (i, st[i], ch[i], rj[i]))
        elif st[i] != 3 or not (np.isnan(ch[i]) and np.isnan(rj[i])):
            problems.append("bad row %d: status %d %r %r" % (i, st[i], ch[i], rj[i]))
    record("scores: valid rows status 1 (finite), bad rows status 3 (NaN)", not problems, "; ".join(problems))

    rc, out, err = run([rms, "report", scores, "--data", pairs, "--json"])
    try:
        rep = json.loads(out) if rc == 0 else {}
    except ValueError:
        rep = {}
    margins = [float(ch[i]) - float(rj[i]) for i in ok_rows]
    want = {"n_bad": nb, "n_scored": nv, "n_skipped": 0, "n_ties": sum(m == 0 for m in margins)}
    acc = sum(m > 0 for m in margins) / nv
    got = {k: rep.get(k) for k in want}
    record("report --json: n_bad %d, n_scored %d, n_skipped 0, n_ties, accuracy" % (nb, nv),
           got == want and isinstance(rep.get("accuracy"), (int, float)) and abs(rep["accuracy"] - acc) < 1e-9,
           "rc %d, got %s accuracy %r, want %s accuracy %r; stderr %s" % (rc, got, rep.get("accuracy"), want, acc, short(err)))
    ps = rep.get("per_source") or {}
    want_src = {}
    for i in range(N_ROWS):
        src = sources[i]
        d = want_src.setdefault(src, {"n_bad": 0, "n_scored": 0})
        d["n_bad" if st[i] == 3 else "n_scored"] += 1
    got_src = {k: {"n_bad": v.get("n_bad"), "n_scored": v.get("n_scored")} for k, v in ps.items()} if isinstance(ps, dict) else ps
    record("report per_source n_bad/n_scored (source '' included)", got_src == want_src,
           "got %s, want %s" % (got_src, want_src))

    rc, out, err = run([rms, "export", scores, "--data", pairs, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(out))) if rc == 0 else []
    ok = len(rows) == N_ROWS and [r.get("id") for r in rows] == ids
    bad_status = [r.get("status") for i, r in enumerate(rows) if i in bad_rows]
    record("export csv: %d rows, ids in order" % N_ROWS, ok, "rc %d, %d rows, stderr %s" % (rc, len(rows), short(err)))
    info("export csv status of bad rows: %s, their chosen: %s" % (sorted(set(bad_status)),
                                                                  sorted(set(r.get("chosen") for i, r in enumerate(rows) if i in bad_rows))))
    rc, out, err = run([rms, "export", scores, "--data", pairs, "--format", "jsonl"])
    try:
        jrows = [strict_json(l) for l in out.splitlines() if l.strip()] if rc == 0 else []
    except ValueError as e:
        jrows = []
        err += " " + str(e)
    ok = len(jrows) == N_ROWS and all(
        (jrows[i].get("chosen") is None or (isinstance(jrows[i].get("chosen"), float) and math.isnan(jrows[i]["chosen"])))
        for i in bad_rows)
    record("export jsonl: %d strict-JSON rows, bad rows have null scores" % N_ROWS, ok, "rc %d, stderr %s" % (rc, short(err)))

    # an all-bad file still prepares (exit 0), and scoring it leaves nothing to do
    allbad = os.path.join(W, "allbad.jsonl")
    with open(allbad, "wb") as f:
        f.write(b"\n".join(lines[i] for i in bad_rows) + b"\n")
    p2 = os.path.join(W, "allbad.h5")
    rc, out, err = run([rms, "prepare", "--tokenizer", tulu, "--in", allbad, "--out", p2, "--quiet"])
    ok = rc == 0
    if ok:
        s2 = os.path.join(W, "allbad-scores.h5")
        rc, out, err = run([rms, "score", "--model", model, "--data", p2, "--out", s2, "--threads", "2", "--quiet"])
        rc2, out2, err2 = run([rms, "report", s2, "--json"])
        try:
            rep2 = json.loads(out2)
        except ValueError:
            rep2 = {}
        ok = rc == 0 and rc2 == 0 and rep2.get("n_bad") == nb and rep2.get("n_scored") == 0
        info("all-bad report: %s" % short(out2))
        try:
            strict_json(out2)
            strict = True
        except ValueError as e:
            strict, out2 = False, "%s: %s" % (e, short(out2))
        record("all rows bad: report --json is strict JSON (no NaN; accuracy null)", rc2 == 0 and strict, out2)
    record("all rows bad: prepare, score and report --json exit 0; n_bad %d, n_scored 0" % nb, ok,
           "rc %d, stderr %s" % (rc, short(err)))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
