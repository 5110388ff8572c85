/* cmd_prepare.c — `rmscore prepare`: preference JSONL -> the /pairs HDF5 dataset. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

#include "io/conversation.h"
#include "io/json_string.h"
#include "io/pairs_h5.h"
#include "io/sha256.h"
#include "src/text/chat_template.h"
#include "src/base/clock.h"
#include "src/base/options.h"
#include "src/cli/commands.h"
#include "src/text/tokenizer.h"

#define PROGRESS_SECONDS 5.0
#define MAX_REASONS 8

typedef struct prepare_opts {
    char tokenizer[RMS_PATH_MAX], in[RMS_PATH_MAX], out[RMS_PATH_MAX];
    int template_kind; // index in RMS_TEMPLATE_CHOICES
    int quiet;
} prepare_opts;

#define P(field) offsetof(prepare_opts, field)
static const rms_opt PREPARE_OPTS[] = {
    {"--tokenizer", RMS_OPT_PATH, "DIR", P(tokenizer), .required = 1,
     .help = "tokenizer.json + tokenizer_config.json (a model directory works)"},
    {"--in", RMS_OPT_PATH, "FILE", P(in), .required = 1, .help = "preference JSONL ('-' for stdin)"},
    {"--out", RMS_OPT_PATH, "FILE", P(out), .required = 1, .help = "HDF5 file to write (replaced)"},
    {"--template", RMS_OPT_CHOICE, "auto|tulu|llama3", P(template_kind), .value = "auto",
     .help = "chat template (auto: from tokenizer_config.json)"},
    {"--quiet", RMS_OPT_FLAG, NULL, P(quiet), .help = "no progress on stderr"},
    {0}};

const rms_command RMS_CMD_PREPARE = {
    .name = "prepare",
    .synopsis = "usage: rmscore prepare --tokenizer DIR --in pairs.jsonl --out pairs.h5 [--template auto|tulu|llama3]",
    .about = "Turns preference pairs (JSONL: {\"id\", \"source\", \"prompt\", \"chosen\": [messages], \"rejected\":\n"
             "[messages]} per line, as the Hugging Face datasets export of allenai/llama-3.1-tulu-3-8b-preference-\n"
             "mixture) into the HDF5 dataset `score` reads: both conversations rendered with the chat template and\n"
             "tokenized exactly as transformers' apply_chat_template, plus lengths, shared prefix, ids, sources and\n"
             "the original text. Streams: memory does not grow with the file. Bad rows (invalid JSON or UTF-8,\n"
             "missing or malformed chosen/rejected) are kept with status 3 (bad input) and a reason, counted in the\n"
             "summary.",
    .opts = PREPARE_OPTS,
};

/* Everything one row needs, reused across rows. */
typedef struct row_work {
    rms_tokenizer *tok;
    rms_chat_template tpl;
    rms_text text, id_buf;
    rms_ids chosen, rejected;
    char *chosen_json, *rejected_json;
} row_work;

static int64_t common_prefix(const rms_ids *a, const rms_ids *b) {
    int64_t n = 0;
    while (n < a->n && n < b->n && a->ids[n] == b->ids[n]) n++;
    return n;
}

/* Renders and tokenizes one conversation (JSON list) into ids; *json gets its compact JSON text. */
static rms_status encode_side(row_work *w, const cJSON *list, const char *side, rms_ids *ids, char **json,
                              rms_err *err) {
    rms_conversation conv;
    rms_status st = rms_conversation_from_json(&conv, list, err);
    if (st != RMS_OK) return rms_fail_prefix(err, st, "%s", side);
    ids->n = 0;
    if ((st = rms_chat_template_render(&w->tpl, conv.msgs, conv.n, &w->text, err)) == RMS_OK &&
        (st = rms_tokenizer_encode(w->tok, w->text.data, w->text.len, 0, ids, err)) != RMS_OK)
        rms_fail_prefix(err, st, "%s", side);
    rms_conversation_free(&conv);
    if (st == RMS_OK && !(*json = cJSON_PrintUnformatted(list))) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    return st;
}

