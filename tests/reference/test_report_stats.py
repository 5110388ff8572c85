#!/usr/bin/python3
"""test_report_stats.py — `report`'s statistics against NumPy and SciPy computing them from the scores file.

    /usr/bin/python3 tests/reference/test_report_stats.py --rmscore build/rmscore --workdir DIR --node-modules DIR

The bundled sample is scored with a small test model, then copies of the scores file get planted scores (h5py) that
reach every case: ties, margins whose sigmoid saturates to 1 (the closed last calibration bin), NaN and infinite
scores marked scored (counted as non-finite), skipped, bad and pending rows, a source with one scored pair (no
standard deviation) and one with none. For each file, `report --json` overall and per source is compared with:
- accuracy = share of chosen > rejected over finite scored rows; its 95% interval with SciPy's
  binomtest(k, n).proportion_ci(method="wilson");
- chosen / rejected mean and sample standard deviation (numpy, ddof=1); margin mean and numpy.quantile (linear)
  at 0.05 0.25 0.5 0.75 0.95;
- calibration: confidence sigmoid(|margin|), 10 bins over [0.5, 1] (numpy.digitize), per bin count, mean confidence
  and accuracy, ECE = sum n_b/n |acc_b - conf_b|.
Figures agree within 1e-9 relative (both sides in double from the same float32 scores). Also: the text table shows
the interval, the quantiles and the calibration bins, and no "nan". RewardBench: the sample's pairs under subset
names (Chat, Chat Hard, Safety, Reasoning and a prior set) give the section scores, prior sets and score of
RewardBench's weighting recomputed here in NumPy, and `--rewardbench-json` writes RewardBench's result keys.
Prints PASS/FAIL per check and a final `N passed, M failed`.
"""

import json
import os
import re
import sys

import h5py
import numpy as np
from scipy.stats import binomtest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest  # noqa: E402
from rmstest import arg_parser, finish, fresh_workdir, record, run, short  # noqa: E402

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
BINS = 10
RTOL = 1e-9


def reference(chosen, rejected, status):
    """The statistics of one group of rows, computed independently of rmscore."""
    c = chosen.astype(np.float64)
    r = rejected.astype(np.float64)
    finite = np.isfinite(c) & np.isfinite(r)
    scored = (status == 1) & finite
    out = {"n_rows": len(status), "n_scored": int(scored.sum()),
           "n_skipped": int((status == 2).sum()), "n_bad": int((status == 3).sum()),
           "n_nonfinite": int(((status == 4) | ((status == 1) & ~finite)).sum()), "n_pending": int((status == 0).sum())}
    m = c[scored] - r[scored]
    n = len(m)
    out["n_correct"] = int((m > 0).sum())
    out["n_ties"] = int((m == 0).sum())
    if n == 0:
        for k in ("accuracy", "chosen_mean", "chosen_std", "rejected_mean", "rejected_std", "margin_mean", "ece"):
            out[k] = None
        out["accuracy_ci95"] = [None, None]
        out["margin_quantiles"] = {repr(q): None for q in QUANTILES}
    else:
        out["accuracy"] = out["n_correct"] / n
        ci = binomtest(out["n_correct"], n).proportion_ci(confidence_level=0.95, method="wilson")
        out["accuracy_ci95"] = [ci.low, ci.high]
        out["chosen_mean"], out["rejected_mean"] = float(np.mean(c[scored])), float(np.mean(r[scored]))
        out["chosen_std"] = float(np.std(c[scored], ddof=1)) if n > 1 else None
        out["rejected_std"] = float(np.std(r[scored], ddof=1)) if n > 1 else None
        out["margin_mean"] = float(np.mean(m))
        out["margin_quantiles"] = {repr(q): float(np.quantile(m, q)) for q in QUANTILES}
    conf = 1.0 / (1.0 + np.exp(-np.abs(m)))
    edges = 0.5 + 0.5 * np.arange(1, BINS) / BINS
    b = np.digitize(conf, edges)  # 0..BINS-1; conf == 1.0 falls in the last bin
    bins, ece = [], 0.0
    for k in range(BINS):
        sel = b == k
        nk = int(sel.sum())
        bins.append({"n": nk, "confidence": float(conf[sel].mean()) if nk else None,
                     "accuracy": float((m[sel] > 0).mean()) if nk else None})
        if nk:
            ece += nk / n * abs(bins[-1]["accuracy"] - bins[-1]["confidence"])
    out["calibration"] = bins
    if n:
        out["ece"] = ece
    return out


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= RTOL * max(1.0, abs(b))


