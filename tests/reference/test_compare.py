#!/usr/bin/python3
"""test_compare.py — `rmscore compare A.h5 B.h5` against NumPy and SciPy on two score files with known disagreements.

    /usr/bin/python3 tests/reference/test_compare.py --rmscore build/rmscore --workdir DIR --node-modules DIR

The bundled sample is scored once; two copies get planted scores (h5py): B agrees with A on some pairs, flips
others both ways in chosen numbers, ties one, has a NaN where A has a number, skips a row A scored. Then:
- `compare --json` overall and per source against NumPy/SciPy over the rows both scored with finite scores:
  accuracies, their Wilson intervals (binomtest(...).proportion_ci(method="wilson")), B - A, the discordant counts,
  McNemar's exact p (binomtest(min(b, c), b + c, 0.5).pvalue), agreement, Pearson (pearsonr) and Spearman
  (spearmanr) of the margins; the planted numbers of flips exactly;
- `--flips FILE`: exactly the planted flipped rows, each with its id, source, margins and who is right;
- `--html` rendered in Chromium: the figures draw compare's numbers; with `--max-points` below the pairs, the
  scatter's grid cells add up to the pairs both scored and to each side's flips;
- the table prints, `compare` of a file with itself: no flip, p = 1, correlations 1;
- refusals (one error line, exit status): one file (2), files of different row counts, datasets whose ids differ.
Prints PASS/FAIL per check and a final `N passed, M failed`.
"""

import json
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
from scipy.stats import binomtest, pearsonr, spearmanr

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest  # noqa: E402
from rmstest import arg_parser, finish, fresh_workdir, record, run, short  # noqa: E402

RTOL = 1e-9


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= RTOL * max(1.0, abs(b))


def read(path):
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return g["chosen"][()], g["rejected"][()], g["status"][()]


def columns(c, r, s):
    """An edit for rmstest.plant_scores that puts these columns in."""
    def edit(oc, or_, os_):
        oc[:], or_[:], os_[:] = c, r, s
    return edit


def reference(a, b, sel):
    (ca, ra, sa), (cb, rb, sb) = a, b
    used = sel & (sa == 1) & (sb == 1) & np.isfinite(ca) & np.isfinite(ra) & np.isfinite(cb) & np.isfinite(rb)
    ma = ca[used].astype(np.float64) - ra[used].astype(np.float64)
    mb = cb[used].astype(np.float64) - rb[used].astype(np.float64)
    n = len(ma)
    out = {"n_rows": int(sel.sum()), "n_both": n}
    ka, kb = int((ma > 0).sum()), int((mb > 0).sum())
    only_a, only_b = int(((ma > 0) & ~(mb > 0)).sum()), int(((mb > 0) & ~(ma > 0)).sum())
    out.update(only_a=only_a, only_b=only_b)
    if n == 0:
        return out
    out["accuracy_a"], out["accuracy_b"] = ka / n, kb / n
    for key, k in (("accuracy_a_ci95", ka), ("accuracy_b_ci95", kb)):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        out[key] = [ci.low, ci.high]
    out["delta"] = kb / n - ka / n
    m = only_a + only_b
    out["mcnemar_p"] = binomtest(min(only_a, only_b), m, 0.5).pvalue if m else 1.0
    out["agreement"] = float(((ma > 0) == (mb > 0)).mean())
    const = n < 2 or np.all(ma == ma[0]) or np.all(mb == mb[0])
    out["pearson"] = None if const else float(pearsonr(ma, mb)[0])
    out["spearman"] = None if const else float(spearmanr(ma, mb)[0])
    return out


def compare_keys(got, want, where):
    problems = []
    for k, v in want.items():
        g = got.get(k)
        if isinstance(v, list):
            ok = isinstance(g, list) and len(g) == 2 and all(close(x, y) for x, y in zip(g, v))
        elif isinstance(v, float) or v is None:
            ok = close(g, v)
        else:
            ok = g == v
        if not ok:
            problems.append("%s %s: %r vs %r" % (where, k, g, v))
    return problems


def render(page, png, node_modules):
    """The page in Chromium (tests/html/render.js): its JSON summary, or None with the renderer's stderr."""
    js = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "html", "render.js")
    p = subprocess.run(["node", js, page, png, shutil.which("chromium") or "/usr/bin/chromium"],
                       capture_output=True, text=True, timeout=rmstest.scaled(180),
                       env=dict(os.environ, NODE_PATH=node_modules))
    try:
        return (json.loads(p.stdout) if p.returncode == 0 else None), p.stderr
    except ValueError:
        return None, p.stderr