/* Parses and encodes one JSONL line into row (fields point into w and root). */
static rms_status encode_row(row_work *w, const char *line, size_t len, int64_t index, cJSON **root,
                             rms_pair_row *row, rms_err *err) {
    rms_status st = rms_tokenizer_check_utf8(w->tok, line, len, err);
    if (st != RMS_OK) return st;
    if (strspn(line, " \t\r\n") == len) return rms_fail(err, RMS_ERR_INPUT, "empty line");
    if (rms_json_has_nul_escape(line)) return rms_fail(err, RMS_ERR_INPUT, "the row holds U+0000 (\\u0000)");
    if (!(*root = cJSON_ParseWithOpts(line, NULL, 1))) // nothing but whitespace may follow the object
        return rms_fail(err, RMS_ERR_INPUT, "not valid JSON (or text after the JSON object)");
    if (!cJSON_IsObject(*root)) return rms_fail(err, RMS_ERR_INPUT, "not a JSON object");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(*root, "id");
    const cJSON *source = cJSON_GetObjectItemCaseSensitive(*root, "source");
    rms_text_clear(&w->id_buf);
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)index);
    if (rms_text_append_str(&w->id_buf, cJSON_IsString(id) ? id->valuestring : num) != 0)
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    row->id = w->id_buf.data;
    row->source = cJSON_IsString(source) ? source->valuestring : "";
    const cJSON *chosen = cJSON_GetObjectItemCaseSensitive(*root, "chosen");
    const cJSON *rejected = cJSON_GetObjectItemCaseSensitive(*root, "rejected");
    if (!chosen) return rms_fail(err, RMS_ERR_INPUT, "no \"chosen\" conversation");
    if (!rejected) return rms_fail(err, RMS_ERR_INPUT, "no \"rejected\" conversation");
    if ((st = encode_side(w, chosen, "chosen", &w->chosen, &w->chosen_json, err)) != RMS_OK) return st;
    if ((st = encode_side(w, rejected, "rejected", &w->rejected, &w->rejected_json, err)) != RMS_OK) return st;
    row->chosen_text = w->chosen_json;
    row->rejected_text = w->rejected_json;
    row->chosen_ids = w->chosen.ids;
    row->n_chosen = w->chosen.n;
    row->rejected_ids = w->rejected.ids;
    row->n_rejected = w->rejected.n;
    row->shared_prefix = (int32_t)common_prefix(&w->chosen, &w->rejected);
    row->status = RMS_PAIR_STATUS_OK;
    row->error = "";
    return RMS_OK;
}

/* Counts of the distinct reasons of bad rows (the first MAX_REASONS kinds). */
typedef struct reasons {
    char text[MAX_REASONS][128];
    int64_t count[MAX_REASONS];
    int n;
} reasons;

static void count_reason(reasons *r, const char *msg) {
    for (int i = 0; i < r->n; i++)
        if (strncmp(r->text[i], msg, sizeof r->text[i] - 1) == 0) {
            r->count[i]++;
            return;
        }
    if (r->n < MAX_REASONS) {
        snprintf(r->text[r->n], sizeof r->text[r->n], "%.127s", msg);
        r->count[r->n++] = 1;
    }
}