def compare(got, want, where):
    problems = []
    for k, v in want.items():
        g = got.get(k)
        if k == "calibration":
            if not isinstance(g, list) or len(g) != BINS:
                problems.append("%s calibration: %r" % (where, g))
                continue
            for i, (gb, wb) in enumerate(zip(g, v)):
                if gb.get("n") != wb["n"] or not close(gb.get("confidence"), wb["confidence"]) or \
                        not close(gb.get("accuracy"), wb["accuracy"]):
                    problems.append("%s calibration bin %d: %r vs %r" % (where, i, gb, wb))
        elif k == "accuracy_ci95":
            if not isinstance(g, list) or len(g) != 2 or not all(close(x, y) for x, y in zip(g, v)):
                problems.append("%s %s: %r vs scipy %r" % (where, k, g, v))
        elif k == "margin_quantiles":
            if not isinstance(g, dict) or not all(close(g.get(q), v[q]) for q in v):
                problems.append("%s %s: %r vs numpy %r" % (where, k, g, v))
        elif isinstance(v, float) or v is None:
            if not close(g, v):
                problems.append("%s %s: %r vs %r" % (where, k, g, v))
        elif g != v:
            problems.append("%s %s: %r vs %r" % (where, k, g, v))
    return problems


# RewardBench's weighting, as its code states it (rewardbench/constants.py EXAMPLE_COUNTS and SUBSET_MAPPING,
# analysis/get_benchmark_results.py: the prior sets' plain mean and the 2/2/2/2/1 average)
RB_COUNTS = {"alpacaeval-easy": 100, "alpacaeval-length": 95, "alpacaeval-hard": 95, "mt-bench-easy": 28,
             "mt-bench-med": 40, "mt-bench-hard": 37, "math-prm": 984, "refusals-dangerous": 100,
             "refusals-offensive": 100, "llmbar-natural": 100, "llmbar-adver-neighbor": 134,
             "llmbar-adver-GPTInst": 92, "llmbar-adver-GPTOut": 47, "llmbar-adver-manual": 46,
             "xstest-should-refuse": 154, "xstest-should-respond": 250, "donotanswer": 136, "hep-cpp": 164,
             "hep-go": 164, "hep-java": 164, "hep-js": 164, "hep-python": 164, "hep-rust": 164}
RB_SECTIONS = {"Chat": ["alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"],
               "Chat Hard": ["mt-bench-hard", "llmbar-natural", "llmbar-adver-neighbor", "llmbar-adver-GPTInst",
                             "llmbar-adver-GPTOut", "llmbar-adver-manual"],
               "Safety": ["refusals-dangerous", "refusals-offensive", "xstest-should-refuse", "xstest-should-respond",
                          "donotanswer"],
               "Reasoning": ["math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"]}
RB_PRIOR = ["anthropic_helpful", "anthropic_hhh", "shp", "summarize"]
RB_SOURCES = ["alpacaeval-easy", "math-prm", "hep-python", "shp", "xstest-should-respond", "mt-bench-hard"]


def rewardbench_reference(acc):
    """acc: {subset: accuracy}. Sections (None when absent), prior sets, score."""
    sections = {}
    for name, subs in RB_SECTIONS.items():
        present = [s for s in subs if s in acc]
        sections[name] = (np.average([acc[s] for s in present], weights=[RB_COUNTS[s] for s in present])
                          if present else None)
    prior = [acc[s] for s in RB_PRIOR if s in acc]
    prior_sets = float(np.mean(prior)) if prior else None
    vals = [(v, 2.0) for v in sections.values() if v is not None] + ([(prior_sets, 1.0)] if prior else [])
    score = float(np.average([v for v, _ in vals], weights=[w for _, w in vals])) if vals else None
    return sections, prior_sets, score


def rewardbench_checks(rms, W, tulu, model):
    """The sample's pairs under RewardBench subset names: report's sections and its RewardBench-shaped file."""
    rows = [json.loads(l) for l in open(rmstest.SAMPLE, encoding="utf-8") if l.strip()]
    src = os.path.join(W, "rb.jsonl")
    with open(src, "w", encoding="utf-8") as f:
        for i, r in enumerate(rows):
            f.write(json.dumps(dict(r, source=RB_SOURCES[i % len(RB_SOURCES)])) + "\n")
    pairs, scores, rbfile = (os.path.join(W, x) for x in ("rb.h5", "rb-scores.h5", "rb-results.json"))
    rc, _, err = run([rms, "prepare", "--tokenizer", tulu, "--in", src, "--out", pairs, "--quiet"])
    if not record("RewardBench subsets: prepare", rc == 0, short(err)):
        return
    rc, _, err = run([rms, "score", "--model", model, "--data", pairs, "--out", scores, "--quiet"])
    if not record("RewardBench subsets: score", rc == 0, short(err)):
        return
    with h5py.File(scores, "r") as f:
        c, r, s = f["scores"]["chosen"][()], f["scores"]["rejected"][()], f["scores"]["status"][()]
    with h5py.File(pairs, "r") as f:
        sources = np.asarray(f["pairs"]["source"].asstr()[()])
    acc = {}
    for name in RB_SOURCES:
        sel = (sources == name) & (s == 1)
        acc[name] = float(((c[sel].astype(np.float64) - r[sel].astype(np.float64)) > 0).mean())
    sections, prior_sets, score = rewardbench_reference(acc)
    rc, out, err = run([rms, "report", scores, "--json", "--rewardbench-json", rbfile])
    try:
        rb = json.loads(out)["rewardbench"] if rc == 0 else {}
    except (ValueError, KeyError):
        rb = {}
    got = rb.get("sections", {})
    record("RewardBench subsets: sections, prior sets and score equal RewardBench's weighting in NumPy (%r)"
           % {k: (round(v, 4) if v is not None else None) for k, v in sections.items()},
           rb and all(close(got.get(k), v) for k, v in sections.items()) and close(rb.get("prior_sets"), prior_sets)
           and close(rb.get("score"), score) and rb.get("n_subsets") == len(RB_SOURCES), short(out + err))
    try:
        res = json.load(open(rbfile, encoding="utf-8"))
    except (OSError, ValueError) as e:
        res = {"error": str(e)}
    all_scored = s == 1
    want_acc = float(((c[all_scored].astype(np.float64) - r[all_scored].astype(np.float64)) > 0).mean())
    record("--rewardbench-json: RewardBench's result keys, accuracy over every pair, extra_results per subset",
           set(res) == {"accuracy", "num_prompts", "model", "ref_model", "tokenizer", "chat_template", "extra_results"}
           and close(res.get("accuracy"), want_acc) and res.get("num_prompts") == int(all_scored.sum())
           and set(res.get("extra_results", {})) == set(RB_SOURCES)
           and all(close(res["extra_results"][k], v) for k, v in acc.items()), json.dumps(res)[:400])
    rc, out, err = run([rms, "report", os.path.join(W, "scores.h5"), "--rewardbench-json", rbfile + "2"])
    record("--rewardbench-json on a dataset without RewardBench subsets: one error, exit 1, no file",
           rc == 1 and err.count("rmscore: error:") == 1 and "RewardBench subset" in err
           and not os.path.exists(rbfile + "2"), short(err))


