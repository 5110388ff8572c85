#!/usr/bin/env bash
# make-corpus.sh — builds the seed corpora of the fuzz targets (tests/fuzz/fuzz-<name>.c) from the project's test
# data, one directory per target under OUTDIR (replaced), small files only (nothing here is committed):
#
#     bash tests/fuzz/make-corpus.sh path/to/rmscore OUTDIR
#
#   config, safetensors, safetensors-index  the tiny test model of fuzz_model.h (`rmscore make-test-model`: bf16,
#                                           f16, f32; one file and two shards) and variants of its config.json
#   tokenizer-load, tokenize                small byte-level BPE tokenizers written here; texts from tests/data
#   chat-template                           tests/tokenizer/templates_edge and templates_errors, each with messages
#                                           from tests/data/sample-pairs.jsonl, and the built-in templates' sources
#   pref-row                                every row of tests/data/*pairs.jsonl in every format, + rewardbench/trl rows
#   ids-input                               tests/data/sample-ids.jsonl
#   run-config                              configs/*.json
#   pairs-h5, scores-h5                     `rmscore prepare` on tests/data rows, `rmscore score` (whole, one shard of
#                                           two, and an unscored file) on them with a tiny model
set -euo pipefail
RMSCORE=$(realpath "$1")
OUT=$2
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
WORK="$OUT/.work"
mkdir -p "$WORK"
for t in config safetensors safetensors-index tokenizer-load tokenize chat-template pref-row ids-input run-config \
         pairs-h5 scores-h5; do
  mkdir -p "$OUT/$t"
done
TINY=(--hidden 16 --intermediate 32 --layers 2 --heads 2 --kv-heads 1 --vocab 64 --quiet) # fuzz_model.h

# ---- checkpoints
for dt in bf16 f16 f32; do
  "$RMSCORE" make-test-model --out "$WORK/m-$dt" "${TINY[@]}" --dtype $dt
  cp "$WORK/m-$dt/model.safetensors" "$OUT/safetensors/tiny-$dt.safetensors"
done
"$RMSCORE" make-test-model --out "$WORK/m-sharded" "${TINY[@]}" --shards 2
cp "$WORK/m-sharded/model.safetensors.index.json" "$OUT/safetensors-index/tiny-2-shards.json"
"$RMSCORE" make-test-model --out "$WORK/m-norope" "${TINY[@]}" --no-rope-scaling
cp "$WORK/m-bf16/config.json" "$OUT/config/tiny.json"
cp "$WORK/m-norope/config.json" "$OUT/config/tiny-no-rope-scaling.json"

# ---- tokenizers, texts, templates, rows (JSON made with Python)
"$PY" - "$REPO" "$OUT" "$WORK" <<'PYEOF'
import glob, json, os, sys
repo, out, work = sys.argv[1:4]

def put(target, name, data):
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

# config.json variants: the tiny one with fields changed the way real checkpoints differ
base = json.load(open(os.path.join(out, "config", "tiny.json")))
for i, change in enumerate([{"head_dim": None}, {"rope_scaling": {"rope_type": "default"}}, {"num_labels": 1,
        "id2label": None}, {"num_key_value_heads": None}, {"torch_dtype": "float32", "pad_token_id": None},
        {"hidden_act": "gelu"}, {"architectures": ["LlamaForCausalLM"]}]):
    c = dict(base)
    for k, v in change.items():
        if v is None: c.pop(k, None)
        else: c[k] = v
    put("config", "variant-%d.json" % i, json.dumps(c, indent=2))

# small byte-level BPE tokenizers (the GPT-2 byte alphabet, a few merges, Llama 3 regex, added tokens)
def byte_symbols():
    printable = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    table, k = {}, 0
    for b in range(256):
        if b in printable: table[b] = chr(b)
        else: table[b] = chr(256 + k); k += 1
    return table
REGEX = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
         "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
