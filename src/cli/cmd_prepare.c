/* cmd_prepare.c — `rmscore prepare`: preference JSONL -> the /pairs HDF5 dataset. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <unistd.h>

#include "io/json_value.h"
#include "io/pref_row.h"
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
    int format;        // an rms_row_format (the choices follow its order)
    int tokenization;  // index in TOKENIZATIONS
    int quiet;
} prepare_opts;

/* How text becomes ids (the --tokenization choices): the ids of transformers' apply_chat_template(tokenize=True)
 * (the rendered text without the tokenizer's special tokens: open-instruct's reward-model evaluation), or the
 * rendered text tokenized as text with special tokens (tokenizer(text): a BOS in front, as RewardBench's
 * pipelines score). */
static const char *const TOKENIZATIONS[] = {"chat-template", "text-with-special"};

#define P(field) offsetof(prepare_opts, field)
static const rms_opt PREPARE_OPTS[] = {
    {"--tokenizer", RMS_OPT_PATH, "DIR", P(tokenizer), .required = 1,
     .help = "tokenizer.json + tokenizer_config.json (a model directory works)"},
    {"--in", RMS_OPT_PATH, "FILE", P(in), .required = 1, .help = "preference JSONL ('-' for stdin)"},
    {"--out", RMS_OPT_PATH, "FILE", P(out), .required = 1, .help = "HDF5 file to write (replaced)"},
    {"--template", RMS_OPT_CHOICE, "auto|tulu|llama3", P(template_kind), .value = "auto",
     .help = "chat template (auto: DIR's own, interpreted; see `rmscore render --help`)"},
    {"--format", RMS_OPT_CHOICE, RMS_ROW_FORMAT_CHOICES, P(format), .value = "auto",
     .help = "row format: tulu ({chosen, rejected} conversations), rewardbench\n"
             "({prompt, chosen, rejected} strings, subset), trl ({prompt, chosen,\n"
             "rejected} message lists); auto: from the first row, and every row\n"
             "must be in that format"},
    {"--tokenization", RMS_OPT_CHOICE, "chat-template|text-with-special", P(tokenization), .value = "chat-template",
     .help = "chat-template: apply_chat_template(tokenize=True) ids (open-instruct);\n"
             "text-with-special: the rendered text tokenized with special tokens\n"
             "(a BOS in front, as RewardBench scores)"},
    {"--quiet", RMS_OPT_FLAG, NULL, P(quiet), .help = "no progress on stderr"},
    {0}};

const rms_command RMS_CMD_PREPARE = {
    .name = "prepare",
    .synopsis = "usage: rmscore prepare --tokenizer DIR --in pairs.jsonl --out pairs.h5 [--template auto|tulu|llama3]\n"
                "       [--format auto|tulu|rewardbench|trl] [--tokenization chat-template|text-with-special]",
    .about = "Turns preference pairs (JSONL, one row per line) into the HDF5 dataset `score` reads: both\n"
             "conversations rendered with the chat template and tokenized as --tokenization says, plus lengths,\n"
             "shared prefix, ids, sources and the conversations as JSON. Rows: the Tulu 3 preference mixture\n"
             "({\"id\", \"source\", \"chosen\": [messages], \"rejected\": [messages]}), RewardBench ({\"prompt\",\n"
             "\"chosen\", \"rejected\": strings, \"subset\", \"id\"}: [user prompt, assistant response], source = subset)\n"
             "or TRL's conversational format ({\"prompt\": [messages], \"chosen\"/\"rejected\": [messages] that continue\n"
             "it}); one format per file. Streams: memory does not grow with the file. Bad rows (invalid JSON or\n"
             "UTF-8, missing or malformed chosen/rejected, a conversation the template refuses) are kept with\n"
             "status 3 (bad input) and a reason, counted in the summary.",
    .opts = PREPARE_OPTS,
};

/* Everything one row needs, reused across rows. */
typedef struct row_work {
    rms_tokenizer *tok;
    rms_chat_template tpl;
    int add_special;                // --tokenization text-with-special
    rms_text text;                  // a rendered conversation
    rms_text chosen_json, rejected_json; // the conversations as JSON, stored beside the ids
    rms_ids chosen, rejected;
    char index_id[32];              // a row's id when it has none: its 0-based index
} row_work;

static int64_t common_prefix(const rms_ids *a, const rms_ids *b) {
    int64_t n = 0;
    while (n < a->n && n < b->n && a->ids[n] == b->ids[n]) n++;
    return n;
}

/* Renders and tokenizes one conversation into ids; json gets its compact JSON text. */
static rms_status encode_side(row_work *w, const rms_json *conv, const char *side, rms_ids *ids, rms_text *json,
                              rms_err *err) {
    ids->n = 0;
    rms_text_clear(json);
    if (rms_json_write(json, conv) != 0) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    rms_status st = rms_chat_template_render(&w->tpl, conv, 0, &w->text, err);
    if (st == RMS_OK) st = rms_tokenizer_encode(w->tok, w->text.data, w->text.len, w->add_special, ids, err);
    return st == RMS_OK ? RMS_OK : rms_fail_prefix(err, st, "%s", side);
}

