#!/usr/bin/python3
"""test_forward.py — rmscore `score-ids` against the float64 NumPy reference (llama_ref.py).

    /usr/bin/python3 tests/reference/test_forward.py --rmscore build/rmscore --workdir DIR [-k SUBSTR]

For a matrix of checkpoints (some written by `rmscore make-test-model`, some by the independent
Python writer in llama_ref.py) it sends random token-id sequences, several per run so that they are
packed into one batch, to `rmscore score-ids --threads 2` and checks every score:
|C - ref| <= 1e-3 * max(1, |ref|)  (design.md, fp32 compute; rmstest.SCORE_RTOL).
Also: the reference self-check (selfcheck.py), a sensitivity check (one perturbed weight byte must
move the C scores beyond the tolerance), non-degenerate scores, batching (a sequence scored alone, twice
in one batch, with 1 or 2 threads, with small micro-batches: each score within the tolerance of the
reference, and the C scores of the same sequence within the same tolerance of each other, which the
neighbouring sequence's score must not be), and the error behaviour of score-ids on bad input lines.
Prints one PASS/FAIL line per check and a final `N passed, M failed`.
"""

import functools
import json
import os
import shutil
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import llama_ref as R  # noqa: E402
import rmstest  # noqa: E402
import selfcheck  # noqa: E402
from rmstest import SCORE_RTOL, finish, record, scores_close, scores_mismatch  # noqa: E402

rmstest.configure(detail_on_pass="full", list_failed=False)
# (rc, stdout, stderr, seconds); stdout and stderr must be UTF-8 (errors=None: strict)
run = functools.partial(rmstest.run_timed, timeout=600, errors=None)

RTOL = SCORE_RTOL  # design.md: |Δscore| <= 1e-3 · max(1, |score|) against the float64 reference
LENGTHS = [1, 2, 3, 17, 255, 256, 1000]


