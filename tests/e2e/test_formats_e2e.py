#!/usr/bin/python3
"""test_formats_e2e.py — row formats, tokenization modes and U+0000 through prepare -> score.

    /usr/bin/python3 tests/e2e/test_formats_e2e.py --rmscore build/rmscore --workdir DIR --node-modules node_modules

The same preference pairs written as Tülu 3 mixture rows, RewardBench rows and TRL conversational rows; each file
goes through `prepare` (format detected, and imposed) and `score`. Checked independently of rmscore's code:
- the /pairs attributes format, tokenization, template, template_sha256; ids, sources and stored conversations;
- the ids of every conversation against the reference: tokenizer_config.json's chat template rendered by
  python3-jinja2 as transformers configures it, encoded by Hugging Face `tokenizers` (tests/tokenizer/
  hf_reference.js) without special tokens (--tokenization chat-template) or with them (text-with-special: one
  BOS in front for the Tülu template, two for the Llama 3 template, whose text already begins with one);
- the three formats give the same ids and the same scores, bit for bit, for the same pairs;
- a file mixing formats is refused with one error line naming the lines and formats, and no output is left;
  an imposed format that does not fit makes every row bad with a reason naming both formats;
- U+0000 inside a message is rendered, tokenized (byte-level token) and scored, and kept in the stored text.
Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
"""

import functools
import hashlib
import json
import os
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tokenizer"))
import rmstest  # noqa: E402
from rmstest import arg_parser, build_tokenizer_dirs, finish, fresh_workdir, record, short  # noqa: E402
import common as C  # noqa: E402
import test_render_parity as R  # noqa: E402  (the transformers-configured jinja2 reference)

TIMEOUT = 900
run = functools.partial(rmstest.run, timeout=TIMEOUT)
BOS = 128000

# Single-turn pairs (every format can hold them) and their source names; one holds U+0000.
PAIRS = [
    ("What is 2+2?", "4", "5", "math"),
    ("  Write a haiku about rain.  ", "Soft rain on the roof\nwhispers through the sleeping town\npuddles hold the sky",
     "Rain is wet.", "chat"),
    ("Translate 'Guten Morgen' to English.", "Good morning.", "Good night.", "chat"),
    ("Repeat this: a\u0000b", "a\u0000b", "ab", "edge"),
]


def tulu_rows():
    return [{"id": "p%d" % i, "source": src, "prompt": q,
             "chosen": [{"role": "user", "content": q}, {"role": "assistant", "content": c}],
             "rejected": [{"role": "user", "content": q}, {"role": "assistant", "content": r}]}
            for i, (q, c, r, src) in enumerate(PAIRS)]


def rewardbench_rows():
    return [{"prompt": q, "chosen": c, "chosen_model": "m1", "rejected": r, "rejected_model": "m2", "subset": src,
             "id": 100 + i} for i, (q, c, r, src) in enumerate(PAIRS)]


def trl_rows():
    return [{"id": "p%d" % i, "source": src, "prompt": [{"role": "user", "content": q}],
             "chosen": [{"role": "assistant", "content": c}], "rejected": [{"role": "assistant", "content": r}]}
            for i, (q, c, r, src) in enumerate(PAIRS)]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def read_pairs(path):
    with h5py.File(path, "r") as f:
        g = f["pairs"]
        return {"attrs": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()},
                "id": [s.decode() for s in g["id"][()]], "source": [s.decode() for s in g["source"][()]],
                "status": [int(v) for v in g["status"][()]], "error": [s.decode() for s in g["error"][()]],
                "chosen_ids": [[int(t) for t in v] for v in g["chosen_ids"][()]],
                "rejected_ids": [[int(t) for t in v] for v in g["rejected_ids"][()]],
                "chosen_text": [s.decode() for s in g["chosen_text"][()]]}


def read_scores(path):
    with h5py.File(path, "r") as f:
        return np.asarray(f["scores/chosen"][()]), np.asarray(f["scores/rejected"][()])


def reference_ids(a, W, tokdir, convs, special, label):
    """jinja2 (as transformers) renders the dir's template; HF tokenizers encodes the text."""
    cfg = R.load_cfg(tokdir)
    texts = [R.render_reference(cfg, cfg["chat_template"], m) for m in convs]
    path = os.path.join(W, "ref-%s.jsonl" % label)
    with open(path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps(t) + "\n")
    return C.hf_encode(a.node_modules, os.path.join(tokdir, "tokenizer.json"), path, special, len(texts))


