#!/usr/bin/python3
"""test_pairs_e2e.py — end to end: prepare -> score -> report / export on tests/data/sample-pairs.jsonl.

    /usr/bin/python3 tests/e2e/test_pairs_e2e.py --rmscore build/rmscore --workdir DIR --node-modules node_modules

Builds the Tülu tokenizer directory (tests/tokenizer/make_tokenizer_dirs.py), a tiny random model with it
(`make-test-model --layers 2 --tokenizer`), then checks with h5py, independently of rmscore's own code:
- the /pairs schema (datasets, dtypes, lengths, chunking/compression, attributes) and its content: ids,
  sources, texts, ids equal to `rmscore render`, lengths, shared prefixes;
- the /scores schema and that every scored row's chosen/rejected score equals `score-ids` on the stored ids
  bit for bit (rmstest.same_scores: the two runs batch the sequences differently — and `score` computes each
  pair's shared prompt once — but rmscore's kernels are batch invariant); every run-vs-run score comparison
  here is paired with a sensitivity check: against the other run's scores shifted by one row it must fail;
- `report --json` (accuracy, n_scored, n_ties, n_skipped, n_bad, margin_mean, margin_median, per_source)
  against values computed here from the HDF5 files (ties count as wrong);
- `export --format csv|jsonl` rows against the files; `h5dump -H` opens both files;
- `--max-tokens N` (N = the longest short pair): the long pairs get status 2 and NaN scores, n_skipped; the
  others scored as in the full run (same tolerance);
- `--overlong truncate-left`: the long pairs are scored as score-ids on their last N ids, the others as in the
  full run (same tolerance);
- a rerun on a finished --out changes nothing (bitwise); errors are one `rmscore: error:` line.
Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
"""

import csv
import functools
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest  # noqa: E402
from rmstest import (SAMPLE, arg_parser, build_tokenizer_dirs, finish, fresh_workdir, info, record,  # noqa: E402
                     same_scores, shift_caught, short, strict_json)

TIMEOUT = 1200  # seconds, for every command this driver runs
run = functools.partial(rmstest.run, timeout=TIMEOUT)
END_OF_TEXT = 128001


def one_line_error(rc, err):
    lines = [l for l in err.splitlines() if l.strip()]
    return rc != 0 and len(lines) == 1 and lines[0].startswith("rmscore: error:")


