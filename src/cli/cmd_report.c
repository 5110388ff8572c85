/* cmd_report.c — `rmscore report` (accuracy overall and per source) and `rmscore export` (scores as
 * text) over a results file and, for ids and sources, its dataset. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
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
#include "src/cli/results.h"
#include "src/base/hashmap.h"
#include "src/job/report.h"
#include "src/job/report_html.h"
#include "src/job/rewardbench.h"

#define EXPORT_CHUNK_ROWS 65536

typedef struct report_opts {
    char scores[RMS_PATH_MAX], data[RMS_PATH_MAX]; // scores: the positional argument
    char rb_json[RMS_PATH_MAX];                   // report: --rewardbench-json
    char html[RMS_PATH_MAX];                      // report: --html
    int json;   // report
    int format; // export: index in "jsonl|csv"
} report_opts;

enum { FORMAT_JSONL = 0, FORMAT_CSV = 1 };

#define R(field) offsetof(report_opts, field)
static const rms_opt REPORT_OPTS[] = {
    {"--data", RMS_OPT_PATH, "FILE", R(data), .shown = "the pairs_file attribute of scores.h5",
     .help = "the dataset the scores belong to"},
    {"--html", RMS_OPT_PATH, "FILE", R(html),
     .help = "also write FILE: one self-contained page (inline SVG, no script, no network) with\n"
             "accuracy per source and its interval, chosen and rejected score distributions,\n"
             "the calibration curve and margin histograms per source"},
    {"--rewardbench-json", RMS_OPT_PATH, "FILE", R(rb_json),
     .help = "also write FILE shaped as RewardBench's results JSON (accuracy, num_prompts,\n"
             "model, ref_model, tokenizer, chat_template, extra_results {subset: accuracy}),\n"
             "for sources that are RewardBench subsets"},
    {"--json", RMS_OPT_FLAG, NULL, R(json),
     .help = "one JSON object on stdout: accuracy, accuracy_ci95 [lo, hi], n_rows, n_scored,\n"
             "n_correct, n_ties, n_skipped, n_bad, n_nonfinite, n_pending, chosen_mean, chosen_std,\n"
             "rejected_mean, rejected_std, margin_mean, margin_median, margin_quantiles\n"
             "{0.05 .. 0.95}, calibration [{lo, hi, n, confidence, accuracy}], ece,\n"
             "per_source {source: same keys}, and when sources are RewardBench subsets\n"
             "rewardbench {sections {Chat, Chat Hard, Safety, Reasoning}, prior_sets, score}"},
    {0}};

const rms_command RMS_CMD_REPORT = {
    .name = "report",
    .synopsis = "usage: rmscore report scores.h5 [--data pairs.h5] [--json] [--html FILE] [--rewardbench-json FILE]",
    .about = "Accuracy of a scored dataset (chosen > rejected strictly; ties count as wrong and are reported apart),\n"
             "overall and per source, with its 95% Wilson interval and the counts of skipped, bad, non-finite and\n"
             "pending rows; chosen and rejected score means and sample standard deviations, margin (chosen -\n"
             "rejected) mean and 5/25/50/75/95% quantiles, and calibration: pairs binned by sigmoid(|margin|)\n"
             "against their accuracy, with the expected calibration error (ECE). Rows whose score is NaN or\n"
             "infinite (status 4) are excluded from every figure, and a line says how many. Per-source figures\n"
             "need the dataset: --data, or the file `score` recorded.",
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



static cJSON *stats_json(const rms_stats *s) {
    cJSON *o = cJSON_CreateObject();
    const double vals[] = {s->accuracy, s->margin_mean, s->margin_median, s->chosen_mean, s->chosen_std,
                           s->rejected_mean, s->rejected_std, s->ece};
    const char *names[] = {"accuracy", "margin_mean", "margin_median", "chosen_mean", "chosen_std", "rejected_mean",
                           "rejected_std", "ece"};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) cJSON_AddItemToObject(o, names[i], rms_json_number(vals[i]));
    cJSON *ci = cJSON_AddArrayToObject(o, "accuracy_ci95");
    cJSON_AddItemToArray(ci, rms_json_number(s->accuracy_lo));
    cJSON_AddItemToArray(ci, rms_json_number(s->accuracy_hi));
    cJSON *q = cJSON_AddObjectToObject(o, "margin_quantiles");
    for (int k = 0; k < RMS_N_QUANTILES; k++) {
        char key[16];
        snprintf(key, sizeof key, "%g", RMS_MARGIN_QUANTILES[k]);
        cJSON_AddItemToObject(q, key, rms_json_number(s->margin_q[k]));
    }
    cJSON *bins = cJSON_AddArrayToObject(o, "calibration");
    for (int b = 0; b < RMS_CALIB_BINS; b++) {
        cJSON *bo = cJSON_CreateObject();
        cJSON_AddNumberToObject(bo, "lo", 0.5 + 0.5 * b / RMS_CALIB_BINS);
        cJSON_AddNumberToObject(bo, "hi", 0.5 + 0.5 * (b + 1) / RMS_CALIB_BINS);
        cJSON_AddNumberToObject(bo, "n", (double)s->calib[b].n);
        cJSON_AddItemToObject(bo, "confidence", rms_json_number(s->calib[b].confidence));
        cJSON_AddItemToObject(bo, "accuracy", rms_json_number(s->calib[b].accuracy));
        cJSON_AddItemToArray(bins, bo);
    }
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

/* The first table: counts and accuracy with its interval. */
static void print_stats_row(const char *name, const rms_stats *s) {
    printf("%-32.32s %8lld %8lld", name, (long long)s->n_rows, (long long)s->n_scored);
    rms_print_figure(9, 4, s->accuracy);
    if (isfinite(s->accuracy)) printf("  [%6.4f, %6.4f]", s->accuracy_lo, s->accuracy_hi);
    else printf("  %16s", "-");
    printf(" %6lld %8lld %6lld %10lld %8lld", (long long)s->n_ties, (long long)s->n_skipped, (long long)s->n_bad,
           (long long)s->n_nonfinite, (long long)s->n_pending);
    putchar('\n');
}

