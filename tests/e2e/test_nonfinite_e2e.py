#!/usr/bin/python3
"""test_nonfinite_e2e.py — NaN and infinite weights: the rows they reach get status 4, report counts them apart.

    /usr/bin/python3 tests/e2e/test_nonfinite_e2e.py --rmscore build/rmscore --workdir DIR [--node-modules DIR]

Issue 13 item 5. From a test model (make-test-model, bf16) and tests/data/sample-pairs.jsonl, for NaN and for
+Inf written into the checkpoint (tests edit the safetensors bytes):
  (a) one weight of a layer (layer 0's q_proj, element 0): every row gets status 4 (non-finite score); report
      --json: n_nonfinite = N, n_scored = 0, accuracy null (never NaN); the report table says how many were
      excluded; export: strict JSON with null scores and status "non-finite";
  (b) one element of the embedding row of a token id that some rows hold and others not: exactly the rows whose
      chosen or rejected ids contain it get status 4; every other row is scored, bitwise equal to the clean
      model's; report --json counts n_nonfinite, and its accuracy, n_scored, n_correct and margin mean (overall
      and per source) equal a NumPy computation from the scores file over the status-1 rows.
Both under a single process and under `mpirun -np 3 score --stages 2` (bitwise the same file). Then: a rerun of
the same command (resume) rescores nothing (status 4 is final: the same model gives the same non-finite score);
--strict exits 4; score --shard 0/2 and 1/2 merged equal the whole run, status 4 included.
Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
"""

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from collections import Counter

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest as T  # noqa: E402
from rmstest import (arg_parser, finish, fresh_workdir, info, record, run,  # noqa: E402
                     short, strict_json)

BITS = {  # (dtype, value) -> the bytes of that value
    ("BF16", "nan"): struct.pack("<H", 0x7FC0), ("BF16", "inf"): struct.pack("<H", 0x7F80),
    ("F16", "nan"): struct.pack("<H", 0x7E00), ("F16", "inf"): struct.pack("<H", 0x7C00),
    ("F32", "nan"): struct.pack("<f", float("nan")), ("F32", "inf"): struct.pack("<f", float("inf")),
}
SIZE = {"BF16": 2, "F16": 2, "F32": 4}


