#!/usr/bin/python3
"""test_hostile_inputs.py — every hostile input of issue 13 is refused with one clear error, never a crash or hang.

    /usr/bin/python3 tests/e2e/test_hostile_inputs.py --rmscore build/rmscore --workdir DIR [--node-modules DIR]

Builds a tiny test model (make-test-model, 2 shards + index), the Tulu tokenizer directory
(tests/tokenizer/make_tokenizer_dirs.py), a prepared pairs file and its scores (whole and as two shards), then
damages a copy of one input at a time and runs the command that reads it:

  model files   score-ids --model: safetensors header length 2^62 / 2^64-1 / past the end, truncated shards, broken
                header JSON, a header that is not an object, offsets past the end or reversed, overlapping tensors,
                shapes whose product overflows, negative / fractional / 9-dim shapes, unknown dtypes, an index naming
                files outside the model directory (.., absolute, sub/, control characters) or missing, a broken
                index; config.json: every size key negative, zero, absurd (2^40), fractional, a string, infinite
                (1e999); eps, rope_theta and the llama3 rope fields out of range; pad_token_id; a 1 GiB+ sparse file
  tokenizer     tokenize --tokenizer: garbage bytes, truncated, empty, nested 10^5 deep, wrong types, ids negative /
                fractional / >= 2^22, merges naming unknown tokens, an uncompilable or catastrophic regex, 1 GiB+
  template      render --template auto on chat_template.jinja loops, ranges, recursion, a 10^9-byte string; prepare
                with such a template keeps every row as bad input (status 3)
  dataset rows  prepare on JSONL with invalid UTF-8 rows: exit 0, those rows status 3 with a UTF-8 error
  HDF5 files    score --data, report --data (pairs); report, export, merge, score resume (scores): truncated,
                zeroed superblock, a damaged global heap, variable-length descriptor or attribute message (HDF5
                1.10 crashes or hangs on some of those unless rmscore checks the heaps and lets a child process
                read the file first), bytes flipped at spread positions (no checksums in HDF5: a flip may go
                unnoticed, so there exit 0 is accepted too, but never a signal, a hang or a second error line)
  command line  --shard, --layer-split, --stages, --max-tokens, --microbatch-tokens, --threads out of range; path
                arguments too long for rmscore's buffers

Each refusal must give: a non-zero exit that is not a signal (returncode > 0), exactly one `rmscore: error:` line on
stderr, no `internal error` and no sanitizer report, in under 10 s of wall time (RMSTEST_TIME_SCALE stretches it
for instrumented builds). Where the message is known, the check also looks for its key words (the key, the limit).
With RMSCORE_ASAN_BIN set to an ASan + UBSan build of rmscore, a sample of the cases runs under it too.
Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
"""

import json
import os
import shutil
import struct
import sys

import h5py

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import rmstest as T  # noqa: E402

SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"
INDEX = "model.safetensors.index.json"
IDS_LINE = "[128000, 5, 6, 7]\n"
MSGS_LINE = '[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]\n'
LIMIT_S = 10.0
SAMPLE_FOR_ASAN = []  # (name, cmd, stdin) of cases also run under RMSCORE_ASAN_BIN


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("rmscore: error:")]


def check_refused(rms, name, cmd, stdin=None, want=(), rc_want=None, sample=False):
    """cmd (rms prepended) must exit > 0 (rc_want if given) with one error line containing every string of want,
    no internal error, within LIMIT_S."""
    rc, _, err, secs = T.run_timed([rms] + cmd, stdin=stdin, timeout=120)
    lines = error_lines(err)
    problems = []
    if rc <= 0:
        problems.append("exit %d%s" % (rc, " (signal %d)" % -rc if rc < 0 else ""))
    if rc_want is not None and rc != rc_want:
        problems.append("exit %d, want %d" % (rc, rc_want))
    if len(lines) != 1:
        problems.append("%d error lines" % len(lines))
    if "internal error" in err:
        problems.append("internal error")
    for w in want:
        if lines and w not in lines[0]:
            problems.append("no %r in the message" % w)
    if secs > T.scaled(LIMIT_S):
        problems.append("%.1f s" % secs)
    if sample:
        SAMPLE_FOR_ASAN.append((name, cmd, stdin))
    return T.record(name, not problems, "; ".join(problems) + " -- " + T.short(err, 400) if problems
                    else "%.2f s: %s" % (secs, lines[0][len("rmscore: error: "):] if lines else ""))


