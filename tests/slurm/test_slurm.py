#!/usr/bin/python3
"""test_slurm.py — the shipped Slurm scripts on a real (private, single-node) Slurm.

    /usr/bin/python3 tests/slurm/test_slurm.py --rmscore build/rmscore --workdir DIR --node-modules node_modules

Starts slurmctld + slurmd + munged with tests/slurm/slurm-up.sh (as root; free ports; task/affinity; a requeued
job is eligible again after 10 s), generates a tiny model with the Tülu tokenizer, prepares
tests/data/sample-pairs.jsonl, scores it once in a single process (the reference), then:
- static: the scripts pass shellcheck (or bash -n); the sbatch scripts set --mem, and the pipeline and array
  scripts --signal=B:TERM@S and --requeue with S + 60 s below rmscore-job.sh's default stop margin;
- script logic with a fake rmscore (a shell script recording its arguments): --stop-at is the job's end (squeue)
  minus the margin, the user's flags are kept; exit status 3 requeues the job until RMSCORE_MAX_REQUEUES, then
  the job fails with exit code 3; SIGUSR2 to the batch script stops rmscore without requeueing; a job cancelled
  with scancel stays cancelled although rmscore exits 3;
- graceful stop (on a slower model): SIGTERM to the batch script once rows are written (what --signal=B:TERM,
  preemption or `scancel --batch --signal=TERM` send) makes rmscore stop after the batches in flight and exit 3,
  the rows written are kept, no rmscore process is left; under mpirun the job requeues itself and the requeued
  run completes it with the single-process scores; under srun (RMSCORE_MAX_REQUEUES=0) it ends with exit code 3;
- stop in time, continue by itself: a 3-rank pipeline job with a 1-minute limit on a dataset sized (from the speed
  measured) to need several runs: every run but the last is stopped by rmscore's --stop-at (the job's end minus
  RMSCORE_STOP_MARGIN=45 s) before the warning signal (--signal=B:TERM@1) could come, and requeues the job; the
  last completes it: JobState=COMPLETED, no time limit hit, the scores equal an uninterrupted single-process run's
  bit for bit (that reference runs in the background meanwhile; these jobs run while the checks below do);
- configs/demo.json and configs/tulu3-8b-rm.json are accepted by `score --config` (paths overridden by flags);
- `sbatch --wait slurm/rmscore-pipeline.sbatch CONFIG` as a 3-task MPI job (root + 2 stages, mpirun
  --oversubscribe) on the node: exit 0, scores equal to the reference; a rerun on its finished --out changes
  nothing (bitwise); the same job with RMSCORE_LAUNCHER=srun (srun --mpi=pmix);
- placement: a 2-rank job with --cpus-per-task=1 under mpirun and under srun: each rank runs bound to a core of its
  own (Cpus_allowed_list, recorded by a wrapper before it execs rmscore) and rmscore's start-up line for the rank
  ("rank R on HOST ...: ... CPUs LIST; threads: N ...", parsed leniently) names the same CPUs and 1 thread;
- arrays that can be rerun: `slurm/submit-array.sh CONFIG 3 OUTDIR` with task 1 failing (a directory where its
  results file goes): tasks 0 and 2 complete, the merge job (afterany) names shard 1 and the command to rerun it
  and writes nothing; after the cause is removed, that command (submit-array.sh --missing) reruns only task 1
  (as shard 1/3) and a new merge, which completes: the merged file equals the reference, its log holds the report.
"Equal to the reference" (the single-process run, which batches and threads differently): the same statuses and
the same scores bit for bit (rmstest.same_scores; rmscore's kernels are batch invariant); each such check is
followed by one asserting that the comparison against the reference shifted by one row fails.
Always stops Slurm again (slurm-down.sh). Prints PASS/FAIL per check and a final `N passed, M failed`.
"""

import argparse
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import traceback

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SLURM = os.path.join(REPO, "slurm")
SAMPLE = os.path.join(REPO, "tests", "data", "sample-pairs.jsonl")
sys.path.insert(0, os.path.join(REPO, "tests"))
from rmstest import finish, info, record, short  # noqa: E402  (the PASS/FAIL bookkeeping of every driver)
from rmstest import same_scores, shift_caught  # noqa: E402  (design.md's score tolerance)

FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL",
         "DEADLINE")