def tokenizer(merges, ignore_merges=True, pair_merges=False, post="template"):
    sym = byte_symbols()
    vocab = {sym[b]: b for b in range(256)}
    for a, b in merges: vocab.setdefault(a + b, len(vocab))
    added = [("<|begin_of_text|>", 1000, True, {}), ("<|end_of_text|>", 1001, True, {}),
             ("<|eot_id|>", 1002, True, {"rstrip": True}), ("<pad>", 1003, True, {}),
             ("<tool>", 1004, False, {"lstrip": True, "single_word": True, "normalized": True})]
    t = {"version": "1.0", "truncation": None, "padding": None,
         "added_tokens": [dict({"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                                "normalized": False, "special": s}, **x) for c, i, s, x in added],
         "normalizer": None,
         "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
             {"type": "Split", "pattern": {"Regex": REGEX}, "behavior": "Isolated", "invert": False},
             {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
         "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
         "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                   "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                   "ignore_merges": ignore_merges, "vocab": vocab,
                   "merges": [[a, b] if pair_merges else a + " " + b for a, b in merges]}}
    bos = {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}
    tp = {"type": "TemplateProcessing", "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
          "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, bos, {"Sequence": {"id": "B", "type_id": 1}}],
          "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [1000],
                                                   "tokens": ["<|begin_of_text|>"]}}}
    if post == "template": t["post_processor"] = tp
    elif post == "sequence":
        t["post_processor"] = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}, tp]}
    else: t["post_processor"] = None
    return json.dumps(t, ensure_ascii=False)
G = "\u0120"
MERGES = [("h", "e"), ("t", "he"), (G, "the"), ("i", "n"), (G, "in"), ("e", "r"), ("o", "n"), (G, "a"),
          ("r", "e"), ("a", "t"), ("1", "2"), (G, "c"), (G + "c", "at"), ("Ċ", "Ċ")]
put("tokenizer-load", "small.json", tokenizer(MERGES))
put("tokenizer-load", "small-pair-merges.json", tokenizer(MERGES[:6], ignore_merges=False, pair_merges=True))
put("tokenizer-load", "small-sequence-post.json", tokenizer(MERGES[:3], post="sequence"))
put("tokenizer-load", "small-no-post.json", tokenizer([], post=None))
# The tokenizer directory prepare uses for the HDF5 seeds (ids below 1005: the scoring model's vocab is 1024).
tok = os.path.join(work, "tokenizer")
os.makedirs(tok, exist_ok=True)
open(os.path.join(tok, "tokenizer.json"), "w").write(tokenizer(MERGES))
json.dump({"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>", "pad_token": "<pad>"},
          open(os.path.join(tok, "tokenizer_config.json"), "w"))

# texts to tokenize: message contents of the sample rows, byte 0 = add_special
rows = [l for l in open(os.path.join(repo, "tests/data/sample-pairs.jsonl"), "rb").read().split(b"\n") if l]
texts = []
for l in rows:
    r = json.loads(l)
    texts += [m["content"] for m in r["chosen"] if isinstance(m.get("content"), str)]
texts = sorted(set(texts), key=len)[:40] + ["<|begin_of_text|>Hi<|eot_id|>  <tool> x<tool>", "a\r\n\r\n  b\t\t12345"]
for i, s in enumerate(texts):
    put("tokenize", "text-%02d" % i, bytes([i & 1]) + s.encode())
put("tokenize", "invalid-utf8", b"\x01ab\xc3(\xff\xfe")

# chat templates: every test template with a conversation (TEMPLATE \0 MESSAGES)
convs = [json.loads(l)["chosen"] for l in rows[:4]]
for i, p in enumerate(sorted(glob.glob(os.path.join(repo, "tests/tokenizer/templates_*/*.jinja")))):
    name = os.path.basename(os.path.dirname(p))[10:] + "-" + os.path.basename(p)[:-6]
    src = open(p, "rb").read()
    put("chat-template", name, src + b"\0" + json.dumps(convs[i % len(convs)]).encode() + bytes([i & 1]))