def html_grid_checks(rms, W, pa, pb, node_modules):
    """--max-points below the pairs both scored: the scatter becomes a grid of cells whose counts add up."""
    page = os.path.join(W, "compare-grid.html")
    rc, out, err = run([rms, "compare", pa, pb, "--json", "--html", page, "--max-points", "10"])
    if not record("compare --html --max-points 10: exit 0, the page written", rc == 0 and os.path.exists(page),
                  short(err)):
        return
    rep = json.loads(out)
    got, err = render(page, os.path.join(W, "compare-grid.png"), node_modules)
    if not record("Chromium renders the grid page", got is not None, short(err, 500)):
        return
    fig = got["figures"].get("fig-scatter", {})
    cells = fig.get("marks", [])
    count = lambda cls: sum(int(m["count"]) for m in cells if m["cls"] == cls)
    record("the scatter as a grid: no error; its cells count every pair both scored, the flips of each side apart",
           not got["console_errors"] and not got["page_errors"] and fig.get("data", {}).get("mode") == "grid" and
           all(m["tag"] == "rect" and int(m["count"]) >= 1 for m in cells) and
           count("cell") + count("cell-flip-a") + count("cell-flip-b") == rep["n_both"] and
           count("cell-flip-a") == rep["only_a"] and count("cell-flip-b") == rep["only_b"] and
           len(cells) < rep["n_both"],
           "%d cells: agree %d, only A %d, only B %d" % (len(cells), count("cell"), count("cell-flip-a"),
                                                        count("cell-flip-b")))


def html_checks(rms, W, pa, pb, node_modules):
    """compare --html in Chromium (tests/html/render.js): no error, the three figures drawn with report's numbers."""
    page, png = os.path.join(W, "compare.html"), os.path.join(W, "compare.png")
    rc, out, err = run([rms, "compare", pa, pb, "--json", "--html", page])
    if not record("compare --html: exit 0, the page written", rc == 0 and os.path.exists(page), short(err)):
        return
    rep = json.loads(out)
    got, err = render(page, png, node_modules)
    if not record("Chromium renders the compare page", got is not None, short(err, 500)):
        return
    figs = got["figures"]
    record("it loads with no console error, no page error, no request but itself; the three figures are drawn",
           got["loaded"] and not got["console_errors"] and not got["page_errors"] and not got["requests"] and
           all(figs.get(f, {}).get("width", 0) > 100 and figs[f]["marks"]
               for f in ("fig-accuracy-ab", "fig-scatter", "fig-delta")),
           json.dumps({k: (v["width"], len(v["marks"])) for k, v in figs.items()}))
    pts = figs["fig-scatter"]["marks"]
    accs = {(m["source"], m["model"]): m for m in figs["fig-accuracy-ab"]["marks"]}
    deltas = {m["source"]: m for m in figs["fig-delta"]["marks"]}
    per = dict(rep["per_source"], ALL=rep)
    ok = (figs["fig-scatter"]["data"].get("mode") == "points" and len(pts) == rep["n_both"] and
          sum(m["cls"] == "pt-flip-a" for m in pts) == rep["only_a"] and
          sum(m["cls"] == "pt-flip-b" for m in pts) == rep["only_b"] and
          all(close(float(accs[(k, "A")]["accuracy"]), v["accuracy_a"]) and
              close(float(accs[(k, "B")]["accuracy"]), v["accuracy_b"]) and
              close(float(deltas[k]["delta"]), v["delta"]) and close(float(deltas[k]["p"]), v["mcnemar_p"])
              for k, v in per.items()))
    record("the figures draw compare's numbers: a point per pair both scored, the flips marked, accuracies and "
           "B - A with p per source", ok, "%d points, only_a %d, only_b %d" % (len(pts), rep["only_a"], rep["only_b"]))


