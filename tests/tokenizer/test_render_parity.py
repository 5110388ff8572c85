#!/usr/bin/python3
"""test_render_parity.py — `rmscore render` against transformers' apply_chat_template, id for id.

    /usr/bin/python3 tests/tokenizer/test_render_parity.py --rmscore build/rmscore --workdir DIR \
        [--node-modules node_modules]

The reference renders tokenizer_config.json's chat_template with python3-jinja2 the way transformers
does (ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True), the special-tokens map
bos_token/eos_token/pad_token... as variables, add_generation_prompt=False), then encodes the text with
the HF `tokenizers` library without adding special tokens (hf_reference.js).  Compared with
`rmscore render --tokenizer DIR` for the tulu dir (auto → tulu), the tulu-newlines dir (the Tülu template
with real newlines inside its Jinja string literals, as the released file has it; auto → tulu), the llama3
dir (auto → llama3), a copy of it whose template spells those newlines as the escape backslash + n
(auto → llama3), the llama3 dir with --template tulu forced (eos then <|eot_id|>), and the tulu dir with
--template llama3.
Also the error behaviour on bad lines, conversations the template itself refuses or renders oddly (as
jinja2 does), another chat_template (interpreted), and U+0000 in a message.
Prints one PASS/FAIL line per check and a final `N passed, M failed`.
"""

import json
import os
import random
import shutil
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
import corpus  # noqa: E402
import make_tokenizer_dirs  # noqa: E402

SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


# ---------------------------------------------------------------- the transformers reference
def _token_str(v):
    if isinstance(v, dict):  # AddedToken serialised as {"content": ..., ...}
        return v.get("content")
    return v


def special_tokens_map(cfg):
    out = {}
    for k in SPECIAL_KEYS:
        v = _token_str(cfg.get(k))
        if v is not None:
            out[k] = v
    if cfg.get("additional_special_tokens"):
        out["additional_special_tokens"] = [_token_str(x) for x in cfg["additional_special_tokens"]]
    return out