PROGRESS = re.compile(r"(\d+)/(\d+) pairs")
# rmscore's start-up line of an MPI rank, e.g. "rank 1 on vm (pid 7): replica 0 stage 0: layers 0-3; CPUs 1;
# threads: 1 compute + heartbeat" or "rank 1 on HOST: cpus 0-3, threads 4"
RANK_LINE = re.compile(r"\brank (\d+) on ([^\s:(]+)[^\n]*?\bcpus:?\s+([0-9][0-9,\-]*)(?:[^\n]*?\bthreads?:?\s+(\d+))?",
                       re.IGNORECASE)
WRAPPER_LINE = re.compile(r"affinity-wrapper: rank (\S+) host (\S+) cpus ([0-9,\-]+)")
# the scripts' own log lines: "rmscore-pipeline: [2026-12-01T08:00:00+0000] message"
SCRIPT_LINE = re.compile(r"^rmscore-(?:pipeline|array): \[([0-9T:+\-]+)\] (.*)$", re.MULTILINE)


def run(args, env=None, timeout=600, check=True):
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout, check=check)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


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


def wait_for(cond, timeout, step=0.2):
    """Polls cond() until it returns something true (returned) or timeout seconds pass (None)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return None


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


def sbatch(env, options, script, args, log):
    """sbatch --parsable (not waiting); returns the job id ('' if refused) and the log path with %j filled in."""
    p = run(["sbatch", "--parsable"] + list(options) + ["--output=" + log, os.path.join(SLURM, script)] + list(args),
            env=env, check=False)
    job = p.stdout.strip().split(";")[0]
    if not job:
        info("sbatch %s refused: %s" % (script, short(p.stderr)))
    return job, log.replace("%j", job)


def sbatch_pipeline(env, log, config, extra=(), options=("-n3", "--overcommit")):
    """sbatch --wait of the pipeline script; config None: given as RMSCORE_CONFIG in env instead of $1."""
    sb = ["sbatch", "--wait", "--parsable", "-N1", "--cpus-per-task=1", "--time=10"] + list(options) + [
        "--output=" + log, os.path.join(SLURM, "rmscore-pipeline.sbatch")]
    sb += ([config] if config else []) + list(extra)
    t0 = time.time()
    p = run(sb, env=env, check=False, timeout=600)
    job = p.stdout.strip().split(";")[0]
    path = log.replace("%j", job)
    text = read(path) if job else ""
    return p, job, text, time.time() - t0


def script_runs(text):
    """The runs of a (requeued) job in its appended log: one dict per "job N (restart K)" header with the
    script's timestamped lines of that run (start, end time announced, rmscore's exit status, ...)."""
    runs = []
    for m in SCRIPT_LINE.finditer(text):
        stamp, msg = m.group(1), m.group(2)
        t = time.mktime(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
        h = re.match(r"job \S+ (?:\(job \S+, )?\(?restart (\d+)\)", msg)
        if h:
            runs.append({"restart": int(h.group(1)), "start": t, "lines": [], "text_at": m.end()})
            continue
        if not runs:
            continue
        r = runs[-1]
        r["lines"].append(msg)
        e = re.match(r"job ends \S+ \(in -?\d+ s\): --stop-at (\d+)", msg)
        if e:
            r["stop_at"] = int(e.group(1))
            r["end"] = t + int(re.search(r"\(in (-?\d+) s\)", msg).group(1))
        x = re.match(r"rmscore exit status (\d+)", msg)
        if x:
            r["rc"], r["exit_at"] = int(x.group(1)), t
        if msg.startswith("SIG"):
            r["signal"] = msg.split(":")[0]
        if msg.startswith("requeueing"):
            r["requeued"] = True
    for i, r in enumerate(runs):  # the text of each run (rmscore's lines included)
        r["text"] = text[r["text_at"]:runs[i + 1]["text_at"] if i + 1 < len(runs) else len(text)]
    return runs


# ------------------------------------------------------------------ static checks
def sbatch_directives(path):
    return [line.split(None, 1)[1].strip() for line in read(path).splitlines() if line.startswith("#SBATCH ")]


def static_checks():
    files = sorted(os.path.join(SLURM, f) for f in os.listdir(SLURM) if f.endswith((".sh", ".sbatch")))
    if shutil.which("shellcheck"):
        p = run(["shellcheck", "-x"] + files, check=False)
        record("the Slurm scripts pass shellcheck (%d files)" % len(files), p.returncode == 0, short(p.stdout, 1500))
    else:
        bad = [f for f in files if run(["bash", "-n", f], check=False).returncode]
        record("the Slurm scripts parse (bash -n; no shellcheck here)", not bad, " ".join(bad))
    lib = read(os.path.join(SLURM, "rmscore-job.sh"))
    m = re.search(r"^\s*margin=(\d+)$", lib, re.MULTILINE)
    margin = int(m.group(1)) if m else None
    for name in ("rmscore-pipeline.sbatch", "rmscore-array.sbatch", "rmscore-merge.sbatch"):
        d = sbatch_directives(os.path.join(SLURM, name))
        mem = [x for x in d if x.startswith(("--mem=", "--mem-per-cpu="))]
        if name == "rmscore-merge.sbatch":
            record("%s sets --mem (%s)" % (name, ", ".join(mem)), len(mem) == 1)
            continue
        sig = [re.fullmatch(r"--signal=B:TERM@(\d+)", x) for x in d if x.startswith("--signal")]
        s = int(sig[0].group(1)) if sig and sig[0] else None
        record("%s sets --mem, --requeue and --signal=B:TERM@S with S + 60 below the default stop margin (%s, "
               "S=%s, margin %s)" % (name, ", ".join(mem), s, margin),
               len(mem) == 1 and "--requeue" in d and s is not None and margin is not None and s + 60 < margin,
               " ".join(d))


# ------------------------------------------------------------------ script logic, with a fake rmscore
FAKE = r"""#!/bin/bash
# fake rmscore for test_slurm.py: records its arguments; FAKE_MODE exit3: exits 3 at once; wait: waits for
# SIGTERM (handled from before the arguments are recorded), then exits 3
trap 'trap "" TERM; echo "fake-rmscore: SIGTERM" >>"$FAKE_LOG"; exit 3' TERM
echo "fake-rmscore restart=${SLURM_RESTART_COUNT:-0} now=$(date +%s) args: $*" >>"$FAKE_LOG"
case "${FAKE_MODE:-exit3}" in
  exit3) exit 3 ;;
  wait) while :; do sleep 0.1; done ;;
