#!/usr/bin/python3
"""test_mpi.py — the MPI job end to end (issue: pipeline stages x replicas under mpirun).

    /usr/bin/python3 tests/e2e/test_mpi.py --rmscore build/rmscore --workdir DIR --node-modules node_modules

Checks, on a tiny generated 4-layer model with the Tülu tokenizer and tests/data/sample-pairs.jsonl:
- for (np, stages) in (1,1) (2,1) (3,2) (4,3) (5,2) (5,4): `mpirun -np np rmscore score --stages P` writes
  the same statuses and the same scores, bit for bit, as the single-process run (rmstest.same_scores: a layout
  batches and threads differently, and rmscore's kernels are batch invariant); against the single-process
  scores shifted by one row the comparison must fail; (3,2) and (5,2) once more with the ranks talking over TCP
  only (`--mca pml ob1 --mca btl tcp,self`, as ranks on different nodes do);
- memory: the peak RSS (VmHWM, from the job's per-rank summary) of a middle stage holding a quarter of the
  layers of a 16-layer model stays under half the checkpoint size (small micro-batches, so that activations
  do not hide what the stage maps in);
- a checkpoint with one corrupt tensor in the last stage's slice makes every layout exit non-zero within
  30 s with a message naming the tensor.
Ranks that die, hang or are asked to stop mid-run (each role in turn): tests/e2e/test_mpi_faults.py.
Prints PASS/FAIL per check and a final `N passed, M failed`.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest  # noqa: E402
from rmstest import (SAMPLE, arg_parser, finish, fresh_workdir, record, same_scores, shift_caught,  # noqa: E402
                     tokenizer_dirs_cmd)

rmstest.configure(detail_on_pass="full", list_failed=False)
LAYOUTS = [(1, 1), (2, 1), (3, 2), (4, 3), (5, 2), (5, 4)]
TCP_LAYOUTS = [(3, 2), (5, 2)]
TCP = ["--mca", "pml", "ob1", "--mca", "btl", "tcp,self"]
MPIEXEC = "mpirun"


def mpi_env():
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    return env


def mpirun(np_, args, timeout=300):
    """(CompletedProcess, seconds) of `mpirun -np np_ args`; timeout is a Release-run bound (rmstest.scaled)."""
    cmd = [MPIEXEC, "-np", str(np_), "--oversubscribe"] + args
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=rmstest.scaled(timeout))
    rmstest.check_sanitizers("mpirun -np %d %s" % (np_, " ".join(os.path.basename(str(x)) for x in args[:2])), p.stderr)
    return p, time.time() - t0


def run(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    rmstest.check_sanitizers(" ".join(os.path.basename(str(x)) for x in args[:2]), p.stderr)
    p.check_returncode()
    return p


def read_scores(path):
    with h5py.File(path, "r") as f:
        g = f["scores"]
        return g["chosen"][:], g["rejected"][:], g["status"][:]


def corrupt_shape(model_dir, tensor):
    """Swaps the two dims of `tensor`'s shape in its shard header (same byte length, same size)."""
    index = json.load(open(os.path.join(model_dir, "model.safetensors.index.json")))
    path = os.path.join(model_dir, index["weight_map"][tensor])
    data = bytearray(open(path, "rb").read())
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    rows, cols = header[tensor]["shape"]
    assert rows != cols
    old = ('"%s":{"dtype":"%s","shape":[%d,%d]' % (tensor, header[tensor]["dtype"], rows, cols)).encode()
    new = ('"%s":{"dtype":"%s","shape":[%d,%d]' % (tensor, header[tensor]["dtype"], cols, rows)).encode()
    text = bytes(data[8:8 + n])
    if old not in text:  # the writer may put spaces after separators
        old, new = old.replace(b",", b", ").replace(b":", b": "), new.replace(b",", b", ").replace(b":", b": ")
    assert old in text and len(old) == len(new), "cannot find %s in the header" % tensor
    data[8:8 + n] = text.replace(old, new)
    open(path, "wb").write(bytes(data))
    return os.path.basename(path)


def summary_rss(stderr):
    """rank -> (layers text, peak RSS MiB) from the job's per-rank table."""
    out = {}
    for line in stderr.splitlines():
        m = re.match(r"rmscore: score:\s+(\d+)\s+(\d+|root)\s+(\d+|-)\s+(\S+)\s+.*\s(\d+\.\d)$", line)
        if m:
            out[int(m.group(1))] = (m.group(4), float(m.group(5)))
    return out


