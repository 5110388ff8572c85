#!/usr/bin/python3
"""test_tokenizer_parity.py — `rmscore tokenize` against Hugging Face `tokenizers`, id for id.

    /usr/bin/python3 tests/tokenizer/test_tokenizer_parity.py --rmscore build/rmscore --workdir DIR \
        [--node-modules node_modules]

Builds the llama3 and tulu tokenizer dirs (make_tokenizer_dirs.py) from the npm Llama 3.1 tokenizer,
writes the corpus (corpus.py), encodes it with the HF library (hf_reference.js, node) and with
`rmscore tokenize` (with and without --no-special) on both dirs and requires exact equality; prints the
first mismatches (string repr, HF ids, rmscore ids).  Also checks the error behaviour on invalid UTF-8 and
bad JSON lines.  Prints one PASS/FAIL line per check and a final `N passed, M failed`.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
import corpus  # noqa: E402


def rmscore_tokenize(rmscore, tokdir, data, special):
    cmd = [rmscore, "tokenize", "--tokenizer", tokdir] + ([] if special else ["--no-special"])
    return C.run(cmd, data)


def hf_selfcheck(a, dirs, wd):
    """The reference itself: known ids, and <pad> registered as an added token in the tulu dir."""
    probes = ["Hello world", "<pad>", "a<pad>b", "<|eot_id|>", ""]
    path = os.path.join(wd, "hf-selfcheck.jsonl")
    corpus.write_jsonl(path, probes)
    want = {
        ("llama3", True): [[128000, 9906, 1917], None, None, [128000, 128009], [128000]],
        ("llama3", False): [[9906, 1917], None, None, [128009], []],
        ("tulu", True): [[128000, 9906, 1917], [128000, 128256], [128000, 64, 128256, 65], [128000, 128009], [128000]],
        ("tulu", False): [[9906, 1917], [128256], [64, 128256, 65], [128009], []],
    }
    ok = True
    for (name, special), exp in want.items():
        got = C.hf_encode(a.node_modules, os.path.join(dirs[name], "tokenizer.json"), path, special, len(probes))
        for p, e, g in zip(probes, exp, got):
            if e is None:
                e_ok = 128256 not in g and len(g) > 1 + int(special)  # plain text in llama3
            else:
                e_ok = g == e
            if not e_ok:
                ok = False
                print("  HF %s special=%s %r -> %s (expected %s)" % (name, special, p, g, e))
    C.record("hf-reference-selfcheck", ok)


def parity(a, dirs, wd):
    strings = corpus.corpus()
    path = os.path.join(wd, "corpus.jsonl")
    corpus.write_jsonl(path, strings)
    print("corpus: %d strings, %d bytes" % (len(strings), os.path.getsize(path)), flush=True)
    with open(path, "rb") as f:
        data = f.read()
    for name in ("llama3", "tulu"):
        for special in (True, False):
            label = "tokenize-%s-%s" % (name, "special" if special else "no-special")
            hf = C.hf_encode(a.node_modules, os.path.join(dirs[name], "tokenizer.json"), path, special, len(strings))
            rc, out, err, secs = rmscore_tokenize(a.rmscore, dirs[name], data, special)
            if rc != 0:
                C.record(label, False, "rmscore exited %d: %s" % (rc, err.strip()[-500:]))
                continue
            C.compare(label, strings, hf, C.parse_id_lines(out), hint=C.unicode_hint)


def edge_io(a, dirs, wd):
    tok = dirs["tulu"]
    # Empty input: nothing out, success.
    rc, out, err, _ = rmscore_tokenize(a.rmscore, tok, b"", True)
    C.record("tokenize-empty-input", rc == 0 and out == b"", "rc=%d out=%r" % (rc, out[:100]))
    # Last line without a trailing newline is still a line.
    rc, out, err, _ = rmscore_tokenize(a.rmscore, tok, b'"Hello world"\n"Hello world"', True)
    C.record("tokenize-no-final-newline", rc == 0 and C.parse_id_lines(out) == [[128000, 9906, 1917]] * 2,
             "rc=%d out=%r err=%r" % (rc, out[:200], err[-200:]))
    # JSON escapes, incl. a surrogate pair for U+1F600 and an escaped NUL.
    rc, out, err, _ = rmscore_tokenize(a.rmscore, tok, b'"\\ud83d\\ude00\\u0000\\/\\"\\\\\\b\\f\\n\\r\\t"\n', False)
    strings = ["\U0001F600\x00/\"\\\b\f\n\r\t"]
    hfp = C.write_bytes(os.path.join(wd, "escapes.jsonl"), (json.dumps(strings[0]) + "\n").encode())
    hf = C.hf_encode(a.node_modules, os.path.join(tok, "tokenizer.json"), hfp, False, 1)
    C.record("tokenize-json-escapes", rc == 0 and C.parse_id_lines(out) == hf,
             "rc=%d HF=%s rmscore=%r" % (rc, hf, out[:200]))
    # Raw (unescaped) UTF-8 in the JSON string is accepted as well.
    raw = "naïve 你好 😀 \u2028"
    rc, out, err, _ = rmscore_tokenize(a.rmscore, tok, json.dumps(raw, ensure_ascii=False).encode() + b"\n", True)
    hfp = C.write_bytes(os.path.join(wd, "raw.jsonl"), (json.dumps(raw) + "\n").encode())
    hf = C.hf_encode(a.node_modules, os.path.join(tok, "tokenizer.json"), hfp, True, 1)
    C.record("tokenize-raw-utf8-json", rc == 0 and C.parse_id_lines(out) == hf,
             "rc=%d HF=%s rmscore=%r" % (rc, hf, out[:200]))


def bad_lines(a, dirs, wd):
    tok = dirs["llama3"]
    good = b'"Hello world"\n"<|eot_id|>x"\n'
    good_ids = [[128000, 9906, 1917], [128000, 128009, 87]]
    cases = [
        ("invalid-utf8-ff", b'"a\xffb"'),
        ("invalid-utf8-overlong-c0af", b'"a\xc0\xafb"'),
        ("invalid-utf8-surrogate-eda080", b'"a\xed\xa0\x80b"'),
        ("invalid-utf8-truncated-e4bd", b'"a\xe4\xbd"'),
        ("invalid-utf8-above-10ffff", b'"\xf4\x90\x80\x80"'),
        ("bad-json-unterminated", b'"abc'),
        ("bad-json-not-json", b'hello'),
        ("bad-json-number", b'42'),
        ("bad-json-array", b'["a"]'),
        ("bad-json-object", b'{"text": "a"}'),
        ("bad-json-trailing-garbage", b'"a" "b"'),
    ]
    for name, line in cases:
        data = good + line + b'\n"after"\n'
        rc, out, err, _ = rmscore_tokenize(a.rmscore, tok, data, True)
        ok, detail = C.error_line_ok(rc, err, 3)
        got = C.parse_id_lines(out)
        prefix_ok = got == good_ids
        C.record("tokenize-error-%s" % name, ok and prefix_ok,
                 detail + ("" if prefix_ok else " stdout=%r (want the ids of lines 1-2)" % out[:300]))


def main():
    a, dirs = C.setup(__doc__.split("\n")[0])

    hf_selfcheck(a, dirs, a.workdir)
    parity(a, dirs, a.workdir)
    edge_io(a, dirs, a.workdir)
    bad_lines(a, dirs, a.workdir)
    return C.finish()


if __name__ == "__main__":
    sys.exit(main())
