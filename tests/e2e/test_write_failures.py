#!/usr/bin/python3
"""test_write_failures.py — writes that fail: a file-size limit (RLIMIT_FSIZE), stdout on /dev/full, a full tmpfs.

    /usr/bin/python3 tests/e2e/test_write_failures.py --rmscore build/rmscore --workdir DIR [--node-modules DIR]

Issue 13 item 4: a full disk or a failing write of stdout, of an HDF5 file (prepare's pairs, score's scores,
merge's output) or of what report/export print gives one `rmscore: error:` line naming the file (or "standard
output") and the OS error, exit status 1, no signal (SIGXFSZ is ignored, so the write fails with EFBIG), and no
row marked scored whose scores were not stored. Cases:
  - stdout > /dev/full for every command that prints data (tokenize, render, score-ids, report, report --json,
    export csv/jsonl, compare, compare --json, --help, --version): "writing standard output: No space left on
    device"; report --html and compare --html into /dev/full: "writing /dev/full: No space left on device";
  - stdout into a file under a file-size limit smaller than the output: "... File too large";
  - prepare under a limit smaller than the pairs file: the error names <out>.partial; no .partial is left and an
    <out> that was there before is kept byte for byte; rerun without the limit: the same rows as a clean run;
  - score creating a scores file larger than the limit: no file and no .partial left;
  - score resuming a file (half its rows pending) under a limit that falls (a) between the score columns and the
    status column, (b) inside the chosen column: exit 1 naming the file; reopened, every row whose status is
    scored has finite scores bitwise equal to a clean run's, and the rows that were pending are still pending
    (in (a) their scores reached the disk before the failing status write: scores first, statuses after);
    a rerun without the limit completes and equals the clean run (rmstest.same_scores);
  - the same resume under mpirun (2 stages), rank 0 writing (Open MPI's own shared-memory files would hit the
    limit too, so this case runs with PMIX_MCA_gds=hash and the TCP BTL);
  - merge under a limit: no merged file and no .partial; rerun without it: the clean run's scores;
  - a small tmpfs (mount -t tmpfs -o size=...), filled: prepare, score and export into it fail with "No space left
    on device". Mounting needs privileges a container may lack: then the output says so and the ulimit cases are
    the test.
Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
"""

import os
import re
import resource
import shutil
import signal
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest as T  # noqa: E402
from rmstest import SAMPLE, arg_parser, finish, fresh_workdir, info, record, short  # noqa: E402

ERR_LINE = re.compile(r"^rmscore: error: .*$", re.M)
ENOSPC = os.strerror(28)  # "No space left on device"
EFBIG = os.strerror(27)   # "File too large"


def run_limited(cmd, fsize=None, stdout_path=None, stdin=None, env=None, timeout=300):
    """cmd with RLIMIT_FSIZE = fsize bytes (None: unchanged) and stdout into stdout_path (None: captured).
    Returns (rc, stdout or "", stderr)."""
    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    out = open(stdout_path, "wb") if stdout_path else subprocess.PIPE
    try:
        p = subprocess.run([str(c) for c in cmd], input=stdin.encode() if stdin is not None else None, stdout=out,
                           stderr=subprocess.PIPE, preexec_fn=limit, env=env, timeout=T.scaled(timeout))
    finally:
        if stdout_path:
            out.close()
    err = p.stderr.decode("utf-8", "replace")
    T.check_sanitizers(" ".join(os.path.basename(str(c)) for c in cmd[:2]), err)
    return p.returncode, (p.stdout or b"").decode("utf-8", "replace") if not stdout_path else "", err


def check_error(label, rc, err, *needles):
    """Exit status 1 (not a signal), exactly one `rmscore: error:` line, holding every needle."""
    lines = ERR_LINE.findall(err)
    ok = rc == 1 and len(lines) == 1 and all(n in lines[0] for n in needles)
    sig = " (killed by %s)" % signal.Signals(-rc).name if rc < 0 else ""
    return record("%s: exit 1, one error line naming %s" % (label, " + ".join(repr(n) for n in needles)), ok,
                  "rc %d%s; stderr %s" % (rc, sig, short(err, 600)))


def read_scores(path):
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return g["chosen"][()], g["rejected"][()], g["status"][()]


def chunk_offsets(path):
    """Byte offsets of the (first) chunk of /scores/chosen, rejected, status."""
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return [int(g[n].id.get_chunk_info(0).byte_offset) for n in ("chosen", "rejected", "status")]