static rms_status prepare_stream(row_work *w, FILE *in, rms_pairs_writer *pw, const prepare_opts *o, rms_err *err) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t n = 0, n_bad = 0, bytes = 0;
    reasons why = {0};
    const double t0 = rms_now_seconds();
    double last = t0;
    rms_status st = RMS_OK;
    while (st == RMS_OK && (len = getline(&line, &cap, in)) >= 0) {
        rms_pair_row row = {0};
        cJSON *root = NULL;
        rms_err row_err;
        char num[32]; // a bad row's id when it has none: lives until the row is appended
        if (encode_row(w, line, (size_t)len, n, &root, &row, &row_err) != RMS_OK) {
            snprintf(num, sizeof num, "%lld", (long long)n);
            const cJSON *id = root ? cJSON_GetObjectItemCaseSensitive(root, "id") : NULL;
            const cJSON *source = root ? cJSON_GetObjectItemCaseSensitive(root, "source") : NULL;
            row = (rms_pair_row){.id = cJSON_IsString(id) ? id->valuestring : num,
                                 .source = cJSON_IsString(source) ? source->valuestring : "",
                                 .chosen_text = "", .rejected_text = "", .error = row_err.msg,
                                 .status = RMS_PAIR_STATUS_BAD};
            n_bad++;
            count_reason(&why, row_err.msg);
            if (!o->quiet) fprintf(stderr, "rmscore: prepare: line %lld: bad input: %s\n", (long long)n + 1, row_err.msg);
        }
        st = rms_pairs_writer_append(pw, &row, err);
        cJSON_Delete(root);
        free(w->chosen_json);
        free(w->rejected_json);
        w->chosen_json = w->rejected_json = NULL;
        n++;
        bytes += len;
        const double now = rms_now_seconds();
        if (!o->quiet && now - last >= PROGRESS_SECONDS) {
            fprintf(stderr, "rmscore: prepare: %lld rows (%lld bad), %.1f MB/s\n", (long long)n, (long long)n_bad,
                    (double)bytes / 1e6 / (now - t0));
            last = now;
        }
    }
    free(line);
    if (st == RMS_OK && ferror(in)) st = rms_fail(err, RMS_ERR_IO, "%s: read error", o->in);
    if (st == RMS_OK && !o->quiet) {
        fprintf(stderr, "rmscore: prepare: %lld rows -> %s: %lld ok, %lld bad input (%.1f s)\n", (long long)n, o->out,
                (long long)(n - n_bad), (long long)n_bad, rms_now_seconds() - t0);
        for (int i = 0; i < why.n; i++)
            fprintf(stderr, "rmscore: prepare:   %lld x %s\n", (long long)why.count[i], why.text[i]);
    }
    return st;
}

rms_status rms_cmd_prepare(int argc, char **argv, rms_err *err) {
    prepare_opts o;
    rms_status st = rms_options_parse(&RMS_CMD_PREPARE, argc, argv, 2, &o, err);
    if (st != RMS_OK) return st;
    row_work w;
    memset(&w, 0, sizeof w);
    rms_pairs_meta meta;
    memset(&meta, 0, sizeof meta);
    char path[RMS_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/tokenizer.json", o.tokenizer);
    if ((st = rms_chat_template_load(&w.tpl, o.tokenizer, RMS_TEMPLATE_CHOICES[o.template_kind], err)) != RMS_OK) return st;
    if ((st = rms_sha256_file(path, meta.tokenizer_sha256, err)) != RMS_OK) return st;
    if ((st = rms_tokenizer_load(&w.tok, o.tokenizer, err)) != RMS_OK) return st;
    snprintf(meta.template_name, sizeof meta.template_name, "%s", rms_template_name(w.tpl.kind));
    snprintf(meta.tool_version, sizeof meta.tool_version, "rmscore %s", RMSCORE_VERSION);
    FILE *in = strcmp(o.in, "-") == 0 ? stdin : fopen(o.in, "rb");
    if (!in) {
        rms_tokenizer_free(w.tok);
        return rms_fail(err, RMS_ERR_IO, "cannot open %s", o.in);
    }
    rms_text_init(&w.text);
    rms_text_init(&w.id_buf);
    rms_ids_init(&w.chosen);
    rms_ids_init(&w.rejected);
    rms_pairs_writer *pw = NULL;
    if ((st = rms_pairs_writer_open(&pw, o.out, &meta, err)) == RMS_OK) {
        st = prepare_stream(&w, in, pw, &o, err);
        rms_err close_err;
        const rms_status cst = rms_pairs_writer_close(pw, &close_err);
        if (st == RMS_OK && cst != RMS_OK) {
            st = cst;
            *err = close_err;
        }
    }
    if (in != stdin) fclose(in);
    rms_text_free(&w.text);
    rms_text_free(&w.id_buf);
    rms_ids_free(&w.chosen);
    rms_ids_free(&w.rejected);
    rms_tokenizer_free(w.tok);
    return st;
}