def poison(src, dst, tensor, index, value):
    """dst = a copy of model directory src with element `index` of `tensor` set to value ("nan" or "inf")."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    for name in sorted(os.listdir(dst)):
        if not name.endswith(".safetensors"):
            continue
        path = os.path.join(dst, name)
        with open(path, "r+b") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(n))
            if tensor not in header:
                continue
            t = header[tensor]
            f.seek(8 + n + t["data_offsets"][0] + SIZE[t["dtype"]] * index)
            f.write(BITS[(t["dtype"], value)])
            return
    raise KeyError(tensor)


def read_scores(path):
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return g["chosen"][()], g["rejected"][()], g["status"][()]


def same_file(a, b):
    """Statuses equal; every value bitwise equal where finite, the same kind (NaN, +Inf, -Inf) where not."""
    (c1, r1, s1), (c2, r2, s2) = a, b
    if not np.array_equal(s1, s2):
        return False, "statuses differ in rows %s" % np.nonzero(s1 != s2)[0][:10].tolist()
    for x, y in ((c1, c2), (r1, r2)):
        fin = np.isfinite(x)
        if not np.array_equal(fin, np.isfinite(y)) or not np.array_equal(np.isnan(x), np.isnan(y)):
            return False, "non-finite values differ"
        if not np.array_equal(x[fin].view(np.uint32), y[fin].view(np.uint32)):
            return False, "finite values differ"
        inf = np.isinf(x)
        if not np.array_equal(x[inf], y[inf]):
            return False, "infinities differ"
    return True, "%d rows" % len(s1)


def numpy_stats(c, r, s, rows):
    rows = np.asarray(rows)
    ok = rows[s[rows] == 1]
    m = c[ok].astype(np.float64) - r[ok].astype(np.float64)
    return {"n_scored": len(ok), "n_correct": int((m > 0).sum()), "n_nonfinite": int((s[rows] == 4).sum()),
            "accuracy": float((m > 0).sum() / len(ok)) if len(ok) else None,
            "margin_mean": float(m.mean()) if len(ok) else None}


def check_report(label, rms, scores, pairs, sources):
    """report --json against numpy over the file; per source too."""
    c, r, s = read_scores(scores)
    rc, out, err = run([rms, "report", scores, "--data", pairs, "--json"])
    try:
        rep = strict_json(out) if rc == 0 else None
    except ValueError as e:
        return record("%s: report --json is strict JSON" % label, False, str(e))
    if not record("%s: report --json exit 0, strict JSON (no NaN)" % label, rep is not None, short(err)):
        return
    problems = []
    groups = [("ALL", rep, range(len(s)))] + [
        (src, rep.get("per_source", {}).get(src, {}), [i for i, x in enumerate(sources) if x == src])
        for src in sorted(set(sources))]
    for name, got, rows in groups:
        want = numpy_stats(c, r, s, rows)
        for k, v in want.items():
            g = got.get(k, "missing")
            same = (g is None and v is None) or (v is not None and g is not None and g != "missing" and
                                                 abs(float(g) - float(v)) <= 1e-9 * max(1.0, abs(float(v))))
            if not same:
                problems.append("%s %s: %r vs numpy %r" % (name, k, g, v))
    record("%s: report --json n_nonfinite %s, accuracy %s over %s scored rows: equal to NumPy over the file (overall "
           "and per source)" % (label, rep.get("n_nonfinite"), rep.get("accuracy"), rep.get("n_scored")),
           not problems, "; ".join(problems[:6]))
    rc, out, err = run([rms, "report", scores, "--data", pairs])
    n4 = int((s == 4).sum())
    line = "%d pairs have a non-finite score" % n4
    # the rows of the table: not the first line (it names the files, whose names may say nan) nor the note
    table = "\n".join(l for l in out.splitlines()[1:] if line not in l)
    record("%s: report table: no nan or inf figure, a non-finite column, says %r" % (label, line),
           rc == 0 and not re.search(r"\b(nan|inf)\b", table, re.I) and line in out
           and "non-finite" in out.splitlines()[1], short(table, 400))
    return rep


def main():
    ap = arg_parser(__doc__.split("\n")[0])
    ap.add_argument("--mpiexec", default="mpirun")
    a = ap.parse_args()
    rms = os.path.abspath(a.rmscore)
    W = fresh_workdir(a.workdir)
    mpi = shutil.which(a.mpiexec)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")

    setup = T.sample_setup(rms, W, a.node_modules)
    if not setup:
        return finish()
    tulu, model, pairs = setup
    with h5py.File(pairs, "r") as f:
        g = f["pairs"]
        ids = [set(x.tolist()) | set(y.tolist()) for x, y in zip(g["chosen_ids"][()], g["rejected_ids"][()])]
        sources = list(g["source"].asstr()[()])
    N = len(ids)

    def score(model_dir, out, extra=(), use_mpi=False):
        base = ["score", "--model", model_dir, "--data", pairs, "--out", out, "--quiet"] + list(extra)
        if use_mpi:
            cmd = [mpi, "-np", "3", "--oversubscribe", rms] + base + ["--stages", "2"]
        else:
            cmd = [rms] + base
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=T.scaled(300))
        T.check_sanitizers("score", p.stderr)
        return p.returncode, p.stderr

    ref_path = os.path.join(W, "clean.h5")
    rc, err = score(model, ref_path)
    if not record("score (clean model)", rc == 0, short(err)):
        return finish()
    ref = read_scores(ref_path)
    record("clean model: every row scored, finite", bool(np.all(ref[2] == 1) and np.all(np.isfinite(ref[0]))))

    # a token held by some rows, not by all (the rarest such token held by at least 3 rows, for a stable choice)
    counts = Counter(t for row in ids for t in row)
    cands = sorted((n, t) for t, n in counts.items() if 3 <= n <= N // 2)
    if not record("a token id held by 3 to N/2 rows exists", bool(cands)):
        return finish()
    token = cands[0][1]
    hit = np.array([token in row for row in ids])
    info("token %d is in rows %s" % (token, np.nonzero(hit)[0].tolist()))
    with open(os.path.join(model, "config.json")) as f:
        hidden = json.load(f)["hidden_size"]

    for value in ("nan", "inf"):
        # (a) one weight of a layer -> every row
        mdir = os.path.join(W, "model-%s-layer" % value)
        poison(model, mdir, "model.layers.0.self_attn.q_proj.weight", 0, value)
        out = os.path.join(W, "%s-layer.h5" % value)
        rc, err = score(mdir, out)
        c, r, s = read_scores(out) if rc == 0 else (None, None, np.zeros(0))
        record("%s in a layer weight: score exits 0 and warns" % value,
               rc == 0 and "non-finite score" in err and "rmscore: warning:" in err, short(err))
        record("%s in a layer weight: every row has status 4" % value, len(s) == N and bool(np.all(s == 4)),
               str(np.bincount(s, minlength=5).tolist()))
        rep = check_report("%s in a layer weight" % value, rms, out, pairs, sources)
        record("%s in a layer weight: report n_nonfinite = %d, n_scored 0, accuracy null" % (value, N),
               rep is not None and rep["n_nonfinite"] == N and rep["n_scored"] == 0 and rep["accuracy"] is None)
        rc, text, err = run([rms, "export", out, "--data", pairs, "--format", "jsonl"])
        try:
            rows = [strict_json(l) for l in text.splitlines()]
            ok = rc == 0 and len(rows) == N and all(x["status"] == "non-finite" and x["chosen"] is None for x in rows)
        except ValueError as e:
            ok, err = False, str(e)
        record("%s in a layer weight: export jsonl is strict JSON, null scores, status non-finite" % value, ok,
               short(err))
        if mpi:
            out_m = os.path.join(W, "%s-layer-mpi.h5" % value)
            rc, err = score(mdir, out_m, use_mpi=True)
            ok, detail = same_file(read_scores(out_m), (c, r, s)) if rc == 0 else (False, short(err))
            record("%s in a layer weight, mpirun -np 3 --stages 2: the single-process file" % value, ok, detail)

        # (b) the embedding row of one token -> exactly the rows holding it
        mdir = os.path.join(W, "model-%s-embed" % value)
        poison(model, mdir, "model.embed_tokens.weight", token * hidden + 5, value)
        out = os.path.join(W, "%s-embed.h5" % value)
        rc, err = score(mdir, out)
        if not record("%s in the embedding of token %d: score exits 0" % (value, token), rc == 0, short(err)):
            continue
        c, r, s = read_scores(out)
        record("%s in the embedding of token %d: status 4 exactly in the %d rows holding it" % (value, token,
                                                                                              int(hit.sum())),
               np.array_equal(s == 4, hit) and bool(np.all(s[~hit] == 1)), "status %s" % s.tolist())
        other = ~hit
        bitwise = bool(np.array_equal(c[other].view(np.uint32), ref[0][other].view(np.uint32)) and
                       np.array_equal(r[other].view(np.uint32), ref[1][other].view(np.uint32)))
        record("%s in the embedding: the other %d rows' scores are bitwise the clean model's" % (value, int(other.sum())),
               bitwise)
        record("%s in the embedding: every status-4 row has a non-finite chosen or rejected score" % value,
               bool(np.all(~(np.isfinite(c[hit]) & np.isfinite(r[hit])))))
        check_report("%s in the embedding" % value, rms, out, pairs, sources)
        if mpi:
            out_m = os.path.join(W, "%s-embed-mpi.h5" % value)
            rc, err = score(mdir, out_m, use_mpi=True)
            ok, detail = same_file(read_scores(out_m), (c, r, s)) if rc == 0 else (False, short(err))
            record("%s in the embedding, mpirun -np 3 --stages 2: the single-process file" % value, ok, detail)
        if value != "nan":
            continue
        # resume: status 4 is final
        before = open(out, "rb").read()
        rc, err = score(mdir, out)
        record("rerun on the finished file: exit 0, nothing rescored (status 4 final), the file unchanged",
               rc == 0 and same_file(read_scores(out), (c, r, s))[0] and open(out, "rb").read() == before, short(err))
        rc, err = score(mdir, os.path.join(W, "strict.h5"), ["--strict"])
        record("--strict with non-finite rows: exit status 4", rc == 4 and "non-finite" in err, "rc %d %s" % (rc, short(err)))
        # shards merged
        shard_files = []
        for i in range(2):
            sf = os.path.join(W, "shard%d.h5" % i)
            rc, err = score(mdir, sf, ["--shard", "%d/2" % i])
            record("--shard %d/2 with the poisoned embedding: exit 0" % i, rc == 0, short(err))
            shard_files.append(sf)
        merged = os.path.join(W, "merged.h5")
        rc, _, err = run([rms, "merge"] + shard_files + ["--out", merged])
        ok, detail = same_file(read_scores(merged), (c, r, s)) if rc == 0 else (False, short(err))
        record("merge of the two shards: the whole run's file, status 4 included; its summary counts them",
               ok and ("%d non-finite" % int(hit.sum())) in err, detail + "; " + short(err))
    if not mpi:
        info("mpirun not found: the MPI cases are left out")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
