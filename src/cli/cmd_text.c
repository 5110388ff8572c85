/* cmd_text.c — `rmscore tokenize` and `rmscore render`: text and conversations to token ids. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/conversation.h"
#include "io/ids_input.h"
#include "io/json_string.h"
#include "src/text/chat_template.h"
#include "src/base/argv.h"
#include "src/cli/commands.h"
#include "src/base/text.h"
#include "src/text/tokenizer.h"

static const char *const usage_tokenize =
    "usage: rmscore tokenize --tokenizer DIR [--no-special] < strings.jsonl > ids.jsonl\n"
    "\n"
    "Reads one JSON string per line on stdin and prints one JSON array of token ids per line, as Hugging\n"
    "Face `tokenizer(text)[\"input_ids\"]` does with DIR/tokenizer.json. Special-token text in the input\n"
    "(e.g. <|eot_id|>) becomes its id. A bad line (not one JSON string, invalid UTF-8) stops the run with an\n"
    "error naming the line, after the ids of all earlier lines are printed.\n"
    "\n"
    "  --tokenizer DIR   directory holding tokenizer.json (a model directory works)\n"
    "  --no-special      do not add the post-processor's special tokens (add_special_tokens=False: no BOS)\n";

static const char *const usage_render =
    "usage: rmscore render --tokenizer DIR [--template auto|tulu|llama3] < conversations.jsonl > ids.jsonl\n"
    "\n"
    "Reads one JSON list of {\"role\", \"content\"} messages per line on stdin and prints the token ids of\n"
    "transformers' `apply_chat_template(messages, tokenize=True)` (no generation prompt) per line.\n"
    "\n"
    "  --tokenizer DIR     directory holding tokenizer.json and tokenizer_config.json\n"
    "  --template NAME     auto (default): recognise tokenizer_config.json's chat_template;\n"
    "                      tulu: Tülu 3 (<|user|>\\n...\\n<|assistant|>\\n...<eos>, no BOS);\n"
    "                      llama3: Llama 3 (<bos><|start_header_id|>role<|end_header_id|>\\n\\n...<|eot_id|>)\n"
    "  --text              print the rendered text (one JSON string per line) instead of ids\n";

static int print_ids(const rms_ids *ids, int64_t from) {
    fputc('[', stdout);
    for (int64_t i = from; i < ids->n; i++) printf(i > from ? ", %d" : "%d", ids->ids[i]);
    fputs("]\n", stdout);
    return 0;
}

/* Prints text as one JSON string (ASCII only: everything else escaped). */
static void print_json_string(const char *s, size_t n) {
    fputc('"', stdout);
    for (size_t i = 0; i < n; i++) {
        const unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
        else fputc(c, stdout);
    }
    fputs("\"\n", stdout);
}

typedef struct text_opts {
    const char *tokenizer;
    const char *template_name;
    int no_special;
    int print_text;
} text_opts;

static rms_status parse_text_opts(int argc, char **argv, const char *usage, int is_render, text_opts *o, rms_err *err) {
    memset(o, 0, sizeof *o);
    o->template_name = "auto";
    rms_cli c;
    rms_cli_init(&c, argc, argv, 2);
    while (rms_cli_more(&c)) {
        int r;
        if (rms_cli_flag(&c, "--help") || rms_cli_flag(&c, "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
        if ((r = rms_cli_option(&c, "--tokenizer", err)) != 0) { if (r < 0) return RMS_ERR_ARG; o->tokenizer = c.value; continue; }
        if (!is_render && rms_cli_flag(&c, "--no-special")) { o->no_special = 1; continue; }
        if (is_render && rms_cli_flag(&c, "--text")) { o->print_text = 1; continue; }
        if (is_render && (r = rms_cli_option(&c, "--template", err)) != 0) {
            if (r < 0) return RMS_ERR_ARG;
            o->template_name = c.value;
            continue;
        }
        return rms_fail(err, RMS_ERR_ARG, "%s: unknown option '%s' (see --help)", argv[1], rms_cli_current(&c));
    }
    if (!o->tokenizer) return rms_fail(err, RMS_ERR_ARG, "%s: --tokenizer DIR is required", argv[1]);
    return RMS_OK;
}

rms_status rms_cmd_tokenize(int argc, char **argv, rms_err *err) {
    text_opts o;
    rms_status st = parse_text_opts(argc, argv, usage_tokenize, 0, &o, err);
    if (st != RMS_OK) return st;
    rms_tokenizer *tok;
    if ((st = rms_tokenizer_load(&tok, o.tokenizer, err)) != RMS_OK) return st;
    rms_text text;
    rms_text_init(&text);
    rms_ids ids;
    rms_ids_init(&ids);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t line_no = 0;
    while (st == RMS_OK && (len = getline(&line, &cap, stdin)) >= 0) {
        line_no++;
        ids.n = 0;
        if ((st = rms_json_decode_string_line(line, (size_t)len, &text, err)) == RMS_OK &&
            (st = rms_tokenizer_encode(tok, text.data, text.len, !o.no_special, &ids, err)) == RMS_OK)
            print_ids(&ids, 0);
        else
            rms_fail_prefix(err, st, "stdin line %lld", (long long)line_no);
    }
    fflush(stdout);
    free(line);
    rms_ids_free(&ids);
    rms_text_free(&text);
    rms_tokenizer_free(tok);
    return st;
}

rms_status rms_cmd_render(int argc, char **argv, rms_err *err) {
    text_opts o;
    rms_status st = parse_text_opts(argc, argv, usage_render, 1, &o, err);
    if (st != RMS_OK) return st;
    rms_chat_template ct;
    if ((st = rms_chat_template_load(&ct, o.tokenizer, o.template_name, err)) != RMS_OK) return st;
    rms_tokenizer *tok = NULL;
    if (!o.print_text && (st = rms_tokenizer_load(&tok, o.tokenizer, err)) != RMS_OK) return st;
    rms_text text;
    rms_text_init(&text);
    rms_ids ids;
    rms_ids_init(&ids);
    char *line = NULL;
    size_t cap = 0;
    int64_t line_no = 0;
    while (st == RMS_OK && getline(&line, &cap, stdin) >= 0) {
        line_no++;
        ids.n = 0;
        rms_conversation conv;
        if ((st = rms_conversation_parse(&conv, line, err)) == RMS_OK) {
            st = rms_chat_template_render(&ct, conv.msgs, conv.n, &text, err);
            rms_conversation_free(&conv);
        }
        if (st == RMS_OK && o.print_text) print_json_string(text.data, text.len);
        else if (st == RMS_OK && (st = rms_tokenizer_encode(tok, text.data, text.len, 0, &ids, err)) == RMS_OK)
            print_ids(&ids, 0);
        if (st != RMS_OK) rms_fail_prefix(err, st, "stdin line %lld", (long long)line_no);
    }
    fflush(stdout);
    free(line);
    rms_ids_free(&ids);
    rms_text_free(&text);
    rms_tokenizer_free(tok);
    return st;
}
