#!/usr/bin/python3
"""test_mpi_faults.py — the MPI job when a rank dies, hangs or is asked to stop: no hangs, nothing flushed lost.

    /usr/bin/python3 tests/e2e/test_mpi_faults.py --rmscore build/rmscore --workdir DIR --node-modules node_modules
        [--launcher mpirun|srun] [--mpiexec mpirun] [--no-tcp]

A 6-layer random model (hidden 512; hidden 128 in an ASan + UBSan build, whose micro-kernels run some 60 times
slower: either way the run takes ~10 s alone) scores 192 pairs (tests/data/sample-pairs.jsonl, 4 copies) as 4 ranks with
--stages 3, so every role has a process of its own: the root (rank 0), the first (1), middle (2) and last
stage (3). The single-process run of the same options is the reference. Checks:
- start lines: every rank logs one line with its host, pid, role (root / replica 0 stage s: layers a-b), the CPUs
  it may run on (compared with that pid's sched_getaffinity) and its threads;
- SIGKILL of each role in turn once rows are flushed: the launcher and every rank are gone within 30 s with a
  non-zero status; the rows flushed before the kill are in the file with the reference's scores (bit for bit;
  pending rows NaN or the reference's); rerunning the same command completes the file to the reference's
  statuses and scores bit for bit (and that comparison would catch rows shifted by one);
- stop requests, each followed by the same file checks and rerun: SIGUSR1 to the launcher (mpirun and srun forward
  it to every rank), SIGTERM to the middle stage only, (srun) `scancel --signal=TERM` of the job's tasks: the
  launcher and every rank exit with status 3 (each rank's status through a wrapper that records it; srun prints
  them) within 30 s, the root's one error line says to rerun; SIGTERM to the launcher itself: Open MPI's mpirun
  and srun end the job (mpirun: SIGTERM to the ranks, SIGKILL 1 s later, status 1; srun: SIGKILL) — within 30 s,
  nothing flushed lost;
- hangs the launcher does not see: SIGSTOP of the root, and (mpirun) of the middle stage, with
  RMSCORE_PEER_TIMEOUT=10: the ranks that wait on it notice the missing heartbeats, the job ends within 30 s
  non-zero, an error names the lost rank;
- (mpirun) every rank stopped for 2.5x the peer timeout and continued (as Slurm's job suspension does): the job
  goes on and completes with exit status 0 and the reference's scores (a rank that was stopped itself does not
  blame its peers);
- (mpirun, unless --no-tcp) the SIGKILL of the middle stage and the SIGUSR1 stop again with the ranks talking
  over TCP only (--mca pml ob1 --mca btl tcp,self), as ranks on different nodes do.
--launcher srun starts a private single-node Slurm (tests/slurm/slurm-up.sh, as root; ports SLURMCTLD_PORT /
SLURMD_PORT, default 6827/6828 here) and stops it at the end; srun --mpi=pmix must be available. Its jobs keep
Open MPI's shared-memory segments in a directory of their own (btl_vader_backing_directory): under srun, Open MPI
names them after the Slurm job and step ids, which another private Slurm on the same machine also starts from 1,
and two jobs mapping one segment crash each other.
Prints PASS/FAIL per check and a final `N passed, M failed`.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest  # noqa: E402
from rmstest import (PY, SAMPLE, arg_parser, finish, fresh_workdir, info, record, same_scores,  # noqa: E402
                     shift_caught, short, tokenizer_dirs_cmd)

rmstest.configure(detail_on_pass="brief", list_failed=True)
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GONE_WITHIN = rmstest.scaled(30.0)  # seconds: every process of the job must be gone by then (30 in a Release run)
PEER_TIMEOUT = 10   # RMSCORE_PEER_TIMEOUT for the hang checks
COPIES = 4          # of the sample pairs: 192 pairs, ~35 micro-batches
# the model's --hidden --intermediate --heads (6 layers, 2 KV heads): 8 s for the single-process reference run in a
# Release build on 2 cores, 12 s in the instrumented build with the smaller shape (rmstest.instrumented)
RELEASE_SHAPE = ("512", "2048", "8")
INSTRUMENTED_SHAPE = ("128", "512", "4")
START = re.compile(r"^rmscore: score: rank (\d+) on (\S+) \(pid (\d+)\): (.+?); CPUs (\S+); threads: (.+)$")
PROGRESS = re.compile(r"^rmscore: score: .*?(\d+)/(\d+) pairs")
ROLES = [(0, "the root"), (1, "the first stage"), (2, "the middle stage"), (3, "the last stage")]
WANT_ROLES = {0: "root", 1: "replica 0 stage 0: layers 0-1", 2: "replica 0 stage 1: layers 2-3",
              3: "replica 0 stage 2: layers 4-5"}
TCP = ["--mca", "pml", "ob1", "--mca", "btl", "tcp,self"]

# Records each rank's exit status (for "every rank exits 3"): runs rmscore as a child, forwards the stop signals to
# it, writes rc.<rank> into the directory given first and exits with rmscore's status.
WRAPPER = r'''
import os, signal, subprocess, sys
out, cmd = sys.argv[1], sys.argv[2:]
p = subprocess.Popen(cmd)
def forward(sig, frame):
    try:
        p.send_signal(sig)
    except ProcessLookupError:
        pass
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(s, forward)
rc = p.wait()
rank = os.environ.get("OMPI_COMM_WORLD_RANK") or os.environ.get("SLURM_PROCID") or os.environ.get("PMIX_RANK", "x")
with open(os.path.join(out, "rc.%s" % rank), "w") as f:
    f.write(str(rc))
sys.exit(rc if rc >= 0 else 128 - rc)
'''


def alive(pid):
    """pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def compact(cpus):
    """A CPU set as rmscore prints it: 0-3,8."""
    out, cpus = [], sorted(cpus)
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        out.append(str(cpus[i]) if i == j else "%d-%d" % (cpus[i], cpus[j]))
        i = j + 1
    return ",".join(out) or "none"