def check_survived(rms, name, cmd, stdin=None):
    """A mutation HDF5 may not notice (no checksums): exit 0 and no error line, or a proper refusal."""
    rc, _, err, secs = T.run_timed([rms] + cmd, stdin=stdin, timeout=120)
    lines = error_lines(err)
    ok = (rc == 0 and not lines) or (rc > 0 and len(lines) == 1)
    ok = ok and "internal error" not in err and secs <= T.scaled(LIMIT_S)
    return T.record(name, ok, "exit %d, %d error lines, %.2f s: %s" % (rc, len(lines), secs, T.short(err, 300))), rc


# ---------------------------------------------------------------- building the inputs
def copy_model(base, W, name):
    d = os.path.join(W, "m", name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(base, d)
    return d


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def split_st(b):
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def join_st(header, data):
    t = json.dumps(header).encode()
    t += b" " * ((8 - len(t) % 8) % 8)
    return struct.pack("<Q", len(t)) + t + data


def first_tensor(h):
    return sorted(k for k in h if k != "__metadata__")[0]


def mutate_header(d, fn, shard=SHARD2):
    h, data = split_st(read(os.path.join(d, shard)))
    fn(h)
    write(os.path.join(d, shard), join_st(h, data))


def set_header_len(d, v):
    p = os.path.join(d, SHARD2)
    write(p, struct.pack("<Q", v) + read(p)[8:])


def overlap(h):
    by_size = {}
    for k in sorted(h):
        if k != "__metadata__":
            o = h[k]["data_offsets"]
            by_size.setdefault(o[1] - o[0], []).append(k)
    a, b = [v for v in by_size.values() if len(v) >= 2][0][:2]
    h[b]["data_offsets"] = list(h[a]["data_offsets"])


def set_weight_map(d, value):
    p = os.path.join(d, INDEX)
    j = json.load(open(p))
    j["weight_map"][sorted(j["weight_map"])[0]] = value
    write(p, json.dumps(j).encode())


def sparse(path, size):
    with open(path, "wb") as f:
        f.truncate(size)


# ---------------------------------------------------------------- the cases
def model_cases(rms, W, model):
    def case(name, fn, want=(), sample=False):
        d = copy_model(model, W, name)
        fn(d)
        check_refused(rms, "model: " + name, ["score-ids", "--model", d], IDS_LINE, want, 1, sample)
        if sample and os.environ.get("RMSCORE_ASAN_BIN"):
            return  # kept for the ASan run at the end
        shutil.rmtree(d, ignore_errors=True)  # 16 MB a copy: one at a time

    size2 = os.path.getsize(os.path.join(model, SHARD2))
    case("safetensors header length 2^62", lambda d: set_header_len(d, 1 << 62), ["header length", "exceeds"], True)
    case("safetensors header length 2^64-1", lambda d: set_header_len(d, (1 << 64) - 1), ["exceeds the limit"])
    case("safetensors header length past the end", lambda d: set_header_len(d, size2), ["runs past the end"])
    case("shard truncated to half", lambda d: write(os.path.join(d, SHARD1), read(os.path.join(d, SHARD1))[
        :os.path.getsize(os.path.join(d, SHARD1)) // 2]), ["end past the data section"], True)
    case("shard truncated to 4 bytes", lambda d: write(os.path.join(d, SHARD2), read(os.path.join(d, SHARD2))[:4]),
         ["truncated: 4 bytes"])
    case("shard empty", lambda d: write(os.path.join(d, SHARD2), b""), ["truncated: 0 bytes"])

    def broken_json(d):
        b = bytearray(read(os.path.join(d, SHARD2)))
        n = struct.unpack("<Q", b[:8])[0]
        end = b.rindex(b"}", 8, 8 + n)
        b[end] = ord(",")
        write(os.path.join(d, SHARD2), bytes(b))
    case("broken header JSON", broken_json, ["header is not valid JSON"], True)
    case("header is not an object", lambda d: write(os.path.join(d, SHARD2),
                                                     join_st([1, 2], split_st(read(os.path.join(d, SHARD2)))[1])),
         ["not a JSON object"])
    case("offsets past the end", lambda d: mutate_header(
        d, lambda h: h[first_tensor(h)]["data_offsets"].__setitem__(1, 1 << 50)), ["end past the data section"], True)
    case("offsets begin > end", lambda d: mutate_header(
        d, lambda h: h[first_tensor(h)].__setitem__("data_offsets", h[first_tensor(h)]["data_offsets"][::-1])),
         ["begin > end"])
    case("overlapping tensors", lambda d: mutate_header(d, overlap), ["overlap"], True)
    case("shape whose product overflows int64", lambda d: mutate_header(
        d, lambda h: h[first_tensor(h)].__setitem__("shape", [1 << 32, 1 << 32, 1 << 32])), ["is too large"], True)
    case("shape of 2^53 x 2^53 on empty offsets", lambda d: mutate_header(
        d, lambda h: h[first_tensor(h)].update(shape=[1 << 53, 1 << 53], data_offsets=[0, 0])), ["is too large"])
    case("negative shape", lambda d: mutate_header(d, lambda h: h[first_tensor(h)].__setitem__("shape", [-1, 64])),
         ["non-negative integers"])
    case("fractional shape", lambda d: mutate_header(d, lambda h: h[first_tensor(h)].__setitem__("shape", [1.5])),
         ["non-negative integers"])
    case("9-dimensional shape", lambda d: mutate_header(d, lambda h: h[first_tensor(h)].__setitem__("shape", [1] * 9)),
         ["9 dimensions"])
    case("unknown dtype", lambda d: mutate_header(d, lambda h: h[first_tensor(h)].__setitem__("dtype", "Q99")),
         ["unknown dtype"])
    outside = "must name a file inside the model directory"
    for label, value in [("..", "../" + os.path.basename(model) + "/" + SHARD1), ("an absolute path", "/etc/passwd"),
                         ("a subdirectory", "sub/x.safetensors"), ("'..' itself", ".."), ("an empty name", ""),
                         ("a control character", "a\nb"), ("a number", 5)]:
        case("index naming %s" % label, lambda d, v=value: set_weight_map(d, v), [outside], label == "an absolute path")
    case("index naming a missing shard", lambda d: set_weight_map(d, "nothere.safetensors"), ["missing from"])
    case("index that is not JSON", lambda d: write(os.path.join(d, INDEX), b'{"weight_map": '), ["not valid JSON"])
    case("index without weight_map", lambda d: write(os.path.join(d, INDEX), b'{"metadata": {}}'), ["weight_map"])


def config_cases(rms, W, model):
    base = json.load(open(os.path.join(model, "config.json")))

    def case(name, text, want=(), sample=False):
        d = os.path.join(W, "c", name.replace("/", "_").replace(" ", "_"))
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        for f in os.listdir(model):
            if f != "config.json":
                os.symlink(os.path.join(model, f), os.path.join(d, f))
        write(os.path.join(d, "config.json"), text.encode())
        check_refused(rms, "config.json: " + name, ["score-ids", "--model", d], IDS_LINE, want, 1, sample)

    def with_value(key, raw, section=None):
        # raw JSON text for the value (1e999 must reach cJSON as written: Python would print Infinity)
        c = json.loads(json.dumps(base))
        obj = c
        if section:
            if not c.get(section):
                c[section] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 8192}
            obj = c[section]
        obj[key] = "@@VALUE@@"
        return json.dumps(c).replace('"@@VALUE@@"', raw)

    sizes = {"hidden_size": 65536, "intermediate_size": 1048576, "num_hidden_layers": 1024,
             "num_attention_heads": 1024, "num_key_value_heads": 1024, "head_dim": 1024, "vocab_size": 4194304,
             "max_position_embeddings": 16777216}
    for key, limit in sizes.items():
        case("%s negative" % key, with_value(key, "-1"), [key, "must be positive"], key == "hidden_size")
        case("%s zero" % key, with_value(key, "0"), [key, "must be positive"])
        case("%s 2^40" % key, with_value(key, "1099511627776"), [key, "above rmscore's limit of %d" % limit],
             key == "vocab_size")
        case("%s limit + 1" % key, with_value(key, str(limit + 1)), [key, "limit of %d" % limit])
        case("%s fractional" % key, with_value(key, "1.5"), [key, "must be an integer"])
        case("%s a string" % key, with_value(key, '"64"'), [key, "must be an integer"])
        case("%s infinite" % key, with_value(key, "1e999"), [key, "must be an integer"])
    for key, limit in [("rms_norm_eps", "1"), ("rope_theta", "1e+12")]:
        case("%s negative" % key, with_value(key, "-1"), [key, "positive and finite"])
        case("%s zero" % key, with_value(key, "0"), [key, "positive and finite"])
        case("%s infinite" % key, with_value(key, "1e999"), [key, "positive and finite"])
        case("%s absurd" % key, with_value(key, "1e300"), [key, "limit of %s" % limit])
    for key in ["factor", "low_freq_factor", "high_freq_factor"]:
        case("rope_scaling.%s negative" % key, with_value(key, "-8", "rope_scaling"), [key, "positive and finite"])
        case("rope_scaling.%s absurd" % key, with_value(key, "1e300", "rope_scaling"), [key, "limit of 65536"])
    case("rope_scaling.original_max_position_embeddings 2^40",
         with_value("original_max_position_embeddings", "1099511627776", "rope_scaling"), ["limit of 16777216"])
    case("pad_token_id -5", with_value("pad_token_id", "-5"), ["pad_token_id", "null, -1 or 0 to 4194303"])
    case("pad_token_id 2^40", with_value("pad_token_id", "1099511627776"), ["pad_token_id"])
    case("not JSON", "{", ["not valid JSON"])
    case("empty", "", ["not valid JSON"])
    case("an array", "[]", ["not a JSON object"])
    # above the whole-file limit: refused from its size, nothing read (a sparse file: no disk used)
    d = os.path.join(W, "c", "huge")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(model, d, symlinks=True)
    sparse(os.path.join(d, "config.json"), (1 << 30) + 1)
    check_refused(rms, "config.json: 1 GiB + 1 byte (sparse)", ["score-ids", "--model", d], IDS_LINE,
                  ["above rmscore's limit of 1073741824 bytes"], 1, True)


def tokenizer_cases(rms, W, tulu):
    raw = read(os.path.join(tulu, "tokenizer.json"))
    base = json.loads(raw)

    def case(name, data=None, mutate=None, want=(), text='"hello world"\n', sample=False):
        d = os.path.join(W, "t", name.replace(" ", "_").replace("/", "_"))
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        shutil.copy(os.path.join(tulu, "tokenizer_config.json"), d)
        if mutate:
            t = json.loads(raw)
            mutate(t)
            data = json.dumps(t).encode()
        if data is None:
            sparse(os.path.join(d, "tokenizer.json"), (1 << 30) + 1)
        else:
            write(os.path.join(d, "tokenizer.json"), data)
        check_refused(rms, "tokenizer.json: " + name, ["tokenize", "--tokenizer", d], text, want, 1, sample)
        if not (sample and os.environ.get("RMSCORE_ASAN_BIN")):
            shutil.rmtree(d, ignore_errors=True)  # 9 MB a copy: one at a time

    def vocab_id(v):
        return lambda t: t["model"]["vocab"].__setitem__("hello", v)

    rnd = bytes((i * 7919 + 13) % 256 for i in range(20000))  # deterministic garbage
    case("garbage bytes", rnd, want=["not valid JSON"], sample=True)
    case("NUL bytes", b"\0" * 100, want=["not valid JSON"])
    case("truncated to half", raw[:len(raw) // 2], want=["not valid JSON"], sample=True)
    case("empty", b"", want=["not valid JSON"])
    case("an array", b"[1, 2, 3]", want=["not a JSON object"])
    case("nested 10^5 deep", b"[" * 100000 + b"]" * 100000, want=["not valid JSON"])
    case("no model", mutate=lambda t: t.pop("model"), want=["model type is not BPE"])
    case("vocab a list", mutate=lambda t: t["model"].__setitem__("vocab", [1, 2]), want=["model.vocab is not an object"])
    case("vocab id negative", mutate=vocab_id(-1), want=["has no valid id", "4194304"])
    case("vocab id fractional", mutate=vocab_id(1.5), want=["has no valid id"])
    case("vocab id 2^31 - 1", mutate=vocab_id(2 ** 31 - 1), want=["has no valid id", "4194304"], sample=True)
    case("vocab id 2^40", mutate=vocab_id(2 ** 40), want=["has no valid id"])
    case("merges an object", mutate=lambda t: t["model"].__setitem__("merges", {}), want=["model.merges is not a list"])
    case("merge a number", mutate=lambda t: t["model"]["merges"].insert(0, 5), want=["merge 0 is neither"])
    case("merge of unknown tokens", mutate=lambda t: t["model"]["merges"].insert(0, "zzqx qqzz"),
         want=["missing from the vocabulary"])
    case("added token id -1", mutate=lambda t: t["added_tokens"][0].__setitem__("id", -1), want=["added token 0"])
    case("added token id 1e10", mutate=lambda t: t["added_tokens"][0].__setitem__("id", 1e10), want=["added token 0"])
    case("added_tokens an object", mutate=lambda t: t.__setitem__("added_tokens", {"a": 1}), want=["not a list"])
    case("added tokens whose regex is too large",
         mutate=lambda t: t.__setitem__("added_tokens", [{"id": 5, "content": "x%d" % i + "y" * 100000}
                                                         for i in range(2000)]), want=["limit of 1048576 bytes"])

    def set_regex(pattern):
        def f(t):
            t["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = pattern
        return f
    case("pre-tokenizer regex that does not compile", mutate=set_regex("(unclosed"), want=["does not compile"])
    case("catastrophic pre-tokenizer regex", mutate=set_regex("(a+)+$|(a|a)*c|."),
         text='"' + "a" * 60 + 'b"\n', want=["match limit"], sample=True)
    case("1 GiB + 1 byte (sparse)", None, want=["above rmscore's limit of 1073741824 bytes"], sample=True)
    T.info("tokenizer cases use %s (%d bytes, %d vocab entries)" % (tulu, len(raw), len(base["model"]["vocab"])))


def template_cases(rms, W, tulu, sample_jsonl):
    templates = [
        ("a loop of 10^10 iterations", "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
         "loop iterations"),
        ("a range of 10^9", "{% for i in range(1000000000) %}x{% endfor %}", "range too big"),
        ("recursion without end", "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion without end"),
        ("recursion in a loop", "{% macro f(n) %}{% for i in range(1000) %}{{ f(n) }}{% endfor %}{% endmacro %}{{ f(1) }}",
         "nested more than"),
        ("a string of 10^9 bytes", '{{ "x" * 1000000000 }}', "longer than rmscore's limit"),
        # (strings and lists doubled until they hit the 64 MiB / 512 MiB limits are refused too, but only after
        # ~1 s of copying and ~350 MB: tests/test-jinja.c covers those limits; here only the CPU-light cases)
    ]
    for i, (name, text, want) in enumerate(templates):
        d = os.path.join(W, "tpl", "t%d" % i)
        shutil.rmtree(d, ignore_errors=True)
        shutil.copytree(tulu, d)
        write(os.path.join(d, "chat_template.jinja"), text.encode())
        check_refused(rms, "template: " + name, ["render", "--tokenizer", d, "--template", "auto"], MSGS_LINE,
                      [want], 1, i in (0, 2))
        if i == 0:  # prepare keeps every row (4 here), each as bad input with the template's error
            out, rows = os.path.join(W, "tpl", "loop.h5"), os.path.join(W, "tpl", "four.jsonl")
            write(rows, b"\n".join(open(sample_jsonl, "rb").read().split(b"\n")[:4]) + b"\n")
            rc, _, err, secs = T.run_timed([rms, "prepare", "--tokenizer", d, "--in", rows, "--out", out])
            ok = rc == 0 and secs <= T.scaled(LIMIT_S)
            if ok:
                with h5py.File(out, "r") as f:
                    status = f["pairs"]["status"][()]
                    errors = list(f["pairs"]["error"].asstr()[()])
                ok = len(status) == 4 and all(int(s) == 3 for s in status) and all("loop iterations" in e for e in errors)
            T.record("template: prepare with a looping template marks every row bad input (status 3)", ok,
                     "exit %d, %.2f s: %s" % (rc, secs, T.short(err, 300)))


def dataset_row_cases(rms, W, tulu, sample_jsonl):
    lines = open(sample_jsonl, "rb").read().split(b"\n")[:4]
    bad = [lines[0],
           lines[1].replace(b'"content":"', b'"content":"\xff\xfe', 1),  # invalid bytes in a string
           lines[2].replace(b'"content":"', b'"content":"\xc3\x28', 1),  # a broken two-byte sequence
           lines[3].replace(b'"content":"', b'"content":"\xed\xa0\x80', 1),  # an encoded UTF-16 surrogate
           b"\x80\x81\x82 not even JSON"]
    src = os.path.join(W, "bad-utf8.jsonl")
    assert all(bad[i] != lines[i] for i in (1, 2, 3)), "the sample rows have no \"content\":\" to damage"
    write(src, b"\n".join(bad) + b"\n")
    out = os.path.join(W, "bad-utf8.h5")
    rc, _, err, secs = T.run_timed([rms, "prepare", "--tokenizer", tulu, "--in", src, "--out", out])
    ok = rc == 0 and not error_lines(err) and secs <= T.scaled(LIMIT_S)
    detail = "exit %d, %.2f s: %s" % (rc, secs, T.short(err, 300))
    if ok:
        with h5py.File(out, "r") as f:
            status = [int(s) for s in f["pairs"]["status"][()]]
            errors = list(f["pairs"]["error"].asstr()[()])
        ok = status == [0, 3, 3, 3, 3] and all("UTF-8" in e for e in errors[1:])
        detail = "status %s, errors %s" % (status, [T.short(e, 80) for e in errors])
    T.record("dataset: invalid UTF-8 rows are kept as bad input (status 3, a UTF-8 error), the others prepared",
             ok, detail)


def hdf5_cases(rms, W, model, pairs, scores, shard0, shard1):
    """Damaged copies of pairs.h5 (score --data, report --data) and of scores.h5 (report, export, merge, resume)."""
    def damaged(src, name, fn):
        b = bytearray(read(src))
        p = os.path.join(W, "h5", name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        write(p, bytes(fn(b)))
        return p

    def flip(pos):
        def f(b):
            b[pos] ^= 0xFF
            return b
        return f

    def heap_size_flip(b):  # the first object size inside the first global heap collection
        at = bytes(b).index(b"GCOL")
        b[at + 16 + 8 + 5] ^= 0x40
        return b

    def heap_loop(b):  # an object whose size makes HDF5 1.10's heap parser stand still (it would hang)
        at = bytes(b).index(b"GCOL")
        b[at + 16:at + 32] = struct.pack("<HHIQ", 0, 0, 0, 0)
        return b

    def near(marker, delta):  # the byte delta from the first occurrence of marker (an attribute name, a heap)
        def f(b):
            b[bytes(b).index(marker) + delta] ^= 0xFF
            return b
        return f

    def zero_superblock(b):
        b[:512] = bytes(512)
        return b

    def commands(kind, p, out):
        if kind == "pairs":
            return [("score --data", ["score", "--model", model, "--data", p, "--out", out, "--quiet"]),
                    ("report --data", ["report", scores, "--data", p])]
        return [("report", ["report", p]), ("export", ["export", p, "--format", "jsonl"]),
                ("merge", ["merge", "--out", out, p, shard1]),
                ("score resume", ["score", "--model", model, "--data", pairs, "--out", p, "--quiet"])]

    must_fail = [("truncated to half", lambda b: b[:len(b) // 2]), ("truncated to 100 bytes", lambda b: b[:100]),
                 ("zeroed superblock", zero_superblock), ("signature byte flipped", flip(0)),
                 ("superblock version flipped", flip(8)), ("empty", lambda b: bytearray()),
                 ("a heap object's size damaged", heap_size_flip), ("a heap object of size 0", heap_loop),
                 # the heap index of the variable-length value just before the first heap (HDF5 1.10 dereferences
                 # it unchecked: SIGSEGV inside the library unless a child process reads the file first)
                 ("a variable-length descriptor damaged", near(b"GCOL", -2)),
                 ("the n_rows attribute message damaged", near(b"n_rows", -3)),
                 ("the n_rows attribute name length damaged", near(b"n_rows", -6))]
    n = 0
    for kind, src in [("pairs", pairs), ("scores", shard0)]:
        for label, fn in must_fail:
            p = damaged(src, "%s-%s.h5" % (kind, label.replace(" ", "-").replace("'", "")), fn)
            for what, cmd in commands(kind, p, os.path.join(W, "h5", "out-%d.h5" % n)):
                n += 1
                if what == "score resume":
                    p2 = damaged(p, "resume-%d.h5" % n, lambda b: b)  # resume writes: a copy of its own
                    cmd = cmd[:-2] + [p2, "--quiet"]
                check_refused(rms, "HDF5 %s %s: %s" % (kind, label, what), cmd,
                              sample=label in ("truncated to half", "a heap object's size damaged",
                                               "a variable-length descriptor damaged"))
        if kind == "scores":  # the byte that made HDF5 1.10 loop forever in rmscore's own files (no crash, no hang)
            p = damaged(src, "scores-hang.h5", near(b"GCOL", 4159))
            check_survived(rms, "HDF5 scores: the byte that made HDF5 loop forever (now: refused in time): report",
                           ["report", p])
        size = os.path.getsize(src)
        survived = refused = 0
        for i in range(1, 25):  # bytes flipped at spread positions, the start of the file more densely
            pos = (size * i * i) // 625
            p = damaged(src, "%s-flip-%d.h5" % (kind, pos), flip(pos))
            for what, cmd in commands(kind, p, os.path.join(W, "h5", "out-%d.h5" % n))[:2]:
                n += 1
                ok, rc = check_survived(rms, "HDF5 %s byte %d flipped: %s" % (kind, pos, what), cmd)
                survived += ok and rc == 0
                refused += ok and rc > 0
        T.info("HDF5 %s flips: %d runs completed, %d refused with one error" % (kind, survived, refused))


def command_line_cases(rms, W, model, pairs):
    score = ["score", "--model", model, "--data", pairs, "--out", os.path.join(W, "cl.h5")]
    cases = [
        ("--shard 1/0", ["--shard", "1/0"], "--shard"), ("--shard 2/2", ["--shard", "2/2"], "--shard"),
        ("--shard -1/3", ["--shard", "-1/3"], "--shard"), ("--shard 1/3x", ["--shard", "1/3x"], "--shard"),
        ("--shard 2^64/1", ["--shard", "18446744073709551616/1"], "--shard"),
        ("--shard 0/2^21", ["--shard", "0/2097152"], "N <= 1048576"),
        ("--layer-split with a zero", ["--stages", "2", "--layer-split", "0,2"], "--layer-split"),
        ("--layer-split for other stages", ["--stages", "2", "--layer-split", "1,1,1"], "--layer-split"),
        ("--layer-split absurd", ["--stages", "2", "--layer-split", "99999999999999,1"], "--layer-split"),
        ("--stages 0", ["--stages", "0"], "--stages"), ("--max-tokens -5", ["--max-tokens", "-5"], "--max-tokens"),
        ("--microbatch-tokens 0", ["--microbatch-tokens", "0"], "--microbatch-tokens"),
        ("--threads 2^64", ["--threads", "18446744073709551616"], "--threads"),
    ]
    for name, extra, want in cases:
        check_refused(rms, "command line: score " + name, score + extra, want=[want], rc_want=2, sample=name == "--shard 1/0")
    long_path = os.path.join(W, "x" * 250, *(["y" * 250] * 16))  # > 4096 bytes
    check_refused(rms, "command line: a --model path longer than 4095 bytes", ["score-ids", "--model", long_path],
                  IDS_LINE, ["longer than 4095 bytes"], 2)
    # fits the option (< 4096) but not with "/tokenizer.json" appended: refused, never truncated
    fits = os.path.join(W, "z" * (4090 - len(W) - 1))
    check_refused(rms, "command line: --tokenizer DIR whose DIR/tokenizer.json is too long", ["tokenize", "--tokenizer",
                  fits], '"hi"\n', ["path too long"], 1)


def main():
    a = T.arg_parser(__doc__.split("\n")[0]).parse_args()
    rms = os.path.abspath(a.rmscore)
    W = T.fresh_workdir(a.workdir)
    if not T.build_tokenizer_dirs(W, a.node_modules):
        return T.finish()
    tulu = os.path.join(W, "tok", "tulu")
    model = os.path.join(W, "model")
    rc, _, err = T.run([rms, "make-test-model", "--out", model, "--layers", "2", "--shards", "2", "--tokenizer",
                        tulu, "--quiet"])
    if not T.record("make-test-model --shards 2 --tokenizer tok/tulu", rc == 0, T.short(err)):
        return T.finish()
    rc, out, err = T.run([rms, "score-ids", "--model", model], stdin=IDS_LINE)
    if not T.record("the intact model scores", rc == 0 and len(out.split()) == 1, T.short(err)):
        return T.finish()
    pairs, scores = os.path.join(W, "pairs.h5"), os.path.join(W, "scores.h5")
    shard0, shard1 = os.path.join(W, "shard0.h5"), os.path.join(W, "shard1.h5")
    steps = [["prepare", "--tokenizer", model, "--in", T.SAMPLE, "--out", pairs, "--quiet"],
             ["score", "--model", model, "--data", pairs, "--out", scores, "--quiet"],
             ["score", "--model", model, "--data", pairs, "--out", shard0, "--shard", "0/2", "--quiet"],
             ["score", "--model", model, "--data", pairs, "--out", shard1, "--shard", "1/2", "--quiet"]]
    for step in steps:
        rc, _, err = T.run([rms] + step)
        if not T.record("set-up: rmscore " + " ".join(step[:1] + step[-3:-1]), rc == 0, T.short(err)):
            return T.finish()

    model_cases(rms, W, model)
    config_cases(rms, W, model)
    tokenizer_cases(rms, W, tulu)
    template_cases(rms, W, tulu, T.SAMPLE)
    dataset_row_cases(rms, W, tulu, T.SAMPLE)
    hdf5_cases(rms, W, model, pairs, scores, shard0, shard1)
    command_line_cases(rms, W, model, pairs)

    asan = os.environ.get("RMSCORE_ASAN_BIN")
    if asan and os.path.exists(asan):
        T.info("the sample again under %s" % asan)
        for name, cmd, stdin in SAMPLE_FOR_ASAN:
            check_refused(asan, "ASan: " + name, cmd, stdin)
    return T.finish()


if __name__ == "__main__":
    sys.exit(main())
