#!/usr/bin/env bash
# score-ids-cli.sh RMSCORE WORKDIR — command-line contract of `make-test-model` and `score-ids`:
# --help, unknown options and missing required options, the checkpoint layout make-test-model
# writes (single file / shards + index, no tokenizer files), and damaged checkpoints (truncated or
# missing shard) failing with a one-line `rmscore: error:` message that names the file.
# Prints PASS/FAIL per check and a final `N passed, M failed`; exits non-zero on any failure.
set -euo pipefail

PY=/usr/bin/python3

# shellcheck source=tests/e2e/checks.sh
source "$(dirname "${BASH_SOURCE[0]}")/checks.sh"
start_driver "$@"

# run [STDIN-FILE] -- CMD...: sets RC, OUT (file), ERR (file); never aborts the script.
OUT=$W/last.out
ERR=$W/last.err
run() {
    local in=/dev/null
    if [[ $1 != -- ]]; then in=$1; shift; fi
    shift # --
    RC=0
    "$@" <"$in" >"$OUT" 2>"$ERR" || RC=$?
    no_sanitizer_report "$ERR" "$(basename "$1") ${2:-}"
}
err_text() { head -c 400 "$ERR" | tr '\n' '|'; }

# one_line_error [WORD]: non-zero status, stderr exactly one line starting `rmscore: error:`
# (and containing WORD if given).
one_line_error() {
    local word=${1:-}
    DETAIL="exit $RC, stderr: $(err_text)"
    [[ $RC -ne 0 ]] || return 1
    [[ $(wc -l <"$ERR") -eq 1 ]] || return 1
    head -n 1 "$ERR" | grep -q '^rmscore: error:' || return 1
    [[ -z $word ]] || grep -qF -- "$word" "$ERR"
}
usage_ok() {
    DETAIL="exit $RC, stdout: $(head -c 200 "$OUT" | tr '\n' '|') stderr: $(err_text)"
    [[ $RC -eq 0 ]] && grep -qi 'usage' "$OUT"
}
has_option() { grep -qF -- "$1" "$OUT"; }

# ------------------------------------------------------------------ --help
run -- "$RMSCORE" make-test-model --help
check "make-test-model --help exits 0 and prints usage on stdout" usage_ok
for opt in --out --hidden --intermediate --layers --heads --kv-heads --vocab --shards --seed --dtype; do
    run -- "$RMSCORE" make-test-model --help
    check "make-test-model --help mentions $opt" has_option "$opt"
done
run -- "$RMSCORE" score-ids --help
check "score-ids --help exits 0 and prints usage on stdout" usage_ok
for opt in --model --threads; do
    run -- "$RMSCORE" score-ids --help
    check "score-ids --help mentions $opt" has_option "$opt"
done

# ------------------------------------------------------------------ bad command lines
run -- "$RMSCORE" make-test-model --out "$W/x" --no-such-option 3
check "make-test-model with an unknown option fails with one error line naming it" \
    one_line_error --no-such-option
run -- "$RMSCORE" make-test-model --hidden 32
check "make-test-model without --out fails with one error line" one_line_error
run -- "$RMSCORE" score-ids --model "$W/x" --bogus
check "score-ids with an unknown option fails with one error line naming it" one_line_error --bogus
echo '[1, 2, 3]' >"$W/ids1.txt"
run "$W/ids1.txt" -- "$RMSCORE" score-ids --threads 2
check "score-ids without --model fails with one error line naming --model" one_line_error --model
run "$W/ids1.txt" -- "$RMSCORE" score-ids --model "$W/does-not-exist"
check "score-ids on a missing directory fails with one error line naming it" \
    one_line_error does-not-exist
run -- "$RMSCORE" no-such-subcommand
check "an unknown subcommand fails with one error line" one_line_error

# ------------------------------------------------------------------ checkpoint layout
TINY=(--hidden 32 --intermediate 64 --layers 2 --heads 4 --kv-heads 2 --vocab 1000 --seed 5 --dtype bf16)
M3=$W/m3
run -- "$RMSCORE" make-test-model --out "$M3" "${TINY[@]}" --shards 3
DETAIL="exit $RC, stderr: $(err_text)"
check "make-test-model --shards 3 succeeds" test "$RC" -eq 0
for f in config.json model.safetensors.index.json model-00001-of-00003.safetensors \
    model-00002-of-00003.safetensors model-00003-of-00003.safetensors; do
    check "--shards 3 writes $f" test -s "$M3/$f"
done
check "--shards 3 writes no model.safetensors" test ! -e "$M3/model.safetensors"
DETAIL="files: $(ls "$M3" | tr '\n' ' ')"
check "--shards 3 writes no tokenizer files (tokenizer-less layout)" \
    bash -c '! ls "$1" | grep -qi -e tokenizer -e special_tokens -e vocab -e merges' _ "$M3"