def read_scores(path):
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return g["chosen"][()].copy(), g["rejected"][()].copy(), g["status"][()].copy()


def bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


class Job(rmstest.StderrJob):
    """A launcher process (mpirun or srun) whose stderr is read line by line in a thread."""

    def __init__(self, cmd, env):
        super().__init__(cmd, env=env, start_new_session=True)

    def starts(self):
        """rank -> (host, pid, role, cpus, threads) from the start lines seen so far."""
        self.drain()
        out = {}
        for line in self.lines:
            m = START.match(line)
            if m:
                out.setdefault(int(m.group(1)), []).append((m.group(2), int(m.group(3)), m.group(4), m.group(5),
                                                            m.group(6)))
        return out

    def progress(self):
        self.drain()
        last = None
        for line in self.lines:
            m = PROGRESS.match(line)
            if m:
                last = (int(m.group(1)), int(m.group(2)))
        return last

    def wait_for(self, pred, timeout):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if pred():
                return True
            if self.p.poll() is not None:
                self.t.join(5)
                return pred()
            time.sleep(0.01)
        return False

    def pids(self):
        return [v[0][1] for v in self.starts().values()]

    def wait_gone(self, pids, timeout):
        """Seconds until the launcher has exited and none of pids is alive, or None after timeout."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.p.poll() is not None and not any(alive(p) for p in pids):
                return time.time() - t0
            time.sleep(0.05)
        return None

    def finish(self, timeout):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.t.join(5)
        self.drain()
        if self.p.returncode is not None and not getattr(self, "sanitizers_checked", False):
            self.sanitizers_checked = True
            rmstest.check_sanitizers("the %s job" % os.path.basename(self.cmd[0]), self.lines)
        return self.p.returncode

    def kill_all(self):
        """Ends whatever is left (after a failed check): the launcher's session and the ranks seen."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except OSError:
            pass
        self.finish(30)

    def errors(self):
        self.drain()
        return [l for l in self.lines if l.startswith("rmscore: error:")]

    def text(self, n=1500):
        self.drain()
        return short("\n".join(self.lines), n)


