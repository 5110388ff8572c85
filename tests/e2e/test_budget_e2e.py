#!/usr/bin/python3
"""test_budget_e2e.py — `score` against a deadline, and what it logs for batch jobs.

    /usr/bin/python3 tests/e2e/test_budget_e2e.py --rmscore build/rmscore --workdir DIR --node-modules node_modules

A model slow enough that the dataset takes ~15-30 s (hidden 512 and 8 layers on 12 copies of the sample in a Release
build; the instrumented build's micro-kernels run ~60 times slower, so there hidden 128 and 4 layers on 10 copies, to
keep each micro-batch well inside the budget and the whole test within minutes), scored:
- uninterrupted (the reference);
- with --time-budget B: the run exits 3 before B + slack (it stops scheduling when the measured speed says the
  next micro-batch would end after the deadline), with a "stopping" notice, everything computed written; a rerun
  without a budget completes, and the scores equal the reference bit for bit;
- with $SLURM_JOB_END_TIME set (as Slurm does) and with --stop-at in the past: the same stop;
- with --progress-json: every stderr line of the run is one JSON object; progress, stopping and summary events
  with consistent counts (the summary against the scores file read with h5py);
- text progress lines carry an ISO 8601 timestamp; the closing summary counts rows by status;
- --strict: exit status 4 on a dataset with bad rows (0 without --strict), 0 on a clean one.
Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
"""

import functools
import json
import os
import re
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest  # noqa: E402
from rmstest import SAMPLE, arg_parser, build_tokenizer_dirs, finish, fresh_workdir, record, short  # noqa: E402

TIMEOUT = rmstest.scaled(600)  # seconds, a hang guard for each command
run = functools.partial(rmstest.run, timeout=TIMEOUT)
BUDGET = 6        # seconds given to the budgeted runs
# seconds a budgeted run may end after its deadline on a loaded 2-core machine (6 in a Release run; an instrumented
# build's micro-batches are slower, so the one in flight at the deadline ends later: rmstest.scaled)
SLACK = rmstest.scaled(6)
# (hidden, intermediate, layers, heads, kv heads, copies of the sample): ~20 s of scoring on a 2-core machine in a
# Release build, ~45 s in an ASan + UBSan one (chosen in main by rmstest.instrumented)
RELEASE_SHAPE = (512, 1536, 8, 8, 2, 12)
INSTRUMENTED_SHAPE = (128, 384, 4, 4, 1, 10)
BAD = os.path.join(os.path.dirname(SAMPLE), "bad-pairs.jsonl")


def read_scores(path):
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return np.asarray(g["chosen"][()]), np.asarray(g["rejected"][()]), np.asarray(g["status"][()])


def timed(cmd, env=None):
    t0 = time.monotonic()
    rc, out, err = run(cmd, env=env)
    return rc, out, err, time.monotonic() - t0