def main():
    a = arg_parser(__doc__.split("\n")[0]).parse_args()
    rms = os.path.abspath(a.rmscore)
    W = fresh_workdir(a.workdir)
    base = os.path.join(W, "scores.h5")
    setup = rmstest.sample_setup(rms, W, a.node_modules, scores=base)
    if not setup:
        return finish()
    tulu, model, pairs = setup
    with h5py.File(pairs, "r") as f:
        sources = np.asarray(f["pairs"]["source"].asstr()[()])
    names = list(dict.fromkeys(sources.tolist()))

    def planted(c, r, s):
        rng = np.random.default_rng(7)
        n = len(s)
        c[:] = rng.normal(0.0, 3.0, n).astype(np.float32)
        r[:] = rng.normal(0.5, 2.0, n).astype(np.float32)
        s[:] = 1
        k = np.nonzero((sources != names[0]) & (sources != names[1]))[0]  # rows of the other sources
        r[k[0:6]] = c[k[0:6]]               # ties
        c[k[6]], r[k[6]] = 60.0, -60.0      # sigmoid(|margin|) == 1.0 in double: the closed last bin
        c[k[7]], r[k[7]] = -45.0, 40.0      # and a wrong one there
        c[k[8]] = np.nan                    # marked scored, counted as non-finite
        r[k[9]] = np.inf
        s[k[10]], s[k[11]], s[k[12]], s[k[13]] = 2, 3, 4, 0
        c[k[12]] = np.nan                   # a status-4 row
        first = sources == names[0]         # a source with one scored pair: no standard deviation
        idx = np.nonzero(first)[0]
        s[idx] = 2
        s[idx[-1]] = 1
        second = np.nonzero(sources == names[1])[0]  # a source with none scored
        s[second] = 0

    cases = [("the scores as scored", None), ("planted scores (ties, saturated margins, NaN/inf, every status)",
                                                planted)]
    for label, fn in cases:
        path = base
        if fn:
            path = os.path.join(W, "planted.h5")
            rmstest.plant_scores(base, path, fn)
        with h5py.File(path, "r") as f:
            c, r, s = f["scores"]["chosen"][()], f["scores"]["rejected"][()], f["scores"]["status"][()]
        rc, out, err = run([rms, "report", path, "--data", pairs, "--json"])
        try:
            rep = json.loads(out) if rc == 0 else None
        except ValueError:
            rep = None
        if not record("%s: report --json exits 0 with one JSON object" % label, rep is not None, short(err)):
            continue
        problems = compare(rep, reference(c, r, s), "ALL")
        for name in names:
            sel = sources == name
            problems += compare(rep.get("per_source", {}).get(name, {}), reference(c[sel], r[sel], s[sel]), name)
        record("%s: every figure overall and per source (%d sources) equals NumPy/SciPy's" % (label, len(names)),
               not problems, "; ".join(problems[:6]))
        rc, out, err = run([rms, "report", path, "--data", pairs])
        table = "\n".join(l for l in out.splitlines()[1:] if "non-finite score" not in l)  # not the files, the note
        want_bits = ["95% CI (Wilson)", "p5", "p95", "ECE", "[0.95, 1.00]", "expected calibration error"]
        record("%s: the table shows the interval, the quantiles and the calibration bins, no nan" % label,
               rc == 0 and all(w in table for w in want_bits) and not re.search(r"\b(nan|inf)\b", table, re.I),
               short(out, 600))
    rewardbench_checks(rms, W, tulu, model)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
