#!/usr/bin/python3
"""test_identity_e2e.py — the results' identity (the model known by its content) and one writer per file.

    /usr/bin/python3 tests/e2e/test_identity_e2e.py --rmscore build/rmscore --workdir DIR --node-modules node_modules

A small random model and 120 pairs generated from tests/data/sample-pairs.jsonl; one uninterrupted `score` is the
reference. Checked with h5py and Python's hashlib, independently of rmscore's code:
- /scores records the model's absolute path, its fingerprint (the SHA-256 of `sha256sum` lines of config.json, the
  safetensors files and the index, as `sha256sum … | sort | sha256sum` gives it) and manifest, the dataset's
  absolute path, template, template SHA-256 and tokenization, and the shard; relative --model/--data are stored
  absolute, and `report` run from another directory finds the dataset.
- Resume: a partial file (rows reset to pending) resumes with a staged copy of the checkpoint at another path, bit
  for bit; a checkpoint replaced at the same path (another seed: same shapes, same headers and sizes), another
  --compute, --max-tokens, --shard, or a dataset prepared with another tokenization or template is refused with
  one error line naming the field and both values, the file untouched.
- Files written before the identity was recorded (attributes removed with h5py, the model path relative as it was
  stored): report/export read them; resuming is refused naming --allow-unverified-resume, and (when `score` has
  the flag) resumes with it when the recorded path leads to --model, recording the identity.
- merge: three shards (a directory or files) give the single run's results bit for bit; a missing shard is named
  with its expected path, an incomplete shard with its pending rows, each refused; --allow-incomplete merges and
  a `score` on the merged file completes it; shards of another compute, model or --max-tokens, and a file
  without the identity, are refused naming the field, both values and both files.
- Locks: a second `score` on an --out a running one holds (kept stopped with SIGSTOP) fails at once naming host
  and pid, and the first completes with the reference's bits; `merge` onto that --out, or of a shard still being
  written, is refused naming the holder; a lock left by a SIGKILLed run is taken over; a lock held by another
  program through the same protocol (fcntl on OUT.lock) stops `merge`; no lock file stays after a run.
Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
"""

import fcntl
import hashlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest  # noqa: E402
from rmstest import (SAMPLE, arg_parser, build_tokenizer_dirs, finish, fresh_workdir, info, record,  # noqa: E402
                     same_scores, short)

TIMEOUT = 900
N_PAIRS = 120
SHARDS = 3
IDENTITY = ["model_fingerprint", "model_files", "pairs_template", "pairs_template_sha256", "pairs_tokenization",
            "shard_index", "shard_count"]


def run(cmd, cwd=None, timeout=TIMEOUT):
    """(rc, stdout, stderr) of cmd run in cwd (rmstest.run has no cwd)."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, errors="replace", timeout=timeout, cwd=cwd)
    rmstest.check_sanitizers(" ".join(os.path.basename(str(c)) for c in cmd[:2]), p.stderr)
    return p.returncode, p.stdout, p.stderr


def make_dataset(path):
    """N_PAIRS rows: the sample pairs repeated, each copy's first user turn varied (same in chosen and rejected)."""
    base = [json.loads(l) for l in open(SAMPLE, encoding="utf-8") if l.strip()]
    with open(path, "w", encoding="utf-8") as f:
        for k in range(N_PAIRS):
            r = json.loads(json.dumps(base[k % len(base)]))
            r["id"] = "%s-v%03d" % (r["id"], k)
            for side in ("chosen", "rejected"):
                for m in r[side]:
                    if m["role"] == "user":
                        m["content"] += " (variant %d)" % k
                        break
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def attr_str(v):
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray) and v.shape == ():
        return attr_str(v[()])
    return str(v)


def read_scores(path):
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return {"chosen": g["chosen"][()].copy(), "rejected": g["rejected"][()].copy(),
                "status": g["status"][()].astype(np.int64), "attrs": {k: g.attrs[k] for k in g.attrs}}


def triple(s):
    return s["chosen"], s["rejected"], s["status"]


