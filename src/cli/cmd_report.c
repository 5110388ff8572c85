/* cmd_report.c — `rmscore report` (accuracy overall and per source) and `rmscore export` (scores as
 * text) over a results file and, for ids and sources, its dataset. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/pairs_h5.h"
#include "io/scores_h5.h"
#include "src/base/options.h"
#include "src/base/outstream.h"
#include "src/cli/commands.h"
#include "src/base/hashmap.h"
#include "src/job/report.h"

#define EXPORT_CHUNK_ROWS 65536

typedef struct report_opts {
    char scores[RMS_PATH_MAX], data[RMS_PATH_MAX]; // scores: the positional argument
    int json;   // report
    int format; // export: index in "jsonl|csv"
} report_opts;

enum { FORMAT_JSONL = 0, FORMAT_CSV = 1 };

#define R(field) offsetof(report_opts, field)
static const rms_opt REPORT_OPTS[] = {
    {"--data", RMS_OPT_PATH, "FILE", R(data), .shown = "the pairs_file attribute of scores.h5",
     .help = "the dataset the scores belong to"},
    {"--json", RMS_OPT_FLAG, NULL, R(json),
     .help = "one JSON object on stdout: accuracy, n_rows, n_scored, n_correct, n_ties,\n"
             "n_skipped, n_bad, n_nonfinite, n_pending, margin_mean, margin_median,\n"
             "per_source {source: same keys}"},
    {0}};

const rms_command RMS_CMD_REPORT = {
    .name = "report",
    .synopsis = "usage: rmscore report scores.h5 [--data pairs.h5] [--json]",
    .about = "Accuracy of a scored dataset (chosen > rejected strictly; ties count as wrong and are reported apart),\n"
             "overall and per source, with margin (chosen - rejected) mean and median and the counts of skipped,\n"
             "bad, non-finite and pending rows. Rows whose score is NaN or infinite (status 4) are excluded from\n"
             "accuracy and margins, and a line says how many. Per-source figures need the dataset: --data, or the\n"
             "file `score` recorded.",
    .opts = REPORT_OPTS,
    .positional = RMS_POS_ONE,
    .positional_offset = R(scores),
    .positional_name = "the scores file",
};

static const rms_opt EXPORT_OPTS[] = {
    {"--data", RMS_OPT_PATH, "FILE", R(data), .shown = "the pairs_file attribute of scores.h5",
     .help = "the dataset (ids and sources)"},
    {"--format", RMS_OPT_CHOICE, "jsonl|csv", R(format), .required = 1, .help = "output format"},
    {0}};

const rms_command RMS_CMD_EXPORT = {
    .name = "export",
    .synopsis = "usage: rmscore export scores.h5 [--data pairs.h5] --format jsonl|csv",
    .about = "Prints one line per pair: id, source, chosen, rejected, margin (chosen - rejected), status\n"
             "(scored, skipped, bad, non-finite, pending). Scores are %.9g; unscored and non-finite ones are null\n"
             "(JSONL) or empty (CSV).",
    .opts = EXPORT_OPTS,
    .positional = RMS_POS_ONE,
    .positional_offset = R(scores),
    .positional_name = "the scores file",
};

/* The scores' columns and, when the dataset can be opened, a reader for its strings. */
typedef struct results {
    rms_scores_meta meta;
    int64_t n;
    float *chosen, *rejected; // (n)
    int8_t *status;           // (n)
    rms_pairs_reader *pairs;  // NULL without a dataset
} results;

