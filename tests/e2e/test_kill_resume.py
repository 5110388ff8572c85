#!/usr/bin/python3
"""test_kill_resume.py — `rmscore score` killed with SIGKILL (and stopped with SIGTERM) resumes exactly.

    /usr/bin/python3 tests/e2e/test_kill_resume.py --rmscore build/rmscore --workdir DIR --node-modules node_modules

A slower random model (hidden 256, 4 layers) and ~300 pairs generated from tests/data/sample-pairs.jsonl
(every pair repeated with a varied user turn). `score --microbatch-tokens 256` runs once uninterrupted (the
reference). Then into a new --out: start, wait until progress lines on stderr show rows flushed, kill -9;
the partial file must reopen with 0 < scored < total, and its scored rows must equal the reference bit for
bit. Resume, kill -9 again, check again (more rows scored), kill a few more times at random moments
(--random-kills, --seed), then rerun the same command to completion: status
and scores bitwise identical to the reference, no row lost, and each resumed run reports only the rows left
(its "X/Y pairs" progress has Y = the rows still pending). Also SIGTERM: clean stop with exit status 3, then
resume to the same result.
Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
"""

import functools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest  # noqa: E402
from rmstest import (PY, SAMPLE, arg_parser, build_tokenizer_dirs, finish, fresh_workdir, info,  # noqa: E402
                     record, short)

TIMEOUT = 1800  # seconds, for every command this driver runs to completion
run = functools.partial(rmstest.run, timeout=TIMEOUT)
N_PAIRS = 300
PROGRESS = re.compile(r"(\d+)\s*/\s*(\d+)\s+pairs")


def make_dataset(path):
    """N_PAIRS rows: the sample pairs repeated, each copy's first user turn varied (same in chosen and rejected)."""
    base = [json.loads(l) for l in open(SAMPLE, encoding="utf-8") if l.strip()]
    with open(path, "w", encoding="utf-8") as f:
        for k in range(N_PAIRS):
            r = json.loads(json.dumps(base[k % len(base)]))
            r["id"] = "%s-v%03d" % (r["id"], k)
            suffix = " (variant %d: %s)" % (k, ["please", "thanks", "quickly", "in detail", "briefly"][k % 5])
            for side in ("chosen", "rejected"):
                for m in r[side]:
                    if m["role"] == "user":
                        m["content"] += suffix
                        break
            r["prompt"] = next(m["content"] for m in r["chosen"] if m["role"] == "user")
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_scores(path, env_nolock=False):
    """Reads /scores (in a child process when env_nolock: HDF5_USE_FILE_LOCKING=FALSE, file still being written)."""
    if env_nolock:
        code = ("import h5py, sys, numpy as np\n"
                "f = h5py.File(sys.argv[1], 'r')\n"
                "print(int((f['scores/status'][()] == 1).sum()))\n")
        env = dict(os.environ, HDF5_USE_FILE_LOCKING="FALSE")
        p = subprocess.run([PY, "-c", code, path], capture_output=True, text=True, env=env, timeout=120)
        return p.returncode, p.stdout.strip(), p.stderr.strip()
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return {"chosen": g["chosen"][()].copy(), "rejected": g["rejected"][()].copy(),
                "status": g["status"][()].astype(np.int64)}


def try_open_locked(path):
    """Can a second process open the file (default HDF5 locking) while the writer runs?"""
    code = "import h5py, sys\nh5py.File(sys.argv[1], 'r').close()\n"
    p = subprocess.run([PY, "-c", code, path], capture_output=True, text=True, timeout=120)
    return p.returncode == 0, p.stderr.strip().splitlines()[-1:] if p.stderr.strip() else ""