def file_sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def model_manifest(d):
    """The manifest and fingerprint io/fingerprint.h defines, computed here with hashlib."""
    names = ["config.json"] + sorted(n for n in os.listdir(d) if n.endswith(".safetensors"))
    if os.path.exists(os.path.join(d, "model.safetensors.index.json")):
        names.append("model.safetensors.index.json")
    names.sort(key=lambda n: n.encode("utf-8"))
    manifest = "".join("%s  %s\n" % (file_sha(os.path.join(d, n)), n) for n in names)
    return manifest, hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def reset_rows(path, rows):
    """Makes rows pending again (status 0, NaN scores): a file as a run that had not reached them leaves it."""
    rows = sorted(rows)
    with h5py.File(path, "r+") as f:
        g = f["scores"]
        g["status"][rows] = 0
        g["chosen"][rows] = np.nan
        g["rejected"][rows] = np.nan


def make_old(path, model_attr):
    """What rmscore wrote before the identity: no identity attributes, the model path as given on the command line."""
    with h5py.File(path, "r+") as f:
        g = f["scores"]
        for k in IDENTITY:
            if k in g.attrs:
                del g.attrs[k]
        g.attrs["model"] = model_attr


def error_lines(err):
    return [l for l in err.splitlines() if l.startswith("rmscore: error:")]


def refused(label, rc, err, wants, path=None, before=None):
    """One `rmscore: error:` line containing each of wants, exit status 1, and (path, before) the file unchanged."""
    errs = error_lines(err)
    missing = [w for w in wants if not errs or w not in errs[0]]
    unchanged = path is None or file_sha(path) == before
    return record(label, rc == 1 and len(errs) == 1 and not missing and unchanged,
                  "rc %s, error lines %s, missing %s, file %s" % (rc, errs, missing, "unchanged" if unchanged else "CHANGED"))