def main():
    a = arg_parser(__doc__.split("\n")[0]).parse_args()
    rms = os.path.abspath(a.rmscore)
    W = fresh_workdir(a.workdir)
    base = os.path.join(W, "scores.h5")
    setup = rmstest.sample_setup(rms, W, a.node_modules, scores=base)
    if not setup:
        return finish()
    tulu, model, pairs = setup
    _, _, s0 = read(base)
    n = len(s0)
    rng = np.random.default_rng(11)
    ca = rng.normal(0, 1, n).astype(np.float32)
    ra = rng.normal(0, 1, n).astype(np.float32)
    sa = np.ones(n, np.int8)
    cb, rb, sb = ca.copy(), ra.copy(), sa.copy()
    # B: a different model on the same pairs: rescaled margins, then planted disagreements
    cb = (ca * 1.7 + 0.3).astype(np.float32)
    rb = (ra * 1.7 + 0.3).astype(np.float32)
    right_a = (ca.astype(np.float64) - ra) > 0
    flip_to_wrong = np.nonzero(right_a)[0][:7]       # A right, B made wrong
    flip_to_right = np.nonzero(~right_a)[0][:4]      # A wrong, B made right
    cb[flip_to_wrong], rb[flip_to_wrong] = rb[flip_to_wrong].copy(), cb[flip_to_wrong].copy()
    cb[flip_to_right], rb[flip_to_right] = rb[flip_to_right].copy(), cb[flip_to_right].copy()
    untouched = np.setdiff1d(np.arange(n), np.concatenate([flip_to_wrong, flip_to_right]))
    tie, nan_row, skip_row = untouched[-1], untouched[-2], untouched[-3]
    rb[tie] = cb[tie]                                  # a tie in B: wrong
    cb[nan_row] = np.nan                               # not finite in B: left out
    sb[skip_row] = 2                                   # skipped in B: left out
    pa, pb = os.path.join(W, "a.h5"), os.path.join(W, "b.h5")
    rmstest.plant_scores(base, pa, columns(ca, ra, sa))
    rmstest.plant_scores(base, pb, columns(cb, rb, sb))
    A, B = read(pa), read(pb)
    with h5py.File(pairs, "r") as f:
        sources = np.asarray(f["pairs"]["source"].asstr()[()])
        ids = np.asarray(f["pairs"]["id"].asstr()[()])
    flips = os.path.join(W, "flips.jsonl")
    rc, out, err = run([rms, "compare", pa, pb, "--json", "--flips", flips])
    try:
        rep = json.loads(out) if rc == 0 else None
    except ValueError:
        rep = None
    if record("compare --json --flips: exit 0, one JSON object", rep is not None, short(err)):
        want = reference(A, B, np.ones(n, bool))
        problems = compare_keys(rep, want, "ALL")
        for name in dict.fromkeys(sources.tolist()):
            problems += compare_keys(rep.get("per_source", {}).get(name, {}), reference(A, B, sources == name), name)
        record("every figure overall and per source equals NumPy/SciPy's (McNemar p %.4g, %d flips)"
               % (want.get("mcnemar_p", -1), want["only_a"] + want["only_b"]), not problems, "; ".join(problems[:6]))
        tie_right_a = bool(right_a[tie])
        record("the planted disagreements are counted: only A right = 7 (+1 for a tie A got right), only B right = 4",
               rep["only_a"] == 7 + tie_right_a and rep["only_b"] == 4 and rep["n_both"] == n - 2,
               "only_a %s only_b %s n_both %s" % (rep["only_a"], rep["only_b"], rep["n_both"]))
        try:
            fl = [json.loads(l) for l in open(flips, encoding="utf-8")]
        except (OSError, ValueError) as e:
            fl = [{"error": str(e)}]
        want_rows = sorted(set(flip_to_wrong.tolist()) | set(flip_to_right.tolist()) | ({int(tie)} if tie_right_a else set()))
        ok = sorted(x.get("row", -1) for x in fl) == want_rows and all(
            x["id"] == ids[x["row"]] and x["source"] == sources[x["row"]] and
            x["right"] == ("A" if right_a[x["row"]] else "B") and
            close(x["margin_a"], float(np.float64(ca[x["row"]]) - ra[x["row"]])) for x in fl)
        record("--flips: exactly the flipped rows, with id, source, margins and who is right", ok, json.dumps(fl[:2]))
    html_checks(rms, W, pa, pb, a.node_modules)
    html_grid_checks(rms, W, pa, pb, a.node_modules)
    rc, out, err = run([rms, "compare", pa, pb])
    record("the table: exit 0, a row per source, the flips line", rc == 0 and "McNemar p" in out and
           all(s in out for s in set(sources.tolist())) and "flip" in out, short(out, 500))
    rc, out, err = run([rms, "compare", pa, pa, "--json"])
    same = json.loads(out) if rc == 0 else {}
    record("a file against itself: no flip, p = 1, agreement and correlations 1",
           same.get("only_a") == 0 and same.get("only_b") == 0 and same.get("mcnemar_p") == 1 and
           close(same.get("agreement"), 1.0) and close(same.get("pearson"), 1.0) and close(same.get("spearman"), 1.0),
           short(out))
    # refusals
    rc, out, err = run([rms, "compare", pa])
    record("one file: usage error (exit 2), one error line", rc == 2 and err.count("rmscore: error:") == 1, short(err))
    rows = [json.loads(l) for l in open(rmstest.SAMPLE, encoding="utf-8") if l.strip()]
    for label, edit in (("fewer rows", lambda rs: rs[:-1]),
                        ("other pair ids", lambda rs: [dict(r, id="other-%d" % i) for i, r in enumerate(rs)])):
        src = os.path.join(W, "other.jsonl")
        with open(src, "w", encoding="utf-8") as f:
            for r in edit(rows):
                f.write(json.dumps(r) + "\n")
        op, os_ = os.path.join(W, "other.h5"), os.path.join(W, "other-scores.h5")
        for p in (op, os_):
            if os.path.exists(p):
                os.remove(p)
        run([rms, "prepare", "--tokenizer", tulu, "--in", src, "--out", op, "--quiet"])
        run([rms, "score", "--model", model, "--data", op, "--out", os_, "--quiet"])
        rc, out, err = run([rms, "compare", pa, os_])
        record("a scores file of %s: refused (exit 1), one error line saying the pairs differ" % label,
               rc == 1 and err.count("rmscore: error:") == 1 and "same pairs" in err and not out, short(err))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