class Setup:
    pass


def launcher_cmd(S, args, transport=(), wrap=None):
    """The launch of 4 ranks of `args` (rmscore's arguments); wrap: a directory for each rank's exit status."""
    prog = ([PY, S.wrapper, wrap] if wrap else []) + [S.rms] + args
    if S.launcher == "srun":
        return ["srun", "--mpi=pmix", "-n4", "--overcommit", "--time=10", "--kill-on-bad-exit=0"] + prog
    # wrapped (each rank's own exit status recorded): when the first rank has exited 3, mpirun sends the others
    # SIGTERM and SIGKILL one second later (odls_base_sigkill_timeout). A rank still exiting then (an instrumented
    # one can take longer) is killed with its wrapper, which records nothing: give the ranks a few seconds more.
    # mpirun's exit status (the first non-zero rank's) and its ending the job are unchanged.
    keep = ["--mca", "odls_base_sigkill_timeout", str(int(rmstest.scaled(5)))] if wrap else []
    return [S.mpiexec, "-np", "4", "--oversubscribe"] + keep + list(transport) + prog


def job_env(S, extra=None, transport=()):
    env = dict(S.env)
    if S.launcher == "srun" and transport:
        env.update(OMPI_MCA_pml="ob1", OMPI_MCA_btl="tcp,self")
    env.update(extra or {})
    return env


def score_args(S, out):
    return ["score", "--model", S.model, "--data", S.pairs, "--out", out, "--stages", "3", "--microbatch-tokens", "600",
            "--max-tokens", "1500", "--progress-every", "0"]


def start_and_wait(S, label, out, transport=(), env_extra=None, wrap=None, min_rows=None):
    """Starts the job, waits for the 4 start lines and for at least min_rows rows flushed. Returns (job, progress)
    or (None, None) after recording why not."""
    if os.path.exists(out):
        os.remove(out)
    job = Job(launcher_cmd(S, score_args(S, out), transport, wrap), job_env(S, env_extra, transport))
    want = min_rows if min_rows is not None else S.total // 8
    ok = job.wait_for(lambda: len(job.starts()) == 4 and (job.progress() or (0, 0))[0] >= want,
                      timeout=rmstest.scaled(600))
    pr = job.progress()
    if not ok or job.p.poll() is not None:
        record("%s: the job runs with 4 ranks and flushes rows before the fault" % label, False,
               "progress %s, rc %s, stderr %s" % (pr, job.p.poll(), job.text()))
        job.kill_all()
        return None, None
    if pr[0] >= pr[1]:
        record("%s: the fault lands mid-run" % label, False, "progress %s" % (pr,))
        job.kill_all()
        return None, None
    return job, pr


def check_flushed(S, label, out, seen):
    """The rows flushed before the fault are in the file with the reference's scores, bit for bit."""
    try:
        c, r, s = read_scores(out)
    except Exception as e:  # noqa: BLE001 - a file that does not reopen is the finding
        record("%s: the results file reopens" % label, False, "%s: %s" % (type(e).__name__, e))
        return
    rc, rr, rs = S.ref
    scored = s == 1
    problems = []
    if int(scored.sum()) < seen:
        problems.append("%d rows scored, fewer than the %d the progress reported flushed" % (scored.sum(), seen))
    if not np.all((s == 0) | (s == rs)):
        problems.append("statuses that differ from the reference")
    for name, got, want in (("chosen", c, rc), ("rejected", r, rr)):
        d = np.nonzero(bits(got[scored]) != bits(want[scored]))[0]
        if len(d):
            problems.append("%d scored %s values differ from the reference" % (len(d), name))
        written = (s == 0) & ~np.isnan(got)  # a pending row may hold the scores of the batch being written
        if np.any(bits(got[written]) != bits(want[written])):
            problems.append("pending rows with %s scores that differ from the reference" % name)
    record("%s: the %d rows flushed before it are kept with the reference's scores (bit for bit; %d scored of %d)"
           % (label, seen, int(scored.sum()), S.total), not problems, "; ".join(problems))