DETAIL="files: $(ls "$M3" | tr '\n' ' ')"
check "--shards 3 writes exactly config + index + 3 shards" \
    test "$(ls "$M3" | wc -l)" -eq 5

layout_py='
import json, os, struct, sys
d, shards = sys.argv[1], int(sys.argv[2])
c = json.load(open(os.path.join(d, "config.json")))
assert c["architectures"] == ["LlamaForSequenceClassification"], c.get("architectures")
assert c["model_type"] == "llama"
for k, v in (("hidden_size", 32), ("intermediate_size", 64), ("num_hidden_layers", 2),
             ("num_attention_heads", 4), ("num_key_value_heads", 2), ("vocab_size", 1000)):
    assert c[k] == v, (k, c.get(k))
assert len(c.get("id2label", {"0": "LABEL_0"})) == 1 and c.get("num_labels", 1) == 1
assert c.get("tie_word_embeddings", False) is False
assert c.get("torch_dtype") == "bfloat16", c.get("torch_dtype")
names = {}
if shards > 1:
    idx = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    wm = idx["weight_map"]
    files = sorted(set(wm.values()))
    want = ["model-%05d-of-%05d.safetensors" % (i + 1, shards) for i in range(shards)]
    assert files == want, files
    assert "total_size" in idx.get("metadata", {}), "index metadata.total_size missing"
else:
    files, wm = ["model.safetensors"], None
total = 0
for f in files:
    p = os.path.join(d, f)
    raw = open(p, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    h.pop("__metadata__", None)
    end = 0
    for k, v in h.items():
        assert v["dtype"] == "BF16", (k, v["dtype"])
        assert wm is None or wm[k] == f, (k, f)
        names[k] = v["shape"]
        end = max(end, v["data_offsets"][1])
    assert 8 + n + end == len(raw), (f, 8 + n + end, len(raw))
    total += end
if wm is not None:
    assert set(wm) == set(names), set(wm) ^ set(names)
    assert idx["metadata"]["total_size"] == total, (idx["metadata"]["total_size"], total)
want = {"model.embed_tokens.weight": [1000, 32], "model.norm.weight": [32], "score.weight": [1, 32]}
for i in range(2):
    p = "model.layers.%d." % i
    want.update({p + "input_layernorm.weight": [32], p + "post_attention_layernorm.weight": [32],
                 p + "self_attn.q_proj.weight": [32, 32], p + "self_attn.k_proj.weight": [16, 32],
                 p + "self_attn.v_proj.weight": [16, 32], p + "self_attn.o_proj.weight": [32, 32],
                 p + "mlp.gate_proj.weight": [64, 32], p + "mlp.up_proj.weight": [64, 32],
                 p + "mlp.down_proj.weight": [32, 64]})
diff = {k: (names.get(k), want.get(k)) for k in set(names) | set(want) if names.get(k) != want.get(k)}
assert not diff, "tensor (got, want): %s" % sorted(diff.items())[:4]
'
layout_ok() {
    DETAIL=$("$PY" -c "$layout_py" "$1" "$2" 2>&1 | tail -n 1)
    "$PY" -c "$layout_py" "$1" "$2" >/dev/null 2>&1
}
check "--shards 3: config.json, index (weight_map, total_size) and shard headers as HF writes them" \
    layout_ok "$M3" 3

M1=$W/m1
run -- "$RMSCORE" make-test-model --out "$M1" "${TINY[@]}" --shards 1
DETAIL="exit $RC, stderr: $(err_text)"
check "make-test-model --shards 1 succeeds" test "$RC" -eq 0
check "--shards 1 writes config.json" test -s "$M1/config.json"
check "--shards 1 writes model.safetensors" test -s "$M1/model.safetensors"
check "--shards 1 writes no index" test ! -e "$M1/model.safetensors.index.json"
check "--shards 1: config.json and header as HF writes them" layout_ok "$M1" 1

# ------------------------------------------------------------------ scoring and damaged checkpoints
printf '[1, 2, 3]\n[999, 0]\n' >"$W/ids2.txt"
scores_ok() {
    DETAIL="exit $RC, stdout: $(head -c 200 "$OUT" | tr '\n' '|') stderr: $(err_text)"
    [[ $RC -eq 0 ]] && [[ $(wc -l <"$OUT") -eq 2 ]] &&
        "$PY" -c 'import sys, math; v = [float(x) for x in open(sys.argv[1])]; assert all(map(math.isfinite, v))' "$OUT"
}
run "$W/ids2.txt" -- "$RMSCORE" score-ids --model "$M3" --threads 2
check "score-ids scores 2 lines on the 3-shard checkpoint" scores_ok
run "$W/ids2.txt" -- "$RMSCORE" score-ids --model "$M1" --threads 2
check "score-ids scores 2 lines on the single-file checkpoint" scores_ok

damaged() { # damaged NAME SHARD-FILE ACTION  (copy of M3 with one shard truncated/removed)
    local d=$W/$1
    rm -rf "$d"
    cp -r "$M3" "$d"
    local f=$d/$2
    case $3 in
        half) truncate -s $(($(stat -c %s "$f") / 2)) "$f" ;;
        minus1) truncate -s $(($(stat -c %s "$f") - 1)) "$f" ;;
        header) truncate -s 5 "$f" ;;
        remove) rm -f "$f" ;;
    esac
    run "$W/ids2.txt" -- "$RMSCORE" score-ids --model "$d" --threads 2
}
damaged trunc-half model-00002-of-00003.safetensors half
check "a shard truncated to half its size: one error line naming model-00002-of-00003.safetensors" \
    one_line_error model-00002-of-00003.safetensors