esac
"""


def fake_rmscore(wd):
    path = os.path.join(wd, "fake-rmscore")
    with open(path, "w") as f:
        f.write(FAKE)
    os.chmod(path, 0o755)
    return path


def fake_submit(env, wd):
    """A job whose (fake) rmscore always exits 3, with RMSCORE_MAX_REQUEUES=1: submitted now, checked by
    fake_verify() at the end (its requeue takes ~12 s)."""
    log = os.path.join(wd, "fake-bound.log")
    e = dict(env, RMSCORE=fake_rmscore(wd), FAKE_MODE="exit3", FAKE_LOG=log, RMSCORE_MAX_REQUEUES="1")
    job, out = sbatch(e, ["-N1", "-n1", "-c1", "--time=1"], "rmscore-pipeline.sbatch",
                      ["fake.json", "--flag-of-the-user", "x"], os.path.join(wd, "fake-bound-%j.out"))
    return {"job": job, "out": out, "log": log}


def fake_stop_checks(env, wd):
    """SIGUSR2 to the batch script: rmscore asked to stop (SIGTERM), exit 3, and no requeue. A plain scancel (every
    process of the job gets SIGTERM; the fake exits 3 as rmscore would): the job stays cancelled, never requeued."""
    for how, scancel in (("usr2", ["--batch", "--signal=USR2"]), ("scancel", [])):
        log = os.path.join(wd, "fake-%s.log" % how)
        e = dict(env, RMSCORE=fake_rmscore(wd), FAKE_MODE="wait", FAKE_LOG=log)
        job, out = sbatch(e, ["-N1", "-n1", "-c1", "--time=2"], "rmscore-pipeline.sbatch", ["fake.json"],
                          os.path.join(wd, "fake-%s-%%j.out" % how))
        started = wait_for(lambda: "args:" in read(log), 60)
        run(["scancel"] + scancel + [job], env=env, check=False)
        f = wait_job(env, job, 60)
        time.sleep(1)
        f = job_fields(env, job)  # a requeue would show now
        text = read(out)
        if how == "usr2":
            record("[fake rmscore] SIGUSR2 to the batch script stops rmscore (SIGTERM) and the job ends with exit "
                   "code 3, not requeued (JobState=%s ExitCode=%s Restarts=%s)" % (f.get("JobState"),
                                                                                   f.get("ExitCode"), f.get("Restarts")),
                   bool(started) and f.get("ExitCode") == "3:0" and f.get("Restarts") == "0" and
                   "fake-rmscore: SIGTERM" in read(log) and "not requeueing (requeue turned off)" in text,
                   short(text + read(log), 1200))
        else:
            record("[fake rmscore] scancel: rmscore exits 3 but the cancelled job is not requeued (JobState=%s "
                   "Restarts=%s)" % (f.get("JobState"), f.get("Restarts")),
                   bool(started) and f.get("JobState") == "CANCELLED" and f.get("Restarts") == "0" and
                   "not requeueing: the job is COMPLETING" in text, short(text + read(log), 1200))


def fake_verify(env, fake):
    f = wait_job(env, fake["job"], 120)
    text, calls = read(fake["out"]), [line for line in read(fake["log"]).splitlines() if " args: " in line]
    record("[fake rmscore] exit status 3 requeues the job until RMSCORE_MAX_REQUEUES=1, then it fails with exit code 3 "
           "(JobState=%s ExitCode=%s Restarts=%s, %d runs)" % (f.get("JobState"), f.get("ExitCode"),
                                                              f.get("Restarts"), len(calls)),
           f.get("JobState") == "FAILED" and f.get("ExitCode") == "3:0" and f.get("Restarts") == "1" and
           len(calls) == 2 and "requeueing job" in text and "RMSCORE_MAX_REQUEUES=1" in text,
           short(text, 1500))
    # --stop-at END - margin: a 1-minute job, so margin = 60 / 4 = 15 s: --stop-at lies ~45 s after rmscore starts
    ok, seen = bool(calls), []
    for c in calls:
        m = re.search(r"now=(\d+) args: score --config fake.json --threads 1 --stop-at (\d+) --flag-of-the-user x$", c)
        seen.append("%s" % (int(m.group(2)) - int(m.group(1))) if m else "?")
        ok = ok and m is not None and 38 <= int(m.group(2)) - int(m.group(1)) <= 46
    record("[fake rmscore] each run gets --stop-at = the job's end (squeue) - 15 s on a 1-minute job, before the "
           "user's flags (stop-at - start: %s s)" % ", ".join(seen), ok, short("\n".join(calls), 800))


# ------------------------------------------------------------------ stop in time, continue by itself
def make_slow_model(rms, wd, tok):
    model = os.path.join(wd, "slow-model")
    run([rms, "make-test-model", "--out", model, "--layers", "8", "--hidden", "1024", "--intermediate", "2048",
         "--heads", "8", "--kv-heads", "2", "--tokenizer", tok, "--quiet"])
    return model


def slow_setup(rms, wd, tok):
    """The slower model, the sample prepared for it and scored in one process (the graceful-stop job's reference,
    and the speed that sizes the 1-minute job's dataset)."""
    st = {"model": make_slow_model(rms, wd, tok), "pairs48": os.path.join(wd, "slow-pairs-48.h5"),
          "ref48": os.path.join(wd, "slow-reference-48.h5")}
    run([rms, "prepare", "--tokenizer", st["model"], "--in", SAMPLE, "--out", st["pairs48"], "--quiet"])
    t0 = time.time()
    run([rms, "score", "--model", st["model"], "--data", st["pairs48"], "--out", st["ref48"],
         "--microbatch-tokens", "256", "--threads", "2", "--quiet"], timeout=900)
    st["w48"] = time.time() - t0
    return st


def graceful_submit(rms, env, wd, slow, launcher):
    """SIGTERM to the batch script (what --signal=B:TERM, preemption or `scancel --batch --signal=TERM` send) once
    the job has written rows: rmscore stops after the batches in flight, exit 3, rows kept, no process left. Under
    mpirun the job requeues itself, and graceful_verify() checks at the end that the requeued run completed it;
    under srun RMSCORE_MAX_REQUEUES=0 keeps it from requeueing (it ends with exit code 3)."""
    out = os.path.join(wd, "slow-%s.h5" % launcher)
    config = os.path.join(wd, "slow-%s.json" % launcher)
    json.dump({"model": slow["model"], "data": slow["pairs48"], "out": out, "stages": 2, "microbatch_tokens": 256,
               "progress_every": 1}, open(config, "w"))
    requeue = launcher == "mpirun"
    e = dict(env, RMSCORE_LAUNCHER=launcher, RMSCORE_MAX_REQUEUES="20" if requeue else "0")
    job, log = sbatch(e, ["-N1", "-n3", "--overcommit", "-c1", "--time=10"], "rmscore-pipeline.sbatch", [config],
                      os.path.join(wd, "slow-%s-%%j.out" % launcher))
    st = {"job": job, "log": log, "out": out, "launcher": launcher}
    if not job:
        return st

    def progressed():
        m = PROGRESS.findall(read(log))
        return m and int(m[-1][0]) >= 2 or job_fields(env, job).get("JobState") in FINAL
    wait_for(progressed, 120)
    run(["scancel", "--batch", "--signal=TERM", job], env=env, check=False)
    t1 = time.time()
    f = wait_for(lambda: (lambda g: g if g.get("Restarts") == "1" or g.get("JobState") in FINAL else None)(
        job_fields(env, job)), 120) or {}
    dt = time.time() - t1
    text = read(log)
    runs = script_runs(text)
    r0 = runs[0] if runs else {}
    if requeue:
        record("[%s] SIGTERM to the batch script: rmscore stops after the batches in flight, exits 3 and the job "
               "requeues itself in %.1f s (Restarts=%s)" % (launcher, dt, f.get("Restarts")),
               f.get("Restarts") == "1" and r0.get("signal") == "SIGTERM" and r0.get("rc") == 3 and
               r0.get("requeued"), short(text[-1500:]))
        state = wait_for(lambda: job_fields(env, job).get("JobState") == "PENDING" and "PENDING", 30) or \
            job_fields(env, job).get("JobState")
    else:
        record("[%s] SIGTERM to the batch script: rmscore stops after the batches in flight and the job ends with "
               "exit code 3, not requeued with RMSCORE_MAX_REQUEUES=0, in %.1f s (JobState=%s ExitCode=%s)"
               % (launcher, dt, f.get("JobState"), f.get("ExitCode")),
               f.get("ExitCode") == "3:0" and f.get("Restarts") == "0" and r0.get("signal") == "SIGTERM" and
               r0.get("rc") == 3 and "not requeueing" in text, short(text[-1500:]))
        state = f.get("JobState")
    time.sleep(0.5)
    left = rmscore_procs(rms, config)
    record("[%s] no rmscore process is left running after the stop (JobState=%s)" % (launcher, state),
           state == ("PENDING" if requeue else "FAILED") and not left, "pids %s" % left)
    s = scores(out)[2] if os.path.exists(out) else np.zeros(0, np.int8)
    n_done = int((s != 0).sum())
    record("[%s] the interrupted run kept its finished rows (%d of %d done)" % (launcher, n_done, len(s)),
           0 < n_done < len(s), "statuses %s" % np.bincount(s, minlength=4))
    return st


def graceful_verify(env, slow, st):
    if not st["job"]:
        record("the graceful-stop job was submitted", False)
        return
    f = wait_job(env, st["job"], 300)
    text = read(st["log"])
    equal_to_reference("graceful stop + requeue",
                       "the requeued run completes the interrupted job (JobState=%s ExitCode=%s) with the "
                       "single-process scores" % (f.get("JobState"), f.get("ExitCode")), scores(slow["ref48"]),
                       st["out"], f.get("JobState") == "COMPLETED" and f.get("ExitCode") == "0:0", short(text[-600:]))


def requeue_submit(rms, env, wd, slow):
    """Submits the 1-minute pipeline job on a dataset sized (from the speed measured here) to need several runs,
    and starts the uninterrupted reference run in the background. requeue_verify() checks at the end."""
    # ~20 s of work: more than one run scores it with a 45-s margin on a 1-minute limit (~10 s each). Sequences
    # over 256 tokens are skipped (2 pairs of the 48, half the work of the sample): every micro-batch is small, so
    # rmscore measures its speed early and the batches in flight drain within a second or two of its --stop-at
    k = max(2, min(16, int(math.ceil(20.0 / max(0.5 * slow["w48"], 0.1)))))
    rows = [json.loads(line) for line in open(SAMPLE)]
    jsonl = os.path.join(wd, "limit-pairs.jsonl")
    with open(jsonl, "w") as f:
        for i in range(k):
            for r in rows:
                f.write(json.dumps(dict(r, id="%s-%d" % (r.get("id", ""), i))) + "\n")
    pairs = os.path.join(wd, "limit-pairs.h5")
    run([rms, "prepare", "--tokenizer", slow["model"], "--in", jsonl, "--out", pairs, "--quiet"])
    info("1-minute job: 48 pairs take %.1f s here (single process, 2 threads): %d x 48 pairs, sequences over 256 "
         "tokens skipped" % (slow["w48"], k))
    out = os.path.join(wd, "limit.h5")
    config = os.path.join(wd, "limit.json")
    json.dump({"model": slow["model"], "data": pairs, "out": out, "stages": 2, "microbatch_tokens": 256,
               "max_tokens": 256, "progress_every": 1}, open(config, "w"))
    # the warning signal comes 1-31 s before the end: after rmscore's --stop-at (45 s before), never before it
    job, log = sbatch(dict(env, RMSCORE_STOP_MARGIN="45"),
                      ["-N1", "-n3", "--overcommit", "-c1", "--time=1", "--signal=B:TERM@1"],
                      "rmscore-pipeline.sbatch", [config], os.path.join(wd, "limit-%j.out"))
    ref_path = os.path.join(wd, "limit-reference.h5")
    proc = subprocess.Popen([rms, "score", "--model", slow["model"], "--data", pairs, "--out", ref_path,
                             "--microbatch-tokens", "256", "--max-tokens", "256", "--threads", "2", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return {"job": job, "log": log, "out": out, "t0": time.time(), "n": 48 * k, "ref_path": ref_path,
            "ref_proc": proc}


def requeue_verify(env, st):
    job, log = st["job"], st["log"]
    if not job:
        record("the 1-minute pipeline job was submitted", False)
        return
    f = wait_job(env, job, timeout=max(60, 480 - (time.time() - st["t0"])))
    dt = time.time() - st["t0"]
    text = read(log)
    runs = script_runs(text)
    restarts = int(f.get("Restarts", "0") or 0)
    record("the 1-minute job completes the dataset through requeues: JobState=%s ExitCode=%s after %d runs in %.0f s"
           % (f.get("JobState"), f.get("ExitCode"), restarts + 1, dt),
           f.get("JobState") == "COMPLETED" and f.get("ExitCode") == "0:0" and len(runs) == restarts + 1 and
           restarts >= 1, short(text[-1500:]))
    stopped = runs[:-1]
    record("every run but the last was stopped by rmscore's --stop-at (exit 3, no signal) and requeued the job "
           "(%d runs)" % len(stopped),
           bool(stopped) and all(r.get("rc") == 3 and "signal" not in r and r.get("requeued") and
                                 re.search(r"^rmscore: .*(--stop-at|deadline)", r["text"], re.MULTILINE)
                                 for r in stopped),
           " || ".join(short(r["text"], 400) for r in runs))
    # rmscore exits (MPI teardown included) inside the margin: before the warning signal's earliest time,
    # end - 1 s - 30 s (Slurm checks time limits every 30 s)
    late = ["restart %d" % r["restart"] for r in stopped if "end" not in r or r["exit_at"] > r["end"] - 31]
    record("each of those runs ended before the warning signal could come (rmscore exit vs --stop-at: %s s)" %
           ", ".join("%+.0f" % (r["exit_at"] - r["stop_at"]) for r in stopped if "stop_at" in r), not late,
           "late: " + ", ".join(late))
    record("no run reached the time limit (no TIMEOUT, no 'DUE TO TIME LIMIT')",
           "TIME LIMIT" not in text and f.get("JobState") != "TIMEOUT", short(text[-800:]))
    gaps = ["%.0f" % (runs[i + 1]["start"] - runs[i]["exit_at"]) for i in range(len(runs) - 1) if "exit_at" in runs[i]]
    info("1-minute job: runs of %s s (script start to rmscore's exit), requeue gaps %s s, %.0f s in all" % (
        ", ".join("%.0f" % (r["exit_at"] - r["start"]) for r in runs if "exit_at" in r), ", ".join(gaps), dt))
    p = st["ref_proc"]
    try:
        _, err = p.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    if p.returncode != 0:
        record("the uninterrupted reference run of the 1-minute job's dataset", False, short(err))
        return
    equal_to_reference("1-minute job with requeues",
                       "the requeued job's scores equal an uninterrupted single-process run's (%d pairs)" % st["n"],
                       scores(st["ref_path"]), st["out"])


# ------------------------------------------------------------------ pipeline jobs, placement
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
           p.returncode == 0 and "rmscore exit status 0" in text, short(p.stderr + text, 1500))
    record("[%s] scontrol show job: JobState=COMPLETED ExitCode=0:0" % launcher,
           f.get("JobState") == "COMPLETED" and f.get("ExitCode") == "0:0",
           "JobState=%s ExitCode=%s" % (f.get("JobState"), f.get("ExitCode")))
    record("[%s] the job's log shows the MPI layout and the per-rank table" % launcher,
           "root + 1 replica(s) x 2 stage(s)" in text and "per-rank time" in text, short(text[-800:]))
    equal_to_reference("[%s] pipeline job" % launcher,
                       "[%s] the Slurm pipeline job's scores equal the single-process run's" % launcher, ref, out)
    return config, out


AFFINITY_WRAPPER = r"""#!/bin/bash
# records the CPUs this rank may run on (as the launcher bound it), then becomes rmscore
echo "affinity-wrapper: rank ${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-${SLURM_PROCID:-?}}} host $(hostname) cpus $(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/self/status)" >&2
exec "$RMSCORE_REAL" "$@"
"""


def placement_checks(rms, env, wd, ref, model, pairs):
    wrapper = os.path.join(wd, "affinity-wrapper")
    with open(wrapper, "w") as f:
        f.write(AFFINITY_WRAPPER)
    os.chmod(wrapper, 0o755)
    for launcher in ("mpirun", "srun"):
        out = os.path.join(wd, "placement-%s.h5" % launcher)
        config = os.path.join(wd, "placement-%s.json" % launcher)
        json.dump({"model": model, "data": pairs, "out": out, "stages": 1, "microbatch_tokens": 2048,
                   "progress_every": 0}, open(config, "w"))
        e = dict(env, RMSCORE=wrapper, RMSCORE_REAL=rms, RMSCORE_LAUNCHER=launcher)
        e.pop("RMSCORE_OVERSUBSCRIBE", None)  # 2 ranks on the node's 2 cores: no oversubscription
        p, job, text, dt = sbatch_pipeline(e, os.path.join(wd, "placement-%s-%%j.out" % launcher), config,
                                           options=("-n2",))
        bound = {m.group(1): m.group(3) for m in WRAPPER_LINE.finditer(text)}
        said = {m.group(1): (m.group(2), m.group(3), m.group(4)) for m in RANK_LINE.finditer(text)}
        ok = p.returncode == 0 and sorted(bound) == ["0", "1"] and \
            all(re.fullmatch(r"\d+", c) for c in bound.values()) and len(set(bound.values())) == 2
        record("[%s] --cpus-per-task=1, 2 ranks: each rank runs bound to a core of its own (%s)"
               % (launcher, ", ".join("rank %s: cpus %s" % kv for kv in sorted(bound.items()))), ok,
               short(text, 1500))
        agree = sorted(said) == ["0", "1"] and all(said[r][1] == bound.get(r) for r in said) and \
            said["1"][2] == "1"
        record("[%s] rmscore's start-up line of each rank names its host, the same CPUs and 1 compute thread (%s)"
               % (launcher, "; ".join("rank %s on %s: cpus %s, threads %s" % ((r,) + said[r]) for r in sorted(said))),
               agree, short("\n".join(line for line in text.splitlines() if " rank " in line), 1200))
        if os.path.exists(out):
            okr, detail = same_scores(scores(out), ref)
            record("[%s] the placement job's scores equal the reference" % launcher, okr, detail)
        else:
            record("[%s] the placement job wrote %s" % (launcher, out), False, short(text, 800))


# ------------------------------------------------------------------ arrays that can be rerun
def array_checks(env, wd, ref, model, pairs):
    outdir = os.path.join(wd, "array")
    cfg = os.path.join(wd, "array.json")
    json.dump({"model": model, "data": pairs, "microbatch_tokens": 2048, "progress_every": 0}, open(cfg, "w"))
    os.makedirs(os.path.join(outdir, "shard-1-of-3.h5"))  # task 1 fails: its results file cannot be created
    opts = ["-N1", "--cpus-per-task=1", "--time=10"]
    p = run(["bash", os.path.join(SLURM, "submit-array.sh"), cfg, "3", outdir] + opts, env=env, check=False)
    ids = dict(line.split() for line in p.stdout.splitlines() if len(line.split()) == 2)
    if not record("submit-array.sh submits the array and the merge job (%s)" % short(p.stdout, 80).replace(" | ", ", "),
                  p.returncode == 0 and "array" in ids and "merge" in ids, short(p.stdout + p.stderr)):
        return
    f = wait_job(env, ids["merge"], timeout=300)
    tasks = [job_fields(env, "%s_%d" % (ids["array"], i)) for i in range(3)]
    record("tasks 0 and 2 complete, task 1 fails (%s)" % ", ".join(
        "%s %s" % (t.get("JobState", "?"), t.get("ExitCode", "?")) for t in tasks),
        [t.get("JobState") for t in tasks] == ["COMPLETED", "FAILED", "COMPLETED"])
    mlog = os.path.join(outdir, "merge-%s.out" % ids["merge"])
    mtext = read(mlog)
    m = re.search(r"rerun them \(and this merge after them\): (.*)$", mtext, re.MULTILINE)
    record("the merge job runs after them (afterany), names the missing shard 1, prints the command that reruns it "
           "and writes nothing (JobState=%s ExitCode=%s)" % (f.get("JobState"), f.get("ExitCode")),
           f.get("JobState") == "FAILED" and "shards are not complete: 1 " in mtext and m is not None and
           "--missing" in m.group(0) and not os.path.exists(os.path.join(outdir, "scores.h5")), short(mtext, 1200))
    if not m:
        return
    shutil.rmtree(os.path.join(outdir, "shard-1-of-3.h5"))
    p = run(["bash", "-c", m.group(1)], env=env, check=False)
    ids2 = dict(line.split() for line in p.stdout.splitlines() if len(line.split()) == 2)
    if not record("the printed command (submit-array.sh --missing) resubmits (%s)" % short(p.stdout, 80).replace(
            " | ", ", "), p.returncode == 0 and "array" in ids2 and "merge" in ids2, short(p.stdout + p.stderr)):
        return
    f2 = wait_job(env, ids2["merge"], timeout=300)
    a = job_fields(env, ids2["array"])
    tlog = read(os.path.join(outdir, "array-%s_1.out" % ids2["array"]))
    record("only task 1 reruns, as shard 1/3 (ArrayTaskId=%s, JobState=%s)" % (a.get("ArrayTaskId"), a.get("JobState")),
           a.get("ArrayTaskId") == "1" and "shard 1/3" in tlog and "rmscore exit status 0" in tlog, short(tlog, 800))
    record("the new merge job completes once all shards are (JobState=%s ExitCode=%s)" % (f2.get("JobState"),
                                                                                         f2.get("ExitCode")),
           f2.get("JobState") == "COMPLETED" and f2.get("ExitCode") == "0:0",
           short(read(os.path.join(outdir, "merge-%s.out" % ids2["merge"])), 1200))
    merged = os.path.join(outdir, "scores.h5")
    if equal_to_reference("array merge", "the merged array results equal the single-process run's", ref,
                          merged) is not None:
        text = read(os.path.join(outdir, "merge-%s.out" % ids2["merge"]))
        record("the merge job's output holds the report", "rmscore report" in text and "ALL" in text,
               short(text[-600:]))


def body(a, rms, wd, env):
    tokdir = os.path.join(wd, "tok")
    run(["/usr/bin/python3", os.path.join(REPO, "tests", "tokenizer", "make_tokenizer_dirs.py"), tokdir,
         "--node-modules", a.node_modules])
    tok = os.path.join(tokdir, "tulu")
    model = os.path.join(wd, "model")
    run([rms, "make-test-model", "--out", model, "--layers", "4", "--tokenizer", tok, "--quiet"])
    pairs = os.path.join(wd, "pairs.h5")
    run([rms, "prepare", "--tokenizer", model, "--in", SAMPLE, "--out", pairs, "--quiet"])
    ref_path = os.path.join(wd, "reference.h5")
    run([rms, "score", "--model", model, "--data", pairs, "--out", ref_path, "--quiet"])
    ref = scores(ref_path)

    static_checks()
    # jobs that wait for Slurm's requeue delay run while the other checks do
    fake = fake_submit(env, wd)
    fake_stop_checks(env, wd)
    if not a.quick:
        slow = slow_setup(rms, wd, tok)
        limit = requeue_submit(rms, env, wd, slow)
        graceful = graceful_submit(rms, env, wd, slow, "mpirun")
        graceful_submit(rms, env, wd, slow, "srun")

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
    placement_checks(rms, env, wd, ref, model, pairs)
    array_checks(env, wd, ref, model, pairs)
    fake_verify(env, fake)
    if not a.quick:
        graceful_verify(env, slow, graceful)
        requeue_verify(env, limit)


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rmscore", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--node-modules", default=os.path.join(REPO, "node_modules"))
    ap.add_argument("--quick", action="store_true", help="skip the jobs of the slower model (graceful stop, 1-minute limit)")
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
    # nothing of a surrounding Slurm job or of the caller's rmscore settings leaks into the test's jobs
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "RMSCORE_"))}
    # the scripts' --mem (32G) is more than a test machine may have: override it as users do
    env.update(SLURM_CONF=os.path.join(sdir, "slurm.conf"), RMSCORE=rms, RMSCORE_OVERSUBSCRIBE="1",
               SBATCH_MEM_PER_NODE="1G")
    ctld, slurmd = free_ports(2)  # another private Slurm (a concurrent test run) may hold the default ports
    t0 = time.time()
    up = subprocess.run(["bash", os.path.join(HERE, "slurm-up.sh"), sdir], capture_output=True, text=True,
                        timeout=180, env=dict(os.environ, SLURMCTLD_PORT=str(ctld), SLURMD_PORT=str(slurmd)))
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