def rerun(S, label, out, transport=()):
    """The same command again: it resumes and completes the file to the reference's results."""
    job = Job(launcher_cmd(S, score_args(S, out), transport), job_env(S, None, transport))
    rc = job.finish(timeout=rmstest.scaled(900))
    if rc is None:
        job.kill_all()
    if not record("%s: rerunning the same command exits 0" % label, rc == 0,
                  "" if rc == 0 else "rc %s, %s" % (rc, job.text())):
        return
    got = read_scores(out)
    ok, detail = same_scores(got, S.ref)
    record("%s: after the rerun the file equals the uninterrupted run's (statuses, scores bit for bit)" % label, ok,
           detail)
    caught, detail = shift_caught(got, S.ref)
    record("%s: that comparison would catch rows shifted by one" % label, caught, detail)


def kill_role(S, rank, what, transport=(), tag=""):
    label = "%sSIGKILL of %s (rank %d)" % (tag, what, rank)
    out = os.path.join(S.wd, "kill-%d%s.h5" % (rank, "-tcp" if transport else ""))
    job, pr = start_and_wait(S, label, out, transport)
    if not job:
        return
    pids = job.pids()
    victim = job.starts()[rank][0][1]
    os.kill(victim, signal.SIGKILL)
    dt = job.wait_gone(pids, GONE_WITHIN)
    rc = job.p.returncode
    record("%s after %d/%d pairs: %s and every rank are gone within %.0f s (%s), status non-zero (%s)"
           % (label, pr[0], pr[1], S.launcher, GONE_WITHIN, "%.1f s" % dt if dt is not None else "hung", rc),
           dt is not None and rc not in (0, None), job.text() if dt is None or rc == 0 else "")
    if dt is None:
        job.kill_all()
    job.finish(30)
    check_flushed(S, label, out, pr[0])
    rerun(S, label, out, transport)


def rank_codes(d):
    codes = {}
    for name in os.listdir(d):
        if name.startswith("rc."):
            codes[name[3:]] = int(open(os.path.join(d, name)).read().strip() or -999)
    return codes


def stop_request(S, label, out, send, transport=(), wrap=True, want_rc=3):
    """A stop request (send(job) delivers it): exit status want_rc from the launcher and (want_rc 3) every rank."""
    rcdir = os.path.join(S.wd, "rc-" + os.path.basename(out).replace(".h5", ""))
    shutil.rmtree(rcdir, ignore_errors=True)
    os.makedirs(rcdir)
    job, pr = start_and_wait(S, label, out, transport, wrap=rcdir if wrap else None)
    if not job:
        return
    pids = job.pids()
    send(job)
    dt = job.wait_gone(pids, GONE_WITHIN)
    rc = job.p.returncode
    if dt is None:
        job.kill_all()
    job.finish(30)
    if want_rc == 3:
        codes = rank_codes(rcdir)
        errs = job.errors()
        ok = dt is not None and rc == 3 and len(codes) == 4 and all(v == 3 for v in codes.values()) and \
            len(errs) == 1 and "rerun" in errs[0]
        record("%s after %d/%d pairs: %s exits 3 within %.0f s (%s), every rank with status 3 (%s), one error line "
               "saying to rerun" % (label, pr[0], pr[1], S.launcher, GONE_WITHIN,
                                    "%.1f s" % dt if dt is not None else "hung", codes),
               ok, errs[0] if ok else "rc %s, errors %s | %s" % (rc, errs, job.text()))
        said = [l for l in job.lines if "stop requested" in l]
        record("%s: the root says who asked to stop" % label, said, said[0] if said else job.text(600))
    else:
        ok = dt is not None and rc not in (0, None)
        record("%s after %d/%d pairs: %s and every rank are gone within %.0f s (%s), status %s (want non-zero)"
               % (label, pr[0], pr[1], S.launcher, GONE_WITHIN, "%.1f s" % dt if dt is not None else "hung", rc),
               ok, "" if ok else job.text())
    check_flushed(S, label, out, pr[0])
    rerun(S, label, out, transport)