def prepare(rms, tokdir, src, out, *extra):
    return run([rms, "prepare", "--tokenizer", tokdir, "--in", src, "--out", out, "--quiet"] + list(extra))


def main():
    a = arg_parser(__doc__.split("\n")[0]).parse_args()
    rms = os.path.abspath(a.rmscore)
    a.node_modules = os.path.abspath(a.node_modules)
    W = fresh_workdir(a.workdir)
    dirs = build_tokenizer_dirs(W, a.node_modules, "make_tokenizer_dirs.py builds tok/tulu and tok/llama3", TIMEOUT)
    if not dirs:
        return finish()
    tulu, llama3 = dirs
    model = os.path.join(W, "model")
    rc, _, err = run([rms, "make-test-model", "--out", model, "--layers", "2", "--tokenizer", tulu, "--quiet"])
    if not record("make-test-model --layers 2 --tokenizer tok/tulu", rc == 0, short(err)):
        return finish()

    convs_c = [r["chosen"] for r in tulu_rows()]
    convs_r = [r["rejected"] for r in tulu_rows()]
    want_c = reference_ids(a, W, tulu, convs_c, False, "tulu-chosen")
    want_r = reference_ids(a, W, tulu, convs_r, False, "tulu-rejected")

    # ------------------------------------------------------------ the three formats
    results = {}
    for fmt, rows in (("tulu", tulu_rows()), ("rewardbench", rewardbench_rows()), ("trl", trl_rows())):
        src, pairs, scores = (os.path.join(W, "%s%s" % (fmt, ext)) for ext in (".jsonl", "-pairs.h5", "-scores.h5"))
        write_jsonl(src, rows)
        rc, _, err = prepare(rms, tulu, src, pairs)
        if not record("prepare %s rows (--format auto): exit 0" % fmt, rc == 0, short(err)):
            continue
        p = read_pairs(pairs)
        at = p["attrs"]
        cfg_sha = hashlib.sha256(R.load_cfg(tulu)["chat_template"].encode("utf-8")).hexdigest()
        record("%s: attributes format=%s, tokenization=chat-template, template=tulu, template_sha256 of the file's "
               "template" % (fmt, fmt),
               at.get("format") == fmt and at.get("tokenization") == "chat-template" and at.get("template") == "tulu"
               and at.get("template_sha256") == cfg_sha, "attrs %r" % {k: at.get(k) for k in
                                                                      ("format", "tokenization", "template", "template_sha256")})
        record("%s: every row ok, ids equal the jinja2 + HF tokenizers reference" % fmt,
               p["status"] == [0] * len(PAIRS) and p["chosen_ids"] == want_c and p["rejected_ids"] == want_r,
               "status %r errors %r" % (p["status"], [e for e in p["error"] if e][:2]))
        want_ids = ["%d" % (100 + i) for i in range(len(PAIRS))] if fmt == "rewardbench" else \
            ["p%d" % i for i in range(len(PAIRS))]
        record("%s: ids %s, sources = %s" % (fmt, want_ids[:2], "subset" if fmt == "rewardbench" else "source"),
               p["id"] == want_ids and p["source"] == [x[3] for x in PAIRS], "ids %r sources %r" % (p["id"], p["source"]))
        stored = [json.loads(t) for t in p["chosen_text"]]
        record("%s: stored chosen conversations = [user prompt, assistant answer] (U+0000 kept)" % fmt,
               stored == convs_c, "first %r" % (stored[:1],))
        rc, _, err = run([rms, "score", "--model", model, "--data", pairs, "--out", scores, "--quiet", "--threads", "2"])
        if record("score %s pairs: exit 0" % fmt, rc == 0, short(err)):
            results[fmt] = read_scores(scores)
    if len(results) == 3:
        t = results["tulu"]
        same = all(np.array_equal(results[f][k], t[k]) for f in ("rewardbench", "trl") for k in (0, 1))
        record("the three formats score the same pairs bit for bit", same and np.all(np.isfinite(t[0])),
               "tulu %r rewardbench %r trl %r" % (t[0][:2], results["rewardbench"][0][:2], results["trl"][0][:2]))
        record("... and the scores are not all equal (a real comparison)", len(set(t[0].tolist() + t[1].tolist())) > 2)

    # ------------------------------------------------------------ imposed and mixed formats
    src_tulu = os.path.join(W, "tulu.jsonl")
    out = os.path.join(W, "imposed.h5")
    rc, _, err = prepare(rms, tulu, src_tulu, out, "--format", "trl")
    p = read_pairs(out) if rc == 0 else None
    record("--format trl on Tülu rows: every row bad, the reason naming both formats",
           p is not None and p["status"] == [3] * len(PAIRS) and all("tulu" in e and "trl" in e for e in p["error"]),
           "rc %d %s" % (rc, p["error"][:1] if p else short(err)))
    rc, _, err = prepare(rms, tulu, src_tulu, out, "--format", "tulu")
    record("--format tulu on Tülu rows: exit 0", rc == 0 and read_pairs(out)["status"] == [0] * len(PAIRS), short(err))
    mixed = os.path.join(W, "mixed.jsonl")
    write_jsonl(mixed, tulu_rows()[:2] + rewardbench_rows()[:1] + tulu_rows()[2:])
    out = os.path.join(W, "mixed.h5")
    rc, o, err = prepare(rms, tulu, mixed, out)
    lines = [l for l in err.splitlines() if l.startswith("rmscore: error:")]
    record("a file mixing formats: exit 1, one error line naming line 3 (rewardbench) and line 1 (tulu)",
           rc == 1 and len(lines) == 1 and "line 3" in lines[0] and "rewardbench" in lines[0] and "line 1" in lines[0]
           and "tulu" in lines[0], "rc %d: %s" % (rc, short(err)))
    record("... and no half-written pairs file is left", not os.path.exists(out))

    # ------------------------------------------------------------ tokenization modes
    for name, tokdir, bos_count in (("tulu", tulu, 1), ("llama3", llama3, 2)):
        out = os.path.join(W, "special-%s.h5" % name)
        rc, _, err = prepare(rms, tokdir, src_tulu, out, "--tokenization", "text-with-special")
        if not record("prepare --tokenization text-with-special (%s template): exit 0" % name, rc == 0, short(err)):
            continue
        p = read_pairs(out)
        want = reference_ids(a, W, tokdir, convs_c, True, "%s-special" % name)
        plain = reference_ids(a, W, tokdir, convs_c, False, "%s-plain" % name)
        record("%s: ids = HF tokenizer(rendered text) with special tokens: %d BOS in front" % (name, bos_count),
               p["chosen_ids"] == want and all(w[:bos_count] == [BOS] * bos_count and w[bos_count:bos_count + 1] != [BOS]
                                               and w[1:] == q for w, q in zip(want, plain)),
               "first ids %r, want %r" % (p["chosen_ids"][0][:4], want[0][:4]))
        record("%s: attribute tokenization=text-with-special" % name, p["attrs"].get("tokenization") == "text-with-special",
               "attrs %r" % p["attrs"])
    out_special = os.path.join(W, "special-tulu.h5")
    if os.path.exists(out_special):
        sc = os.path.join(W, "special-scores.h5")
        rc, _, err = run([rms, "score", "--model", model, "--data", out_special, "--out", sc, "--quiet", "--threads", "2"])
        if record("score the text-with-special pairs: exit 0", rc == 0, short(err)) and "tulu" in results:
            got = read_scores(sc)
            record("... a BOS in front changes the scores (the ids differ, so the model sees other input)",
                   np.all(np.isfinite(got[0])) and not np.array_equal(got[0], results["tulu"][0]))

    # ------------------------------------------------------------ U+0000
    nul_row = len(PAIRS) - 1
    p = read_pairs(os.path.join(W, "tulu-pairs.h5")) if os.path.exists(os.path.join(W, "tulu-pairs.h5")) else None
    if p:
        path = os.path.join(W, "nul-string.jsonl")
        with open(path, "w") as f:
            f.write(json.dumps("\u0000") + "\n")
        nul_tok = C.hf_encode(a.node_modules, os.path.join(tulu, "tokenizer.json"), path, False, 1)[0]
        record("U+0000 in a message: prepared (status 0), its byte-level token (HF: %r) among the ids, scored" % nul_tok,
               p["status"][nul_row] == 0 and len(nul_tok) == 1 and nul_tok[0] in p["chosen_ids"][nul_row]
               and "tulu" in results and np.isfinite(results["tulu"][0][nul_row]),
               "ids %r" % p["chosen_ids"][nul_row][:16])
        record("... and the stored conversation keeps it (\\u0000 in the JSON text)",
               "\\u0000" in p["chosen_text"][nul_row], p["chosen_text"][nul_row][:120])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