def main():
    a = arg_parser(__doc__.split("\n")[0]).parse_args()
    rms = os.path.abspath(a.rmscore)
    W = fresh_workdir(a.workdir)
    dirs = build_tokenizer_dirs(W, a.node_modules, "make_tokenizer_dirs.py builds tok/tulu", TIMEOUT)
    if not dirs:
        return finish()
    tulu = dirs[0]
    model = os.path.join(W, "model")
    hidden, inter, layers, heads, kv, copies = INSTRUMENTED_SHAPE if rmstest.instrumented(rms) else RELEASE_SHAPE
    rc, _, err = run([rms, "make-test-model", "--out", model, "--hidden", str(hidden), "--intermediate", str(inter),
                      "--layers", str(layers), "--heads", str(heads), "--kv-heads", str(kv), "--tokenizer", tulu,
                      "--quiet"])
    if not record("make-test-model (hidden %d, %d layers)" % (hidden, layers), rc == 0, short(err)):
        return finish()
    src = os.path.join(W, "pairs.jsonl")
    rows = [l for l in open(SAMPLE, encoding="utf-8") if l.strip()]
    with open(src, "w", encoding="utf-8") as f:
        for k in range(copies):
            for l in rows:
                r = json.loads(l)
                r["id"] = "%s-%d" % (r.get("id", ""), k)
                f.write(json.dumps(r) + "\n")
    pairs = os.path.join(W, "pairs.h5")
    rc, _, err = run([rms, "prepare", "--tokenizer", tulu, "--in", src, "--out", pairs, "--quiet"])
    if not record("prepare %d pairs" % (copies * len(rows)), rc == 0, short(err)):
        return finish()
    base = [rms, "score", "--model", model, "--data", pairs, "--threads", "2", "--microbatch-tokens", "1024",
            "--progress-every", "1"]
    env = dict(os.environ)
    env.pop("SLURM_JOB_END_TIME", None)

    ref = os.path.join(W, "ref.h5")
    rc, _, err, full_s = timed(base + ["--out", ref], env)
    if not record("uninterrupted run: exit 0 (%.1f s)" % full_s, rc == 0, short(err)):
        return finish()
    ref_scores = read_scores(ref)
    record("the uninterrupted run takes longer than the budget (else the budget test proves nothing)",
           full_s > BUDGET + SLACK, "%.1f s" % full_s)
    stamp = re.compile(r"^rmscore: score: \[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}\] \d+/\d+ pairs")
    record("progress lines carry an ISO 8601 timestamp", any(stamp.match(l) for l in err.splitlines()),
           short("\n".join(l for l in err.splitlines() if "pairs (" in l)[:3]))
    summ = [l for l in err.splitlines() if "summary:" in l]
    record("closing summary: rows by status and the exit status", len(summ) == 1 and
           "%d rows: %d scored, 0 skipped (too long), 0 bad input, 0 pending" % (len(ref_scores[2]), len(ref_scores[2]))
           in summ[0] and "exit status 0 (done)" in summ[0], short(summ[0] if summ else err))

    # ---------------------------------------------------------------- --time-budget
    out = os.path.join(W, "budget.h5")
    rc, _, err, s = timed(base + ["--out", out, "--time-budget", str(BUDGET)], env)
    st = read_scores(out) if os.path.exists(out) else None
    n_done = int(np.sum(st[2] == 1)) if st is not None else 0
    record("--time-budget %d: exit 3 within %d s (%.1f s), %d of %d pairs written" % (BUDGET, BUDGET + SLACK, s, n_done,
                                                                                      len(ref_scores[2])),
           rc == 3 and s <= BUDGET + SLACK and 0 < n_done < len(ref_scores[2]), short(err))
    record("... with a 'stopping' notice naming --time-budget and an error line saying to rerun",
           "stopping:" in err and "--time-budget" in err and "rerun the same command to resume" in err, short(err))
    if st is not None:
        done = st[2] == 1
        record("... the rows it wrote equal the reference's bit for bit",
               np.array_equal(st[0][done], ref_scores[0][done]) and np.array_equal(st[1][done], ref_scores[1][done]))
    rc, _, err, s = timed(base + ["--out", out], env)
    st = read_scores(out) if rc == 0 else None
    record("rerun without a budget completes: scores equal the uninterrupted run bit for bit",
           st is not None and all(np.array_equal(st[k], ref_scores[k], equal_nan=True) for k in range(3)), short(err))

    # ---------------------------------------------------------------- $SLURM_JOB_END_TIME, --stop-at
    out = os.path.join(W, "slurm-end.h5")
    env2 = dict(env, SLURM_JOB_END_TIME=str(int(time.time()) + BUDGET))
    rc, _, err, s = timed(base + ["--out", out], env2)
    record("$SLURM_JOB_END_TIME = now + %d: exit 3 within %d s (%.1f s), named as the source" % (BUDGET, BUDGET + SLACK, s),
           rc == 3 and s <= BUDGET + SLACK and "SLURM_JOB_END_TIME" in err, short(err))
    out = os.path.join(W, "past.h5")
    rc, _, err, s = timed(base + ["--out", out, "--stop-at", "2001-09-09T01:46:40Z"], env)
    st = read_scores(out) if os.path.exists(out) else None
    record("--stop-at in the past: exit 3 at once, nothing scored, the file resumable",
           rc == 3 and st is not None and int(np.sum(st[2] == 1)) == 0 and "stopping:" in err, short(err))
    rc, _, err = run(base + ["--out", os.path.join(W, "x.h5"), "--stop-at", "tomorrow"], env=env)
    record("--stop-at that is not a time: usage error (exit 2) naming the accepted forms",
           rc == 2 and "Unix seconds" in err, short(err))

    # ---------------------------------------------------------------- --progress-json
    out = os.path.join(W, "json.h5")
    rc, _, err, s = timed(base + ["--out", out, "--progress-json", "--time-budget", str(BUDGET)], env)
    objs, bad = [], []
    for l in err.splitlines():
        if l.startswith("{"):
            try:
                objs.append(json.loads(l))
            except ValueError:
                bad.append(l)
    events = [o.get("event") for o in objs]
    record("--progress-json: progress, stopping and summary lines, each one JSON object",
           rc == 3 and not bad and "progress" in events and "stopping" in events and events[-1] == "summary",
           "events %r bad %r" % (sorted(set(events)), bad[:2]))
    st = read_scores(out)
    summary = objs[-1] if objs else {}
    want = {"rows": len(st[2]), "scored": int(np.sum(st[2] == 1)), "skipped": int(np.sum(st[2] == 2)),
            "bad_input": int(np.sum(st[2] == 3)), "pending": int(np.sum(st[2] == 0)), "exit_status": 3,
            "status": "stopped"}
    record("... the summary's counts equal the scores file's statuses",
           all(summary.get(k) == v for k, v in want.items()), "summary %r want %r" % (summary, want))
    prog = [o for o in objs if o.get("event") == "progress"]
    record("... progress objects carry time, unix, done_pairs, todo_pairs, pairs_per_s, tokens_per_s, eta_s",
           prog and all(all(k in o for k in ("time", "unix", "done_pairs", "todo_pairs", "pairs_per_s", "tokens_per_s",
                                             "eta_s")) for o in prog), short(json.dumps(prog[:1])))

    # ---------------------------------------------------------------- memory pre-flight
    env3 = dict(env, RMSCORE_MEM_LIMIT="20M")
    out = os.path.join(W, "mem.h5")
    rc, _, err = run(base + ["--out", out], env=env3)
    lines = [l for l in err.splitlines() if l.startswith("rmscore: error:")]
    record("RMSCORE_MEM_LIMIT=20M below the need: exit 1 before any batch, one error naming the parts and the remedies",
           rc == 1 and len(lines) == 1 and "needs" in lines[0] and "weights" in lines[0] and "--stages" in lines[0]
           and "--microbatch-tokens" in lines[0] and "pairs (" not in err, short(err))
    rc, _, err = run(base + ["--out", out, "--time-budget", "2"], env=dict(env, RMSCORE_MEM_LIMIT="4G"))
    record("RMSCORE_MEM_LIMIT=4G above it: the run starts (exit 0 or 3)", rc in (0, 3), short(err))

    # ---------------------------------------------------------------- --strict
    bad_pairs = os.path.join(W, "bad.h5")
    rc, _, err = run([rms, "prepare", "--tokenizer", tulu, "--in", BAD, "--out", bad_pairs, "--quiet"])
    if record("prepare the bad-rows sample", rc == 0, short(err)):
        sb = [rms, "score", "--model", model, "--data", bad_pairs, "--threads", "2"]
        rc0, _, err0 = run(sb + ["--out", os.path.join(W, "bad-plain.h5")], env=env)
        rc4, _, err4 = run(sb + ["--out", os.path.join(W, "bad-strict.h5"), "--strict"], env=env)
        rcc, _, errc = run(base + ["--out", os.path.join(W, "clean-strict.h5"), "--strict"], env=env)
        record("--strict: exit 4 on a dataset with bad rows (one error line counting them), 0 without --strict, 0 on a "
               "clean dataset",
               rc0 == 0 and rc4 == 4 and rcc == 0 and len([l for l in err4.splitlines() if l.startswith("rmscore: error:")])
               == 1 and "bad input" in err4, "rc %d/%d/%d %s" % (rc0, rc4, rcc, short(err4)))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