static rms_status open_results(const report_opts *o, results *res, rms_err *err) {
    memset(res, 0, sizeof *res);
    rms_scores *s;
    rms_status st = rms_scores_open_read(&s, o->scores, &res->meta, err);
    if (st != RMS_OK) return st;
    res->n = res->meta.n_rows;
    const size_t n = (size_t)(res->n > 0 ? res->n : 1);
    res->chosen = malloc(n * sizeof(float));
    res->rejected = malloc(n * sizeof(float));
    res->status = malloc(n);
    st = (!res->chosen || !res->rejected || !res->status) ? rms_fail(err, RMS_ERR_NOMEM, "out of memory")
                                                           : rms_scores_read(s, res->chosen, res->rejected, res->status, err);
    rms_err close_err;
    rms_scores_close(s, &close_err);
    if (st != RMS_OK) return st;
    const char *data = o->data[0] ? o->data : res->meta.pairs_file;
    if (!data[0]) return RMS_OK;
    rms_pairs_meta pm;
    rms_err why;
    if (rms_pairs_reader_open(&res->pairs, data, &pm, &why) != RMS_OK) {
        res->pairs = NULL;
        if (o->data[0]) {
            *err = why;
            return RMS_ERR_IO;
        }
        fprintf(stderr, "rmscore: warning: cannot open the dataset %s (%s): no ids or sources\n", data, why.msg);
        return RMS_OK;
    }
    if (pm.n_rows != res->n || strcmp(pm.tokenizer_sha256, res->meta.pairs_tokenizer_sha256) != 0)
        return rms_fail(err, RMS_ERR_ARG, "%s (%lld rows) is not the dataset %s was scored from (%lld rows)", data,
                        (long long)pm.n_rows, o->scores, (long long)res->n);
    return RMS_OK;
}

static void close_results(results *res) {
    free(res->chosen);
    free(res->rejected);
    free(res->status);
    if (res->pairs) rms_pairs_reader_close(res->pairs);
}

static cJSON *stats_json(const rms_stats *s) {
    cJSON *o = cJSON_CreateObject();
    const double vals[] = {s->accuracy, s->margin_mean, s->margin_median};
    const char *names[] = {"accuracy", "margin_mean", "margin_median"};
    for (int i = 0; i < 3; i++)
        cJSON_AddItemToObject(o, names[i], isnan(vals[i]) ? cJSON_CreateNull() : cJSON_CreateNumber(vals[i]));
    cJSON_AddNumberToObject(o, "n_rows", (double)s->n_rows);
    cJSON_AddNumberToObject(o, "n_scored", (double)s->n_scored);
    cJSON_AddNumberToObject(o, "n_correct", (double)s->n_correct);
    cJSON_AddNumberToObject(o, "n_ties", (double)s->n_ties);
    cJSON_AddNumberToObject(o, "n_skipped", (double)s->n_skipped);
    cJSON_AddNumberToObject(o, "n_bad", (double)s->n_bad);
    cJSON_AddNumberToObject(o, "n_nonfinite", (double)s->n_nonfinite);
    cJSON_AddNumberToObject(o, "n_pending", (double)s->n_pending);
    return o;
}

/* A figure of the table: "-" where it is undefined (nothing scored), never "nan". */
static void print_figure(int width, int decimals, double v) {
    if (isfinite(v)) printf(" %*.*f", width, decimals, v);
    else printf(" %*s", width, "-");
}

static void print_stats_row(const char *name, const rms_stats *s) {
    printf("%-32.32s %8lld %8lld", name, (long long)s->n_rows, (long long)s->n_scored);
    print_figure(9, 4, s->accuracy);
    printf(" %6lld %8lld %6lld %10lld %8lld", (long long)s->n_ties, (long long)s->n_skipped, (long long)s->n_bad,
           (long long)s->n_nonfinite, (long long)s->n_pending);
    print_figure(12, 4, s->margin_mean);
    print_figure(12, 4, s->margin_median);
    putchar('\n');
}

/* Groups rows by source: group[i] for each row, names in order of first appearance. */
typedef struct source_groups {
    int64_t n_groups;
    int64_t *group;      // (n rows)
    rms_text names;      // NUL-separated names
    int64_t *name_start; // (n_groups)
} source_groups;