def main():
    ap = arg_parser()
    ap.add_argument("--mpiexec", default="mpirun")
    a = ap.parse_args()
    global MPIEXEC
    MPIEXEC = a.mpiexec
    rms = os.path.abspath(a.rmscore)
    wd = fresh_workdir(a.workdir)
    run(tokenizer_dirs_cmd(wd, a.node_modules))
    tok = os.path.join(wd, "tok", "tulu")
    model = os.path.join(wd, "model")
    run([rms, "make-test-model", "--out", model, "--layers", "4", "--shards", "3", "--tokenizer", tok, "--quiet"])
    pairs = os.path.join(wd, "pairs.h5")
    run([rms, "prepare", "--tokenizer", model, "--in", SAMPLE, "--out", pairs, "--quiet"])
    ref_path = os.path.join(wd, "single.h5")
    run([rms, "score", "--model", model, "--data", pairs, "--out", ref_path, "--quiet"])
    ref = read_scores(ref_path)
    record("the single-process run scores every sample pair", int(np.sum(ref[2] == 1)) > 40)

    # every layout gives the single-process scores (and a few again over TCP only)
    for np_, stages, transport in [(n, s, []) for n, s in LAYOUTS] + [(n, s, TCP) for n, s in TCP_LAYOUTS]:
        tag = " [TCP only]" if transport else ""
        out = os.path.join(wd, "np%d-s%d%s.h5" % (np_, stages, "-tcp" if transport else ""))
        p, dt = mpirun(np_, transport + [rms, "score", "--model", model, "--data", pairs, "--out", out, "--stages",
                                         str(stages), "--microbatch-tokens", "1500", "--progress-every", "0"])
        if not record("np=%d stages=%d%s exits 0" % (np_, stages, tag), p.returncode == 0,
                      p.stderr[-600:] if p.returncode else ""):
            continue
        got = read_scores(out)
        ok, detail = same_scores(got, ref)
        record("np=%d stages=%d%s scores equal the single-process run's (bitwise)" % (np_, stages, tag), ok,
               detail)
        caught, detail = shift_caught(got, ref)
        record("np=%d stages=%d%s: the comparison would catch rows shifted by one" % (np_, stages, tag), caught,
               detail)
        if np_ > 1:
            with h5py.File(out, "r") as f:
                at = f["scores"].attrs
                record("np=%d stages=%d%s records its layout" % (np_, stages, tag),
                       int(at["stages"]) == stages and int(at["replicas"]) == (np_ - 1) // stages)

    # options under MPI: rank 0 alone reads argv and the run config and broadcasts them
    cfg_dir, elsewhere = os.path.join(wd, "cfg-rank0"), os.path.join(wd, "cfg-others")
    os.makedirs(cfg_dir)
    os.makedirs(elsewhere)
    cfg_out = os.path.join(wd, "from-config.h5")
    with open(os.path.join(cfg_dir, "run.json"), "w") as f:
        json.dump({"model": model, "data": pairs, "out": cfg_out, "stages": 2, "microbatch_tokens": 1500,
                   "quiet": True}, f)
    # MPMD launch: rank 0 runs where run.json is, ranks 1-2 where it is not (as when only one node can read it)
    cmd = [MPIEXEC, "--oversubscribe", "-np", "1", "-wdir", cfg_dir, rms, "score", "--config", "run.json", ":",
           "-np", "2", "-wdir", elsewhere, rms, "score", "--config", "run.json"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=mpi_env(), timeout=rmstest.scaled(120))
        rmstest.check_sanitizers("the MPMD launch", p.stderr)
        ok, detail = same_scores(read_scores(cfg_out), ref) if p.returncode == 0 else (False, p.stderr[-600:])
    except subprocess.TimeoutExpired:
        ok, detail = False, "hung for 120 s"
    record("a run config only rank 0 can read: the 3-rank job runs on rank 0's options (scores as single)", ok, detail)
    for label, args, want_rc, want in [
            ("a missing run config", ["--config", os.path.join(wd, "no-such.json")], 1, "no-such.json"),
            ("a usage error", ["--model", model, "--data", pairs], 2, "--out"),
            ("a bad run-config value", ["--config", os.path.join(cfg_dir, "bad.json")], 2, "--stages"),
            ("a rank count that does not fit --stages", ["--model", model, "--data", pairs, "--out",
                                                         os.path.join(wd, "unfit.h5"), "--stages", "3"], 2,
             "not a multiple of --stages 3")]:
        if label.startswith("a bad"):
            with open(os.path.join(cfg_dir, "bad.json"), "w") as f:
                json.dump({"model": model, "data": pairs, "out": os.path.join(wd, "bad.h5"), "stages": 0}, f)
        try:
            p, dt = mpirun(3, [rms, "score"] + args, timeout=60)
        except subprocess.TimeoutExpired:
            record("np=3: %s ends every rank" % label, False, "hung for 60 s")
            continue
        errs = [l for l in p.stderr.splitlines() if l.startswith("rmscore: error:")]
        record("np=3: %s ends every rank with exit status %d and one error line from rank 0 (%.1f s)" % (
            label, want_rc, dt),
            p.returncode == want_rc and len(errs) == 1 and want in errs[0] and dt < rmstest.scaled(30),
            "rc %d, errors %s" % (p.returncode, errs))
    p, _ = mpirun(3, [rms, "score", "--help"])
    record("np=3: score --help prints the usage once and exits 0",
           p.returncode == 0 and p.stdout.count("usage: [mpirun") == 1 and "--layer-split" in p.stdout,
           "rc %d, %d usage lines" % (p.returncode, p.stdout.count("usage: [mpirun")))

    # a stage's memory is its slice
    big = os.path.join(wd, "model-big")
    run([rms, "make-test-model", "--out", big, "--hidden", "512", "--intermediate", "4096", "--layers", "16",
         "--heads", "8", "--kv-heads", "2", "--shards", "4", "--tokenizer", tok, "--quiet"])
    size_mib = sum(os.path.getsize(os.path.join(big, f)) for f in os.listdir(big) if f.endswith(".safetensors")) / 2**20
    # small micro-batches: activations stay small beside the weights, so RSS shows what is mapped in
    p, _ = mpirun(5, [rms, "score", "--model", big, "--data", pairs, "--out", os.path.join(wd, "big.h5"), "--stages", "4",
                      "--microbatch-tokens", "512", "--max-tokens", "512"])
    rss = summary_rss(p.stderr)
    if record("the 4-stage job on the larger model exits 0 and reports every rank", p.returncode == 0 and len(rss) == 5,
              p.stderr[-600:] if p.returncode else ""):
        layers, mib = rss[3]  # replica 0, stage 2: layers 8-11 of 16, no embedding, no head
        if rmstest.instrumented(rms):  # ASan's shadow memory and quarantine are in the RSS: the Release run checks it
            rmstest.info("a middle stage's peak RSS (%.0f MiB, layers %s) against half the checkpoint (%.0f MiB): not "
                         "checked in an AddressSanitizer build" % (mib, layers, size_mib))
        else:
            record("a middle stage's peak RSS (%.0f MiB, layers %s) is under half the checkpoint (%.0f MiB)"
                   % (mib, layers, size_mib), mib < 0.5 * size_mib)

    # a corrupt tensor in the last stage's slice
    bad = os.path.join(wd, "model-corrupt")
    shutil.copytree(model, bad)
    tensor = "model.layers.3.mlp.down_proj.weight"
    shard = corrupt_shape(bad, tensor)
    for np_, stages in LAYOUTS:
        out = os.path.join(wd, "corrupt-np%d-s%d.h5" % (np_, stages))
        try:
            p, dt = mpirun(np_, [rms, "score", "--model", bad, "--data", pairs, "--out", out, "--stages", str(stages)],
                           timeout=60)
        except subprocess.TimeoutExpired:
            record("np=%d stages=%d: a corrupt tensor ends the job" % (np_, stages), False, "hung for 60 s")
            continue
        named = tensor in p.stderr and shard in p.stderr
        record("np=%d stages=%d: a corrupt tensor ends the job non-zero in %.1f s naming %s" % (np_, stages, dt, tensor),
               p.returncode != 0 and dt < rmstest.scaled(30) and named,
               "" if named else p.stderr[-400:])

    return finish()


if __name__ == "__main__":
    sys.exit(main())