def hang(S, rank, what):
    """SIGSTOP of one rank: the launcher sees nothing; the heartbeats must."""
    label = "SIGSTOP of %s (rank %d, a hung process)" % (what, rank)
    out = os.path.join(S.wd, "stop-%d.h5" % rank)
    job, pr = start_and_wait(S, label, out, env_extra={"RMSCORE_PEER_TIMEOUT": str(PEER_TIMEOUT)})
    if not job:
        return
    pids = job.pids()
    victim = job.starts()[rank][0][1]
    os.kill(victim, signal.SIGSTOP)
    dt = job.wait_gone(pids, GONE_WITHIN)
    rc = job.p.returncode
    if dt is None:
        job.kill_all()
    job.finish(30)
    lost = [l for l in job.errors() if "lost rank %d" % rank in l and "heartbeat" in l] if rank else \
        [l for l in job.errors() if "lost rank 0 (root)" in l]
    ok = dt is not None and rc not in (0, None) and lost
    record("%s after %d/%d pairs, RMSCORE_PEER_TIMEOUT=%d: %s and every rank are gone within %.0f s (%s), status "
           "non-zero (%s), an error names the lost rank" % (label, pr[0], pr[1], PEER_TIMEOUT, S.launcher, GONE_WITHIN,
                                                            "%.1f s" % dt if dt is not None else "hung", rc),
           ok, lost[0] if ok else "errors %s | %s" % (job.errors(), job.text()))
    check_flushed(S, label, out, pr[0])
    rerun(S, label, out)


def suspend_resume(S):
    """Every rank stopped for longer than the peer timeout, then continued: nobody is declared lost."""
    label = "every rank stopped for %.0f s and continued (job suspension)" % (2.5 * PEER_TIMEOUT)
    out = os.path.join(S.wd, "suspended.h5")
    job, pr = start_and_wait(S, label, out, env_extra={"RMSCORE_PEER_TIMEOUT": str(PEER_TIMEOUT)})
    if not job:
        return
    pids = job.pids()
    for p in pids:
        os.kill(p, signal.SIGSTOP)
    time.sleep(2.5 * PEER_TIMEOUT)
    for p in pids:
        os.kill(p, signal.SIGCONT)
    rc = job.finish(timeout=rmstest.scaled(900))
    if rc is None:
        job.kill_all()
    if record("%s after %d/%d pairs: the job completes with exit status 0" % (label, pr[0], pr[1]), rc == 0,
              "" if rc == 0 else "rc %s, errors %s | %s" % (rc, job.errors(), job.text())):
        ok, detail = same_scores(read_scores(out), S.ref)
        record("%s: the file equals the uninterrupted run's (bit for bit)" % label, ok, detail)


def start_lines(S):
    """One run's start lines, checked against what each process is."""
    out = os.path.join(S.wd, "start-lines.h5")
    job, pr = start_and_wait(S, "start lines", out, min_rows=1)
    if not job:
        return
    st = job.starts()
    problems = []
    host = socket.gethostname()
    for rank in range(4):
        lines = st.get(rank, [])
        if len(lines) != 1:
            problems.append("rank %d: %d start lines" % (rank, len(lines)))
            continue
        h, pid, role, cpus, threads = lines[0]
        if role != WANT_ROLES[rank]:
            problems.append("rank %d: role %r, want %r" % (rank, role, WANT_ROLES[rank]))
        if h != host and h.split(".")[0] != host.split(".")[0]:
            problems.append("rank %d: host %s, this is %s" % (rank, h, host))
        try:
            want = compact(os.sched_getaffinity(pid))
            if cpus != want:
                problems.append("rank %d: CPUs %s, sched_getaffinity(%d) says %s" % (rank, cpus, pid, want))
        except OSError as e:
            problems.append("rank %d: pid %d: %s" % (rank, pid, e))
        want_threads = r"main \+ heartbeat \(the root does not compute\)" if rank == 0 else r"\d+ compute \+ heartbeat"
        if not re.fullmatch(want_threads, threads):
            problems.append("rank %d: threads %r" % (rank, threads))
    lines = [l for l in job.lines if START.match(l)]
    record("every rank logs one start line: host, pid, role and layers, CPUs (= its sched_getaffinity), threads",
           not problems, "; ".join(problems) + " | " + " / ".join(lines) if problems else
           next((l for l in lines if "rank 2 " in l), ""))
    job.kill_all()