static rms_status group_sources(rms_pairs_reader *pairs, int64_t n, source_groups *g, rms_err *err) {
    memset(g, 0, sizeof *g);
    rms_text_init(&g->names);
    g->group = malloc((size_t)(n > 0 ? n : 1) * sizeof *g->group);
    g->name_start = malloc((size_t)(n > 0 ? n : 1) * sizeof *g->name_start);
    int64_t *starts = malloc((size_t)EXPORT_CHUNK_ROWS * sizeof *starts);
    rms_text chunk;
    rms_text_init(&chunk);
    rms_strmap map;
    rms_strmap_init(&map);
    rms_status st = (!g->group || !g->name_start || !starts) ? rms_fail(err, RMS_ERR_NOMEM, "out of memory") : RMS_OK;
    for (int64_t r0 = 0; st == RMS_OK && r0 < n; r0 += EXPORT_CHUNK_ROWS) {
        const int64_t k = n - r0 < EXPORT_CHUNK_ROWS ? n - r0 : EXPORT_CHUNK_ROWS;
        if ((st = rms_pairs_reader_strings(pairs, "source", r0, k, &chunk, starts, err)) != RMS_OK) break;
        for (int64_t i = 0; i < k; i++) {
            const char *src = chunk.data + starts[i];
            int64_t gi;
            if (!rms_strmap_get(&map, src, strlen(src), &gi)) {
                gi = g->n_groups++;
                g->name_start[gi] = (int64_t)g->names.len;
                if (rms_strmap_put(&map, src, strlen(src), gi) != 0 || rms_text_append(&g->names, src, strlen(src) + 1) != 0) {
                    st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
                    break;
                }
            }
            g->group[r0 + i] = gi;
        }
    }
    rms_strmap_free(&map);
    rms_text_free(&chunk);
    free(starts);
    return st;
}

static void free_groups(source_groups *g) {
    free(g->group);
    free(g->name_start);
    rms_text_free(&g->names);
}

/* Fills rows with the indices of group gi and returns their count. */
static int64_t rows_of_group(const source_groups *g, int64_t n, int64_t gi, int64_t *rows) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (g->group[i] == gi) rows[k++] = i;
    return k;
}

rms_status rms_cmd_report(int argc, char **argv, rms_err *err) {
    report_opts o;
    rms_status st = rms_options_parse(&RMS_CMD_REPORT, argc, argv, 2, &o, err);
    if (st != RMS_OK) return st;
    results res;
    source_groups g;
    memset(&g, 0, sizeof g);
    double *scratch = NULL;
    int64_t *rows = NULL;
    if ((st = open_results(&o, &res, err)) == RMS_OK && res.pairs) st = group_sources(res.pairs, res.n, &g, err);
    if (st == RMS_OK) {
        scratch = malloc((size_t)(res.n > 0 ? res.n : 1) * sizeof *scratch);
        rows = malloc((size_t)(res.n > 0 ? res.n : 1) * sizeof *rows);
        if (!scratch || !rows) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    if (st == RMS_OK) {
        rms_stats all;
        rms_stats_compute(res.chosen, res.rejected, res.status, NULL, res.n, scratch, &all);
        cJSON *root = o.json ? stats_json(&all) : NULL;
        cJSON *per = o.json ? cJSON_AddObjectToObject(root, "per_source") : NULL;
        if (!o.json) {
            printf("rmscore report: %s (model %s%s%.16s%s, dataset %s)\n", o.scores, res.meta.model,
                   res.meta.identity_recorded ? " [fingerprint " : "", res.meta.model_fingerprint,
                   res.meta.identity_recorded ? "]" : "",
                   res.pairs ? (o.data[0] ? o.data : res.meta.pairs_file) : "(not available)");
            printf("%-32s %8s %8s %9s %6s %8s %6s %10s %8s %12s %12s\n", "source", "pairs", "scored", "accuracy",
                   "ties", "skipped", "bad", "non-finite", "pending", "margin mean", "margin med");
            print_stats_row("ALL", &all);
        }
        for (int64_t gi = 0; gi < g.n_groups; gi++) {
            const int64_t k = rows_of_group(&g, res.n, gi, rows);
            rms_stats s;
            rms_stats_compute(res.chosen, res.rejected, res.status, rows, k, scratch, &s);
            const char *name = g.names.data + g.name_start[gi];
            if (o.json) cJSON_AddItemToObject(per, name, stats_json(&s));
            else print_stats_row(name[0] ? name : "(no source)", &s);
        }
        if (!o.json && all.n_nonfinite > 0)
            printf("%lld pairs have a non-finite score (NaN or infinity, status 4) and are excluded from accuracy and "
                   "margins: accuracy is over the %lld scored pairs\n",
                   (long long)all.n_nonfinite, (long long)all.n_scored);
        if (o.json) {
            char *text = cJSON_PrintUnformatted(root);
            if (text) puts(text);
            else st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
            free(text);
            cJSON_Delete(root);
        }
    }
    free(scratch);
    free(rows);
    free_groups(&g);
    close_results(&res);
    return st;
}

static const char *status_name(int8_t s) {
    switch (s) {
    case RMS_SCORE_SCORED: return "scored";
    case RMS_SCORE_SKIPPED: return "skipped";
    case RMS_SCORE_BAD: return "bad";
    case RMS_SCORE_NONFINITE: return "non-finite";
    default: return "pending";
    }
}

static void csv_field(const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    fputc('"', stdout);
    for (; *s; s++) {
        if (*s == '"') fputc('"', stdout);
        fputc(*s, stdout);
    }
    fputc('"', stdout);
}

static void csv_number(float v) {
    if (isfinite(v)) printf("%.9g", v);
}

static void export_row(const report_opts *o, const char *id, const char *source, float c, float r, int8_t status) {
    // a row of an older file marked scored with a NaN or infinite score is shown as status 4 (as report counts it)
    if (status == RMS_SCORE_SCORED && !(isfinite(c) && isfinite(r))) status = RMS_SCORE_NONFINITE;
    const float margin = c - r;
    if (o->format == FORMAT_CSV) {
        csv_field(id); fputc(',', stdout);
        csv_field(source); fputc(',', stdout);
        csv_number(c); fputc(',', stdout);
        csv_number(r); fputc(',', stdout);
        csv_number(margin);
        printf(",%s\n", status_name(status));
        return;
    }
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "id", id);
    cJSON_AddStringToObject(obj, "source", source);
    const float vals[3] = {c, r, margin};
    const char *names[3] = {"chosen", "rejected", "margin"};
    char num[32];
    for (int i = 0; i < 3; i++) { // %.9g round-trips float32
        snprintf(num, sizeof num, "%.9g", vals[i]);
        cJSON_AddItemToObject(obj, names[i], !isfinite(vals[i]) ? cJSON_CreateNull() : cJSON_CreateRaw(num));
    }
    cJSON_AddStringToObject(obj, "status", status_name(status));
    char *text = cJSON_PrintUnformatted(obj);
    if (text) puts(text);
    free(text);
    cJSON_Delete(obj);
}