# ------------------------------------------------------------------ HDF5 helpers
def attr_str(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return attr_str(v[()])
    if isinstance(v, np.bytes_):
        return bytes(v).decode("utf-8")
    return str(v)


def is_vlen_str(ds):
    si = h5py.check_string_dtype(ds.dtype)
    return si is not None and si.length is None and si.encoding == "utf-8"


def is_vlen_i32(ds):
    base = h5py.check_vlen_dtype(ds.dtype)
    return base is not None and base == np.dtype("<i4")


def read_strs(ds):
    return [s for s in ds.asstr()[()]]


PAIRS_SCHEMA = {
    "id": "str", "source": "str", "chosen_ids": "vi32", "rejected_ids": "vi32", "chosen_len": "<i4",
    "rejected_len": "<i4", "shared_prefix": "<i4", "chosen_text": "str", "rejected_text": "str", "status": "|i1",
    "error": "str",
}
SCORES_SCHEMA = {"chosen": "<f4", "rejected": "<f4", "status": "|i1"}
SCORES_STR_ATTRS = ["model", "pairs_file", "pairs_tokenizer_sha256", "config_sha256", "compute", "overlong",
                    "tool_version"]
SCORES_INT_ATTRS = ["max_tokens", "stages", "replicas", "n_rows"]


def check_schema(path, group, schema, n, label, compressed=True):
    """Checks datasets, dtypes, 1-D length n, chunking, and deflate (+ shuffle for fixed-size) when compressed;
    without compression (the results file, whose chunks are allocated once for crash safety) no filter."""
    problems = []
    with h5py.File(path, "r") as f:
        if group not in f or not isinstance(f[group], h5py.Group):
            record("%s: group /%s exists" % (label, group), False, "groups: %s" % list(f.keys()))
            return
        g = f[group]
        extra = sorted(set(g.keys()) - set(schema))
        for name, kind in schema.items():
            if name not in g:
                problems.append("%s missing" % name)
                continue
            ds = g[name]
            if ds.shape != (n,):
                problems.append("%s shape %s != (%d,)" % (name, ds.shape, n))
            if kind == "str":
                ok = is_vlen_str(ds)
            elif kind == "vi32":
                ok = is_vlen_i32(ds)
            else:
                ok = ds.dtype == np.dtype(kind)
            if not ok:
                problems.append("%s dtype %s (want %s)" % (name, ds.dtype, kind))
            if ds.chunks is None:
                problems.append("%s not chunked" % name)
            if compressed and ds.compression != "gzip":
                problems.append("%s compression %s (want gzip/deflate)" % (name, ds.compression))
            if compressed and kind not in ("str", "vi32") and not ds.shuffle:
                problems.append("%s: no shuffle filter" % name)
            if not compressed and (ds.compression is not None or ds.shuffle):
                problems.append("%s: filters %s/%s (want none)" % (name, ds.compression, ds.shuffle))
        if extra:
            info("%s: extra datasets in /%s: %s" % (label, group, extra))
    record("%s: /%s datasets, dtypes, length %d, chunked%s" % (label, group, n, "+deflate" if compressed else ", no filters"),
           not problems,
           "; ".join(problems))


def read_pairs(path):
    with h5py.File(path, "r") as f:
        g = f["pairs"]
        d = {k: read_strs(g[k]) for k in ("id", "source", "chosen_text", "rejected_text", "error")}
        for k in ("chosen_ids", "rejected_ids"):
            d[k] = [np.asarray(a, dtype=np.int64).tolist() for a in g[k][()]]
        for k in ("chosen_len", "rejected_len", "shared_prefix", "status"):
            d[k] = g[k][()].astype(np.int64)
        d["attrs"] = dict(g.attrs)
    return d


def read_scores(path):
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return {"chosen": g["chosen"][()].copy(), "rejected": g["rejected"][()].copy(),
                "status": g["status"][()].astype(np.int64), "attrs": dict(g.attrs)}


# ------------------------------------------------------------------ independent statistics
def stats(chosen, rejected, status, rows):
    margins = [float(chosen[i]) - float(rejected[i]) for i in rows if status[i] == 1]
    s = {"n_scored": len(margins),
         "n_ties": sum(1 for m in margins if m == 0.0),
         "n_correct": sum(1 for m in margins if m > 0.0),
         "n_skipped": sum(1 for i in rows if status[i] == 2),
         "n_bad": sum(1 for i in rows if status[i] == 3)}
    if margins:
        s["accuracy"] = s["n_correct"] / len(margins)
        s["margin_mean"] = float(np.mean(np.asarray(margins, dtype=np.float64)))
        s["margin_median"] = float(np.median(np.asarray(margins, dtype=np.float64)))
    else:
        s["accuracy"] = s["margin_mean"] = s["margin_median"] = None
    return s


def num_eq(got, want, rtol=1e-6, atol=1e-9):
    if want is None:
        return got is None or (isinstance(got, float) and math.isnan(got))
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return False
    return abs(got - want) <= atol + rtol * abs(want)


def compare_stats(label, got, want):
    problems = []
    for k in ("n_scored", "n_ties", "n_skipped", "n_bad"):
        if k not in got:
            problems.append("%s missing" % k)
        elif got[k] != want[k]:
            problems.append("%s %r != %r" % (k, got[k], want[k]))
    for k in ("accuracy", "margin_mean", "margin_median"):
        if k not in got:
            problems.append("%s missing" % k)
        elif not num_eq(got[k], want[k]):
            problems.append("%s %r != %r" % (k, got[k], want[k]))
    return problems


def check_report(rmscore, scores_path, pairs_path, label):
    """report --json (with --data) against the HDF5 files; returns the parsed object or None."""
    rc, out, err = run([rmscore, "report", scores_path, "--data", pairs_path, "--json"])
    if not record("%s: report --json exits 0" % label, rc == 0, "rc %d, stderr: %s" % (rc, short(err))):
        return None
    try:
        rep = strict_json(out)
    except ValueError as e:
        record("%s: report --json prints one JSON object" % label, False, "%s: %s" % (e, short(out)))
        return None
    record("%s: report --json prints one JSON object" % label, isinstance(rep, dict), short(out))
    p, s = read_pairs(pairs_path), read_scores(scores_path)
    n = len(s["status"])
    want = stats(s["chosen"], s["rejected"], s["status"], range(n))
    info("%s: expected overall %s" % (label, json.dumps(want)))
    problems = compare_stats("overall", rep, want)
    record("%s: report overall accuracy/n_scored/n_ties/n_skipped/n_bad/margins match HDF5" % label, not problems,
           "; ".join(problems) + " | report: " + short(out, 400))
    sources = sorted(set(p["source"]))
    ps = rep.get("per_source")
    if not isinstance(ps, dict):
        record("%s: report per_source is an object" % label, False, "per_source = %r" % (ps,))
        return rep
    problems = []
    if sorted(ps.keys()) != sources:
        problems.append("keys %s != sources %s" % (sorted(ps.keys()), sources))
    for src in sources:
        rows = [i for i in range(n) if p["source"][i] == src]
        w = stats(s["chosen"], s["rejected"], s["status"], rows)
        if src in ps:
            problems += ["%s: %s" % (src, x) for x in compare_stats(src, ps[src], w)]
    record("%s: report per_source (%d sources) matches HDF5" % (label, len(sources)), not problems,
           "; ".join(problems[:6]))
    return rep


# ------------------------------------------------------------------ export parsing
STATUS_NAMES = {"pending": 0, "scored": 1, "skipped": 2, "bad": 3}


def parse_status(v):
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        t = v.strip().lower()
        if t.lstrip("-").isdigit():
            return int(t)
        for name, code in STATUS_NAMES.items():
            if t.startswith(name[:4]):
                return code
    return None


def parse_num(v):
    if v is None:
        return float("nan")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    t = str(v).strip()
    if t == "" or t.lower() in ("nan", "null", "none"):
        return float("nan")
    return float(t)


def check_export_rows(label, rows, p, s):
    """rows: list of dicts with id, source, chosen, rejected, margin, status (as text or JSON values)."""
    n = len(s["status"])
    problems, inexact = [], 0
    if len(rows) != n:
        problems.append("%d rows, want %d" % (len(rows), n))
    for i, r in enumerate(rows[:n]):
        miss = [k for k in ("id", "source", "chosen", "rejected", "margin", "status") if k not in r]
        if miss:
            problems.append("row %d: missing %s" % (i, miss))
            continue
        if r["id"] != p["id"][i] or r["source"] != p["source"][i]:
            problems.append("row %d: id/source %r/%r != %r/%r" % (i, r["id"], r["source"], p["id"][i], p["source"][i]))
        st = parse_status(r["status"])
        if st != s["status"][i]:
            problems.append("row %d: status %r != %d" % (i, r["status"], s["status"][i]))
        try:
            c, j, m = parse_num(r["chosen"]), parse_num(r["rejected"]), parse_num(r["margin"])
        except ValueError as e:
            problems.append("row %d: %s" % (i, e))
            continue
        wc, wr = float(s["chosen"][i]), float(s["rejected"][i])
        for name, got, want in (("chosen", c, wc), ("rejected", j, wr), ("margin", m, wc - wr)):
            if math.isnan(want):
                if not math.isnan(got):
                    problems.append("row %d: %s %r, want NaN/empty" % (i, name, r[name]))
            elif math.isnan(got) or abs(got - want) > 1e-7 + 1e-6 * abs(want):
                problems.append("row %d: %s %r != %.9g" % (i, name, r[name], want))
        for got, want in ((c, s["chosen"][i]), (j, s["rejected"][i])):
            if not math.isnan(want) and np.float32(got) != want:
                inexact += 1
    record("%s rows match the HDF5 files (id, source, chosen, rejected, margin, status)" % label, not problems,
           "; ".join(problems[:5]) + (" (+%d more)" % (len(problems) - 5) if len(problems) > 5 else ""))
    record("%s scores round-trip float32 exactly" % label, inexact == 0, "%d values differ from the stored float32"
           % inexact)


def main():
    a = arg_parser(__doc__.split("\n")[0]).parse_args()
    rms = os.path.abspath(a.rmscore)
    W = fresh_workdir(a.workdir)

    # ---------------------------------------------------------------- setup
    dirs = build_tokenizer_dirs(W, a.node_modules, "make_tokenizer_dirs.py builds tok/tulu and tok/llama3", TIMEOUT)
    if not dirs:
        return finish()
    tulu, llama3 = dirs
    model = os.path.join(W, "model")
    rc, out, err = run([rms, "make-test-model", "--out", model, "--layers", "2", "--tokenizer", tulu, "--quiet"])
    if not record("make-test-model --layers 2 --tokenizer tok/tulu", rc == 0, short(err)):
        return finish()
    record("make-test-model copied tokenizer.json", os.path.exists(os.path.join(model, "tokenizer.json")))

    src_rows = [json.loads(l) for l in open(SAMPLE, encoding="utf-8") if l.strip()]
    N = len(src_rows)

    for cmd in ("prepare", "score", "report", "export"):
        rc, out, err = run([rms, cmd, "--help"])
        record("%s --help: exit 0, usage on stdout" % cmd, rc == 0 and "usage" in out.lower(), "rc %d" % rc)

    # ---------------------------------------------------------------- prepare
    pairs = os.path.join(W, "pairs.h5")
    rc, out, err = run([rms, "prepare", "--tokenizer", tulu, "--in", SAMPLE, "--out", pairs])
    if not record("prepare sample-pairs.jsonl: exit 0", rc == 0, "rc %d, stderr: %s" % (rc, short(err))):
        return finish()
    info("prepare stderr: " + short(err))
    check_schema(pairs, "pairs", PAIRS_SCHEMA, N, "pairs.h5")
    p = read_pairs(pairs)
    at = p["attrs"]
    want_sha = hashlib.sha256(open(os.path.join(tulu, "tokenizer.json"), "rb").read()).hexdigest()
    problems = []
    for k in ("tokenizer_sha256", "template", "tool_version", "n_rows"):
        if k not in at:
            problems.append("%s missing" % k)
    if not problems:
        if attr_str(at["tokenizer_sha256"]) != want_sha:
            problems.append("tokenizer_sha256 %s != sha256(tokenizer.json) %s" % (attr_str(at["tokenizer_sha256"]), want_sha))
        if attr_str(at["template"]) != "tulu":
            problems.append("template %r != 'tulu'" % attr_str(at["template"]))
        if not attr_str(at["tool_version"]).strip():
            problems.append("tool_version empty")
        nr = np.asarray(at["n_rows"])
        if nr.dtype != np.dtype("<i8") or int(nr) != N:
            problems.append("n_rows %r (%s), want int64 %d" % (at["n_rows"], nr.dtype, N))
    record("pairs.h5 attributes tokenizer_sha256, template=tulu, tool_version, n_rows (int64)", not problems,
           "; ".join(problems))

    problems = []
    for i, r in enumerate(src_rows):
        if p["id"][i] != r["id"] or p["source"][i] != r["source"]:
            problems.append("row %d id/source %r/%r" % (i, p["id"][i], p["source"][i]))
        if p["status"][i] != 0 or p["error"][i] != "":
            problems.append("row %d status %d error %r" % (i, p["status"][i], p["error"][i]))
        for side in ("chosen", "rejected"):
            try:
                if json.loads(p[side + "_text"][i]) != r[side]:
                    problems.append("row %d %s_text differs from the input conversation" % (i, side))
            except ValueError:
                problems.append("row %d %s_text is not JSON: %r" % (i, side, p[side + "_text"][i][:80]))
    record("pairs.h5 id, source, status 0, error '', chosen/rejected_text = input conversations", not problems,
           "; ".join(problems[:5]))

    # ids against `rmscore render` (parity-tested against HF apply_chat_template elsewhere)
    convs = "".join(json.dumps(r[side], ensure_ascii=False) + "\n" for r in src_rows for side in ("chosen", "rejected"))
    rc, out, err = run([rms, "render", "--tokenizer", tulu], convs)
    rendered = [json.loads(l) for l in out.splitlines()] if rc == 0 else []
    problems = []
    if len(rendered) != 2 * N:
        problems.append("render rc %d, %d lines: %s" % (rc, len(rendered), short(err)))
    else:
        for i in range(N):
            for k, side in enumerate(("chosen", "rejected")):
                if p[side + "_ids"][i] != rendered[2 * i + k]:
                    problems.append("row %d %s_ids != render (len %d vs %d)" % (i, side, len(p[side + "_ids"][i]),
                                                                                   len(rendered[2 * i + k])))
    record("pairs.h5 chosen_ids/rejected_ids equal `rmscore render` of the conversations", not problems,
           "; ".join(problems[:5]))
    problems = []
    for i in range(N):
        c, j = p["chosen_ids"][i], p["rejected_ids"][i]
        if p["chosen_len"][i] != len(c) or p["rejected_len"][i] != len(j):
            problems.append("row %d lens %d/%d vs %d/%d" % (i, p["chosen_len"][i], p["rejected_len"][i], len(c), len(j)))
        lcp = 0
        while lcp < min(len(c), len(j)) and c[lcp] == j[lcp]:
            lcp += 1
        if p["shared_prefix"][i] != lcp:
            problems.append("row %d shared_prefix %d != %d" % (i, p["shared_prefix"][i], lcp))
        if not c or not j or c[-1] != END_OF_TEXT or j[-1] != END_OF_TEXT:
            problems.append("row %d does not end with <|end_of_text|>" % i)
        if c and c[0] == 128000:
            problems.append("row %d starts with <|begin_of_text|> (the Tülu template has none)" % i)
    record("pairs.h5 chosen_len/rejected_len, shared_prefix (LCP), ids end with <|end_of_text|>", not problems,
           "; ".join(problems[:5]))
    maxlen = [max(p["chosen_len"][i], p["rejected_len"][i]) for i in range(N)]
    long_rows = [i for i in range(N) if maxlen[i] >= 1500]
    record("sample has 1-2 long pairs (>= 1500 tokens)", 1 <= len(long_rows) <= 2,
           "long rows %s" % [(p["id"][i], maxlen[i]) for i in long_rows])
    max_short = max(maxlen[i] for i in range(N) if i not in long_rows)
    info("long rows %s; longest short pair %d tokens" % ([p["id"][i] for i in long_rows], max_short))

    # the llama3 tokenizer dir: template auto -> llama3; score refuses a dataset of another tokenizer
    pairs_l3 = os.path.join(W, "pairs-llama3.h5")
    rc, out, err = run([rms, "prepare", "--tokenizer", llama3, "--in", SAMPLE, "--out", pairs_l3])
    if record("prepare with tok/llama3: exit 0", rc == 0, short(err)):
        pl = read_pairs(pairs_l3)
        rc2, out2, err2 = run([rms, "render", "--tokenizer", llama3], convs)
        r2 = [json.loads(l) for l in out2.splitlines()] if rc2 == 0 else []
        same = len(r2) == 2 * N and all(pl["chosen_ids"][i] == r2[2 * i] and pl["rejected_ids"][i] == r2[2 * i + 1]
                                        for i in range(N))
        record("prepare tok/llama3: template attr 'llama3', ids equal render --tokenizer tok/llama3",
               attr_str(pl["attrs"].get("template", "")) == "llama3" and same,
               "template %r, ids equal render: %s" % (attr_str(pl["attrs"].get("template", "")), same))
        rc, out, err = run([rms, "score", "--model", model, "--data", pairs_l3, "--out", os.path.join(W, "l3.h5"),
                            "--threads", "2"])
        record("score refuses a dataset tokenized with another tokenizer.json (one-line error)",
               one_line_error(rc, err), "rc %d, stderr: %s" % (rc, short(err)))

    # ---------------------------------------------------------------- score (full)
    scores = os.path.join(W, "scores.h5")
    t0 = time.time()
    rc, out, err = run([rms, "score", "--model", model, "--data", pairs, "--out", scores, "--threads", "2"])
    main_err = err
    if not record("score: exit 0", rc == 0, "rc %d, stderr: %s" % (rc, short(err))):
        return finish()
    info("score took %.1f s; stderr: %s" % (time.time() - t0, short(err, 400)))
    check_schema(scores, "scores", SCORES_SCHEMA, N, "scores.h5", compressed=False)
    s = read_scores(scores)
    at = s["attrs"]
    problems = ["%s missing" % k for k in SCORES_STR_ATTRS + SCORES_INT_ATTRS if k not in at]
    if not problems:
        for k in SCORES_INT_ATTRS:
            if np.asarray(at[k]).dtype != np.dtype("<i8"):
                problems.append("%s dtype %s (want int64)" % (k, np.asarray(at[k]).dtype))
        want = {"model": model, "pairs_file": pairs, "pairs_tokenizer_sha256": want_sha, "compute": "fp32",
                "overlong": "skip"}
        for k, v in want.items():
            if attr_str(at[k]) != v:
                problems.append("%s %r != %r" % (k, attr_str(at[k]), v))
        for k, v in (("max_tokens", 0), ("stages", 1), ("replicas", 1), ("n_rows", N)):
            if int(np.asarray(at[k])) != v:
                problems.append("%s %r != %d" % (k, at[k], v))
    record("scores.h5 attributes (model, pairs_file, pairs_tokenizer_sha256, compute, overlong, max_tokens, "
           "stages, replicas, tool_version, n_rows)", not problems, "; ".join(problems))
    bad = [i for i in range(N) if s["status"][i] != 1 or not (np.isfinite(s["chosen"][i]) and np.isfinite(s["rejected"][i]))]
    record("scores.h5: every row status 1 with finite scores", not bad,
           "rows %s" % [(i, int(s["status"][i]), float(s["chosen"][i])) for i in bad[:5]])

    # every stored sequence through score-ids in one call
    seqs = [p[side + "_ids"][i] for i in range(N) for side in ("chosen", "rejected")]
    rc, out, err = run([rms, "score-ids", "--model", model, "--threads", "2", "--quiet"],
                       "".join(json.dumps(q) + "\n" for q in seqs))
    ref = [float(x) for x in out.split()] if rc == 0 else []
    if record("score-ids on the %d stored sequences" % len(seqs), len(ref) == len(seqs),
              "rc %d, %d scores, stderr %s" % (rc, len(ref), short(err))):
        # score-ids scores every row: as if all were status 1 (a row not scored in scores.h5 is a mismatch)
        got = (s["chosen"], s["rejected"], s["status"])
        want = (np.asarray(ref[0::2], np.float32), np.asarray(ref[1::2], np.float32), np.ones(N, np.int64))
        ok, detail = same_scores(got, want)
        record("scored rows: chosen/rejected == score-ids on the stored ids (bitwise)", ok, detail)
        caught, detail = shift_caught(got, want)
        record("the score-ids comparison would catch rows shifted by one", caught, detail)
        info("max |score - score-ids|: %.3g" % max(float(np.max(np.abs(got[0].astype(np.float64) - want[0]))),
                                                  float(np.max(np.abs(got[1].astype(np.float64) - want[1])))))
    tie_rows = [i for i in range(N) if p["chosen_ids"][i] == p["rejected_ids"][i]]
    info("rows with identical chosen/rejected ids %s: scores %s" % (
        [p["id"][i] for i in tie_rows], [(float(s["chosen"][i]), float(s["rejected"][i])) for i in tie_rows]))

    # rerun on the finished file: nothing to do, nothing changes
    with open(scores, "rb") as f:
        before = hashlib.sha256(f.read()).hexdigest()
    rc, out, err = run([rms, "score", "--model", model, "--data", pairs, "--out", scores, "--threads", "2"])
    s2 = read_scores(scores)
    same = (np.array_equal(s2["status"], s["status"]) and np.array_equal(s2["chosen"].view(np.uint32), s["chosen"].view(np.uint32))
            and np.array_equal(s2["rejected"].view(np.uint32), s["rejected"].view(np.uint32)))
    record("score rerun on a finished --out: exit 0, scores and status unchanged", rc == 0 and same,
           "rc %d, unchanged %s, stderr %s" % (rc, same, short(err)))
    info("rerun stderr: %s (file bytes %s)" % (short(err), "identical" if before == hashlib.sha256(open(scores, "rb").read()).hexdigest() else "changed"))

    # ---------------------------------------------------------------- batch invariance, shared prefixes
    # the same pairs in other micro-batches (a budget that splits the plan differently), on 1 thread, and with
    # each pair's shared prompt computed twice instead of once: the very same bits
    saved = re.search(r"computed (\d+) tokens for (\d+) tokens of conversations \(([0-9.]+)% saved", main_err)
    total = sum(len(p["chosen_ids"][i]) + len(p["rejected_ids"][i]) for i in range(N))
    shared = sum(min(int(p["shared_prefix"][i]), min(len(p["chosen_ids"][i]), len(p["rejected_ids"][i])) - 1)
                 for i in range(N))
    record("score reports the tokens saved by computing shared prompts once: %s" % (saved.group(0) if saved else "?"),
           bool(saved) and int(saved.group(2)) == total and int(saved.group(1)) == total - shared and shared > 0,
           "want computed %d of %d; stderr %s" % (total - shared, total, short(main_err, 400)))
    for label, extra in (("--microbatch-tokens 300 --threads 1", ["--microbatch-tokens", "300", "--threads", "1"]),
                         ("--no-prefix-sharing", ["--no-prefix-sharing", "--threads", "2"]),
                         ("--no-prefix-sharing --microbatch-tokens 700 --threads 1",
                          ["--no-prefix-sharing", "--microbatch-tokens", "700", "--threads", "1"])):
        other = os.path.join(W, "scores-%s.h5" % re.sub(r"[^a-z0-9]+", "-", label))
        rc, out, err = run([rms, "score", "--model", model, "--data", pairs, "--out", other] + extra)
        if record("score %s: exit 0" % label, rc == 0, "rc %d, stderr %s" % (rc, short(err))):
            o = read_scores(other)
            ok, detail = same_scores((o["chosen"], o["rejected"], o["status"]), (s["chosen"], s["rejected"], s["status"]))
            record("score %s: the same scores as the default run, bit for bit" % label, ok, detail)
            if "no-prefix" in label:
                record("score %s: reports 0%% saved" % label, "(0.0% saved" in err, short(err, 400))

    # ---------------------------------------------------------------- report, export
    check_report(rms, scores, pairs, "full run")
    rc, out, err = run([rms, "report", scores, "--json"])
    ok = rc == 0
    if ok:
        try:
            rep = json.loads(out)
            want = stats(s["chosen"], s["rejected"], s["status"], range(N))
            problems = compare_stats("", rep, want)
            ok = not problems
        except ValueError as e:
            problems, ok = [str(e)], False
    else:
        problems = ["rc %d: %s" % (rc, short(err))]
    record("report --json without --data: overall keys match", ok, "; ".join(problems))
    rc, out, err = run([rms, "report", scores, "--data", pairs])
    record("report (text): exit 0, mentions accuracy and every source",
           rc == 0 and "accuracy" in out.lower() and all(src in out for src in set(p["source"])),
           "rc %d, stdout %s" % (rc, short(out)))

    rc, out, err = run([rms, "export", scores, "--data", pairs, "--format", "csv"])
    csv_rows = list(csv.DictReader(io.StringIO(out))) if rc == 0 else []
    if record("export --format csv: exit 0", rc == 0, "rc %d, stderr %s" % (rc, short(err))):
        check_export_rows("export csv", csv_rows, p, s)
    rc, out, err = run([rms, "export", scores, "--data", pairs, "--format", "jsonl"])
    jl_rows = []
    if record("export --format jsonl: exit 0", rc == 0, "rc %d, stderr %s" % (rc, short(err))):
        try:
            jl_rows = [strict_json(l) for l in out.splitlines() if l.strip()]
            check_export_rows("export jsonl", jl_rows, p, s)
        except ValueError as e:
            record("export jsonl: one JSON object per line", False, str(e))
    if csv_rows and jl_rows:
        same = len(csv_rows) == len(jl_rows) and all(
            c["id"] == j.get("id") and parse_status(c["status"]) == parse_status(j.get("status"))
            and parse_num(c["chosen"]) == parse_num(j.get("chosen")) for c, j in zip(csv_rows, jl_rows))
        record("export csv and jsonl rows agree", same)
    rc, out, err = run([rms, "export", scores, "--format", "jsonl"])
    record("export without --data: exit 0, %d lines" % N, rc == 0 and len([l for l in out.splitlines() if l.strip()]) == N,
           "rc %d, stderr %s" % (rc, short(err)))

    h5dump = shutil.which("h5dump")
    if h5dump:
        for path, grp, schema in ((pairs, "pairs", PAIRS_SCHEMA), (scores, "scores", SCORES_SCHEMA)):
            rc, out, err = run([h5dump, "-H", path])
            missing = [d for d in schema if 'DATASET "%s"' % d not in out]
            record("h5dump -H %s: exit 0, no errors, group %s with every dataset" % (os.path.basename(path), grp),
                   rc == 0 and not err.strip() and 'GROUP "%s"' % grp in out and not missing,
                   "rc %d, missing %s, stderr %s" % (rc, missing, short(err)))
    else:
        record("h5dump available", False, "h5dump not on PATH (Debian hdf5-tools)")

    # ---------------------------------------------------------------- --max-tokens: skip
    M = max_short
    sk = os.path.join(W, "scores-max%d.h5" % M)
    rc, out, err = run([rms, "score", "--model", model, "--data", pairs, "--out", sk, "--threads", "2",
                        "--max-tokens", str(M)])
    if record("score --max-tokens %d: exit 0" % M, rc == 0, "rc %d, stderr %s" % (rc, short(err))):
        k = read_scores(sk)
        problems = []
        for i in range(N):
            if i in long_rows:
                if k["status"][i] != 2 or not (np.isnan(k["chosen"][i]) and np.isnan(k["rejected"][i])):
                    problems.append("long row %d: status %d scores %r %r" % (i, k["status"][i], k["chosen"][i], k["rejected"][i]))
            elif k["status"][i] != 1:
                problems.append("row %d (%d tokens <= %d): status %d" % (i, maxlen[i], M, k["status"][i]))
        short_rows = [i for i in range(N) if i not in long_rows]
        sub = lambda d: (d["chosen"][short_rows], d["rejected"][short_rows], d["status"][short_rows])  # noqa: E731
        ok, detail = same_scores(sub(k), sub(s))
        if not ok:
            problems.append("the others vs the full run: " + detail)
        record("--max-tokens %d: long pairs status 2 + NaN; the others (one exactly %d tokens) scored as in the full run"
               " (bitwise)" % (M, M), not problems, "; ".join(problems[:5]) if problems else detail)
        caught, detail = shift_caught(sub(k), sub(s))
        record("--max-tokens: the comparison with the full run would catch rows shifted by one", caught, detail)
        record("--max-tokens: attributes max_tokens=%d overlong=skip" % M,
               int(np.asarray(k["attrs"].get("max_tokens", -1))) == M and attr_str(k["attrs"].get("overlong", "")) == "skip",
               "max_tokens %r overlong %r" % (k["attrs"].get("max_tokens"), k["attrs"].get("overlong")))
        rep = check_report(rms, sk, pairs, "--max-tokens %d" % M)
        if rep is not None:
            record("--max-tokens: report n_skipped == %d" % len(long_rows), rep.get("n_skipped") == len(long_rows),
                   "n_skipped %r" % rep.get("n_skipped"))
        rc, out, err = run([rms, "export", sk, "--data", pairs, "--format", "csv"])
        if rc == 0:
            check_export_rows("export csv (--max-tokens)", list(csv.DictReader(io.StringIO(out))), p, k)
        rc, out, err = run([rms, "export", sk, "--data", pairs, "--format", "jsonl"])
        try:
            rows = [strict_json(l) for l in out.splitlines() if l.strip()] if rc == 0 else []
            check_export_rows("export jsonl (--max-tokens, NaN as null)", rows, p, k)
        except ValueError as e:
            record("export jsonl (--max-tokens): strict JSON (NaN scores as null)", False, str(e))

    # ---------------------------------------------------------------- --overlong truncate-left
    tl = os.path.join(W, "scores-trunc%d.h5" % M)
    rc, out, err = run([rms, "score", "--model", model, "--data", pairs, "--out", tl, "--threads", "2",
                        "--max-tokens", str(M), "--overlong", "truncate-left"])
    if record("score --max-tokens %d --overlong truncate-left: exit 0" % M, rc == 0, "rc %d, stderr %s" % (rc, short(err))):
        t = read_scores(tl)
        seqs = [p[side + "_ids"][i][-M:] for i in long_rows for side in ("chosen", "rejected")]
        rc, out, err = run([rms, "score-ids", "--model", model, "--threads", "2", "--quiet"],
                           "".join(json.dumps(q) + "\n" for q in seqs))
        ref = [float(x) for x in out.split()] if rc == 0 else []
        problems = []
        # what every row should hold: the long rows score-ids on their last M ids, the others the full run's
        want = (s["chosen"].copy(), s["rejected"].copy(), np.ones(N, np.int64))
        if len(ref) != len(seqs):
            problems.append("score-ids rc %d: %s" % (rc, short(err)))
        else:
            for j, i in enumerate(long_rows):
                want[0][i], want[1][i] = ref[2 * j], ref[2 * j + 1]
            got = (t["chosen"], t["rejected"], t["status"])
            ok, detail = same_scores(got, want)
            if not ok:
                problems.append(detail)
            info("truncate-left: long rows %s: %s vs score-ids(last %d ids) %s" % (
                long_rows, [(float(t["chosen"][i]), float(t["rejected"][i])) for i in long_rows], M,
                [(float(want[0][i]), float(want[1][i])) for i in long_rows]))
        record("truncate-left: long pairs scored == score-ids on their last %d ids; others as the full run "
               "(bitwise)" % M, not problems, "; ".join(problems[:5]) if problems else detail)
        if len(ref) == len(seqs):
            caught, detail = shift_caught(got, want)
            record("truncate-left: the comparison would catch rows shifted by one", caught, detail)
        record("truncate-left: attributes max_tokens=%d overlong=truncate-left" % M,
               int(np.asarray(t["attrs"].get("max_tokens", -1))) == M
               and attr_str(t["attrs"].get("overlong", "")) == "truncate-left",
               "max_tokens %r overlong %r" % (t["attrs"].get("max_tokens"), t["attrs"].get("overlong")))
        rep = check_report(rms, tl, pairs, "truncate-left")
        if rep is not None:
            record("truncate-left: report n_skipped == 0, n_scored == %d" % N,
                   rep.get("n_skipped") == 0 and rep.get("n_scored") == N,
                   "n_skipped %r n_scored %r" % (rep.get("n_skipped"), rep.get("n_scored")))

    # ---------------------------------------------------------------- errors
    rc, out, err = run([rms, "prepare", "--tokenizer", tulu, "--in", os.path.join(W, "nope.jsonl"),
                        "--out", os.path.join(W, "nope.h5")])
    record("prepare: missing --in file -> one-line error", one_line_error(rc, err), "rc %d, stderr %s" % (rc, short(err)))
    small_in = os.path.join(W, "small.jsonl")
    with open(SAMPLE, encoding="utf-8") as f, open(small_in, "w", encoding="utf-8") as g:
        g.writelines(f.readlines()[:10])
    small = os.path.join(W, "small.h5")
    rc, out, err = run([rms, "prepare", "--tokenizer", tulu, "--in", small_in, "--out", small, "--quiet"])
    if rc == 0:
        rc, out, err = run([rms, "score", "--model", model, "--data", small, "--out", scores, "--threads", "2"])
        s3 = read_scores(scores)
        record("score into an --out of another dataset (10 vs %d rows): one-line error, file untouched" % N,
               one_line_error(rc, err) and np.array_equal(s3["status"], s["status"])
               and np.array_equal(s3["chosen"].view(np.uint32), s["chosen"].view(np.uint32)),
               "rc %d, stderr %s" % (rc, short(err)))
    rc, out, err = run([rms, "report", os.path.join(W, "nope.h5"), "--json"])
    record("report: missing file -> one-line error", one_line_error(rc, err), "rc %d, stderr %s" % (rc, short(err)))
    rc, out, err = run([rms, "report", pairs, "--json"])
    record("report on a pairs file (no /scores) -> one-line error", one_line_error(rc, err),
           "rc %d, stderr %s" % (rc, short(err)))
    rc, out, err = run([rms, "export", scores, "--format", "xml"])
    record("export --format xml -> one-line error", one_line_error(rc, err), "rc %d, stderr %s" % (rc, short(err)))
    check_pooling(rms, W, tulu, model)
    return finish()


def check_pooling(rms, W, tulu, model):
    """Pooling through prepare -> score: the model's config has pad_token_id (<pad>); a chosen answer whose text holds
    <pad> is scored at its last token (transformers >= 4.48), not before its first pad (transformers < 4.48)."""
    pad = json.load(open(os.path.join(model, "config.json"))).get("pad_token_id")
    if not record("make-test-model's config has pad_token_id (Tulu <pad>)", isinstance(pad, int), "pad %r" % pad):
        return
    src = os.path.join(W, "pad.jsonl")
    row = {"id": "pad-0", "source": "pad",
           "chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Sure<pad> thing."}],
           "rejected": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "No."}]}
    open(src, "w").write(json.dumps(row) + "\n")
    pairs, out_h5 = os.path.join(W, "pad-pairs.h5"), os.path.join(W, "pad-scores.h5")
    rc1, _, err1 = run([rms, "prepare", "--tokenizer", tulu, "--in", src, "--out", pairs, "--quiet"])
    rc2, _, err2 = run([rms, "score", "--model", model, "--data", pairs, "--out", out_h5, "--quiet", "--threads", "2"])
    if not record("prepare + score of a conversation holding <pad>: exit 0", rc1 == 0 and rc2 == 0,
                  "rc %d/%d: %s %s" % (rc1, rc2, short(err1), short(err2))):
        return
    ids = [int(t) for t in read_pairs(pairs)["chosen_ids"][0]]
    sc = read_scores(out_h5)
    first_pad = ids.index(pad) if pad in ids else -1
    if not record("the chosen ids hold the pad id inside, not at the end", 0 < first_pad < len(ids) - 1,
                  "pad at %d of %d" % (first_pad, len(ids))):
        return
    rc, out, err = run([rms, "score-ids", "--model", model, "--threads", "2"],
                       json.dumps(ids) + "\n" + json.dumps(ids[:first_pad]) + "\n")
    got = [float(v) for v in out.split()] if rc == 0 else []
    record("score of a conversation holding <pad> = score-ids of its whole ids, bit for bit (last token)",
           len(got) == 2 and np.float32(got[0]) == sc["chosen"][0], "score %r, score-ids %r" % (sc["chosen"][0], got))
    record("... and not the score before its first pad (transformers < 4.48 pooling)",
           len(got) == 2 and got[0] != got[1], "score-ids %r" % got)
    want = "last-non-pad-token (pad_token_id %d)" % pad
    record("scores attribute pooling = %r" % want, attr_str(sc["attrs"].get("pooling", b"")) == want,
           "pooling %r" % sc["attrs"].get("pooling"))


if __name__ == "__main__":
    sys.exit(main())