def slurm_up(S):
    S.slurm_dir = os.path.join(S.wd, "slurm")
    env = dict(os.environ, SLURMCTLD_PORT=os.environ.get("SLURMCTLD_PORT", "6827"),
               SLURMD_PORT=os.environ.get("SLURMD_PORT", "6828"))
    up = subprocess.run(["bash", os.path.join(TESTS, "slurm", "slurm-up.sh"), S.slurm_dir], capture_output=True,
                        text=True, timeout=180, env=env)
    if not record("a private single-node Slurm starts", up.returncode == 0, short(up.stdout + up.stderr, 1500)):
        return False
    S.env["SLURM_CONF"] = os.path.join(S.slurm_dir, "slurm.conf")
    S.shm = "/dev/shm/rmscore-mpi-faults-%d" % os.getpid()
    os.makedirs(S.shm, exist_ok=True)
    S.env["OMPI_MCA_btl_vader_backing_directory"] = S.shm
    p = subprocess.run(["srun", "--mpi=list"], capture_output=True, text=True, env=S.env, timeout=60)
    return record("srun offers --mpi=pmix", "pmix" in p.stdout + p.stderr, short(p.stdout + p.stderr))


def slurm_down(S):
    down = subprocess.run(["bash", os.path.join(TESTS, "slurm", "slurm-down.sh"), S.slurm_dir], capture_output=True,
                          text=True, timeout=120)
    record("Slurm stops", down.returncode == 0, short(down.stdout + down.stderr))
    if getattr(S, "shm", None):  # the segments of killed jobs stay behind
        shutil.rmtree(S.shm, ignore_errors=True)


def scancel_term(job, S):
    """scancel --signal=TERM of the job's tasks (what the batch script's stop() does under srun)."""
    rank0 = job.starts()[0][0][1]
    env = open("/proc/%d/environ" % rank0, "rb").read().split(b"\0")
    jobid = next(e.split(b"=", 1)[1].decode() for e in env if e.startswith(b"SLURM_JOB_ID="))
    subprocess.run(["scancel", "--signal=TERM", jobid], env=S.env, capture_output=True, timeout=60)


def body(S, a):
    t0 = time.time()
    info("launcher %s" % S.launcher)
    if S.launcher == "mpirun":
        start_lines(S)
    for rank, what in ROLES:
        kill_role(S, rank, what)
    stop_request(S, "SIGUSR1 to %s" % S.launcher, os.path.join(S.wd, "usr1.h5"),
                 lambda job: os.kill(job.p.pid, signal.SIGUSR1))
    stop_request(S, "SIGTERM to the middle stage only", os.path.join(S.wd, "term-stage.h5"),
                 lambda job: os.kill(job.starts()[2][0][1], signal.SIGTERM))
    if S.launcher == "srun":
        stop_request(S, "scancel --signal=TERM of the job's tasks", os.path.join(S.wd, "scancel.h5"),
                     lambda job: scancel_term(job, S))
    stop_request(S, "SIGTERM to %s itself (it ends the job)" % S.launcher, os.path.join(S.wd, "term-launcher.h5"),
                 lambda job: os.kill(job.p.pid, signal.SIGTERM), wrap=False, want_rc=None)
    hang(S, 0, "the root")
    if S.launcher == "mpirun":
        hang(S, 2, "the middle stage")
        suspend_resume(S)
        if not a.no_tcp:
            kill_role(S, 2, "the middle stage", transport=TCP, tag="[TCP only] ")
            stop_request(S, "[TCP only] SIGUSR1 to mpirun", os.path.join(S.wd, "usr1-tcp.h5"),
                         lambda job: os.kill(job.p.pid, signal.SIGUSR1), transport=TCP)
    info("fault checks took %.0f s" % (time.time() - t0))