class Job(rmstest.StderrJob):
    """A score process whose stderr is read line by line in a thread."""

    def wait_line(self, needle, timeout=120):
        """Waits for a stderr line containing needle; True if seen (the process may still run)."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            try:
                line = self.q.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:
                return False
            self.lines.append(line)
            if needle in line:
                return True
        return False

    def finish(self, timeout=TIMEOUT):
        rc = self.p.wait(timeout=timeout)
        self.t.join(timeout=10)
        self.drain()
        rmstest.check_sanitizers("rmscore score (pid %d)" % self.p.pid, self.lines)
        return rc


def start_stopped(cmd, cwd=None):
    """Starts a score and stops it (SIGSTOP) once it has locked its --out and opened its files (its "N pairs, M to
    score" line): it holds the lock while stopped. Returns the Job, or None if it ended first."""
    job = Job(cmd, cwd=cwd)
    if not job.wait_line("micro-batches"):
        job.finish()
        return None
    os.kill(job.p.pid, signal.SIGSTOP)
    if job.p.poll() is not None:
        return None
    return job


def main():
    a = arg_parser(__doc__.split("\n")[0]).parse_args()
    rms = os.path.abspath(a.rmscore)
    W = fresh_workdir(a.workdir)
    host = socket.gethostname()
    if not (toks := build_tokenizer_dirs(W, a.node_modules, timeout=TIMEOUT)):
        return finish()
    tulu = toks[0]
    model, staged = os.path.join(W, "model"), os.path.join(W, "staged")
    rc, out, err = run([rms, "make-test-model", "--out", model, "--hidden", "128", "--intermediate", "384", "--layers",
                        "4", "--heads", "4", "--kv-heads", "2", "--tokenizer", tulu, "--quiet"])
    if not record("make-test-model", rc == 0, short(err)):
        return finish()
    jsonl, pairs = os.path.join(W, "pairs.jsonl"), os.path.join(W, "pairs.h5")
    make_dataset(jsonl)
    rc, out, err = run([rms, "prepare", "--tokenizer", tulu, "--in", jsonl, "--out", pairs, "--quiet"])
    if not record("prepare %d generated pairs" % N_PAIRS, rc == 0, short(err)):
        return finish()
    rc, helptext, err = run([rms, "score", "--help"])
    has_adopt_flag = "--allow-unverified-resume" in helptext

    def score(out_path, *extra, m=model, data=pairs, cwd=None, quiet=True):
        return run([rms, "score", "--model", m, "--data", data, "--out", out_path, "--threads", "2",
                    "--microbatch-tokens", "512"] + (["--quiet"] if quiet else []) + list(extra), cwd=cwd)

    # ---------------------------------------------------------------- the identity in /scores
    ref_path = os.path.join(W, "ref.h5")
    rc, out, err = score("ref.h5", m="model", data="pairs.h5", cwd=W, quiet=False)  # relative paths
    if not record("reference run (relative --model, --data, --out): exit 0", rc == 0, short(err)):
        return finish()
    ref = read_scores(ref_path)
    record("reference: every row scored", int((ref["status"] == 1).sum()) == N_PAIRS,
           "statuses %s" % np.bincount(ref["status"]).tolist())
    manifest, fingerprint = model_manifest(model)
    with h5py.File(pairs, "r") as f:
        pat = {k: attr_str(f["pairs"].attrs[k]) for k in ("template", "template_sha256", "tokenization")}
    at = ref["attrs"]
    want = {"model": os.path.realpath(model), "pairs_file": os.path.realpath(pairs), "model_fingerprint": fingerprint,
            "model_files": manifest, "pairs_template": pat["template"], "pairs_template_sha256": pat["template_sha256"],
            "pairs_tokenization": pat["tokenization"]}
    problems = ["%s %r != %r" % (k, attr_str(at.get(k)), v) for k, v in want.items() if attr_str(at.get(k)) != v]
    problems += ["%s %r" % (k, at.get(k)) for k, v in (("shard_index", 0), ("shard_count", 1))
                 if k not in at or int(np.asarray(at[k])) != v or np.asarray(at[k]).dtype != np.dtype("<i8")]
    record("/scores records the absolute model and pairs paths, the fingerprint (= sha256sum of config.json, "
           "safetensors, index), its manifest, the template, its SHA-256, the tokenization and shard 0/1",
           not problems, "; ".join(problems))
    record("score prints the fingerprint", ("fingerprint %s" % fingerprint[:16]) in err, short(err, 300))
    rc, out, err = run([rms, "report", ref_path, "--json"], cwd="/")
    per_source = json.loads(out).get("per_source", {}) if rc == 0 else {}
    record("report run from another directory finds the dataset (per-source figures)", rc == 0 and len(per_source) > 0,
           "rc %d, sources %d, stderr %s" % (rc, len(per_source), short(err)))

    # ---------------------------------------------------------------- resume by content
    pending = list(range(0, N_PAIRS, 3))
    part = os.path.join(W, "part.h5")
    shutil.copyfile(ref_path, part)
    reset_rows(part, pending)
    shutil.copytree(model, staged)
    rc, out, err = score(part, m=staged, quiet=False)
    got = read_scores(part)
    ok, detail = same_scores(triple(got), triple(ref))
    record("a checkpoint staged to another path resumes the file (its content is the same): exit 0, the reference's "
           "bits", rc == 0 and "resuming" in err and ok, "rc %d, %s; stderr %s" % (rc, detail, short(err)))
    record("the resumed file records the staged path, the same fingerprint",
           attr_str(got["attrs"]["model"]) == os.path.realpath(staged)
           and attr_str(got["attrs"]["model_fingerprint"]) == fingerprint, attr_str(got["attrs"]["model"]))

    reset_rows(part, pending)
    before = file_sha(part)
    rc, out, err = run([rms, "make-test-model", "--out", staged, "--hidden", "128", "--intermediate", "384", "--layers",
                        "4", "--heads", "4", "--kv-heads", "2", "--seed", "2", "--tokenizer", tulu, "--quiet"])
    def header(d):  # the safetensors header (8-byte length + JSON) and the file size
        p = os.path.join(d, "model.safetensors")
        with open(p, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            f.seek(0)
            return f.read(8 + n), os.path.getsize(p)
    same_looks = header(staged) == header(model) and file_sha(os.path.join(staged, "config.json")) == file_sha(
        os.path.join(model, "config.json"))
    record("a checkpoint replaced at the same path (seed 2): the same config.json, safetensors header and size, so a "
           "fingerprint of headers and sizes could not tell it", rc == 0 and same_looks, short(err))
    rc, out, err = score(part, m=staged)
    refused("resume with the replaced checkpoint: refused, naming the model file that differs and asking for a new "
            "--out", rc, err, ["scored by another model", "model_fingerprint is %s" % fingerprint[:16],
                               "model.safetensors: sha256", "new --out"], part, before)
    for label, extra, wants in (("--compute bf16", ["--compute", "bf16"], ["compute is 'fp32' but this run's is 'bf16'"]),
                                ("--max-tokens 64", ["--max-tokens", "64"], ["max_tokens is 0 but this run's is 64"]),
                                ("--shard 1/3", ["--shard", "1/3"], ["it holds shard 0/1 but this run scores shard 1/3"])):
        rc, out, err = score(part, *extra)
        refused("resume with %s: refused naming both values" % label, rc, err, wants, part, before)
    for label, extra, field in (("--tokenization text-with-special", ["--tokenization", "text-with-special"],
                                 "pairs_tokenization is 'chat-template' but this run's is 'text-with-special'"),
                                ("--template llama3", ["--template", "llama3"], "pairs_template_sha256 is '%s'"
                                 % pat["template_sha256"])):
        other = os.path.join(W, "pairs-%s.h5" % extra[-1])
        rc, out, err = run([rms, "prepare", "--tokenizer", tulu, "--in", jsonl, "--out", other, "--quiet"] + extra)
        if record("prepare %s (same rows, same tokenizer)" % label, rc == 0, short(err)):
            rc, out, err = score(part, data=other)
            refused("resume with the dataset prepared with %s: refused naming the field" % label, rc, err, [field],
                    part, before)

    # ---------------------------------------------------------------- files written before the identity
    old = os.path.join(W, "old.h5")
    shutil.copyfile(ref_path, old)
    reset_rows(old, pending)
    make_old(old, "model")  # relative, as given from W
    rc, out, err = run([rms, "report", old, "--json"])
    rep = json.loads(out) if rc == 0 else {}
    rc2, out2, err2 = run([rms, "export", old, "--format", "csv"])
    record("an older file (no identity): report and export read it", rc == 0 and rep.get("n_pending") == len(pending)
           and rc2 == 0 and len(out2.splitlines()) == N_PAIRS + 1, "rc %d/%d %s" % (rc, rc2, short(err + err2)))
    before = file_sha(old)
    rc, out, err = score("old.h5", m="model", data="pairs.h5", cwd=W)
    refused("an older file: resuming is refused, naming --allow-unverified-resume", rc, err,
            ["did not record the model's fingerprint", "--allow-unverified-resume", "new --out"], old, before)
    if has_adopt_flag:
        rc, out, err = score(old, "--allow-unverified-resume", m=staged)
        refused("an older file with --allow-unverified-resume but another model path: refused naming both", rc, err,
                ["its model is 'model' but this run's is '%s'" % os.path.realpath(staged)], old, before)
        rc, out, err = score("old.h5", "--allow-unverified-resume", m="model", data="pairs.h5", cwd=W)
        got = read_scores(old)
        ok, detail = same_scores(triple(got), triple(ref))
        record("an older file with --allow-unverified-resume (its relative model path leads to --model): resumes to the "
               "reference's bits and records the identity", rc == 0 and ok
               and attr_str(got["attrs"].get("model_fingerprint", "")) == fingerprint,
               "rc %d, %s, %s" % (rc, detail, short(err)))
    else:
        info("score has no --allow-unverified-resume option yet (src/cli/cmd_score.c): adoption not run end to end")

    # ---------------------------------------------------------------- merge
    sdir = os.path.join(W, "shards")
    os.makedirs(sdir)
    shard = [os.path.join(sdir, "shard-%d.h5" % i) for i in range(SHARDS)]
    ok_all = True
    for i in range(SHARDS):
        rc, out, err = score(shard[i], "--shard", "%d/%d" % (i, SHARDS))
        at = read_scores(shard[i])["attrs"] if rc == 0 else {}
        ok_all &= rc == 0 and int(at.get("shard_index", -1)) == i and int(at.get("shard_count", -1)) == SHARDS
    if not record("score --shard I/%d into OUTDIR/shard-I.h5 records shard_index I, shard_count %d" % (SHARDS, SHARDS),
                  ok_all):
        return finish()
    merged = os.path.join(W, "merged.h5")
    rc, out, err = run([rms, "merge", "--out", merged, sdir])
    got = read_scores(merged) if rc == 0 else None
    ok, detail = same_scores(triple(got), triple(ref)) if got else (False, "")
    record("merge OUTDIR: the single run's results bit for bit, shard 0/1, the fingerprint, no lock file left",
           rc == 0 and ok and int(got["attrs"]["shard_count"]) == 1 and attr_str(got["attrs"]["model_fingerprint"])
           == fingerprint and not os.path.exists(merged + ".lock"), "rc %d, %s, %s" % (rc, detail, short(err)))
    rc, out, err = run([rms, "merge", "--out", os.path.join(W, "m-files.h5")] + shard)
    record("merge of the shard files listed: exit 0", rc == 0, short(err))

    gap = os.path.join(W, "gap")
    os.makedirs(gap)
    for i in (0, 2):
        shutil.copy(shard[i], gap)
    m_gap = os.path.join(W, "m-gap.h5")
    rc, out, err = run([rms, "merge", "--out", m_gap, gap])
    refused("merge OUTDIR without shard 1: refused naming it and its expected path", rc, err,
            ["shard 1 of 3 is missing (expected %s/shard-1.h5)" % gap, "--allow-incomplete"])
    rc, out, err = run([rms, "merge", "--out", m_gap, os.path.join(gap, "shard-0.h5"), os.path.join(gap, "shard-2.h5")])
    refused("merge of files 0 and 2 of 3: refused naming shard 1", rc, err, ["shard 1 of 3 is missing"])
    record("a refused merge writes no file", not os.path.exists(m_gap) and not os.path.exists(m_gap + ".lock"))
    gap_of = os.path.join(W, "gap-of")
    os.makedirs(gap_of)
    for i in (0, 2):
        shutil.copy(shard[i], os.path.join(gap_of, "shard-%d-of-%d.h5" % (i, SHARDS)))
    rc, out, err = run([rms, "merge", "--out", m_gap, gap_of])
    refused("merge OUTDIR of shard-I-of-N.h5 files without shard 1: refused naming its expected path", rc, err,
            ["shard 1 of 3 is missing (expected %s/shard-1-of-3.h5)" % gap_of])

    inc = os.path.join(W, "inc")
    shutil.copytree(sdir, inc)
    lo, hi = 2 * N_PAIRS // SHARDS, N_PAIRS
    reset_rows(os.path.join(inc, "shard-2.h5"), range(lo + 3, lo + 8))
    m_inc = os.path.join(W, "m-inc.h5")
    rc, out, err = run([rms, "merge", "--out", m_inc, inc])
    refused("merge with shard 2 incomplete: refused naming it and its pending rows", rc, err,
            ["shard 2 of 3 (%s/shard-2.h5) is incomplete: 5 of its %d rows are pending" % (inc, hi - lo)])
    rc, out, err = run([rms, "merge", "--allow-incomplete", "--out", m_inc, inc])
    got = read_scores(m_inc) if rc == 0 else None
    record("merge --allow-incomplete: exit 0, a warning naming the shard, its 5 rows pending",
           rc == 0 and "warning" in err and "shard 2 of 3" in err and int((got["status"] == 0).sum()) == 5, short(err))
    rc, out, err = score(m_inc)
    got = read_scores(m_inc)
    ok, detail = same_scores(triple(got), triple(ref))
    record("score on the incomplete merged file completes it: the reference's bits", rc == 0 and ok,
           "rc %d, %s, %s" % (rc, detail, short(err)))

    for label, extra, m, wants in (
            ("--compute bf16", ["--compute", "bf16"], model,
             ["compute is 'fp32' in the first and 'bf16' in the second"]),
            ("the seed-2 model", [], staged, ["scored by different models", "model_fingerprint is %s" % fingerprint[:16],
                                              "model.safetensors: sha256"]),
            ("--max-tokens 4096", ["--max-tokens", "4096"], model,
             ["max_tokens is 0 in the first and 4096 in the second"])):
        mix = os.path.join(W, "mix-%s" % label.replace(" ", "").replace("-", ""))
        os.makedirs(mix)
        for i in (0, 1):
            shutil.copy(shard[i], mix)
        rc, out, err = score(os.path.join(mix, "shard-2.h5"), "--shard", "2/3", *extra, m=m)
        if record("shard 2 scored with %s" % label, rc == 0, short(err)):
            rc, out, err = run([rms, "merge", "--out", os.path.join(W, "m-mix.h5"), mix])
            refused("merge with shard 2 scored with %s: refused naming the field, both values and both files" % label,
                    rc, err, wants + [os.path.join(mix, "shard-0.h5"), os.path.join(mix, "shard-2.h5")])
    oldmix = os.path.join(W, "oldmix")
    shutil.copytree(sdir, oldmix)
    make_old(os.path.join(oldmix, "shard-1.h5"), model)
    rc, out, err = run([rms, "merge", "--out", os.path.join(W, "m-old.h5"), oldmix])
    refused("merge of a file without the identity with files that have it: refused", rc, err,
            ["shard-1.h5 records no model fingerprint"])

    # ---------------------------------------------------------------- one writer per file
    locked = os.path.join(W, "locked.h5")
    cmd = [rms, "score", "--model", model, "--data", pairs, "--out", locked, "--threads", "1", "--microbatch-tokens",
           "256", "--progress-every", "0"]
    a_job = start_stopped(cmd)
    if not record("first score started and stopped (SIGSTOP) holding its --out", a_job is not None):
        return finish()
    holder = "rmscore score on host %s, pid %d, since " % (host, a_job.p.pid)
    t0 = time.time()
    rc, out, err = run(cmd)
    dt = time.time() - t0
    refused("a second score on the same --out fails at once (%.2f s) naming host and pid" % dt, rc, err,
            ["%s is in use by another run: %s" % (locked, holder), "lock file %s.lock" % locked])
    record("... within %.0f s" % rmstest.scaled(10), dt < rmstest.scaled(10), "%.2f s" % dt)
    rc, out, err = run([rms, "merge", "--out", locked, sdir])
    refused("merge onto that --out: refused naming the running score", rc, err, [holder])
    os.kill(a_job.p.pid, signal.SIGCONT)
    rc = a_job.finish()
    got = read_scores(locked)
    ok, detail = same_scores(triple(got), triple(ref))
    record("the first score completes: exit 0, the reference's bits, its lock file removed",
           rc == 0 and ok and not os.path.exists(locked + ".lock"), "rc %d, %s, %s" % (rc, detail, short(a_job.text())))

    busy = os.path.join(W, "busy")
    os.makedirs(busy)
    for i in (0, 2):
        shutil.copy(shard[i], busy)
    b_job = start_stopped([rms, "score", "--model", model, "--data", pairs, "--out", os.path.join(busy, "shard-1.h5"),
                           "--shard", "1/3", "--threads", "1", "--microbatch-tokens", "256"])
    if record("a shard task started and stopped (SIGSTOP)", b_job is not None):
        rc, out, err = run([rms, "merge", "--out", os.path.join(W, "m-busy.h5"), busy])
        refused("merge while a shard is still being written: refused naming it and its holder", rc, err,
                ["%s/shard-1.h5 is still being written (rmscore score on host %s, pid %d" % (busy, host, b_job.p.pid)])
        os.kill(b_job.p.pid, signal.SIGCONT)
        rc = b_job.finish()
        rc2, out, err = run([rms, "merge", "--out", os.path.join(W, "m-busy.h5"), busy])
        got = read_scores(os.path.join(W, "m-busy.h5")) if rc2 == 0 else None
        ok, detail = same_scores(triple(got), triple(ref)) if got else (False, "")
        record("once the task ended, the merge succeeds with the reference's bits", rc == 0 and rc2 == 0 and ok,
               "rc %d/%d, %s, %s" % (rc, rc2, detail, short(err)))

    stale = os.path.join(W, "stale.h5")
    c_job = start_stopped([rms, "score", "--model", model, "--data", pairs, "--out", stale, "--threads", "1",
                           "--microbatch-tokens", "256"])
    if record("a third score started and stopped", c_job is not None):
        os.kill(c_job.p.pid, signal.SIGKILL)
        c_job.finish()
        left = open(stale + ".lock").read() if os.path.exists(stale + ".lock") else ""
        record("SIGKILL leaves its lock file, naming it", ("pid %d," % c_job.p.pid) in left, repr(left))
        rc, out, err = score(stale)
        got = read_scores(stale)
        ok, detail = same_scores(triple(got), triple(ref))
        record("the next run takes the stale lock over and completes: the reference's bits, no lock file left",
               rc == 0 and ok and not os.path.exists(stale + ".lock"), "rc %d, %s, %s" % (rc, detail, short(err)))

    # another program following the protocol: fcntl on OUT.lock with a holder line
    m2 = os.path.join(W, "m2.h5")
    fd = os.open(m2 + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, b"a test holder on host elsewhere, pid 4242\n")
    rc, out, err = run([rms, "merge", "--out", m2, sdir])
    refused("merge onto an --out whose lock another process holds: refused naming the holder", rc, err,
            ["m2.h5 is in use by another run: a test holder on host elsewhere, pid 4242"])
    os.close(fd)  # releases the lock; the file stays (stale)
    rc, out, err = run([rms, "merge", "--out", m2, sdir])
    record("after it is released the merge runs, and removes the lock file", rc == 0 and not os.path.exists(m2 + ".lock"),
           "rc %d, %s" % (rc, short(err)))
    leftovers = [os.path.join(r, n) for r, _, ns in os.walk(W) for n in ns if n.endswith(".lock")]
    record("no lock file is left in the work directory", not leftovers, str(leftovers))
    return finish()


if __name__ == "__main__":
    sys.exit(main())