def make_half_pending(src, dst):
    """dst = src with every other row pending (status 0, NaN scores), as a run stopped part-way leaves it."""
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        g = f["scores"]
        s, c, r = g["status"][()], g["chosen"][()], g["rejected"][()]
        s[1::2] = 0
        c[1::2] = np.nan
        r[1::2] = np.nan
        g["status"][...] = s
        g["chosen"][...] = c
        g["rejected"][...] = r
    return np.nonzero(s == 0)[0]


def check_scored_rows(label, path, ref, pending_before, scores_reached_disk):
    """After a failed write: every row with status scored has finite scores bitwise equal to the clean run's;
    the rows pending before are still pending; with scores_reached_disk, the pending rows of the batches the run
    wrote hold the clean scores (or still NaN), never anything else."""
    c, r, s = read_scores(path)
    rc_, rr_, rs_ = ref
    scored = s == 1
    fin = bool(np.all(np.isfinite(c[scored])) and np.all(np.isfinite(r[scored])))
    same = bool(np.array_equal(c[scored].view(np.uint32), rc_[scored].view(np.uint32)) and
                np.array_equal(r[scored].view(np.uint32), rr_[scored].view(np.uint32)))
    record("%s: every row marked scored (%d) has finite scores equal to the clean run's" % (label, int(scored.sum())),
           fin and same and np.array_equal(s[scored], rs_[scored]))
    still = bool(np.all(s[pending_before] == 0))
    record("%s: the %d rows pending before are still pending (no status written)" % (label, len(pending_before)), still,
           "statuses %s" % s[pending_before].tolist())
    # a pending row's values on disk are NaN or, where the write got that far, the clean run's (one value at a time:
    # a write cut off by the limit can leave a row's chosen score written and its rejected one not)
    p = pending_before
    vals = np.concatenate([c[p], r[p]])
    refs = np.concatenate([rc_[p], rr_[p]])
    written = ~np.isnan(vals)
    ok_vals = bool(np.array_equal(vals[written].view(np.uint32), refs[written].view(np.uint32)))
    if scores_reached_disk:
        record("%s: scores first: %d scores of pending rows are on disk (the clean run's), their statuses were never "
               "written" % (label, int(written.sum())), ok_vals and written.sum() > 0)
    else:
        record("%s: the pending rows' values on disk are NaN or the clean run's (%d written)" %
               (label, int(written.sum())), ok_vals)