def main():
    ap = arg_parser(__doc__.split("\n")[0])
    ap.add_argument("--launcher", choices=("mpirun", "srun"), default="mpirun")
    ap.add_argument("--mpiexec", default="mpirun")
    ap.add_argument("--no-tcp", action="store_true", help="skip the checks over TCP only")
    a = ap.parse_args()
    S = Setup()
    S.launcher, S.mpiexec = a.launcher, a.mpiexec
    S.rms = os.path.abspath(a.rmscore)
    S.wd = fresh_workdir(a.workdir)
    S.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                 OMPI_MCA_rmaps_base_oversubscribe="1")
    S.env.pop("RMSCORE_PEER_TIMEOUT", None)
    S.wrapper = os.path.join(S.wd, "rank-status.py")
    with open(S.wrapper, "w") as f:
        f.write(WRAPPER)
    subprocess.run(tokenizer_dirs_cmd(S.wd, a.node_modules), capture_output=True, check=True, timeout=900)
    tok = os.path.join(S.wd, "tok", "tulu")
    S.model = os.path.join(S.wd, "model")
    hidden, inter, heads = INSTRUMENTED_SHAPE if rmstest.instrumented(S.rms) else RELEASE_SHAPE
    p = subprocess.run([S.rms, "make-test-model", "--out", S.model, "--hidden", hidden, "--intermediate", inter,
                        "--layers", "6", "--heads", heads, "--kv-heads", "2", "--shards", "2", "--tokenizer", tok,
                        "--quiet"], capture_output=True, text=True, timeout=rmstest.scaled(300))
    rmstest.check_sanitizers("rmscore make-test-model", p.stderr)
    p.check_returncode()
    jsonl = os.path.join(S.wd, "pairs.jsonl")
    rows = [json.loads(l) for l in open(SAMPLE, encoding="utf-8") if l.strip()]
    with open(jsonl, "w", encoding="utf-8") as f:
        for i in range(COPIES):
            for r in rows:
                f.write(json.dumps(dict(r, id="%s-%d" % (r.get("id", ""), i)), ensure_ascii=False) + "\n")
    S.pairs = os.path.join(S.wd, "pairs.h5")
    p = subprocess.run([S.rms, "prepare", "--tokenizer", S.model, "--in", jsonl, "--out", S.pairs, "--quiet"],
                       capture_output=True, text=True, timeout=rmstest.scaled(300))
    rmstest.check_sanitizers("rmscore prepare", p.stderr)
    p.check_returncode()
    ref_path = os.path.join(S.wd, "reference.h5")
    t0 = time.time()
    p = subprocess.run([S.rms, "score", "--model", S.model, "--data", S.pairs, "--out", ref_path, "--quiet",
                        "--microbatch-tokens", "600", "--max-tokens", "1500"], capture_output=True, text=True,
                       timeout=rmstest.scaled(900))
    rmstest.check_sanitizers("the single-process reference run", p.stderr)
    if not record("the single-process reference run exits 0 (%.0f s)" % (time.time() - t0), p.returncode == 0,
                  short(p.stderr)):
        return finish()
    S.ref = read_scores(ref_path)
    S.total = int((S.ref[2] == 1).sum())
    if S.launcher == "srun":
        if os.geteuid() != 0:
            record("running as root (the private Slurm needs it)", False, "uid %d" % os.geteuid())
            return finish()
        if slurm_up(S):
            try:
                body(S, a)
            except Exception:  # a crash is a failure, never a silent pass
                record("the test ran to the end", False, traceback.format_exc()[-2000:])
        slurm_down(S)
    else:
        try:
            body(S, a)
        except Exception:  # noqa: BLE001
            record("the test ran to the end", False, traceback.format_exc()[-2000:])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