# preference rows: every row of the test files in each format (byte 0: format in bits 0-1)
bad = [l for l in open(os.path.join(repo, "tests/data/bad-pairs.jsonl"), "rb").read().split(b"\n") if l]
for i, l in enumerate(rows[:12] + bad):
    put("pref-row", "row-%02d" % i, bytes([(i * 4) % 256 | (i % 4)]) + l + b"\n")
r0 = json.loads(rows[0])
rb = {"prompt": r0["chosen"][0]["content"], "chosen": r0["chosen"][-1]["content"],
      "rejected": r0["rejected"][-1]["content"], "subset": "math-prm", "id": 17}
trl = {"prompt": r0["chosen"][:-1], "chosen": r0["chosen"][-1:], "rejected": r0["rejected"][-1:]}
for f in range(4):
    put("pref-row", "rewardbench-%d" % f, bytes([f]) + json.dumps(rb).encode())
    put("pref-row", "trl-%d" % f, bytes([f]) + json.dumps(trl).encode())

# ids lines (byte 0: log2 of the vocabulary size)
for i, l in enumerate(open(os.path.join(repo, "tests/data/sample-ids.jsonl"), "rb").read().split(b"\n")):
    if l: put("ids-input", "ids-%d" % i, bytes([17]) + l + b"\n")
put("ids-input", "small-vocab", bytes([4]) + b"[0, 15, 16]")

# run configs
for p in glob.glob(os.path.join(repo, "configs/*.json")):
    put("run-config", os.path.basename(p), open(p, "rb").read())

# a few rows for prepare (small HDF5 files)
with open(os.path.join(work, "rows.jsonl"), "wb") as f:
    f.write(b"\n".join(rows[:5] + bad[:4]) + b"\n")
PYEOF

# ---- HDF5 files as prepare and score write them
"$RMSCORE" prepare --tokenizer "$WORK/tokenizer" --in "$WORK/rows.jsonl" --out "$WORK/pairs.h5" --template tulu \
  >/dev/null 2>&1
"$RMSCORE" prepare --tokenizer "$WORK/tokenizer" --in "$WORK/rows.jsonl" --out "$WORK/pairs-llama3.h5" \
  --template llama3 --tokenization text-with-special >/dev/null 2>&1 || true
cp "$WORK/pairs.h5" "$OUT/pairs-h5/pairs-tulu.h5"
[ -f "$WORK/pairs-llama3.h5" ] && cp "$WORK/pairs-llama3.h5" "$OUT/pairs-h5/pairs-llama3.h5"
# Files on which libhdf5 itself misbehaves (tests/fuzz/libhdf5/): the probe's child meets them first, and every run
# starts by checking that a crash there is only the parent's clean error (tests/fuzz/fuzz_hdf5.h), not a finding
for t in pairs scores; do
  for f in "$REPO/tests/fuzz/libhdf5/$t"-*.h5; do
    if [ -f "$f" ]; then cp "$f" "$OUT/$t-h5/libhdf5-$(basename "$f")"; fi
  done
done
"$RMSCORE" make-test-model --out "$WORK/m-score" --hidden 16 --intermediate 32 --layers 2 --heads 2 --kv-heads 1 \
  --vocab 1024 --quiet --tokenizer "$WORK/tokenizer"
"$RMSCORE" score --model "$WORK/m-score" --data "$WORK/pairs.h5" --out "$WORK/scores.h5" --quiet >/dev/null 2>&1 || true
"$RMSCORE" score --model "$WORK/m-score" --data "$WORK/pairs.h5" --out "$WORK/shard-0-of-2.h5" --shard 0/2 --quiet \
  >/dev/null 2>&1 || true
for f in scores shard-0-of-2; do
  [ -f "$WORK/$f.h5" ] && cp "$WORK/$f.h5" "$OUT/scores-h5/$f.h5"
done
n=$(find "$OUT" -path "$WORK" -prune -o -type f -print | wc -l)
[ -n "$(ls "$OUT/scores-h5")" ] || { echo "make-corpus: score wrote no file" >&2; exit 1; }
echo "make-corpus: $n seed files in $OUT"