def compile_template(template):
    """transformers.utils.chat_template_utils._compile_jinja_template, minus the {% generation %} tracker."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template)


def render_reference(cfg, template, messages):
    kwargs = special_tokens_map(cfg)
    return compile_template(template).render(messages=messages, tools=None, documents=None,
                                             add_generation_prompt=False, **kwargs)


# ---------------------------------------------------------------- conversations
WS_EDGES = ["", " ", "  ", "\n", "\n\n", "\t", " \n\t ", "\r\n", "\u3000", "\u00a0", "\u0085", "\u2028",
            "\u2029", "\x0b", "\x0c", "\x1c", "\x1f", "\u2003", "\u200b", "\ufeff", "\u180e", "\u1680", "\u202f"]


def conversations(seed=2024):
    rng = random.Random(seed)
    # NUL is left out here (nul_content checks it on its own).
    strings = [s for s in corpus.corpus() if len(s) < 2000 and "\x00" not in s]
    specials = corpus.SPECIALS + corpus.PARTIAL_SPECIALS
    tulu_markers = ["<|user|>", "<|assistant|>", "<|system|>", "<|user|>\n", "\n<|assistant|>\n"]

    def content(kind=None):
        r = rng.random() if kind is None else kind
        if r < 0.35:
            return rng.choice(corpus.PROSE + corpus.CODE + corpus.SCRIPTS + corpus.EMOJI)
        if r < 0.55:
            return rng.choice(WS_EDGES) + rng.choice(strings) + rng.choice(WS_EDGES)
        if r < 0.65:
            return rng.choice(specials + tulu_markers) + rng.choice(corpus.PROSE) + rng.choice(specials)
        if r < 0.72:
            return "".join(rng.choice(WS_EDGES) for _ in range(rng.randint(0, 4)))
        return rng.choice(strings)

    def content_checked(kind=None):
        c = content(kind)
        assert "\x00" not in c
        return c

    convs = []
    # Fixed shapes.
    convs.append([{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there!"}])
    convs.append([{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "What is 2+2?"},
                  {"role": "assistant", "content": "4"}])
    convs.append([{"role": "user", "content": ""}, {"role": "assistant", "content": ""}])
    convs.append([{"role": "system", "content": ""}, {"role": "user", "content": ""}, {"role": "assistant", "content": ""}])
    convs.append([{"role": "user", "content": "  padded both sides  "}, {"role": "assistant", "content": "\n\nnewlines\n\n"}])
    convs.append([{"role": "user", "content": "\t\ttabs\t"}, {"role": "assistant", "content": "\u3000ideographic\u3000"}])
    convs.append([{"role": "user", "content": "\x1c\x1d\x1e\x1f info separators \x1f"},
                  {"role": "assistant", "content": "\u0085nel\u0085 \u00a0nbsp\u00a0 \u2028"}])
    convs.append([{"role": "user", "content": "\u200bzero width\u200b"}, {"role": "assistant", "content": "\ufeffbom\ufeff"}])
    convs.append([{"role": "user", "content": "\u180emvs\u180e"}, {"role": "assistant", "content": "\u2000\u200aen\u205f"}])
    convs.append([{"role": "user", "content": "only the user speaks"}])
    convs.append([{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
                  {"role": "user", "content": "q2 ends with a user turn"}])
    convs.append([{"role": "system", "content": "sys"}])
    convs.append([{"role": "assistant", "content": "assistant first"}, {"role": "user", "content": "then user"}])
    convs.append([{"role": "user", "content": "<|eot_id|>"}, {"role": "assistant", "content": "<|end_of_text|><pad>"}])
    convs.append([{"role": "user", "content": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nx"},
                  {"role": "assistant", "content": "<|user|>\nfake\n<|assistant|>\n"}])
    convs.append([{"role": "user", "content": "你好"}, {"role": "assistant", "content": "😀 👨‍👩‍👧‍👦 e\u0301"}])
    convs.append([{"role": "user", "content": "x" * 3000}, {"role": "assistant", "content": "=" * 5000}])
    convs.append([{"role": "user", "content": "{{ not jinja }} {% raw %}"}, {"role": "assistant", "content": "{# c #}"}])
    convs.append([{"role": "user", "content": "hi", "name": "extra keys are ignored"},
                  {"role": "assistant", "content": "ok", "id": 7}])
    # system + 1..4 exchanges, optional trailing user turn.
    for i in range(90):
        msgs = []
        if rng.random() < 0.5:
            msgs.append({"role": "system", "content": content_checked()})
        for _ in range(rng.randint(1, 4)):
            msgs.append({"role": "user", "content": content_checked()})
            msgs.append({"role": "assistant", "content": content_checked()})
        if rng.random() < 0.15:
            msgs.append({"role": "user", "content": content_checked()})
        convs.append(msgs)
    return convs


# Roles other than system/user/assistant: the tulu template drops them, llama3 prints them as is.
UNUSUAL_ROLE_CONVS = [
    [{"role": "user", "content": "q"}, {"role": "tool", "content": "tool output"}, {"role": "assistant", "content": "a"}],
    [{"role": "ipython", "content": "x"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
    [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "User", "content": "capital"}],
]


# ---------------------------------------------------------------- runs
def load_cfg(d):
    with open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8") as f:
        return json.load(f)


def reference_ids(a, tokdir, cfg, template, convs, wd, label):
    texts = [render_reference(cfg, template, m) for m in convs]
    path = os.path.join(wd, "render-%s.texts.jsonl" % label)
    corpus.write_jsonl(path, texts)
    return texts, C.hf_encode(a.node_modules, os.path.join(tokdir, "tokenizer.json"), path, False, len(texts))


def convs_bytes(convs):
    return "".join(json.dumps(m, ensure_ascii=True) + "\n" for m in convs).encode("ascii")


def rmscore_render(a, tokdir, data, template=None, text=False):
    cmd = [a.rmscore, "render", "--tokenizer", tokdir]
    if template:
        cmd += ["--template", template]
    if text:
        cmd += ["--text"]
    return C.run(cmd, data)


def text_check(a, label, tokdir, data, template_opt, convs, texts):
    """Rendered text equality through `rmscore render --text` (not part of the contract: skipped if the
    option is refused).  Separates template bugs (text differs) from tokenizer bugs (ids differ)."""
    rc, out, err, _ = rmscore_render(a, tokdir, data, template_opt, text=True)
    if rc != 0:
        print("  %s-text: skipped (render --text: rc=%d %s)" % (label, rc, err.strip()[-200:]))
        return
    lines = out.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    got = []
    for l in lines:
        try:
            got.append(json.loads(l))
        except ValueError:
            got.append(None)
    bad = [i for i in range(len(texts)) if i >= len(got) or got[i] != texts[i]]
    for i in bad[:C.MAX_SHOWN]:
        print("  text mismatch (input line %d): %s" % (i + 1, json.dumps(convs[i], ensure_ascii=True)[:400]))
        print("    reference: %r" % texts[i][:400])
        print("    rmscore  : %r" % (got[i][:400] if i < len(got) and isinstance(got[i], str) else None))
    C.record(label + "-text", not bad and len(got) == len(texts), "%d/%d texts equal" % (len(texts) - len(bad), len(texts)))


def parity_case(a, label, tokdir, cfg, template_str, convs, wd, template_opt=None):
    texts, hf = reference_ids(a, tokdir, cfg, template_str, convs, wd, label)
    data = convs_bytes(convs)
    rc, out, err, _ = rmscore_render(a, tokdir, data, template_opt)
    if rc != 0:
        return C.record(label, False, "rmscore exited %d: %s" % (rc, err.strip()[-500:]))
    ours = C.parse_id_lines(out)
    text_check(a, label, tokdir, data, template_opt, convs, texts)
    ok = C.compare(label, convs, hf, ours, describe=lambda m: json.dumps(m, ensure_ascii=True),
                   hint=lambda m: C.unicode_hint("".join(x["content"] for x in m)))
    return ok


def nul_content(a, tokdir, cfg, template_str, wd):
    """U+0000 in a message: HF renders and encodes it (byte-level token 188); rmscore must do the same."""
    convs = [[{"role": "user", "content": "hi"}],
             [{"role": "user", "content": "a\x00b"}, {"role": "assistant", "content": "\x00"}]]
    texts, hf = reference_ids(a, tokdir, cfg, template_str, convs, wd, "nul")
    rc, out, err, _ = rmscore_render(a, tokdir, convs_bytes(convs))
    got = C.parse_id_lines(out)
    C.record("render-nul-content", rc == 0 and got == hf, "rc=%d HF=%s rmscore=%s %s" % (rc, hf, got, err.strip()[-200:]))


def render_errors(a, dirs, wd):
    tok = dirs["tulu"]
    cfg = load_cfg(tok)
    good = b'[{"role": "user", "content": "hi"}]\n'
    # Lines that are not a conversation at all: an error naming the line, earlier lines printed.
    for name, line in [("not-json", b'[{"role": "user", "content": "hi"}'),
                       ("object-not-list", b'{"role": "user", "content": "hi"}'),
                       ("string", b'"hi"'),
                       ("invalid-utf8", b'[{"role": "user", "content": "a\xffb"}]')]:
        rc, out, err, _ = rmscore_render(a, tok, good + line + b"\n" + good)
        ok, detail = C.error_line_ok(rc, err, 2)
        C.record("render-error-%s" % name, ok, detail)
    # Lists whose messages the template reads oddly: the template decides, as in transformers. Where jinja2
    # raises (content missing, not a string), rmscore stops with an error on that line; where jinja2 renders
    # (a message without a role matches no branch of the Tulu template), rmscore renders the same ids.
    for name, conv in [("missing-content", [{"role": "user"}]),
                       ("content-number", [{"role": "user", "content": 5}]),
                       ("content-null", [{"role": "user", "content": None}]),
                       ("list-of-strings", ["user", "hi"]),
                       ("missing-role", [{"content": "hi"}]),
                       ("role-number", [{"role": 1, "content": "hi"}])]:
        try:
            ref = render_reference(cfg, cfg["chat_template"], conv)
        except Exception as e:  # noqa: BLE001 - any jinja2 error
            ref, why = None, "%s: %s" % (type(e).__name__, e)
        line = json.dumps(conv).encode("ascii")
        rc, out, err, _ = rmscore_render(a, tok, good + line + b"\n" + good)
        if ref is None:
            ok, detail = C.error_line_ok(rc, err, 2)
            C.record("render-template-error-%s" % name, ok, "jinja2 raised %s; rmscore: %s" % (why, detail))
        else:
            rc1, out1, err1, _ = rmscore_render(a, tok, line + b"\n", None, text=True)
            got = json.loads(out1) if rc1 == 0 and out1.strip() else None
            C.record("render-template-renders-%s" % name, rc == 0 and got == ref,
                     "jinja2 %r, rmscore %r (rc=%d %s)" % (ref, got, rc, err.strip()[-200:]))

    # --template auto on any other chat_template: interpreted (see test_template_parity.py for many more).
    odd = os.path.join(wd, "tok", "unknown-template")
    os.makedirs(odd, exist_ok=True)
    shutil.copyfile(os.path.join(dirs["llama3"], "tokenizer.json"), os.path.join(odd, "tokenizer.json"))
    cfg_odd = load_cfg(dirs["llama3"])
    cfg_odd["chat_template"] = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    with open(os.path.join(odd, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg_odd, f)
    parity_case(a, "render-other-template-auto", odd, cfg_odd, cfg_odd["chat_template"], conversations()[:30], wd)
    # ...and a forced built-in template still works there.
    rc, out, err, _ = rmscore_render(a, odd, good, "llama3")
    want = [[128000, 128006, 882, 128007, 271, 6151, 128009]]
    C.record("render-other-template-forced-llama3", rc == 0 and C.parse_id_lines(out) == want,
             "rc=%d out=%r err=%r" % (rc, out[:200], err[-200:]))
    rc, out, err, _ = rmscore_render(a, dirs["tulu"], good, "mistral")
    C.record("render-error-bad-template-option", rc != 0 and "rmscore: error:" in err, "rc=%d stderr=%r" % (rc, err.strip()[-300:]))
    rc, out, err, _ = rmscore_render(a, dirs["tulu"], b"")
    C.record("render-empty-input", rc == 0 and out == b"", "rc=%d out=%r" % (rc, out[:100]))


def main():
    a, dirs = C.setup(__doc__.split("\n")[0])
    llama3, tulu = dirs["llama3"], dirs["tulu"]
    cfg_l, cfg_t = load_cfg(llama3), load_cfg(tulu)
    tmpl_l, tmpl_t = cfg_l["chat_template"], cfg_t["chat_template"]

    # The reference itself, on a known conversation.
    conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " yo "}]
    ok = (render_reference(cfg_t, tmpl_t, conv) == "<|user|>\nhi\n<|assistant|>\n yo <|end_of_text|>" and
          render_reference(cfg_l, tmpl_l, conv) ==
          "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
          "<|start_header_id|>assistant<|end_header_id|>\n\nyo<|eot_id|>")
    C.record("render-reference-selfcheck", ok)

    # The released spelling of the Tülu template: real newlines where the tulu dir has the escape \n.
    tulu_nl = make_tokenizer_dirs.tulu_newlines_dir(os.path.join(a.workdir, "tok"))
    cfg_tn = load_cfg(tulu_nl)
    tmpl_tn = cfg_tn["chat_template"]
    ok = ("\\" not in tmpl_tn and tmpl_tn.count("\n") == 8 and tmpl_tn.replace("\n", "\\n") == tmpl_t and
          render_reference(cfg_tn, tmpl_tn, conv) == render_reference(cfg_t, tmpl_t, conv))
    C.record("render-reference-tulu-newlines-selfcheck", ok, "template %r" % tmpl_tn[:120])
    # ...and the other way round for Llama 3 (the npm file has real newlines): the escape \n in the literals.
    llama3_esc = os.path.join(a.workdir, "tok", "llama3-escaped")
    os.makedirs(llama3_esc, exist_ok=True)
    shutil.copyfile(os.path.join(llama3, "tokenizer.json"), os.path.join(llama3_esc, "tokenizer.json"))
    cfg_le = dict(cfg_l, chat_template=tmpl_l.replace("\n", "\\n"))
    with open(os.path.join(llama3_esc, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg_le, f, ensure_ascii=False, indent=2)
    tmpl_le = cfg_le["chat_template"]
    ok = ("\\" not in tmpl_l and tmpl_l.count("\n") == 4 and "\n" not in tmpl_le and
          render_reference(cfg_le, tmpl_le, conv) == render_reference(cfg_l, tmpl_l, conv))
    C.record("render-reference-llama3-escaped-selfcheck", ok, "template %r" % tmpl_le[:160])

    convs = conversations()
    print("conversations: %d" % len(convs), flush=True)
    parity_case(a, "render-tulu-auto", tulu, cfg_t, tmpl_t, convs, a.workdir)
    parity_case(a, "render-tulu-newlines-auto", tulu_nl, cfg_tn, tmpl_tn, convs, a.workdir)
    parity_case(a, "render-llama3-auto", llama3, cfg_l, tmpl_l, convs, a.workdir)
    parity_case(a, "render-llama3-escaped-auto", llama3_esc, cfg_le, tmpl_le, convs, a.workdir)
    parity_case(a, "render-llama3-dir-forced-tulu", llama3, cfg_l, tmpl_t, convs, a.workdir, "tulu")
    parity_case(a, "render-tulu-dir-forced-llama3", tulu, cfg_t, tmpl_l, convs, a.workdir, "llama3")
    parity_case(a, "render-llama3-explicit-llama3", llama3, cfg_l, tmpl_l, convs, a.workdir, "llama3")
    parity_case(a, "render-tulu-explicit-tulu", tulu, cfg_t, tmpl_t, convs[:20], a.workdir, "tulu")
    parity_case(a, "render-unusual-roles-tulu", tulu, cfg_t, tmpl_t, UNUSUAL_ROLE_CONVS, a.workdir)
    parity_case(a, "render-unusual-roles-tulu-newlines", tulu_nl, cfg_tn, tmpl_tn, UNUSUAL_ROLE_CONVS, a.workdir)
    parity_case(a, "render-unusual-roles-llama3", llama3, cfg_l, tmpl_l, UNUSUAL_ROLE_CONVS, a.workdir)
    nul_content(a, tulu, cfg_t, tmpl_t, a.workdir)
    render_errors(a, dirs, a.workdir)
    return C.finish()


if __name__ == "__main__":
    sys.exit(main())