/* The second table: scores and margins. */
static void print_scores_row(const char *name, const rms_stats *s) {
    printf("%-32.32s", name);
    const double v[] = {s->chosen_mean, s->chosen_std, s->rejected_mean, s->rejected_std, s->margin_mean};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) rms_print_figure(9, 4, v[i]);
    for (int k = 0; k < RMS_N_QUANTILES; k++) rms_print_figure(9, 4, s->margin_q[k]);
    rms_print_figure(7, 4, s->ece);
    putchar('\n');
}


/* RewardBench's figures of the sources that are its subsets (rb->n_matched 0 when none is). */
static rms_status rewardbench_of(const rms_source_groups *g, const rms_stats *per, rms_rewardbench *rb, rms_err *err) {
    const char **names = malloc((size_t)(g->n_groups ? g->n_groups : 1) * sizeof *names); // (n_groups)
    double *acc = malloc((size_t)(g->n_groups ? g->n_groups : 1) * sizeof *acc);         // (n_groups)
    if (!names || !acc) {
        free(names);
        free(acc);
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    for (int64_t gi = 0; gi < g->n_groups; gi++) {
        names[gi] = rms_source_groups_name(g, gi);
        acc[gi] = per[gi].accuracy;
    }
    rms_rewardbench_compute(names, acc, g->n_groups, rb);
    free(names);
    free(acc);
    return RMS_OK;
}

static cJSON *rewardbench_json(const rms_rewardbench *rb) {
    cJSON *o = cJSON_CreateObject();
    cJSON *sec = cJSON_AddObjectToObject(o, "sections");
    for (int k = 0; k < RMS_RB_SECTIONS; k++)
        cJSON_AddItemToObject(sec, rms_rewardbench_section_name(k), rms_json_number(rb->section[k]));
    cJSON_AddItemToObject(o, "prior_sets", rms_json_number(rb->prior_sets));
    cJSON_AddItemToObject(o, "score", rms_json_number(rb->score));
    cJSON_AddNumberToObject(o, "n_subsets", rb->n_matched);
    return o;
}

/* FILE shaped as RewardBench's results JSON (rewardbench/rewardbench.py final_results). */
static rms_status write_rewardbench_file(const char *path, const rms_results *res, const rms_source_groups *g,
                                         const rms_stats *all, const rms_stats *per, rms_err *err) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "accuracy", rms_json_number(all->accuracy));
    cJSON_AddNumberToObject(o, "num_prompts", (double)all->n_scored);
    cJSON_AddStringToObject(o, "model", res->meta.model);
    cJSON_AddNullToObject(o, "ref_model");
    cJSON_AddStringToObject(o, "tokenizer", res->meta.model);
    if (res->pairs) cJSON_AddStringToObject(o, "chat_template", res->pairs_meta.template_name);
    else cJSON_AddNullToObject(o, "chat_template");
    cJSON *extra = cJSON_AddObjectToObject(o, "extra_results");
    for (int64_t gi = 0; gi < g->n_groups; gi++) {
        const char *name = rms_source_groups_name(g, gi);
        if (rms_rewardbench_section_of(name) >= 0) cJSON_AddItemToObject(extra, name, rms_json_number(per[gi].accuracy));
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    FILE *f = fopen(path, "w");
    if (!f) {
        free(text);
        return rms_fail(err, RMS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    }
    fputs(text, f);
    fputc('\n', f);
    free(text);
    return rms_out_close(f, path, err);
}

/* The page of report --html into path. */
static rms_status write_html(const char *path, const char *scores, const rms_results *res, const rms_source_groups *g,
                             const rms_stats *all, const rms_stats *per, rms_err *err) {
    const int64_t ns = 1 + g->n_groups;
    rms_html_source *src = malloc((size_t)ns * sizeof *src);                       // (1 + n_groups)
    int64_t *by_group = malloc((size_t)(res->n > 0 ? res->n : 1) * sizeof *by_group); // (n) rows, group after group
    rms_status st = (!src || !by_group) ? rms_fail(err, RMS_ERR_NOMEM, "out of memory") : RMS_OK;
    if (st == RMS_OK) {
        src[0] = (rms_html_source){"ALL", all, NULL, res->n};
        for (int64_t k = 0, off = 0; k < g->n_groups; k++) {
            const char *name = rms_source_groups_name(g, k);
            const int64_t cnt = rms_source_groups_rows(g, res->n, k, by_group + off);
            src[k + 1] = (rms_html_source){name[0] ? name : "(no source)", &per[k], by_group + off, cnt};
            off += cnt;
        }
    }
    FILE *f = st == RMS_OK ? fopen(path, "w") : NULL;
    if (st == RMS_OK && !f) st = rms_fail(err, RMS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    if (f) {
        char sub[2 * RMS_PATH_MAX + 128];
        snprintf(sub, sizeof sub, "%s: %lld pairs, %lld scored; model %s", scores, (long long)all->n_rows,
                 (long long)all->n_scored, res->meta.model);
        st = rms_report_html_write(f, "rmscore report", sub, res->chosen, res->rejected, res->status, src, ns, err);
        rms_err close_err;
        const rms_status cst = rms_out_close(f, path, &close_err);
        if (st == RMS_OK && cst != RMS_OK) {
            *err = close_err;
            st = cst;
        }
    }
    free(src);
    free(by_group);
    return st;
}

rms_status rms_cmd_report(int argc, char **argv, rms_err *err) {
    report_opts o;
    rms_status st = rms_options_parse(&RMS_CMD_REPORT, argc, argv, 2, &o, err);
    if (st != RMS_OK) return st;
    rms_results res;
    rms_source_groups g;
    memset(&g, 0, sizeof g);
    double *scratch = NULL;
    int64_t *rows = NULL;
    if ((st = rms_results_open(o.scores, o.data, &res, err)) == RMS_OK && res.pairs) st = rms_source_groups_init(res.pairs, res.n, &g, err);
    if (st == RMS_OK) {
        scratch = malloc((size_t)(res.n > 0 ? res.n : 1) * sizeof *scratch);
        rows = malloc((size_t)(res.n > 0 ? res.n : 1) * sizeof *rows);
        if (!scratch || !rows) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    rms_stats *per = NULL; // (n_groups) per source, in order of first appearance
    if (st == RMS_OK && g.n_groups > 0 && !(per = malloc((size_t)g.n_groups * sizeof *per)))
        st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    if (st == RMS_OK) {
        rms_stats all;
        rms_stats_compute(res.chosen, res.rejected, res.status, NULL, res.n, scratch, &all);
        for (int64_t gi = 0; gi < g.n_groups; gi++) {
            const int64_t k = rms_source_groups_rows(&g, res.n, gi, rows);
            rms_stats_compute(res.chosen, res.rejected, res.status, rows, k, scratch, &per[gi]);
        }
        rms_rewardbench rb;
        memset(&rb, 0, sizeof rb);
        if (g.n_groups > 0) st = rewardbench_of(&g, per, &rb, err);
        if (st == RMS_OK && o.rb_json[0]) {
            if (rb.n_matched == 0)
                st = rms_fail(err, RMS_ERR_ARG, "--rewardbench-json: no source of %s is a RewardBench subset (the "
                              "`subset` field of RewardBench rows, e.g. alpacaeval-easy)", o.scores);
            else
                st = write_rewardbench_file(o.rb_json, &res, &g, &all, per, err);
        }
        if (st == RMS_OK && o.html[0]) st = write_html(o.html, o.scores, &res, &g, &all, per, err);
        if (st == RMS_OK && o.json) {
            cJSON *root = stats_json(&all);
            cJSON *po = cJSON_AddObjectToObject(root, "per_source");
            for (int64_t gi = 0; gi < g.n_groups; gi++)
                cJSON_AddItemToObject(po, rms_source_groups_name(&g, gi), stats_json(&per[gi]));
            if (rb.n_matched > 0) cJSON_AddItemToObject(root, "rewardbench", rewardbench_json(&rb));
            char *text = cJSON_PrintUnformatted(root);
            if (!text) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
            else if (puts(text) < 0 || ferror(stdout)) st = rms_out_check(stdout, "standard output", err); // its errno
            free(text);
            cJSON_Delete(root);
        } else if (st == RMS_OK) {
            printf("rmscore report: %s (model %s%s%.16s%s, dataset %s)\n", o.scores, res.meta.model,
                   res.meta.identity_recorded ? " [fingerprint " : "", res.meta.model_fingerprint,
                   res.meta.identity_recorded ? "]" : "",
                   res.pairs ? (o.data[0] ? o.data : res.meta.pairs_file) : "(not available)");
            printf("%-32s %8s %8s %9s  %-16s %6s %8s %6s %10s %8s\n", "source", "pairs", "scored", "accuracy",
                   "95% CI (Wilson)", "ties", "skipped", "bad", "non-finite", "pending");
            print_stats_row("ALL", &all);
            for (int64_t gi = 0; gi < g.n_groups; gi++) {
                const char *name = rms_source_groups_name(&g, gi);
                print_stats_row(name[0] ? name : "(no source)", &per[gi]);
            }
            printf("\n%-32s %9s %9s %9s %9s %9s %9s %9s %9s %9s %9s %7s\n", "scores of scored pairs", "chosen", "sd",
                   "rejected", "sd", "margin", "p5", "p25", "median", "p75", "p95", "ECE");
            print_scores_row("ALL", &all);
            for (int64_t gi = 0; gi < g.n_groups; gi++) {
                const char *name = rms_source_groups_name(&g, gi);
                print_scores_row(name[0] ? name : "(no source)", &per[gi]);
            }
            printf("\ncalibration (all scored pairs): confidence = sigmoid(|margin|), the probability the model gives "
                   "its own choice\n%-16s %8s %11s %9s\n", "confidence", "pairs", "mean conf.", "accuracy");
            for (int b = 0; b < RMS_CALIB_BINS; b++) {
                printf("[%.2f, %.2f%c    %8lld", 0.5 + 0.5 * b / RMS_CALIB_BINS, 0.5 + 0.5 * (b + 1) / RMS_CALIB_BINS,
                       b == RMS_CALIB_BINS - 1 ? ']' : ')', (long long)all.calib[b].n);
                rms_print_figure(11, 4, all.calib[b].confidence);
                rms_print_figure(9, 4, all.calib[b].accuracy);
                putchar('\n');
            }
            printf("expected calibration error (ECE):");
            rms_print_figure(7, 4, all.ece);
            putchar('\n');
            if (rb.n_matched > 0) {
                printf("\nRewardBench (%d sources are its subsets; sections weighted by its example counts, the score "
                       "by 2/2/2/2/1 with the prior sets)\n", rb.n_matched);
                for (int k = 0; k < RMS_RB_SECTIONS; k++) {
                    printf("%-32s", rms_rewardbench_section_name(k));
                    rms_print_figure(9, 4, rb.section[k]);
                    putchar('\n');
                }
                printf("%-32s", "Prior Sets (0.5 weight)");
                rms_print_figure(9, 4, rb.prior_sets);
                printf("\n%-32s", "Score");
                rms_print_figure(9, 4, rb.score);
                putchar('\n');
            }
            if (all.n_nonfinite > 0)
                printf("%lld pairs have a non-finite score (NaN or infinity, status 4) and are excluded from accuracy "
                       "and margins: accuracy is over the %lld scored pairs\n",
                       (long long)all.n_nonfinite, (long long)all.n_scored);
            st = rms_out_check(stdout, "standard output", err); // a failing write's errno is still there
        }
    }
    free(per);
    free(scratch);
    free(rows);
    rms_source_groups_free(&g);
    rms_results_close(&res);
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
    rms_results res;
    if ((st = rms_results_open(o.scores, o.data, &res, err)) != RMS_OK) {
        rms_results_close(&res);
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
    rms_results_close(&res);
    return st;
}