class Job(rmstest.StderrJob):
    """A score process whose stderr is read line by line in a thread."""

    def progress(self):
        """Drains stderr; returns the last (done, todo) progress pair seen, or None."""
        self.drain()
        last = None
        for l in self.lines:
            m = PROGRESS.search(l)
            if m:
                last = (int(m.group(1)), int(m.group(2)))
        return last

    def wait_rows(self, at_least, timeout):
        """Waits until progress shows >= at_least rows done (returns the progress) or the job ends / times out."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            pr = self.progress()
            if pr and pr[0] >= at_least:
                return pr
            if self.p.poll() is not None:
                return self.progress()
            time.sleep(0.01)
        return self.progress()

    def finish(self, timeout=1800):
        rc = self.p.wait(timeout=timeout)
        self.t.join(timeout=10)
        self.progress()
        rmstest.check_sanitizers("rmscore score (pid %d)" % self.p.pid, self.lines)
        return rc


def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def check_partial(label, path, ref, total, min_scored):
    """After a kill: the file reopens; 0 < scored < total; scored rows bitwise = reference; others pending (NaN, or
    the in-flight batch's scores, bitwise = reference)."""
    try:
        s = read_scores(path)
    except Exception as e:  # noqa: BLE001 - any failure to reopen is the finding
        record("%s: partial file reopens with h5py" % label, False, "%s: %s" % (type(e).__name__, e))
        return None
    record("%s: partial file reopens with h5py" % label, True)
    scored = int((s["status"] == 1).sum())
    record("%s: 0 < scored (%d) < total (%d), at least the %d reported by progress" % (label, scored, total, min_scored),
           0 < scored < total and scored >= min_scored)
    sc = s["status"] == 1
    problems = []
    if not np.all((s["status"] == 0) | sc):
        problems.append("statuses %s" % sorted(set(s["status"].tolist())))
    # A pending row is NaN, or holds the scores of the batch that was being written when the process died
    # (scores are flushed before the status that marks them done): then they equal the reference bitwise.
    pend = s["status"] == 0
    for col in ("chosen", "rejected"):
        written = pend & ~np.isnan(s[col])
        if np.any(bits(s[col][written]) != bits(ref[col][written])):
            problems.append("pending rows with scores that differ from the reference")
            break
    for side in ("chosen", "rejected"):
        diff = np.nonzero(bits(s[side][sc]) != bits(ref[side][sc]))[0]
        if len(diff):
            rows = np.nonzero(sc)[0][diff[:5]]
            problems.append("%d scored %s values differ from the reference, rows %s" % (len(diff), side, rows.tolist()))
    record("%s: scored rows bitwise = reference, the rest pending with NaN" % label, not problems, "; ".join(problems))
    return scored


def check_final(label, path, ref):
    s = read_scores(path)
    problems = []
    if not np.array_equal(s["status"], ref["status"]):
        d = np.nonzero(s["status"] != ref["status"])[0]
        problems.append("status differs in %d rows (first %s: %s vs %s)" % (len(d), d[:5].tolist(),
                                                                          s["status"][d[:5]].tolist(), ref["status"][d[:5]].tolist()))
    for side in ("chosen", "rejected"):
        d = np.nonzero(bits(s[side]) != bits(ref[side]))[0]
        if len(d):
            problems.append("%d %s scores differ bitwise (row %d: %.9g vs %.9g)" % (len(d), side, d[0], s[side][d[0]], ref[side][d[0]]))
    lost = int((s["status"] == 0).sum())
    if lost:
        problems.append("%d rows still pending" % lost)
    record("%s: final status and scores bitwise identical to the uninterrupted run, no row pending" % label,
           not problems, "; ".join(problems))


def check_resume_count(label, job, remaining):
    """The resumed run's progress reports only the remaining rows: last 'X/Y pairs' with X == Y == remaining."""
    pr = job.progress()
    ok = pr is not None and pr[1] == remaining and pr[0] == pr[1]
    record("%s: progress reports only the %d remaining rows (X/Y = %d/%d)" % (label, remaining, remaining, remaining),
           ok, "last progress %s; stderr: %s" % (pr, short(job.text(), 400)))


def main():
    ap = arg_parser(__doc__.split("\n")[0])
    ap.add_argument("--random-kills", type=int, default=4, help="extra kills at random moments (default 4)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the random kill delays")
    a = ap.parse_args()
    rms = os.path.abspath(a.rmscore)
    W = fresh_workdir(a.workdir)

    if not build_tokenizer_dirs(W, a.node_modules, timeout=TIMEOUT):
        return finish()
    tulu = os.path.join(W, "tok", "tulu")
    model = os.path.join(W, "model")
    rc, out, err = run([rms, "make-test-model", "--out", model, "--hidden", "256", "--intermediate", "768",
                        "--layers", "4", "--heads", "4", "--kv-heads", "2", "--tokenizer", tulu, "--quiet"])
    if not record("make-test-model --hidden 256 --layers 4", rc == 0, short(err)):
        return finish()
    jsonl, pairs = os.path.join(W, "pairs.jsonl"), os.path.join(W, "pairs.h5")
    make_dataset(jsonl)
    rc, out, err = run([rms, "prepare", "--tokenizer", tulu, "--in", jsonl, "--out", pairs, "--quiet"])
    if not record("prepare %d generated pairs" % N_PAIRS, rc == 0, short(err)):
        return finish()

    rc, helptext, err = run([rms, "score", "--help"])
    extra = ["--progress-every", "0"] if "--progress-every" in helptext else []
    if not extra:
        info("score has no --progress-every: relying on its default progress interval")

    def score_cmd(out_path):
        return [rms, "score", "--model", model, "--data", pairs, "--out", out_path, "--threads", "2",
                "--microbatch-tokens", "256"] + extra

    # ---------------------------------------------------------------- reference
    ref_path = os.path.join(W, "ref.h5")
    t0 = time.time()
    rc, out, err = run(score_cmd(ref_path))
    t_ref = time.time() - t0
    if not record("uninterrupted reference run: exit 0", rc == 0, "rc %d, stderr %s" % (rc, short(err))):
        return finish()
    ref = read_scores(ref_path)
    total = int((ref["status"] == 1).sum())
    info("reference: %d of %d rows scored in %.1f s" % (total, len(ref["status"]), t_ref))
    record("reference: every row scored", total == N_PAIRS, "status counts %s" % np.bincount(ref["status"]).tolist())

    # ---------------------------------------------------------------- kill -9, twice, then finish
    out_path = os.path.join(W, "killed.h5")
    job = Job(score_cmd(out_path))
    pr = job.wait_rows(1, timeout=max(120, 10 * t_ref))
    if job.p.poll() is None:  # how a reader sees the file while the writer holds it (informational)
        ok_locked = try_open_locked(out_path)
        rc_nl, out_nl, err_nl = read_scores(out_path, env_nolock=True)
        info("while the writer runs: default-locking open %s; HDF5_USE_FILE_LOCKING=FALSE read: rc %d, scored %s %s"
             % ("works" if ok_locked[0] else "fails (%s)" % ok_locked[1], rc_nl, out_nl, short(err_nl, 150)))
    pr = job.wait_rows(max(1, total // 4), timeout=max(120, 10 * t_ref))
    if job.p.poll() is not None:
        record("run 1 still running when the kill was due", False, "it ended (rc %s) at progress %s; stderr %s"
               % (job.p.returncode, pr, short(job.text())))
        return finish()
    os.kill(job.p.pid, signal.SIGKILL)
    rc = job.finish()
    record("run 1 killed with SIGKILL after progress %s" % (pr,), rc == -signal.SIGKILL, "rc %s" % rc)
    s1 = check_partial("after kill 1", out_path, ref, total, pr[0] if pr else 1)
    if s1 is None:
        return finish()

    job = Job(score_cmd(out_path))
    pr = job.wait_rows(max(1, (total - s1) // 3), timeout=max(120, 10 * t_ref))
    if job.p.poll() is not None:
        record("run 2 (resume) still running when the kill was due", False, "it ended (rc %s) at progress %s; stderr %s"
               % (job.p.returncode, pr, short(job.text())))
        return finish()
    pr = job.progress()
    os.kill(job.p.pid, signal.SIGKILL)
    job.finish()
    record("run 2 (resume) says it resumes", "resum" in job.text().lower(), short(job.text(), 300))
    record("run 2 (resume): progress counts only the %d rows left after kill 1" % (total - s1),
           pr is not None and pr[1] == total - s1, "progress %s" % (pr,))
    s2 = check_partial("after kill 2", out_path, ref, total, s1 + (pr[0] if pr else 0))
    if s2 is None:
        return finish()
    record("kill 2: the resumed run added rows (%d -> %d)" % (s1, s2), s2 > s1)

    # more kills at random moments (during compute, or while a batch is written and flushed)
    rng = random.Random(a.seed)
    prev = s2
    for k in range(a.random_kills):
        job = Job(score_cmd(out_path))
        pr = job.wait_rows(1, timeout=max(120, 10 * t_ref))
        delay = rng.uniform(0.0, 0.08)
        time.sleep(delay)
        if job.p.poll() is not None:
            info("random kill %d: the run ended before the kill (progress %s)" % (k + 1, pr))
            job.finish()
            break
        os.kill(job.p.pid, signal.SIGKILL)
        job.finish()
        pr = job.progress()
        label = "random kill %d (%.0f ms after progress %s)" % (k + 1, 1000 * delay, pr)
        cnt = check_partial(label, out_path, ref, total, prev + (pr[0] if pr else 0))
        if cnt is None:
            return finish()
        record("%s: progress counted the %d rows left" % (label, total - prev), pr is not None and pr[1] == total - prev,
               "progress %s" % (pr,))
        prev = cnt

    job = Job(score_cmd(out_path))
    rc = job.finish()
    record("run 3 (resume to completion): exit 0", rc == 0, "rc %d, stderr %s" % (rc, short(job.text())))
    check_resume_count("run 3", job, total - prev)
    check_final("kill -9 twice + resume", out_path, ref)

    # ---------------------------------------------------------------- SIGTERM: clean stop, exit 3, resume
    term_path = os.path.join(W, "term.h5")
    job = Job(score_cmd(term_path))
    pr = job.wait_rows(max(1, total // 2), timeout=max(120, 10 * t_ref))
    if job.p.poll() is None:
        os.kill(job.p.pid, signal.SIGTERM)
        rc = job.finish()
        errs = [l for l in job.lines if l.startswith("rmscore: error:")]
        record("SIGTERM: exit status 3 and one `rmscore: error:` line", rc == 3 and len(errs) == 1,
               "rc %s, error lines %s" % (rc, errs))
        st = read_scores(term_path)
        s3 = int((st["status"] == 1).sum())
        record("SIGTERM: 0 < scored (%d) < total" % s3, 0 < s3 < total)
        job = Job(score_cmd(term_path))
        rc = job.finish()
        record("resume after SIGTERM: exit 0", rc == 0, short(job.text()))
        check_resume_count("resume after SIGTERM", job, total - s3)
        check_final("SIGTERM + resume", term_path, ref)
    else:
        record("SIGTERM run still running when the signal was due", False, "progress %s" % (pr,))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