rms_status rms_cmd_export(int argc, char **argv, rms_err *err) {
    report_opts o;
    rms_status st = rms_options_parse(&RMS_CMD_EXPORT, argc, argv, 2, &o, err);
    if (st != RMS_OK) return st;
    results res;
    if ((st = open_results(&o, &res, err)) != RMS_OK) {
        close_results(&res);
        return st;
    }
    int64_t *id_starts = malloc(EXPORT_CHUNK_ROWS * sizeof *id_starts);
    int64_t *src_starts = malloc(EXPORT_CHUNK_ROWS * sizeof *src_starts);
    rms_text ids, sources;
    rms_text_init(&ids);
    rms_text_init(&sources);
    if (!id_starts || !src_starts) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    if (st == RMS_OK && o.format == FORMAT_CSV) puts("id,source,chosen,rejected,margin,status");
    for (int64_t r0 = 0; st == RMS_OK && r0 < res.n; r0 += EXPORT_CHUNK_ROWS) {
        const int64_t k = res.n - r0 < EXPORT_CHUNK_ROWS ? res.n - r0 : EXPORT_CHUNK_ROWS;
        if (res.pairs && ((st = rms_pairs_reader_strings(res.pairs, "id", r0, k, &ids, id_starts, err)) != RMS_OK ||
                          (st = rms_pairs_reader_strings(res.pairs, "source", r0, k, &sources, src_starts, err)) != RMS_OK))
            break;
        for (int64_t i = 0; i < k; i++) {
            char num[32];
            snprintf(num, sizeof num, "%lld", (long long)(r0 + i));
            export_row(&o, res.pairs ? ids.data + id_starts[i] : num, res.pairs ? sources.data + src_starts[i] : "",
                       res.chosen[r0 + i], res.rejected[r0 + i], res.status[r0 + i]);
            if ((st = rms_out_check(stdout, "standard output", err)) != RMS_OK) break; // a full disk stops at once
        }
    }
    fflush(stdout);
    if (st == RMS_OK) st = rms_out_check(stdout, "standard output", err); // errno: the flush's
    free(id_starts);
    free(src_starts);
    rms_text_free(&ids);
    rms_text_free(&sources);
    close_results(&res);
    return st;
}