damaged trunc-1 model-00003-of-00003.safetensors minus1
check "a shard 1 byte short: one error line naming model-00003-of-00003.safetensors" \
    one_line_error model-00003-of-00003.safetensors
damaged trunc-header model-00001-of-00003.safetensors header
check "a shard cut inside its header length: one error line naming model-00001-of-00003.safetensors" \
    one_line_error model-00001-of-00003.safetensors
damaged missing model-00002-of-00003.safetensors remove
check "a missing shard: one error line naming model-00002-of-00003.safetensors" \
    one_line_error model-00002-of-00003.safetensors
rm -rf "$W/trunc-single"
cp -r "$M1" "$W/trunc-single"
truncate -s $(($(stat -c %s "$W/trunc-single/model.safetensors") - 100)) "$W/trunc-single/model.safetensors"
run "$W/ids2.txt" -- "$RMSCORE" score-ids --model "$W/trunc-single" --threads 2
check "a truncated model.safetensors: one error line naming model.safetensors" \
    one_line_error model.safetensors

# Pooling as transformers (>= 4.48): with pad_token_id in config.json the score is read at the last token that
# is not the pad token (trailing pad tokens change nothing); without it at the last token whatever it is.
# (make-test-model's tiny vocabulary has no pad token: the copies set pad_token_id to 7 and remove it.)
PAD=7
rm -rf "$W/pad" "$W/nopad"
cp -r "$M1" "$W/pad"
cp -r "$M1" "$W/nopad"
"$PY" - "$W/pad/config.json" "$W/nopad/config.json" "$PAD" <<'PYEOF'
import json, sys
for path, pad in ((sys.argv[1], int(sys.argv[3])), (sys.argv[2], None)):
    c = json.load(open(path))
    c.pop("pad_token_id", None)
    if pad is not None:
        c["pad_token_id"] = pad
    json.dump(c, open(path, "w"), indent=2)
PYEOF
printf '[11, 12, 13]\n[11, 12, 13, %s, %s]\n[11, %s, 13]\n[%s, %s]\n[%s]\n' "$PAD" "$PAD" "$PAD" "$PAD" "$PAD" "$PAD" \
    >"$W/pad.txt"
run "$W/pad.txt" -- "$RMSCORE" score-ids --model "$W/pad" --threads 2
cp "$OUT" "$W/pad-scores.txt"
DETAIL="exit $RC, scores: $(tr '\n' ' ' <"$W/pad-scores.txt")"
check "pad_token_id $PAD: trailing pad tokens leave the score of the last other token, bit for bit" \
    bash -c '[[ $0 -eq 0 && $(sed -n 1p "$1") == "$(sed -n 2p "$1")" ]]' "$RC" "$W/pad-scores.txt"
check "pad_token_id $PAD: a pad token inside the sequence is a token like any other (score differs)" \
    bash -c '[[ $(sed -n 1p "$1") != "$(sed -n 3p "$1")" ]]' _ "$W/pad-scores.txt"
check "pad_token_id $PAD: a sequence of pad tokens only is scored at its first token" \
    bash -c '[[ -s $1 && $(sed -n 4p "$1") == "$(sed -n 5p "$1")" ]]' _ "$W/pad-scores.txt"
run "$W/pad.txt" -- "$RMSCORE" score-ids --model "$W/nopad" --threads 2
DETAIL="exit $RC, scores: $(tr '\n' ' ' <"$OUT")"
check "no pad_token_id: the score is at the last token even when it is id $PAD (trailing $PAD tokens change it)" \
    bash -c '[[ $0 -eq 0 && $(sed -n 1p "$1") != "$(sed -n 2p "$1")" && $(sed -n 1p "$1") == "$(sed -n 1p "$2")" ]]' \
    "$RC" "$OUT" "$W/pad-scores.txt"

finish