def make_sequences(rng, vocab, lengths, n_random, max_random=300):
    seqs = []
    for n in lengths:
        s = rng.integers(0, vocab, size=n).tolist()
        seqs.append(s)
    # the vocabulary edges: 0 and vocab-1 at the start, the end and inside
    seqs[0] = [vocab - 1]
    if len(seqs) > 1 and len(seqs[1]) >= 2:
        seqs[1][:2] = [0, vocab - 1]
    if len(seqs) > 2 and len(seqs[2]) >= 3:
        seqs[2][0], seqs[2][-1] = vocab - 1, 0
    for s in seqs[3:]:
        s[len(s) // 3] = 0
        s[len(s) // 2] = vocab - 1
    for _ in range(n_random):
        seqs.append(rng.integers(0, vocab, size=int(rng.integers(1, max_random + 1))).tolist())
    return seqs


def ids_text(seqs):
    return "".join(json.dumps([int(x) for x in s]) + "\n" for s in seqs)


def score_ids(rmscore, model_dir, seqs, threads=2, extra=()):
    cmd = [rmscore, "score-ids", "--model", model_dir, "--threads", str(threads)] + list(extra)
    return run(cmd, ids_text(seqs))


def parse_scores(out):
    vals = []
    for ln in out.splitlines():
        vals.append(float(ln.strip()))
    return vals


def compare(name, ref, got):
    """Returns (ok, detail) for the per-line tolerance check."""
    if len(got) != len(ref):
        return False, "expected %d scores, got %d" % (len(ref), len(got))
    bad = scores_mismatch(got, ref)[0].tolist()
    ratio = [abs(g - r) / (RTOL * max(1.0, abs(r))) if np.isfinite(g) else np.inf for r, g in zip(ref, got)]
    wi = int(np.argmax(ratio)) if ratio else 0
    worst = ratio[wi] if ratio else 0.0
    detail = "worst line %d: ref %.9g got %.9g (|d|/tol=%.3g)" % (wi + 1, ref[wi], got[wi], worst)
    if bad:
        detail = "%d/%d lines out of tolerance; first: line %d ref %.9g got %.9g; %s" % (
            len(bad), len(ref), bad[0] + 1, ref[bad[0]], got[bad[0]], detail)
    return not bad, detail


def check_case(args, name, model_dir, seqs, ref_model=None):
    """score-ids on all seqs (one stdin) vs the reference; returns (ref scores, C scores)."""
    m = ref_model if ref_model is not None else R.Model(model_dir)
    t0 = time.time()
    ref = m.scores(seqs)
    tref = time.time() - t0
    rc, out, err, dt = score_ids(args.rmscore, model_dir, seqs)
    if rc != 0:
        record("%s: score-ids runs" % name, False, "exit %d, stderr: %s" % (rc, err.strip()[-500:]))
        return ref, None
    try:
        got = parse_scores(out)
    except ValueError as e:
        record("%s: score-ids output parses" % name, False, str(e))
        return ref, None
    ok, detail = compare(name, ref, got)
    lens = sorted(set(len(s) for s in seqs))
    record("%s: %d seqs (lengths %s..%s, %d tokens) within 1e-3" % (
        name, len(seqs), lens[0], lens[-1], sum(len(s) for s in seqs)), ok,
        detail + "; C %.2fs ref %.2fs" % (dt, tref))
    sd_ref, sd_c = float(np.std(ref)), float(np.std(got))
    record("%s: scores not degenerate (std ref %.3g, C %.3g)" % (name, sd_ref, sd_c),
           sd_ref > 1e-3 and sd_c > 1e-3 and len(set(got)) > 1)
    return ref, got


# ------------------------------------------------------------------------------------------------

def writer_cases():
    """(name, writer kwargs). All tiny: vocab 1000, hidden 32-64, 2-3 layers."""
    stress = {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
              "original_max_position_embeddings": 64}
    return [
        ("py-gqa-bf16-3shards-hd16-tulurope",
         dict(hidden=48, intermediate=96, layers=2, heads=4, kv_heads=2, head_dim=16,
              dtype="bf16", shards=3, rope_scaling="tulu", seed=101)),
        ("py-mha-f16-single-norope",
         dict(hidden=32, intermediate=64, layers=3, heads=4, kv_heads=4, dtype="f16", shards=1,
              rope_scaling=None, seed=102)),
        ("py-mqa-f32-single-llama3-orig64",
         dict(hidden=64, intermediate=128, layers=2, heads=4, kv_heads=1, dtype="f32", shards=1,
              rope_scaling=stress, rope_theta=10000.0, seed=103)),
        ("py-mqa-bf16-single-hd24-shuffled-defaultrope",
         dict(hidden=40, intermediate=80, layers=2, heads=2, kv_heads=1, head_dim=24, dtype="bf16",
              shards=1, rope_scaling={"rope_type": "default"}, tensor_order="shuffled",
              eps=1e-6, seed=104)),
        ("py-gqa-f16-3shards-8heads",
         dict(hidden=64, intermediate=96, layers=2, heads=8, kv_heads=2, dtype="f16", shards=3,
              rope_scaling="tulu", seed=105)),
    ]


def mtm_cases(flags):
    c = [
        ("mtm-gqa-bf16-3shards-defaultvocab",
         ["--hidden", "64", "--intermediate", "128", "--layers", "2", "--heads", "4",
          "--kv-heads", "2", "--shards", "3", "--seed", "11", "--dtype", "bf16"]),
        ("mtm-mha-f32-single",
         ["--hidden", "32", "--intermediate", "64", "--layers", "3", "--heads", "4",
          "--kv-heads", "4", "--vocab", "1000", "--shards", "1", "--seed", "12", "--dtype", "f32"]),
        ("mtm-mqa-f16-single",
         ["--hidden", "48", "--intermediate", "96", "--layers", "2", "--heads", "4",
          "--kv-heads", "1", "--vocab", "1000", "--shards", "1", "--seed", "13", "--dtype", "f16"]),
        ("mtm-gqa-f16-3shards",
         ["--hidden", "64", "--intermediate", "64", "--layers", "2", "--heads", "8",
          "--kv-heads", "2", "--vocab", "777", "--shards", "3", "--seed", "14", "--dtype", "f16"]),
    ]
    if "--head-dim" in flags:
        c.append(("mtm-gqa-bf16-2shards-headdim16",
                  ["--hidden", "48", "--intermediate", "64", "--layers", "2", "--heads", "4",
                   "--kv-heads", "2", "--head-dim", "16", "--vocab", "1000", "--shards", "2",
                   "--seed", "16", "--dtype", "bf16"]))
    if "--no-rope-scaling" in flags:
        c.append(("mtm-gqa-bf16-single-norope",
                  ["--hidden", "32", "--intermediate", "64", "--layers", "2", "--heads", "4",
                   "--kv-heads", "2", "--vocab", "1000", "--shards", "1", "--seed", "15",
                   "--dtype", "bf16", "--no-rope-scaling"]))
    return c


def sensitivity(args, base_dir, seqs):
    """Perturbs one byte of a layer-1 k_proj element in a copy; C must then leave the tolerance."""
    name = "sensitivity"
    pdir = os.path.join(args.workdir, "perturbed")
    shutil.rmtree(pdir, ignore_errors=True)
    shutil.copytree(base_dir, pdir)
    tname = "model.layers.1.self_attn.k_proj.weight"
    path, off, dt, shape = R.tensor_location(pdir, tname)
    esz = {"BF16": 2, "F16": 2, "F32": 4}[dt]
    um = R.Model(base_dir)
    ref = um.scores(seqs)
    for elem in (5, 17, 3 * shape[1] + 1, 40):
        shutil.copyfile(os.path.join(base_dir, os.path.basename(path)), path)
        with open(path, "r+b") as fp:
            pos = off + elem * esz + esz - 1      # the high byte (sign + exponent) of the element
            fp.seek(pos)
            old = fp.read(1)[0]
            fp.seek(pos)
            fp.write(bytes([0x40 if dt != "F16" else 0x44]))  # ~ +2..4 (bf16/f32), +4..8 (f16)
        pm = R.Model(pdir)
        pref = pm.scores(seqs)
        moved = max(abs(a - b) / (RTOL * max(1.0, abs(a))) for a, b in zip(ref, pref))
        if moved > 20:
            break
    record("%s: reference moves by %.1f x tol after the high byte 0x%02x of %s[%d] (%s) in %s was set"
           % (name, moved, old, tname, elem, dt, os.path.basename(path)), moved > 20)
    rc, out, err, _ = score_ids(args.rmscore, pdir, seqs)
    if rc != 0:
        record("%s: score-ids on perturbed copy" % name, False, err.strip())
        return
    got = parse_scores(out)
    ok_unpert, detail = compare(name, ref, got)
    record("%s: C scores of the perturbed copy fail the comparison with the unperturbed reference"
           % name, not ok_unpert, detail)
    ok_pert, detail = compare(name, pref, got)
    record("%s: C scores of the perturbed copy match the perturbed reference" % name, ok_pert,
           detail)


def error_cases(args, model_dir, vocab, ref_model, sflags):
    good = [[1, 2, 3], [vocab - 1, 0]]
    ref = ref_model.scores(good)
    bad_lines = [
        ("id == vocab", json.dumps([5, vocab, 7])),
        ("negative id", "[4, -1, 2]"),
        ("empty line", ""),
        ("malformed JSON", "[1, 2"),
        ("non-integer", "[1, 2.5, 3]"),
        ("string element", '[1, "2"]'),
        ("not an array", '{"ids": [1]}'),
    ]
    quiet = ["--quiet"] if "--quiet" in sflags else []
    for what, ln in bad_lines:
        text = ids_text(good) + ln + "\n" + ids_text([[9, 8, 7]])
        name = "errors: %s (%r on line 3)" % (what, ln)
        for extra in ([], quiet) if quiet else ([],):
            rc, out, err, _ = run([args.rmscore, "score-ids", "--model", model_dir, "--threads", "2"]
                                  + extra, text)
            lines = err.splitlines()
            errs = [x for x in lines if x.startswith("rmscore: error:")]
            if extra:
                # --quiet: nothing but the error on stderr
                ok = len(lines) == 1 and len(errs) == 1 and "line 3" in errs[0]
                record(name + " --quiet: stderr is exactly one 'rmscore: error:' line naming line 3",
                       ok, "stderr=%r" % err[-400:])
                continue
            record(name + ": non-zero exit", rc != 0, "exit %d" % rc)
            # logs may precede it (design.md: logs go to stderr); the error is one line, the last
            ok = len(errs) == 1 and lines[-1] == errs[0] and "line 3" in errs[0]
            record(name + ": stderr ends with one 'rmscore: error:' line naming line 3", ok,
                   "stderr=%r" % err[-400:] if not ok else errs[0])
            try:
                got = parse_scores(out)
            except ValueError:
                got = []
            ok = len(got) == 2 and compare(name, ref, got)[0]
            record(name + ": stdout holds the 2 scores before it", ok, "stdout=%r" % out[-300:])


def main():
    ap = rmstest.arg_parser(node_modules=False)
    ap.add_argument("-k", default="", help="run only cases whose name contains this")
    args = ap.parse_args()
    args.rmscore = os.path.abspath(args.rmscore)
    os.makedirs(args.workdir, exist_ok=True)
    t_start = time.time()
    rng = np.random.default_rng(20240601)

    if not args.k or "selfcheck" in args.k:
        for name, ok, msg in selfcheck.run(os.path.join(args.workdir, "selfcheck")):
            record(name, ok, "" if ok else msg)

    rc, hout, herr, _ = run([args.rmscore, "make-test-model", "--help"])
    record("make-test-model --help", rc == 0, "exit %d %s" % (rc, herr.strip()[:200]))
    flags = hout + herr
    rc, sout, serr, _ = run([args.rmscore, "score-ids", "--help"])
    record("score-ids --help", rc == 0, "exit %d %s" % (rc, serr.strip()[:200]))
    sflags = sout + serr

    first_py = None
    for name, kw in writer_cases():
        if args.k and args.k not in name:
            continue
        d = os.path.join(args.workdir, name)
        m = R.write_checkpoint(d, vocab=1000, **kw)
        m2 = R.Model(d)                       # read back: must equal what the writer stored
        assert all(np.array_equal(m.t[k], m2.t[k]) for k in m.t)
        seqs = make_sequences(rng, m.cfg.vocab, LENGTHS, 8)
        ref, got = check_case(args, name, d, seqs, m2)
        if first_py is None:
            first_py = (d, seqs, ref, m2)

    for name, opts in mtm_cases(flags):
        if args.k and args.k not in name:
            continue
        d = os.path.join(args.workdir, name)
        shutil.rmtree(d, ignore_errors=True)
        rc, out, err, dt = run([args.rmscore, "make-test-model", "--out", d] + opts)
        if not record("%s: make-test-model %s" % (name, " ".join(opts)), rc == 0,
                      "" if rc == 0 else "exit %d %s" % (rc, err.strip()[-300:])):
            continue
        try:
            m = R.Model(d)
        except Exception as e:  # noqa: BLE001
            record("%s: reference reads the checkpoint" % name, False, repr(e))  # noqa
            continue
        rs = m.cfg.rope_scaling
        print("   %s: vocab %d hidden %d heads %d/%d head_dim %d rope_scaling %s" % (
            name, m.cfg.vocab, m.cfg.hidden, m.cfg.heads, m.cfg.kv_heads, m.cfg.head_dim,
            json.dumps(rs)), flush=True)
        seqs = make_sequences(rng, m.cfg.vocab, LENGTHS, 6)
        check_case(args, name, d, seqs, m)

    if first_py is not None and (not args.k or "sensitivity" in args.k or args.k in first_py[0]):
        d, seqs, ref, m = first_py
        sensitivity(args, d, [s for s in seqs if 2 <= len(s) <= 300])
        # batching must not change a score: one sequence alone vs the same in the big batch
        alone = [s for s in seqs if len(s) == 255][0]
        rc, out, err, _ = score_ids(args.rmscore, d, [alone])
        got_alone = parse_scores(out) if rc == 0 else [float("nan")]
        rc2, out2, _, _ = score_ids(args.rmscore, d, [alone, seqs[0], alone], threads=1)
        got3 = parse_scores(out2) if rc2 == 0 else [float("nan")] * 3
        r = m.score(alone)
        # alone (2 threads) and twice in one batch (1 thread): batches and threads differ, and the C scores are
        # the same bits (batch invariance); each is the reference's within design.md's tolerance
        record("batching: a sequence alone, in a batch, twice, 1 or 2 threads: the same score bit for bit",
               rc == 0 and rc2 == 0 and compare("b", [r, r], [got_alone[0], got3[0]])[0]
               and compare("b", [r], [got3[2]])[0] and got3[2] == got3[0] and got_alone[0] == got3[0],
               "ref %.9g alone %.9g batch %.9g / %.9g" % (r, got_alone[0], got3[0], got3[2]))
        # the batch shifted by one: the neighbouring line (seqs[0], one token) must not pass as the same score
        record("batching: the comparison would catch lines shifted by one",
               rc2 == 0 and not scores_close(got3[2], got3[1]) and not scores_close(got_alone[0], got3[1]),
               "neighbour %.9g vs %.9g / %.9g" % (got3[1], got3[2], got_alone[0]))
        if "--microbatch-tokens" in sflags:
            # small micro-batches: several batches, the long sequences scored alone
            rc, out, err, _ = score_ids(args.rmscore, d, seqs, extra=["--microbatch-tokens", "300"])
            ok, detail = (compare("mb", ref, parse_scores(out)) if rc == 0
                          else (False, "exit %d %s" % (rc, err.strip()[-300:])))
            record("batching: --microbatch-tokens 300 (lengths up to 1000) within 1e-3", ok, detail)
        error_cases(args, d, m.cfg.vocab, m, sflags)

    print("elapsed %.1fs" % (time.time() - t_start))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
