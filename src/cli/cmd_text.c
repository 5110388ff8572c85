/* cmd_text.c — `rmscore tokenize` and `rmscore render`: text and conversations to token ids. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ids_input.h"
#include "io/json_string.h"
#include "io/json_value.h"
#include "src/text/chat_template.h"
#include "src/base/options.h"
#include "src/base/outstream.h"
#include "src/cli/commands.h"
#include "src/base/text.h"
#include "src/text/tokenizer.h"

typedef struct text_opts {
    char tokenizer[RMS_PATH_MAX];
    int no_special;                    // tokenize
    int template_kind;                 // render: index in "auto|tulu|llama3"
    int print_text;                    // render
    int add_generation_prompt;         // render
} text_opts;

#define T(field) offsetof(text_opts, field)
static const rms_opt TOKENIZE_OPTS[] = {
    {"--tokenizer", RMS_OPT_PATH, "DIR", T(tokenizer), .required = 1,
     .help = "directory holding tokenizer.json (a model directory works)"},
    {"--no-special", RMS_OPT_FLAG, NULL, T(no_special),
     .help = "do not add the post-processor's special tokens\n(add_special_tokens=False: no BOS)"},
    {0}};

const rms_command RMS_CMD_TOKENIZE = {
    .name = "tokenize",
    .synopsis = "usage: rmscore tokenize --tokenizer DIR [--no-special] < strings.jsonl > ids.jsonl",
    .about = "Reads one JSON string per line on stdin and prints one JSON array of token ids per line, as Hugging\n"
             "Face `tokenizer(text)[\"input_ids\"]` does with DIR/tokenizer.json. Special-token text in the input\n"
             "(e.g. <|eot_id|>) becomes its id. A bad line (not one JSON string, invalid UTF-8) stops the run with\n"
             "an error naming the line, after the ids of all earlier lines are printed.",
    .opts = TOKENIZE_OPTS,
};

static const rms_opt RENDER_OPTS[] = {
    {"--tokenizer", RMS_OPT_PATH, "DIR", T(tokenizer), .required = 1,
     .help = "directory holding tokenizer.json and tokenizer_config.json"},
    {"--template", RMS_OPT_CHOICE, "auto|tulu|llama3", T(template_kind), .value = "auto",
     .help = "auto: DIR's template (chat_template.jinja, else tokenizer_config.json's\n"
             "chat_template), interpreted as transformers renders it;\n"
             "tulu: built-in Tulu 3 (<|user|>\\n...\\n<|assistant|>\\n...<eos>, no BOS);\n"
             "llama3: built-in Llama 3 (<bos><|start_header_id|>role<|end_header_id|>\\n\\n...<|eot_id|>)"},
    {"--add-generation-prompt", RMS_OPT_FLAG, NULL, T(add_generation_prompt),
     .help = "render with add_generation_prompt=True (default False, as a reward model scores)"},
    {"--text", RMS_OPT_FLAG, NULL, T(print_text),
     .help = "print the rendered text (one JSON string per line) instead of ids"},
    {0}};

const rms_command RMS_CMD_RENDER = {
    .name = "render",
    .synopsis = "usage: rmscore render --tokenizer DIR [--template auto|tulu|llama3] [--add-generation-prompt] [--text]\n"
                "       < conversations.jsonl > ids.jsonl",
    .about = "Reads one conversation per line on stdin (a JSON list of messages such as {\"role\", \"content\"}; any\n"
             "JSON a template reads, U+0000 included) and prints the token ids of transformers'\n"
             "`apply_chat_template(messages, tokenize=True)` per line: the chat template (Jinja) rendered with\n"
             "messages, add_generation_prompt, tools=None, documents=None and the special tokens of\n"
             "tokenizer_config.json, then tokenized without adding special tokens. A line the template refuses\n"
             "(raise_exception, an undefined value used) stops the run with an error naming the line, after the\n"
             "output of all earlier lines.",
    .opts = RENDER_OPTS,
};

/* The --template choices, in the order of "auto|tulu|llama3". */
const char *const RMS_TEMPLATE_CHOICES[] = {"auto", "tulu", "llama3"};

static void print_ids(const rms_ids *ids) {
    fputc('[', stdout);
    for (int64_t i = 0; i < ids->n; i++) printf(i > 0 ? ", %d" : "%d", ids->ids[i]);
    fputs("]\n", stdout);
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

rms_status rms_cmd_tokenize(int argc, char **argv, rms_err *err) {
    text_opts o;
    rms_status st = rms_options_parse(&RMS_CMD_TOKENIZE, argc, argv, 2, &o, err);
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
            (st = rms_tokenizer_encode(tok, text.data, text.len, !o.no_special, &ids, err)) == RMS_OK) {
            print_ids(&ids);
            st = rms_out_check(stdout, "standard output", err); // a full disk stops the run at once
        } else {
            rms_fail_prefix(err, st, "stdin line %lld", (long long)line_no);
        }
    }
    fflush(stdout);
    if (st == RMS_OK) st = rms_out_check(stdout, "standard output", err); // errno: the flush's
    free(line);
    rms_ids_free(&ids);
    rms_text_free(&text);
    rms_tokenizer_free(tok);
    return st;
}

rms_status rms_cmd_render(int argc, char **argv, rms_err *err) {
    text_opts o;
    rms_status st = rms_options_parse(&RMS_CMD_RENDER, argc, argv, 2, &o, err);
    if (st != RMS_OK) return st;
    rms_chat_template ct;
    if ((st = rms_chat_template_load(&ct, o.tokenizer, RMS_TEMPLATE_CHOICES[o.template_kind], err)) != RMS_OK) return st;
    rms_tokenizer *tok = NULL;
    if (!o.print_text && (st = rms_tokenizer_load(&tok, o.tokenizer, err)) != RMS_OK) {
        rms_chat_template_free(&ct);
        return st;
    }
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
        rms_json_doc *doc = rms_json_doc_new();
        rms_json *conv = NULL;
        if (!doc) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        else if ((st = rms_json_parse(doc, line, (size_t)len, &conv, err)) == RMS_OK && conv->kind != RMS_JSON_ARRAY)
            st = rms_fail(err, RMS_ERR_INPUT, "not a JSON list of messages");
        if (st == RMS_OK) st = rms_chat_template_render(&ct, conv, o.add_generation_prompt, &text, err);
        rms_json_doc_free(doc);
        if (st == RMS_OK && o.print_text) print_json_string(text.data, text.len);
        else if (st == RMS_OK && (st = rms_tokenizer_encode(tok, text.data, text.len, 0, &ids, err)) == RMS_OK)
            print_ids(&ids);
        if (st != RMS_OK) rms_fail_prefix(err, st, "stdin line %lld", (long long)line_no);
        else st = rms_out_check(stdout, "standard output", err); // a full disk stops the run at once
    }
    fflush(stdout);
    if (st == RMS_OK) st = rms_out_check(stdout, "standard output", err); // errno: the flush's
    free(line);
    rms_ids_free(&ids);
    rms_text_free(&text);
    rms_tokenizer_free(tok);
    rms_chat_template_free(&ct);
    return st;
}