def stdout_cases(rms, model, tulu, scores, pairs, W):
    ids_line = "[128000, 9906, 11, 1917]\n"
    cases = [
        ("tokenize", [rms, "tokenize", "--tokenizer", tulu], '"hello world"\n' * 50),
        ("render", [rms, "render", "--tokenizer", tulu], '[{"role": "user", "content": "hi"}]\n' * 50),
        ("score-ids", [rms, "score-ids", "--model", model, "--threads", "1"], ids_line * 4),
        ("report", [rms, "report", scores, "--data", pairs], None),
        ("report --json", [rms, "report", scores, "--data", pairs, "--json"], None),
        ("export csv", [rms, "export", scores, "--data", pairs, "--format", "csv"], None),
        ("export jsonl", [rms, "export", scores, "--data", pairs, "--format", "jsonl"], None),
        ("compare", [rms, "compare", scores, scores], None),
        ("compare --json", [rms, "compare", scores, scores, "--json"], None),
        ("--help", [rms, "--help"], None),
        ("report --help", [rms, "report", "--help"], None),
        ("--version", [rms, "--version"], None),
    ]
    for label, cmd, stdin in cases:
        rc, _, err = run_limited(cmd, stdout_path="/dev/full", stdin=stdin if stdin is not None else "")
        check_error("%s > /dev/full" % label, rc, err, "writing standard output: " + ENOSPC)
    # the pages report and compare write (--html FILE) on a full device
    for label, cmd in (("report --html", [rms, "report", scores, "--data", pairs, "--html", "/dev/full"]),
                       ("compare --html", [rms, "compare", scores, scores, "--html", "/dev/full"])):
        rc, _, err = run_limited(cmd)
        check_error("%s /dev/full" % label, rc, err, "writing /dev/full: " + ENOSPC)
    # a long stream stops at the first failing write instead of reading all of stdin
    rc, _, err = run_limited([rms, "tokenize", "--tokenizer", tulu], stdout_path="/dev/full",
                             stdin='"hello world, this is a line"\n' * 200000)
    check_error("tokenize 200000 lines > /dev/full", rc, err, "writing standard output: " + ENOSPC)
    # a file-size limit below the output's size
    for label, cmd in (("export jsonl", [rms, "export", scores, "--data", pairs, "--format", "jsonl"]),
                       ("report", [rms, "report", scores, "--data", pairs])):
        out = os.path.join(W, "limited-stdout.txt")
        rc0, full, _ = run_limited(cmd)
        limit = max(64, len(full) // 3)
        rc, _, err = run_limited(cmd, fsize=limit, stdout_path=out)
        check_error("%s > file under a %d-byte limit (output %d bytes)" % (label, limit, len(full)), rc, err,
                    "writing standard output: " + EFBIG)


def prepare_cases(rms, tulu, W, ref_pairs):
    out = os.path.join(W, "prep.h5")
    size = os.path.getsize(ref_pairs)
    shutil.copyfile(ref_pairs, out)
    before = open(out, "rb").read()
    limit = size // 3
    rc, _, err = run_limited([rms, "prepare", "--tokenizer", tulu, "--in", SAMPLE, "--out", out], fsize=limit)
    check_error("prepare under a %d-byte limit (file %d bytes)" % (limit, size), rc, err, out + ".partial", EFBIG)
    record("prepare failed: no closing summary claims the rows were written", "-> %s:" % out not in err, short(err))
    record("prepare failed: no .partial left", not os.path.exists(out + ".partial"))
    record("prepare failed: the earlier %s is kept byte for byte" % os.path.basename(out),
           os.path.exists(out) and open(out, "rb").read() == before)
    os.unlink(out)
    rc, _, err = run_limited([rms, "prepare", "--tokenizer", tulu, "--in", SAMPLE, "--out", out, "--quiet"], fsize=limit)
    record("prepare failed with no earlier file: nothing left under its name", rc == 1 and not os.path.exists(out)
           and not os.path.exists(out + ".partial"), "rc %d" % rc)
    rc, _, err = run_limited([rms, "prepare", "--tokenizer", tulu, "--in", SAMPLE, "--out", out, "--quiet"])
    same = False
    if rc == 0:
        with h5py.File(out, "r") as a, h5py.File(ref_pairs, "r") as b:
            same = all(all(np.array_equal(x, y) for x, y in zip(a["pairs"][k][()], b["pairs"][k][()]))
                       for k in ("chosen_ids", "rejected_ids", "status", "shared_prefix"))
    record("prepare rerun without the limit: exit 0, the clean run's rows", rc == 0 and same, short(err))


def score_cases(rms, model, pairs, W, ref_path, ref, mpi):
    base = [rms, "score", "--model", model, "--data", pairs, "--quiet"]
    size = os.path.getsize(ref_path)
    # a new file larger than the limit: creation fails, nothing is published
    out = os.path.join(W, "fresh.h5")
    rc, _, err = run_limited(base + ["--out", out], fsize=size // 4)
    check_error("score creating a %d-byte file under a %d-byte limit" % (size, size // 4), rc, err,
                out + ".partial", EFBIG)
    record("score creation failed: neither the file nor its .partial exists",
           not os.path.exists(out) and not os.path.exists(out + ".partial"))

    offs = chunk_offsets(ref_path)
    info("scores file %d bytes; chunks of chosen, rejected, status at %s" % (size, offs))
    for label, limit, reached in (("limit at the status column", offs[2], True),
                                  ("limit inside the chosen column", offs[0] + 8, False)):
        out = os.path.join(W, "resume.h5")
        pending = make_half_pending(ref_path, out)
        rc, _, err = run_limited(base + ["--out", out], fsize=limit)
        check_error("score resume, %s (%d bytes)" % (label, limit), rc, err, out, EFBIG)
        check_scored_rows("score resume, " + label, out, ref, pending, reached)
        rc, _, err = run_limited(base + ["--out", out])
        ok, detail = T.same_scores(read_scores(out), ref) if rc == 0 else (False, short(err))
        record("score resume, %s: rerun without the limit completes and equals the clean run" % label,
               rc == 0 and ok, detail)

    if mpi:
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   OMPI_MCA_rmaps_base_oversubscribe="1", PMIX_MCA_gds="hash", OMPI_MCA_btl="self,tcp",
                   OMPI_MCA_pml="ob1")
        # the clean MPI run first: a resume changes no attribute then (stages 2 recorded), so the limit meets the
        # rows' writes, not a metadata update at open
        mpi_ref = os.path.join(W, "ref-mpi.h5")
        rc, _, err = run_limited([mpi, "-np", "3", "--oversubscribe"] + base + ["--out", mpi_ref, "--stages", "2"],
                                 env=env, timeout=120)
        ok, detail = T.same_scores(read_scores(mpi_ref), ref) if rc == 0 else (False, short(err))
        if not record("mpirun -np 3 score --stages 2 (clean): the single-process run's scores", rc == 0 and ok, detail):
            return
        out = os.path.join(W, "resume-mpi.h5")
        pending = make_half_pending(mpi_ref, out)
        cmd = [mpi, "-np", "3", "--oversubscribe"] + base + ["--out", out, "--stages", "2"]
        try:
            rc, _, err = run_limited(cmd, fsize=offs[2], env=env, timeout=120)
        except subprocess.TimeoutExpired:
            rc, err = -999, "timed out"
        lines = ERR_LINE.findall(err)
        record("mpirun -np 3 score --stages 2, resume under a limit at the status column: exit 1, an error line "
               "naming the file and %r" % EFBIG,
               rc == 1 and len(lines) >= 1 and out in lines[0] and EFBIG in lines[0], "rc %d; %s" % (rc, short(err, 600)))
        check_scored_rows("mpirun resume", out, ref, pending, True)
        rc, _, err = run_limited([mpi, "-np", "3", "--oversubscribe"] + base + ["--out", out, "--stages", "2"], env=env,
                                 timeout=120)
        ok, detail = T.same_scores(read_scores(out), ref) if rc == 0 else (False, short(err))
        record("mpirun resume: rerun without the limit completes and equals the clean run", rc == 0 and ok, detail)
    else:
        info("mpirun not found: the MPI case is left out")


def merge_cases(rms, W, ref_path, ref):
    out = os.path.join(W, "merged.h5")
    size = os.path.getsize(ref_path)
    rc, _, err = run_limited([rms, "merge", ref_path, "--out", out], fsize=size // 2)
    check_error("merge under a %d-byte limit" % (size // 2), rc, err, out, EFBIG)
    record("merge failed: no merged file and no .partial", not os.path.exists(out) and not os.path.exists(out + ".partial"))
    rc, _, err = run_limited([rms, "merge", ref_path, "--out", out])
    ok, detail = T.same_scores(read_scores(out), ref) if rc == 0 else (False, short(err))
    record("merge rerun without the limit: the clean run's scores", rc == 0 and ok, detail)


def tmpfs_cases(rms, model, tulu, pairs, scores, W):
    mnt = os.path.join(W, "tmpfs")
    os.makedirs(mnt, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt], capture_output=True, text=True)
    if p.returncode != 0:
        info("cannot mount a tmpfs here (%s): the file-size-limit cases above are the test of a full disk" %
             short(p.stderr or "mount exit %d" % p.returncode))
        return
    try:
        # fill it to leave one page: less than a pairs file, a scores file or the export need
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        with open(os.path.join(mnt, "filler"), "wb") as f:
            f.write(b"\0" * max(0, free - 4096))
        info("tmpfs of 512 KiB mounted at %s, filled to leave %d bytes" %
             (mnt, os.statvfs(mnt).f_bavail * os.statvfs(mnt).f_frsize))
        out = os.path.join(mnt, "pairs.h5")
        rc, _, err = run_limited([rms, "prepare", "--tokenizer", tulu, "--in", SAMPLE, "--out", out, "--quiet"])
        check_error("full tmpfs: prepare", rc, err, out + ".partial", ENOSPC)
        record("full tmpfs: prepare left nothing", not os.path.exists(out) and not os.path.exists(out + ".partial"))
        out = os.path.join(mnt, "scores.h5")
        rc, _, err = run_limited([rms, "score", "--model", model, "--data", pairs, "--out", out, "--quiet"])
        check_error("full tmpfs: score", rc, err, out + ".partial", ENOSPC)
        record("full tmpfs: score left nothing", not os.path.exists(out) and not os.path.exists(out + ".partial"))
        out = os.path.join(mnt, "export.jsonl")
        rc, _, err = run_limited([rms, "export", scores, "--data", pairs, "--format", "jsonl"], stdout_path=out)
        check_error("full tmpfs: export > file", rc, err, "writing standard output: " + ENOSPC)
    finally:
        subprocess.run(["umount", mnt], capture_output=True)


def main():
    ap = arg_parser(__doc__.split("\n")[0])
    ap.add_argument("--mpiexec", default="mpirun")
    a = ap.parse_args()
    rms = os.path.abspath(a.rmscore)
    W = fresh_workdir(a.workdir)
    ref_path = os.path.join(W, "ref.h5")
    setup = T.sample_setup(rms, W, a.node_modules, scores=ref_path)
    if not setup:
        return finish()
    tulu, model, pairs = setup
    ref = read_scores(ref_path)
    record("the clean run scored every row", bool(np.all(ref[2] == 1)), str(np.bincount(ref[2])))

    stdout_cases(rms, model, tulu, ref_path, pairs, W)
    prepare_cases(rms, tulu, W, pairs)
    score_cases(rms, model, pairs, W, ref_path, ref, shutil.which(a.mpiexec))
    merge_cases(rms, W, ref_path, ref)
    tmpfs_cases(rms, model, tulu, pairs, ref_path, W)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
