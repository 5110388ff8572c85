#!/usr/bin/python3
"""test_report_html.py — `report --html`: the page in headless Chromium, and its figures against NumPy.

    /usr/bin/python3 tests/e2e/test_report_html.py --rmscore build/rmscore --workdir DIR --node-modules DIR

The bundled sample (one source renamed to a string full of HTML: `<script>…</script> & "quotes"`) is scored with a
small test model and `report --html` writes the page. tests/html/render.js loads it in Debian's Chromium (driven by
npm playwright-core), saves a full-page PNG and reads back every figure's marks. Checks:
- the page loads with no console error or warning, no page error and no request besides itself; it holds no
  script element and names no external resource (self-contained); the hostile source name is shown as text;
- the four figures are there and drawn (nonzero size): #fig-accuracy, #fig-scores, #fig-calibration, #fig-margins;
- what they draw equals the numbers: accuracy and its Wilson interval per source (SciPy), the chosen and rejected
  histograms and every source's margin histogram (numpy.histogram, 30 bins over the values' range: ALL's for
  the margins), the calibration bins (report --json's, themselves checked against NumPy in reference-report_stats);
- the PNG is a PNG at least 720 pixels wide;
- a file with nothing scored yet gives a page that renders, with no accuracy mark and no "nan" or "inf" anywhere.
Prints PASS/FAIL per check and a final `N passed, M failed`.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import sys

import h5py
import numpy as np
from scipy.stats import binomtest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest  # noqa: E402
from rmstest import arg_parser, finish, fresh_workdir, record, run, short  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RENDER = os.path.join(os.path.dirname(HERE), "html", "render.js")
HOSTILE = '<script>alert("x")</script> & "quoted" \'source\''
BINS = 30
RTOL = 1e-6  # the page prints 9 significant digits


def close(a, b):
    return abs(float(a) - float(b)) <= RTOL * max(1.0, abs(float(b)))


def histogram(v, lo, hi):
    return np.histogram(v, bins=BINS, range=(lo, hi))[0].tolist()


def main():
    a = arg_parser(__doc__.split("\n")[0]).parse_args()
    rms = os.path.abspath(a.rmscore)
    W = fresh_workdir(a.workdir)
    dirs = rmstest.build_tokenizer_dirs(W, a.node_modules)
    if not dirs:
        return finish()
    tulu = dirs[0]
    rows = [json.loads(l) for l in open(rmstest.SAMPLE, encoding="utf-8") if l.strip()]
    renamed = rows[0]["source"]
    src = os.path.join(W, "pairs.jsonl")
    with open(src, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(dict(r, source=HOSTILE) if r["source"] == renamed else r) + "\n")
    model, pairs, scores = (os.path.join(W, x) for x in ("model", "pairs.h5", "scores.h5"))
    for cmd in ([rms, "make-test-model", "--out", model, "--layers", "2", "--tokenizer", tulu, "--quiet"],
                [rms, "prepare", "--tokenizer", tulu, "--in", src, "--out", pairs, "--quiet"],
                [rms, "score", "--model", model, "--data", pairs, "--out", scores, "--quiet"]):
        rc, _, err = run(cmd)
        if not record(" ".join(os.path.basename(x) for x in cmd[:2]), rc == 0, short(err)):
            return finish()
    page, png = os.path.join(W, "report.html"), os.path.join(W, "report.png")
    rc, out, err = run([rms, "report", scores, "--html", page, "--json"])
    if not record("report --html FILE --json: exit 0, the page written", rc == 0 and os.path.exists(page), short(err)):
        return finish()
    rep = json.loads(out)
    html = open(page, encoding="utf-8").read()
    external = re.findall(r'\b(?:src|href)\s*=|@import|url\(', html)
    record("the page is self-contained: no script element, no src/href/url() to load", "<script" not in html.replace(
        "&lt;script&gt;", "") and not external, str(external[:3]))
    env = dict(os.environ, NODE_PATH=a.node_modules)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    p = subprocess.run(["node", RENDER, page, png, chromium], capture_output=True, text=True, env=env,
                       timeout=rmstest.scaled(180))
    try:
        got = json.loads(p.stdout)
    except ValueError:
        got = None
    if not record("Chromium renders the page (tests/html/render.js)", p.returncode == 0 and got is not None,
                  short(p.stderr, 600)):
        return finish()
    record("it loads with no console error or warning, no page error, no request but itself",
           got["loaded"] and not got["console_errors"] and not got["page_errors"] and not got["requests"],
           json.dumps({k: got[k] for k in ("console_errors", "page_errors", "requests")})[:400])
    figs = got["figures"]
    want_figs = ("fig-accuracy", "fig-scores", "fig-calibration", "fig-margins")
    record("the four figures are there and drawn: %s" % ", ".join(want_figs),
           all(f in figs and figs[f]["width"] > 100 and figs[f]["height"] > 100 and figs[f]["marks"] for f in want_figs),
           json.dumps({k: (v["width"], v["height"], len(v["marks"])) for k, v in figs.items()}))

    with h5py.File(scores, "r") as f:
        c, r, s = (f["scores"][k][()] for k in ("chosen", "rejected", "status"))
    with h5py.File(pairs, "r") as f:
        sources = np.asarray(f["pairs"]["source"].asstr()[()])
    names = ["ALL"] + list(dict.fromkeys(sources.tolist()))
    used = (s == 1) & np.isfinite(c) & np.isfinite(r)
    c64, r64 = c.astype(np.float64), r.astype(np.float64)
    m = c64 - r64
    problems = []
    accs = {mk["source"]: mk for mk in figs.get("fig-accuracy", {}).get("marks", [])}
    for name in names:
        sel = used & (True if name == "ALL" else sources == name)
        k, n = int((m[sel] > 0).sum()), int(sel.sum())
        ci = binomtest(k, n).proportion_ci(method="wilson")
        mk = accs.get(name)
        if not mk or not (close(mk["accuracy"], k / n) and close(mk["lo"], ci.low) and close(mk["hi"], ci.high)):
            problems.append("%s: %r vs %r" % (name, mk, (k / n, ci.low, ci.high)))
    record("#fig-accuracy: a mark per source (ALL first) with SciPy's accuracy and Wilson interval, the HTML-laden "
           "name among them", not problems and HOSTILE in accs, "; ".join(problems[:4]))

    lo, hi = min(c64[used].min(), r64[used].min()), max(c64[used].max(), r64[used].max())
    marks = figs.get("fig-scores", {}).get("marks", [])
    hc = [int(x["count"]) for x in marks if x["cls"] == "chosen"]
    hr = [int(x["count"]) for x in marks if x["cls"] == "rejected"]
    record("#fig-scores: the chosen and rejected histograms equal numpy.histogram's (%d bins over [%.4g, %.4g])"
           % (BINS, lo, hi), hc == histogram(c64[used], lo, hi) and hr == histogram(r64[used], lo, hi),
           "chosen %s vs %s" % (hc, histogram(c64[used], lo, hi)))

    bins = {int(x["bin"]): x for x in figs.get("fig-calibration", {}).get("marks", [])}
    want = [(i, b) for i, b in enumerate(rep["calibration"]) if b["n"]]
    record("#fig-calibration: a point per non-empty bin with report's count, confidence and accuracy; the ECE",
           len(bins) == len(want) and all(int(bins[i]["count"]) == b["n"] and close(bins[i]["confidence"],
                                                                                  b["confidence"]) and
                                          close(bins[i]["accuracy"], b["accuracy"]) for i, b in want)
           and close(figs["fig-calibration"]["data"].get("ece", "nan"), rep["ece"]), json.dumps(bins)[:300])

    mlo, mhi = m[used].min(), m[used].max()
    marks = figs.get("fig-margins", {}).get("marks", [])
    problems = []
    for name in names:
        sel = used & (True if name == "ALL" else sources == name)
        h = [int(x["count"]) for x in marks if x.get("source") == name]
        if h != histogram(m[sel], mlo, mhi):
            problems.append("%s: %s vs %s" % (name, h, histogram(m[sel], mlo, mhi)))
    record("#fig-margins: every source's histogram equals numpy.histogram's over ALL's range",
           not problems, "; ".join(problems[:3]))

    try:
        with open(png, "rb") as f:
            head = f.read(24)
        width, height = struct.unpack(">II", head[16:24])
        ok = head[:8] == b"\x89PNG\r\n\x1a\n" and width >= 720 and height > 1000
    except (OSError, struct.error):
        ok, width, height = False, 0, 0
    record("the screenshot is a PNG of the whole page (%dx%d)" % (width, height), ok)

    # nothing scored yet (every row pending): the page still renders, undefined figures print "-", never NaN
    empty, empty_page = os.path.join(W, "pending.h5"), os.path.join(W, "pending.html")
    rmstest.plant_scores(scores, empty, lambda c, r, s: s.fill(0))
    rc, out, err = run([rms, "report", empty, "--html", empty_page])
    html = open(empty_page, encoding="utf-8").read() if rc == 0 and os.path.exists(empty_page) else ""
    p = subprocess.run(["node", RENDER, empty_page, os.path.join(W, "pending.png"), chromium], capture_output=True,
                       text=True, env=env, timeout=rmstest.scaled(180))
    try:
        got = json.loads(p.stdout)
    except ValueError:
        got = None
    figs = got["figures"] if got else {}
    record("nothing scored: exit 0; the page renders with no error, no accuracy mark, no ECE, no 'nan' or 'inf' in it",
           rc == 0 and html and not re.search(r"\b(nan|inf)\b", html, re.I) and got is not None and
           not got["console_errors"] and not got["page_errors"] and all(f in figs for f in want_figs) and
           not figs["fig-accuracy"]["marks"] and "ece" not in figs["fig-calibration"]["data"],
           short(err) + " " + short(p.stderr, 300) + " " + str(re.findall(r".{40}\b(?:nan|inf)\b", html, re.I)[:2]))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