/* Parses and encodes one JSONL line into row (fields point into w and doc); *pr gets what was read of it. */
static rms_status encode_row(row_work *w, rms_json_doc *doc, const char *line, size_t len, int64_t index,
                             rms_row_format want, rms_pref_row *pr, rms_pair_row *row, rms_err *err) {
    rms_status st = rms_tokenizer_check_utf8(w->tok, line, len, err);
    if (st != RMS_OK) return st;
    if ((st = rms_pref_row_parse(doc, line, len, index, want, pr, err)) != RMS_OK) return st;
    if ((st = encode_side(w, pr->chosen, "chosen", &w->chosen, &w->chosen_json, err)) != RMS_OK) return st;
    if ((st = encode_side(w, pr->rejected, "rejected", &w->rejected, &w->rejected_json, err)) != RMS_OK) return st;
    if (w->chosen.n > RMS_PAIRS_MAX_IDS || w->rejected.n > RMS_PAIRS_MAX_IDS) // what a pairs file may hold
        return rms_fail(err, RMS_ERR_INPUT, "a conversation of %lld tokens, above rmscore's limit of %lld",
                        (long long)(w->chosen.n > w->rejected.n ? w->chosen.n : w->rejected.n),
                        (long long)RMS_PAIRS_MAX_IDS);
    *row = (rms_pair_row){.id = pr->id, .source = pr->source, .chosen_text = w->chosen_json.data,
                          .rejected_text = w->rejected_json.data, .chosen_ids = w->chosen.ids, .n_chosen = w->chosen.n,
                          .rejected_ids = w->rejected.ids, .n_rejected = w->rejected.n,
                          .shared_prefix = (int32_t)common_prefix(&w->chosen, &w->rejected),
                          .status = RMS_PAIR_STATUS_OK, .error = ""};
    return RMS_OK;
}

