#!/usr/bin/python3
"""test_slurm.py — the shipped Slurm scripts on a real (private, single-node) Slurm.

    /usr/bin/python3 tests/slurm/test_slurm.py --rmscore build/rmscore --workdir DIR --node-modules node_modules

Starts slurmctld + slurmd + munged with tests/slurm/slurm-up.sh (as root), generates a tiny model with the Tülu
tokenizer, prepares tests/data/sample-pairs.jsonl, scores it once in a single process (the reference), then:
- configs/demo.json and configs/tulu3-8b-rm.json are accepted by `score --config` (paths overridden by flags);
- `sbatch --wait slurm/rmscore-pipeline.sbatch CONFIG` as a 3-task MPI job (root + 2 stages, mpirun
  --oversubscribe) on the node: exit 0 (sbatch --wait, `scontrol show job`, the job's output), scores equal to
  the reference; the same with RMSCORE_LAUNCHER=srun (srun --mpi=pmix);
- a requeue-style rerun of the pipeline job on its finished --out changes nothing (bitwise) and still equals the
  reference;
- graceful stop: on a slower model, SIGTERM to the batch script only (what `#SBATCH --signal=B:TERM@300`
  does before the time limit) makes the job end with exit code 3 after scoring some rows, leaving no rmscore
  process behind; rerunning the job completes the file to the single-process scores;
- `slurm/submit-array.sh CONFIG 3 OUTDIR` (job array of 3 shards + a merge job after them): both complete,
  the merged file equals the reference, the merge job's output holds the report.
"Equal to the reference" (the single-process run, which batches and threads differently): the same statuses and
the same scores bit for bit (rmstest.same_scores; rmscore's kernels are batch invariant); each such check is
followed by one asserting that the comparison against the reference shifted by one row fails.
Always stops Slurm again (slurm-down.sh). Prints PASS/FAIL per check and a final `N passed, M failed`.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import traceback

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests"))
from rmstest import finish, info, record, short  # noqa: E402  (the PASS/FAIL bookkeeping of every driver)
from rmstest import same_scores, shift_caught  # noqa: E402  (design.md's score tolerance)

FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE")


def run(args, env=None, timeout=600, check=True):
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, check=check)


def scores(path):
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return g["chosen"][:], g["rejected"][:], g["status"][:]


def equal_to_reference(what, label, ref, path, ok_run=True, run_detail=""):
    """Records `label` (ok_run, the results file at path equals the reference run's results within design.md's
    tolerance) and, next to it, `what`: the same comparison against the reference shifted by one row fails.
    Returns the results read (None if the file is missing)."""
    if not os.path.exists(path):
        record(label, False, "no file %s%s" % (path, " | " + run_detail if run_detail else ""))
        return None
    got = scores(path)
    ok, detail = same_scores(got, ref)
    record(label, ok_run and ok, detail + (" | " + run_detail if run_detail else ""))
    caught, detail = shift_caught(got, ref)
    record("%s: the comparison would catch rows shifted by one" % what, caught, detail)
    return got


def bitwise_same(a, b):
    return all(np.array_equal(np.asarray(x).view(np.uint8), np.asarray(y).view(np.uint8)) for x, y in zip(a, b))


def job_fields(env, job):
    out = run(["scontrol", "-o", "show", "job", str(job)], env=env, check=False).stdout
    return dict(w.split("=", 1) for w in out.split() if "=" in w)


def wait_job(env, job, timeout=300):
    """Polls `scontrol show job` (no accounting here) until the job is in a final state."""
    deadline = time.time() + timeout
    f = {}
    while time.time() < deadline:
        f = job_fields(env, job)
        if f.get("JobState") in FINAL:
            return f
        if f.get("JobState") == "PENDING" and f.get("Reason") == "DependencyNeverSatisfied":
            return f
        time.sleep(0.5)
    return f


def rmscore_procs(rms, config):
    """pids of running processes of this rmscore binary run with `config` (a job must leave none behind)."""
    pids = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                cmdline = open("/proc/%s/cmdline" % p, "rb").read()
                if os.readlink("/proc/%s/exe" % p) == rms and config.encode() in cmdline:
                    pids.append(int(p))
            except OSError:
                pass
    return pids


def sbatch_pipeline(env, log, config, extra=()):
    """sbatch --wait of the pipeline script; config None: given as RMSCORE_CONFIG in env instead of $1."""
    sb = ["sbatch", "--wait", "--parsable", "-N1", "-n3", "--cpus-per-task=1", "--overcommit", "--time=10",
          "--output=" + log, os.path.join(REPO, "slurm", "rmscore-pipeline.sbatch")]
    sb += ([config] if config else []) + list(extra)
    t0 = time.time()
    p = run(sb, env=env, check=False, timeout=600)
    job = p.stdout.strip().split(";")[0]
    path = log.replace("%j", job)
    text = open(path).read() if job and os.path.exists(path) else ""
    return p, job, text, time.time() - t0


def pipeline_checks(env, wd, ref, model, pairs, launcher):
    config = os.path.join(wd, "run-%s.json" % launcher)
    out = os.path.join(wd, "pipeline-%s.h5" % launcher)
    json.dump({"model": model, "data": pairs, "out": out, "stages": 2, "microbatch_tokens": 2048,
               "progress_every": 0}, open(config, "w"))
    e = dict(env, RMSCORE_LAUNCHER=launcher)
    if launcher == "srun":  # the config from the environment instead of the argument
        e["RMSCORE_CONFIG"] = config
    p, job, text, dt = sbatch_pipeline(e, os.path.join(wd, "pipeline-%s-%%j.out" % launcher),
                                       None if launcher == "srun" else config)
    f = job_fields(env, job) if job else {}
    record("[%s] sbatch --wait rmscore-pipeline.sbatch %s (3 tasks, 2 stages) exits 0 in %.0f s"
           % (launcher, "(RMSCORE_CONFIG)" if launcher == "srun" else "CONFIG", dt),
           p.returncode == 0 and "exit status 0" in text, short(p.stderr + text, 1500))
    record("[%s] scontrol show job: JobState=COMPLETED ExitCode=0:0" % launcher,
           f.get("JobState") == "COMPLETED" and f.get("ExitCode") == "0:0",
           "JobState=%s ExitCode=%s" % (f.get("JobState"), f.get("ExitCode")))
    record("[%s] the job's log shows the MPI layout and the per-rank table" % launcher,
           "root + 1 replica(s) x 2 stage(s)" in text and "per-rank time" in text, short(text[-800:]))
    equal_to_reference("[%s] pipeline job" % launcher,
                       "[%s] the Slurm pipeline job's scores equal the single-process run's" % launcher, ref, out)
    return config, out


def graceful_stop_checks(rms, env, wd, tok):
    """SIGTERM to the batch script (as --signal=B:TERM@N sends it): exit 3, rows kept, rerun completes."""
    model = os.path.join(wd, "slow-model")
    run([rms, "make-test-model", "--out", model, "--layers", "8", "--hidden", "1024", "--intermediate", "2048",
         "--heads", "8", "--kv-heads", "2", "--tokenizer", tok, "--quiet"])
    pairs = os.path.join(wd, "slow-pairs.h5")
    run([rms, "prepare", "--tokenizer", model, "--in", os.path.join(REPO, "tests", "data", "sample-pairs.jsonl"),
         "--out", pairs, "--quiet"])
    ref_path = os.path.join(wd, "slow-reference.h5")
    t0 = time.time()
    run([rms, "score", "--model", model, "--data", pairs, "--out", ref_path, "--microbatch-tokens", "256",
         "--threads", "2", "--quiet"], timeout=900)
    info("slow model: single-process reference in %.0f s" % (time.time() - t0))
    ref = scores(ref_path)
    out = os.path.join(wd, "slow.h5")
    config = os.path.join(wd, "slow.json")
    json.dump({"model": model, "data": pairs, "out": out, "stages": 2, "microbatch_tokens": 256,
               "progress_every": 1}, open(config, "w"))
    log = os.path.join(wd, "slow-%j.out")
    p = run(["sbatch", "--parsable", "-N1", "-n3", "--cpus-per-task=1", "--overcommit", "--time=10",
             "--output=" + log, os.path.join(REPO, "slurm", "rmscore-pipeline.sbatch"), config], env=env)
    job = p.stdout.strip().split(";")[0]
    log = log.replace("%j", job)
    # signal once the job has scored a few pairs (progress lines "rmscore: score: N/48 pairs")
    deadline = time.time() + 120
    done = 0
    while time.time() < deadline and done < 2:
        text = open(log).read() if os.path.exists(log) else ""
        m = re.findall(r"rmscore: score: (\d+)/\d+ pairs", text)
        done = int(m[-1]) if m else 0
        if job_fields(env, job).get("JobState") in FINAL:
            break
        time.sleep(0.2)
    run(["scancel", "--batch", "--signal=TERM", job], env=env, check=False)
    t0 = time.time()
    f = wait_job(env, job, timeout=120)
    dt = time.time() - t0
    text = open(log).read() if os.path.exists(log) else ""
    record("SIGTERM to the batch script ends the job with exit code 3 in %.1f s (JobState=%s ExitCode=%s)"
           % (dt, f.get("JobState"), f.get("ExitCode")),
           f.get("ExitCode") == "3:0" and "exit status 3" in text, short(text[-1200:]))
    time.sleep(1)
    left = rmscore_procs(rms, config)
    record("no rmscore process is left running after the interrupted job", not left, "pids %s" % left)
    st = scores(out)[2] if os.path.exists(out) else np.zeros(0, np.int8)
    n_done = int((st != 0).sum())
    record("the interrupted job kept its finished rows (%d of %d done)" % (n_done, len(st)),
           0 < n_done < len(st), "statuses %s" % np.bincount(st, minlength=4))
    p, job2, text2, dt = sbatch_pipeline(env, os.path.join(wd, "slow-rerun-%j.out"), config)
    equal_to_reference("graceful stop + rerun",
                       "rerunning the interrupted job (as a requeue does) resumes and ends with the single-process "
                       "scores (%.0f s)" % dt, ref, out, p.returncode == 0, short(text2[-600:]))


def array_checks(env, wd, ref, model, pairs):
    outdir = os.path.join(wd, "array")
    cfg2 = os.path.join(wd, "array.json")
    json.dump({"model": model, "data": pairs, "microbatch_tokens": 2048, "progress_every": 0}, open(cfg2, "w"))
    p = run(["bash", os.path.join(REPO, "slurm", "submit-array.sh"), cfg2, "3", outdir, "-N1", "--cpus-per-task=1",
             "--time=10"], env=env, check=False)
    ids = dict(line.split() for line in p.stdout.splitlines() if len(line.split()) == 2)
    if not record("submit-array.sh submits the array and the merge job (%s)" % short(p.stdout, 80).replace(" | ", ", "),
                  p.returncode == 0 and "array" in ids and "merge" in ids,
                  short(p.stdout + p.stderr) if p.returncode or len(ids) != 2 else ""):
        return
    f = wait_job(env, ids["merge"], timeout=300)
    tasks = [job_fields(env, "%s_%d" % (ids["array"], i)) for i in range(3)]
    record("the 3 array tasks complete with exit 0 (%s)" % ", ".join(t.get("JobState", "?") for t in tasks),
           all(t.get("JobState") == "COMPLETED" and t.get("ExitCode") == "0:0" for t in tasks))
    record("the array's merge job completes (JobState=%s ExitCode=%s)" % (f.get("JobState"), f.get("ExitCode")),
           f.get("JobState") == "COMPLETED" and f.get("ExitCode") == "0:0")
    shards = sorted(x for x in os.listdir(outdir) if x.startswith("shard-") and x.endswith(".h5"))
    record("the array wrote one results file per task (%s)" % ", ".join(shards), len(shards) == 3)
    merged = os.path.join(outdir, "scores.h5")
    if equal_to_reference("array merge", "the merged array results equal the single-process run's", ref,
                          merged) is not None:
        logs = [open(os.path.join(outdir, x)).read() for x in os.listdir(outdir) if x.startswith("merge-")]
        record("the merge job's output holds the report", any("rmscore report" in t and "ALL" in t for t in logs),
               short("".join(logs)[-600:]))
    else:
        record("the merge job wrote %s" % merged, False)


def body(a, rms, wd, env):
    tokdir = os.path.join(wd, "tok")
    run(["/usr/bin/python3", os.path.join(REPO, "tests", "tokenizer", "make_tokenizer_dirs.py"), tokdir,
         "--node-modules", a.node_modules])
    tok = os.path.join(tokdir, "tulu")
    model = os.path.join(wd, "model")
    run([rms, "make-test-model", "--out", model, "--layers", "4", "--tokenizer", tok, "--quiet"])
    pairs = os.path.join(wd, "pairs.h5")
    run([rms, "prepare", "--tokenizer", model, "--in", os.path.join(REPO, "tests", "data", "sample-pairs.jsonl"),
         "--out", pairs, "--quiet"])
    ref_path = os.path.join(wd, "reference.h5")
    run([rms, "score", "--model", model, "--data", pairs, "--out", ref_path, "--quiet"])
    ref = scores(ref_path)

    # every shipped config parses and runs (paths and layout overridden by flags: single process, tiny model)
    for name in ("demo.json", "tulu3-8b-rm.json"):
        o = os.path.join(wd, "config-" + name.replace(".json", ".h5"))
        p = run([rms, "score", "--config", os.path.join(REPO, "configs", name), "--model", model, "--data", pairs,
                 "--out", o, "--stages", "1", "--quiet"], check=False)
        equal_to_reference("configs/%s" % name,
                           "configs/%s is accepted by score --config (flags override it) and scores the sample as "
                           "the reference" % name, ref, o, p.returncode == 0, short(p.stderr) if p.returncode else "")

    config, out = pipeline_checks(env, wd, ref, model, pairs, "mpirun")
    # requeue-style rerun on the finished file: resumes, scores nothing, same file content (bitwise)
    before = scores(out) if os.path.exists(out) else None
    p, job, text, dt = sbatch_pipeline(env, os.path.join(wd, "pipeline-rerun-%j.out"), config)
    after = scores(out) if os.path.exists(out) else None
    same = before is not None and after is not None and bitwise_same(before, after)
    record("rerunning the job on its finished --out (as a requeue does) exits 0 and changes nothing (bitwise)",
           p.returncode == 0 and same, "rc %d, unchanged %s | %s" % (p.returncode, same, short(text[-400:])))
    equal_to_reference("requeue-style rerun",
                       "after the requeue-style rerun the file still equals the single-process run's", ref, out)
    pipeline_checks(env, wd, ref, model, pairs, "srun")
    array_checks(env, wd, ref, model, pairs)
    if not a.quick:
        graceful_stop_checks(rms, env, wd, tok)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rmscore", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--node-modules", default=os.path.join(REPO, "node_modules"))
    ap.add_argument("--quick", action="store_true", help="skip the graceful-stop check (slower model)")
    a = ap.parse_args()
    rms = os.path.realpath(a.rmscore)
    wd = os.path.abspath(a.workdir)
    if os.geteuid() != 0:
        record("running as root (slurmd, munged and SlurmUser=root need it)", False, "uid %d" % os.geteuid())
        return finish()
    sdir = os.path.join(wd, "slurm")
    if os.path.exists(os.path.join(sdir, "slurm.conf")):  # a Slurm left running by an aborted earlier run
        subprocess.run(["bash", os.path.join(HERE, "slurm-down.sh"), sdir], capture_output=True, timeout=120)
    shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    env = dict(os.environ, SLURM_CONF=os.path.join(sdir, "slurm.conf"), RMSCORE=rms, RMSCORE_OVERSUBSCRIBE="1")
    for k in ("RMSCORE_LAUNCHER", "RMSCORE_REQUEUE", "RMSCORE_SHARDS", "RMSCORE_CONFIG", "RMSCORE_TASK_NTASKS"):
        env.pop(k, None)
    t0 = time.time()
    up = subprocess.run(["bash", os.path.join(HERE, "slurm-up.sh"), sdir], capture_output=True, text=True,
                        timeout=180)
    if record("a private single-node Slurm starts (slurmctld, slurmd, munged) in %.0f s" % (time.time() - t0),
              up.returncode == 0, (up.stdout + up.stderr)[-2000:] if up.returncode else ""):
        try:
            body(a, rms, wd, env)
        except Exception:  # a crash is a failure, never a silent pass
            record("the test ran to the end", False, traceback.format_exc()[-2000:])
    down = subprocess.run(["bash", os.path.join(HERE, "slurm-down.sh"), sdir], capture_output=True, text=True,
                          timeout=120)
    record("Slurm stops and leaves nothing running", down.returncode == 0,
           (down.stdout + down.stderr)[-800:] if down.returncode else "")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
