#!/usr/bin/python3
"""test_slurm.py — the shipped Slurm scripts on a real (private, single-node) Slurm.

    /usr/bin/python3 tests/slurm/test_slurm.py --rmscore build/rmscore --workdir DIR --node-modules node_modules

Starts slurmctld + slurmd + munged with tests/slurm/slurm-up.sh, generates a tiny model with the Tülu tokenizer,
prepares tests/data/sample-pairs.jsonl, scores it once in a single process (the reference), then:
- `sbatch --wait slurm/rmscore-pipeline.sbatch CONFIG` as a 3-task MPI job (root + 2 stages) on the node:
  exit state 0 (sbatch --wait and the job's output), scores equal to the reference;
- `slurm/submit-array.sh CONFIG 3 OUTDIR` (job array of 3 shards + a merge job after them): both jobs
  complete, the merged file equals the reference, the merge job's output holds the report;
- a requeue-style rerun of the pipeline job on its finished --out changes nothing.
Always stops Slurm again. Prints PASS/FAIL per check and a final `N passed, M failed`.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RESULTS = []


def record(name, ok, detail=""):
    RESULTS.append(bool(ok))
    print("%s: %s%s" % ("PASS" if ok else "FAIL", name, (" -- " + detail) if detail and not ok else ""), flush=True)
    return ok


def run(args, env=None, timeout=600, check=True):
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, check=check)


def scores(path):
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return g["chosen"][:], g["rejected"][:], g["status"][:]


def equal(a, b):
    if not np.array_equal(a[2], b[2]):
        return False, "statuses differ"
    ok = a[2] == 1
    d = max(np.max(np.abs(a[0][ok] - b[0][ok]) / np.maximum(1, np.abs(a[0][ok])), initial=0),
            np.max(np.abs(a[1][ok] - b[1][ok]) / np.maximum(1, np.abs(a[1][ok])), initial=0))
    return d <= 1e-5, "max relative difference %.3g" % d


def job_state(env, job):
    out = run(["scontrol", "show", "job", str(job)], env=env, check=False).stdout
    fields = dict(w.split("=", 1) for w in out.split() if "=" in w)
    return fields.get("JobState", "?"), fields.get("ExitCode", "?")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rmscore", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--node-modules", default=os.path.join(REPO, "node_modules"))
    a = ap.parse_args()
    rms = os.path.abspath(a.rmscore)
    wd = os.path.abspath(a.workdir)
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    sdir = os.path.join(wd, "slurm")
    env = dict(os.environ, SLURM_CONF=os.path.join(sdir, "slurm.conf"), RMSCORE=rms, RMSCORE_OVERSUBSCRIBE="1")
    up = subprocess.run(["bash", os.path.join(HERE, "slurm-up.sh"), sdir], capture_output=True, text=True, timeout=180)
    if not record("a private single-node Slurm starts (slurmctld, slurmd, munged)", up.returncode == 0,
                  (up.stdout + up.stderr)[-1500:]):
        return finish(sdir)
    try:
        body(a, rms, wd, env)
    finally:
        return finish(sdir)


def body(a, rms, wd, env):
    run(["/usr/bin/python3", os.path.join(REPO, "tests", "tokenizer", "make_tokenizer_dirs.py"), os.path.join(wd, "tok"),
         "--node-modules", a.node_modules])
    model = os.path.join(wd, "model")
    run([rms, "make-test-model", "--out", model, "--layers", "4", "--tokenizer", os.path.join(wd, "tok", "tulu"),
         "--quiet"])
    pairs = os.path.join(wd, "pairs.h5")
    run([rms, "prepare", "--tokenizer", model, "--in", os.path.join(REPO, "tests", "data", "sample-pairs.jsonl"),
         "--out", pairs, "--quiet"])
    ref_path = os.path.join(wd, "reference.h5")
    run([rms, "score", "--model", model, "--data", pairs, "--out", ref_path, "--quiet"])
    ref = scores(ref_path)
    config = os.path.join(wd, "run.json")
    out = os.path.join(wd, "pipeline.h5")
    json.dump({"model": model, "data": pairs, "out": out, "stages": 2, "microbatch_tokens": 2048,
               "progress_every": 0}, open(config, "w"))

    # the pipeline job: 3 ranks (root + 2 stages) on the one 2-CPU node
    log = os.path.join(wd, "pipeline-%j.out")
    sb = ["sbatch", "--wait", "--parsable", "-N1", "-n3", "--cpus-per-task=1", "--overcommit",
          "--time=10", "--output=" + log, os.path.join(REPO, "slurm", "rmscore-pipeline.sbatch"), config]
    t0 = time.time()
    p = run(sb, env=env, check=False)
    job = p.stdout.strip().split(";")[0]
    text = open(log.replace("%j", job)).read() if job and os.path.exists(log.replace("%j", job)) else ""
    record("sbatch --wait rmscore-pipeline.sbatch (3 tasks, 2 stages) exits 0 in %.0f s" % (time.time() - t0),
           p.returncode == 0 and "exit status 0" in text, (p.stderr + text)[-1500:])
    record("the pipeline job's log shows the MPI layout and the per-rank table",
           "root + 1 replica(s) x 2 stage(s)" in text and "per-rank time" in text, text[-800:])
    if os.path.exists(out):
        ok, detail = equal(ref, scores(out))
        record("the Slurm pipeline job's scores equal the single-process run's", ok, detail)
    else:
        record("the Slurm pipeline job wrote its results", False)
    # requeue-style rerun on the finished file: resumes, scores nothing, same file content
    p = run(sb, env=env, check=False)
    ok, detail = equal(ref, scores(out)) if os.path.exists(out) else (False, "no file")
    record("rerunning the job on its finished --out (as a requeue does) exits 0 and changes nothing",
           p.returncode == 0 and ok, detail)

    # the job array of 3 shards, then the merge job
    outdir = os.path.join(wd, "array")
    cfg2 = os.path.join(wd, "array.json")
    json.dump({"model": model, "data": pairs, "microbatch_tokens": 2048, "progress_every": 0}, open(cfg2, "w"))
    p = run(["bash", os.path.join(REPO, "slurm", "submit-array.sh"), cfg2, "3", outdir, "-N1", "--cpus-per-task=1",
             "--time=10"], env=env, check=False)
    ids = dict(line.split() for line in p.stdout.splitlines() if len(line.split()) == 2)
    if not record("submit-array.sh submits the array and the merge job", p.returncode == 0 and "array" in ids
                  and "merge" in ids, p.stdout + p.stderr):
        return
    deadline = time.time() + 300
    state = ("?", "?")
    while time.time() < deadline:
        state = job_state(env, ids["merge"])
        if state[0] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"):
            break
        if state[0] == "PENDING" and "DependencyNeverSatisfied" in run(["scontrol", "show", "job", ids["merge"]],
                                                                          env=env, check=False).stdout:
            break
        time.sleep(1)
    merged = os.path.join(outdir, "scores.h5")
    record("the array's merge job completes (state %s, exit %s)" % state, state[0] == "COMPLETED")
    shards = sorted(f for f in os.listdir(outdir) if f.startswith("shard-") and f.endswith(".h5"))
    record("the array wrote one results file per task (%s)" % ", ".join(shards), len(shards) == 3)
    if os.path.exists(merged):
        ok, detail = equal(ref, scores(merged))
        record("the merged array results equal the single-process run's", ok, detail)
        logs = [open(os.path.join(outdir, f)).read() for f in os.listdir(outdir) if f.startswith("merge-")]
        record("the merge job's output holds the report", any("rmscore report" in t and "ALL" in t for t in logs))
    else:
        record("the merge job wrote %s" % merged, False)


def finish(sdir):
    down = subprocess.run(["bash", os.path.join(HERE, "slurm-down.sh"), sdir], capture_output=True, text=True,
                          timeout=120)
    record("Slurm stops and leaves nothing running", down.returncode == 0, (down.stdout + down.stderr)[-800:])
    passed = sum(RESULTS)
    print("%d passed, %d failed" % (passed, len(RESULTS) - passed))
    return 0 if passed == len(RESULTS) else 1


if __name__ == "__main__":
    sys.exit(main())