/* A bad row's id and source: the row's own when it has them as strings without U+0000, else its index and "". */
static void bad_row_labels(row_work *w, rms_json_doc *doc, const char *line, size_t len, int64_t index, rms_pair_row *row) {
    snprintf(w->index_id, sizeof w->index_id, "%lld", (long long)index);
    row->id = w->index_id;
    row->source = "";
    rms_json *root;
    rms_err ignored;
    if (rms_json_parse(doc, line, len, &root, &ignored) != RMS_OK) return;
    const rms_json *id = rms_json_get(root, "id"), *source = rms_json_get(root, "source");
    if (!source) source = rms_json_get(root, "subset");
    if (id && id->kind == RMS_JSON_STRING && !memchr(id->s, '\0', id->len)) row->id = id->s;
    if (source && source->kind == RMS_JSON_STRING && !memchr(source->s, '\0', source->len)) row->source = source->s;
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

/* What prepare_stream read, for the closing summary (printed once the dataset is in place). */
typedef struct prepare_totals {
    int64_t n, n_bad;
    reasons why;
    double t0;
} prepare_totals;

static rms_status prepare_stream(row_work *w, FILE *in, rms_pairs_writer *pw, const prepare_opts *o,
                                 rms_row_format *file_format, prepare_totals *tot, rms_err *err) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t n = 0, n_bad = 0, bytes = 0, format_line = 0;
    reasons why = {0};
    const double t0 = rms_now_seconds();
    double last = t0;
    rms_status st = RMS_OK;
    const rms_row_format want = (rms_row_format)o->format; // RMS_ROW_AUTO: the first row decides for the file
    *file_format = want;
    while (st == RMS_OK && (len = getline(&line, &cap, in)) >= 0) {
        rms_json_doc *doc = rms_json_doc_new();
        if (!doc) {
            st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
            break;
        }
        rms_pair_row row = {0};
        rms_pref_row pr = {0};
        rms_err row_err;
        const rms_status row_st = encode_row(w, doc, line, (size_t)len, n, want, &pr, &row, &row_err);
        if (want == RMS_ROW_AUTO && pr.format != RMS_ROW_AUTO && *file_format != RMS_ROW_AUTO && pr.format != *file_format) {
            st = rms_fail(err, RMS_ERR_INPUT,
                          "%s: line %lld is a %s row, but line %lld is %s: a file holds rows of one format "
                          "(split it, or impose one with --format)",
                          o->in, (long long)n + 1, rms_row_format_name(pr.format), (long long)format_line,
                          rms_row_format_name(*file_format));
            rms_json_doc_free(doc);
            break;
        }
        if (row_st != RMS_OK) {
            bad_row_labels(w, doc, line, (size_t)len, n, &row);
            row.chosen_text = row.rejected_text = "";
            row.error = row_err.msg;
            row.status = RMS_PAIR_STATUS_BAD;
            n_bad++;
            count_reason(&why, row_err.msg);
            if (!o->quiet) fprintf(stderr, "rmscore: prepare: line %lld: bad input: %s\n", (long long)n + 1, row_err.msg);
        }
        if (*file_format == RMS_ROW_AUTO && pr.format != RMS_ROW_AUTO) { // the first row read decides
            *file_format = pr.format;
            format_line = n + 1;
        }
        st = rms_pairs_writer_append(pw, &row, err);
        rms_json_doc_free(doc);
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
    tot->n = n;
    tot->n_bad = n_bad;
    tot->why = why;
    tot->t0 = t0;
    return st;
}

static void prepare_summary(const row_work *w, const prepare_opts *o, rms_row_format file_format,
                            const prepare_totals *t) {
    if (o->quiet) return;
    fprintf(stderr, "rmscore: prepare: %lld rows (%s format, template %s, tokenization %s) -> %s: %lld ok, %lld bad "
                    "input (%.1f s)\n",
            (long long)t->n, rms_row_format_name(file_format == RMS_ROW_AUTO ? RMS_ROW_TULU : file_format), w->tpl.name,
            TOKENIZATIONS[o->tokenization], o->out, (long long)(t->n - t->n_bad), (long long)t->n_bad,
            rms_now_seconds() - t->t0);
    for (int i = 0; i < t->why.n; i++)
        fprintf(stderr, "rmscore: prepare:   %lld x %s\n", (long long)t->why.count[i], t->why.text[i]);
}

rms_status rms_cmd_prepare(int argc, char **argv, rms_err *err) {
    prepare_opts o;
    rms_status st = rms_options_parse(&RMS_CMD_PREPARE, argc, argv, 2, &o, err);
    if (st != RMS_OK) return st;
    row_work w;
    memset(&w, 0, sizeof w);
    w.add_special = o.tokenization == 1;
    rms_pairs_meta meta;
    memset(&meta, 0, sizeof meta);
    char path[RMS_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/tokenizer.json", o.tokenizer);
    if ((st = rms_chat_template_load(&w.tpl, o.tokenizer, RMS_TEMPLATE_CHOICES[o.template_kind], err)) != RMS_OK) return st;
    if ((st = rms_sha256_file(path, meta.tokenizer_sha256, err)) != RMS_OK ||
        (st = rms_tokenizer_load(&w.tok, o.tokenizer, err)) != RMS_OK) {
        rms_chat_template_free(&w.tpl);
        return st;
    }
    snprintf(meta.template_name, sizeof meta.template_name, "%s", w.tpl.name);
    snprintf(meta.template_sha256, sizeof meta.template_sha256, "%s", w.tpl.sha256);
    snprintf(meta.format, sizeof meta.format, "%s", rms_row_format_name((rms_row_format)o.format));
    snprintf(meta.tokenization, sizeof meta.tokenization, "%s", TOKENIZATIONS[o.tokenization]);
    snprintf(meta.tool_version, sizeof meta.tool_version, "rmscore %s", RMSCORE_VERSION);
    FILE *in = strcmp(o.in, "-") == 0 ? stdin : fopen(o.in, "rb");
    if (!in) {
        rms_tokenizer_free(w.tok);
        rms_chat_template_free(&w.tpl);
        return rms_fail(err, RMS_ERR_IO, "cannot open %s", o.in);
    }
    rms_text_init(&w.text);
    rms_text_init(&w.chosen_json);
    rms_text_init(&w.rejected_json);
    rms_ids_init(&w.chosen);
    rms_ids_init(&w.rejected);
    // built as <out>.partial and renamed into place once closed without error: a failed write (a full disk, a
    // file-size limit) leaves an earlier <out> as it was, and never a half-written dataset under its name
    char partial[sizeof o.out + sizeof ".partial"];
    snprintf(partial, sizeof partial, "%s.partial", o.out);
    rms_pairs_writer *pw = NULL;
    if ((st = rms_pairs_writer_open(&pw, partial, &meta, err)) == RMS_OK) {
        rms_row_format format = RMS_ROW_AUTO;
        static prepare_totals tot; // the reasons' texts: kept off the stack
        st = prepare_stream(&w, in, pw, &o, &format, &tot, err);
        // an empty file has no format of its own: it reads as the default one
        rms_pairs_writer_set_format(pw, rms_row_format_name(format == RMS_ROW_AUTO ? RMS_ROW_TULU : format));
        rms_err close_err;
        const rms_status cst = rms_pairs_writer_close(pw, &close_err);
        if (st == RMS_OK && cst != RMS_OK) {
            st = cst;
            *err = close_err;
        }
        if (st == RMS_OK && rename(partial, o.out) != 0)
            st = rms_fail(err, RMS_ERR_IO, "%s: cannot rename %s into place: %s", o.out, partial, strerror(errno));
        if (st != RMS_OK) unlink(partial); // no half-written dataset is left to be scored as if complete
        else prepare_summary(&w, &o, format, &tot); // said only of a dataset that is in place
    }
    if (in != stdin) fclose(in);
    rms_text_free(&w.text);
    rms_text_free(&w.chosen_json);
    rms_text_free(&w.rejected_json);
    rms_ids_free(&w.chosen);
    rms_ids_free(&w.rejected);
    rms_tokenizer_free(w.tok);
    rms_chat_template_free(&w.tpl);
    return st;
}
