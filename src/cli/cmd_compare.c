/* cmd_compare.c — `rmscore compare A.h5 B.h5`: two reward models' scores of the same pairs side by side
 * (src/job/compare.h), overall and per source, and the pairs that flip. */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/options.h"
#include "src/base/outstream.h"
#include "src/cli/commands.h"
#include "src/cli/results.h"
#include "src/job/compare.h"
#include "src/job/report_html.h"

#define CHUNK_ROWS 65536

typedef struct compare_opts {
    rms_arg_list inputs; // the two scores files
    char data[RMS_PATH_MAX], flips[RMS_PATH_MAX], html[RMS_PATH_MAX];
    int json;
    int64_t max_points;
} compare_opts;

#define C(field) offsetof(compare_opts, field)
static const rms_opt COMPARE_OPTS[] = {
    {"--data", RMS_OPT_PATH, "FILE", C(data), .shown = "the pairs_file attribute of A.h5",
     .help = "the dataset (ids and sources)"},
    {"--flips", RMS_OPT_PATH, "FILE", C(flips),
     .help = "write the pairs one model gets right and the other wrong as JSONL: row, id,\n"
             "source, chosen/rejected/margin of A and of B, right (\"A\" or \"B\")"},
    {"--html", RMS_OPT_PATH, "FILE", C(html),
     .help = "also write FILE: one self-contained page (inline SVG, no script) with the accuracy\n"
             "of A and B per source and their intervals, B's margins against A's (flips\n"
             "marked), and B - A per source with McNemar's p"},
    {"--max-points", RMS_OPT_INT, "N", C(max_points), .lo = 0, .hi = INT64_C(1) << 40, .value = "5000",
     .help = "--html's scatter draws one point per pair up to N pairs; above N, a 64x64 grid of\n"
             "cells shaded by their count of pairs (the page stays small for millions of pairs)"},
    {"--json", RMS_OPT_FLAG, NULL, C(json),
     .help = "one JSON object on stdout: a, b {file, model}, n_rows, n_both, accuracy_a,\n"
             "accuracy_a_ci95, accuracy_b, accuracy_b_ci95, delta, only_a, only_b, mcnemar_p,\n"
             "agreement, pearson, spearman, per_source {source: same keys}"},
    {0}};

const rms_command RMS_CMD_COMPARE = {
    .name = "compare",
    .synopsis = "usage: rmscore compare A.h5 B.h5 [--data pairs.h5] [--json] [--flips FILE] [--html FILE]\n"
                "       [--max-points N]",
    .about = "Two scores files of the same pairs (any two models), over the pairs both scored with finite scores:\n"
             "the accuracy of each with its 95% Wilson interval, the difference B - A with McNemar's exact test\n"
             "(two-sided, over the pairs only one model gets right), the agreement rate (both prefer the same\n"
             "response), Pearson's and Spearman's correlation of the margins, the same per source, and the\n"
             "number of pairs that flip. The files must hold the same pairs: the same row count and, where both\n"
             "datasets can be opened, the same pair ids row by row.",
    .opts = COMPARE_OPTS,
    .positional = RMS_POS_LIST,
    .positional_offset = C(inputs),
    .positional_name = "scores file",
};


static cJSON *compare_json(const rms_compare *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_rows", (double)c->n_rows);
    cJSON_AddNumberToObject(o, "n_both", (double)c->n_both);
    cJSON_AddItemToObject(o, "accuracy_a", rms_json_number(c->accuracy_a));
    cJSON *ca = cJSON_AddArrayToObject(o, "accuracy_a_ci95");
    cJSON_AddItemToArray(ca, rms_json_number(c->accuracy_a_lo));
    cJSON_AddItemToArray(ca, rms_json_number(c->accuracy_a_hi));
    cJSON_AddItemToObject(o, "accuracy_b", rms_json_number(c->accuracy_b));
    cJSON *cb = cJSON_AddArrayToObject(o, "accuracy_b_ci95");
    cJSON_AddItemToArray(cb, rms_json_number(c->accuracy_b_lo));
    cJSON_AddItemToArray(cb, rms_json_number(c->accuracy_b_hi));
    cJSON_AddItemToObject(o, "delta", rms_json_number(c->delta));
    cJSON_AddNumberToObject(o, "only_a", (double)c->only_a);
    cJSON_AddNumberToObject(o, "only_b", (double)c->only_b);
    cJSON_AddItemToObject(o, "mcnemar_p", rms_json_number(c->mcnemar_p));
    cJSON_AddItemToObject(o, "agreement", rms_json_number(c->agreement));
    cJSON_AddItemToObject(o, "pearson", rms_json_number(c->pearson));
    cJSON_AddItemToObject(o, "spearman", rms_json_number(c->spearman));
    return o;
}

static void print_row(const char *name, const rms_compare *c) {
    printf("%-28.28s %8lld %8lld", name, (long long)c->n_rows, (long long)c->n_both);
    rms_print_figure(8, 4, c->accuracy_a);
    rms_print_figure(8, 4, c->accuracy_b);
    if (isfinite(c->delta)) printf(" %+8.4f", c->delta);
    else printf(" %8s", "-");
    printf(" %10.4g %7lld %7lld", c->mcnemar_p, (long long)c->only_a, (long long)c->only_b);
    rms_print_figure(7, 4, c->agreement);
    rms_print_figure(8, 4, c->pearson);
    rms_print_figure(8, 4, c->spearman);
    putchar('\n');
}

/* Refuses two files that do not hold the same pairs: the row count, and the ids row by row where both datasets are
 * open. */
static rms_status same_pairs(const char *pa, const rms_results *a, const char *pb, const rms_results *b,
                             rms_err *err) {
    if (a->n != b->n)
        return rms_fail(err, RMS_ERR_ARG, "%s (%lld rows) and %s (%lld rows) do not hold the same pairs", pa,
                        (long long)a->n, pb, (long long)b->n);
    if (!a->pairs || !b->pairs) {
        fprintf(stderr, "rmscore: warning: compare: a dataset cannot be opened: the pairs are matched by row only\n");
        return RMS_OK;
    }
    int64_t *sa = malloc(CHUNK_ROWS * sizeof *sa), *sb = malloc(CHUNK_ROWS * sizeof *sb); // (CHUNK_ROWS)
    rms_text ta, tb;
    rms_text_init(&ta);
    rms_text_init(&tb);
    rms_status st = (!sa || !sb) ? rms_fail(err, RMS_ERR_NOMEM, "out of memory") : RMS_OK;
    for (int64_t r0 = 0; st == RMS_OK && r0 < a->n; r0 += CHUNK_ROWS) {
        const int64_t k = a->n - r0 < CHUNK_ROWS ? a->n - r0 : CHUNK_ROWS;
        if ((st = rms_pairs_reader_strings(a->pairs, "id", r0, k, &ta, sa, err)) != RMS_OK ||
            (st = rms_pairs_reader_strings(b->pairs, "id", r0, k, &tb, sb, err)) != RMS_OK)
            break;
        for (int64_t i = 0; i < k; i++)
            if (strcmp(ta.data + sa[i], tb.data + sb[i]) != 0) {
                st = rms_fail(err, RMS_ERR_ARG, "%s and %s do not hold the same pairs: row %lld is \"%.80s\" in one "
                              "dataset and \"%.80s\" in the other", pa, pb, (long long)(r0 + i), ta.data + sa[i],
                              tb.data + sb[i]);
                break;
            }
    }
    rms_text_free(&ta);
    rms_text_free(&tb);
    free(sa);
    free(sb);
    return st;
}

/* The flipped pairs as JSONL into path. */
static rms_status write_flips(const char *path, const rms_results *a, const rms_results *b, rms_err *err) {
    FILE *f = fopen(path, "w");
    if (!f) return rms_fail(err, RMS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int64_t *si = malloc(CHUNK_ROWS * sizeof *si), *ss = malloc(CHUNK_ROWS * sizeof *ss); // (CHUNK_ROWS)
    rms_text ids, src;
    rms_text_init(&ids);
    rms_text_init(&src);
    rms_status st = (!si || !ss) ? rms_fail(err, RMS_ERR_NOMEM, "out of memory") : RMS_OK;
    for (int64_t r0 = 0; st == RMS_OK && r0 < a->n; r0 += CHUNK_ROWS) {
        const int64_t k = a->n - r0 < CHUNK_ROWS ? a->n - r0 : CHUNK_ROWS;
        if (a->pairs && ((st = rms_pairs_reader_strings(a->pairs, "id", r0, k, &ids, si, err)) != RMS_OK ||
                         (st = rms_pairs_reader_strings(a->pairs, "source", r0, k, &src, ss, err)) != RMS_OK))
            break;
        for (int64_t j = 0; j < k; j++) {
            const int64_t i = r0 + j;
            if (!rms_compare_row_used(a->chosen, a->rejected, a->status, b->chosen, b->rejected, b->status, i)) continue;
            const int ra = (double)a->chosen[i] - (double)a->rejected[i] > 0.0;
            const int rb = (double)b->chosen[i] - (double)b->rejected[i] > 0.0;
            if (ra == rb) continue;
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "row", (double)i);
            if (a->pairs) {
                cJSON_AddStringToObject(o, "id", ids.data + si[j]);
                cJSON_AddStringToObject(o, "source", src.data + ss[j]);
            }
            cJSON_AddItemToObject(o, "chosen_a", rms_json_number((double)a->chosen[i]));
            cJSON_AddItemToObject(o, "rejected_a", rms_json_number((double)a->rejected[i]));
            cJSON_AddNumberToObject(o, "margin_a", (double)a->chosen[i] - (double)a->rejected[i]);
            cJSON_AddItemToObject(o, "chosen_b", rms_json_number((double)b->chosen[i]));
            cJSON_AddItemToObject(o, "rejected_b", rms_json_number((double)b->rejected[i]));
            cJSON_AddNumberToObject(o, "margin_b", (double)b->chosen[i] - (double)b->rejected[i]);
            cJSON_AddStringToObject(o, "right", ra ? "A" : "B");
            char *line = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            if (!line) {
                st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
                break;
            }
            fputs(line, f);
            fputc('\n', f);
            free(line);
        }
        if (st == RMS_OK) st = rms_out_check(f, path, err);
    }
    rms_text_free(&ids);
    rms_text_free(&src);
    free(si);
    free(ss);
    rms_err close_err;
    const rms_status cst = rms_out_close(f, path, &close_err);
    if (st == RMS_OK && cst != RMS_OK) {
        *err = close_err;
        st = cst;
    }
    return st;
}

static rms_html_pair_group html_group(const char *name, const rms_compare *c) {
    return (rms_html_pair_group){name, c->n_rows, c->n_both, c->accuracy_a, c->accuracy_a_lo, c->accuracy_a_hi,
                                 c->accuracy_b, c->accuracy_b_lo, c->accuracy_b_hi, c->delta, c->mcnemar_p};
}

/* The page of compare --html into path: groups[0..ng) (groups[0]: all rows). */
static rms_status write_html(const char *path, const char *pa, const rms_results *a, const char *pb,
                             const rms_results *b, const rms_html_pair_group *groups, int64_t ng, int64_t max_points,
                             rms_err *err) {
    FILE *f = fopen(path, "w");
    if (!f) return rms_fail(err, RMS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    char sub[4 * RMS_PATH_MAX];
    snprintf(sub, sizeof sub, "A = %s (model %s), B = %s (model %s): %lld pairs, %lld scored by both", pa,
             a->meta.model, pb, b->meta.model, (long long)a->n, (long long)groups[0].n_both);
    rms_status st = rms_compare_html_write(f, "rmscore compare", sub, a->chosen, a->rejected, a->status, b->chosen,
                                           b->rejected, b->status, groups, ng, max_points, err);
    rms_err close_err;
    const rms_status cst = rms_out_close(f, path, &close_err);
    if (st == RMS_OK && cst != RMS_OK) {
        *err = close_err;
        st = cst;
    }
    return st;
}

rms_status rms_cmd_compare(int argc, char **argv, rms_err *err) {
    compare_opts o;
    rms_status st = rms_options_parse(&RMS_CMD_COMPARE, argc, argv, 2, &o, err);
    if (st != RMS_OK) return st;
    if (o.inputs.n != 2) {
        st = rms_fail(err, RMS_ERR_USAGE, "compare: give two scores files (A.h5 B.h5), not %d", o.inputs.n);
        rms_options_free(&RMS_CMD_COMPARE, &o);
        return st;
    }
    const char *pa = o.inputs.v[0], *pb = o.inputs.v[1];
    rms_results a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    rms_source_groups g;
    memset(&g, 0, sizeof g);
    int64_t *rows = NULL;
    if ((st = rms_results_open(pa, o.data, &a, err)) == RMS_OK && (st = rms_results_open(pb, "", &b, err)) == RMS_OK)
        st = same_pairs(pa, &a, pb, &b, err);
    if (st == RMS_OK && a.pairs) st = rms_source_groups_init(a.pairs, a.n, &g, err);
    if (st == RMS_OK && !(rows = malloc((size_t)(a.n > 0 ? a.n : 1) * sizeof *rows)))
        st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    rms_compare all;
    if (st == RMS_OK)
        st = rms_compare_compute(a.chosen, a.rejected, a.status, b.chosen, b.rejected, b.status, NULL, a.n, &all, err);
    cJSON *root = NULL, *per = NULL;
    if (st == RMS_OK && o.json) {
        root = compare_json(&all);
        cJSON *fa = cJSON_AddObjectToObject(root, "a"), *fb = cJSON_AddObjectToObject(root, "b");
        cJSON_AddStringToObject(fa, "file", pa);
        cJSON_AddStringToObject(fa, "model", a.meta.model);
        cJSON_AddStringToObject(fb, "file", pb);
        cJSON_AddStringToObject(fb, "model", b.meta.model);
        per = cJSON_AddObjectToObject(root, "per_source");
    } else if (st == RMS_OK) {
        printf("rmscore compare: A = %s (model %s), B = %s (model %s)\n", pa, a.meta.model, pb, b.meta.model);
        printf("%-28s %8s %8s %8s %8s %8s %10s %7s %7s %7s %8s %8s\n", "source", "pairs", "both", "acc A", "acc B",
               "B - A", "McNemar p", "only A", "only B", "agree", "pearson", "spearman");
        print_row("ALL", &all);
    }
    rms_html_pair_group *hg = NULL; // (1 + n_groups) for --html
    if (st == RMS_OK && o.html[0] && !(hg = malloc((size_t)(1 + g.n_groups) * sizeof *hg)))
        st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    if (hg) hg[0] = html_group("ALL", &all);
    for (int64_t gi = 0; st == RMS_OK && gi < g.n_groups; gi++) {
        const int64_t k = rms_source_groups_rows(&g, a.n, gi, rows);
        rms_compare c;
        st = rms_compare_compute(a.chosen, a.rejected, a.status, b.chosen, b.rejected, b.status, rows, k, &c, err);
        const char *name = rms_source_groups_name(&g, gi);
        if (st != RMS_OK) break;
        if (hg) hg[gi + 1] = html_group(name[0] ? name : "(no source)", &c);
        if (per) cJSON_AddItemToObject(per, name, compare_json(&c));
        else print_row(name[0] ? name : "(no source)", &c);
    }
    if (st == RMS_OK && hg) st = write_html(o.html, pa, &a, pb, &b, hg, 1 + g.n_groups, o.max_points, err);
    free(hg);
    if (st == RMS_OK && !o.json) {
        printf("A: %.4f [%.4f, %.4f], B: %.4f [%.4f, %.4f] (95%% Wilson) over the %lld pairs both scored; %lld flip "
               "(%lld only A gets right, %lld only B)\n", all.accuracy_a, all.accuracy_a_lo, all.accuracy_a_hi,
               all.accuracy_b, all.accuracy_b_lo, all.accuracy_b_hi, (long long)all.n_both,
               (long long)(all.only_a + all.only_b), (long long)all.only_a, (long long)all.only_b);
    }
    if (st == RMS_OK && o.flips[0]) st = write_flips(o.flips, &a, &b, err);
    if (root) {
        if (st == RMS_OK) {
            char *text = cJSON_PrintUnformatted(root);
            if (!text) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
            else if (puts(text) < 0 || ferror(stdout)) st = rms_out_check(stdout, "standard output", err); // its errno
            free(text);
        }
        cJSON_Delete(root);
    }
    if (st == RMS_OK) st = rms_out_check(stdout, "standard output", err);
    free(rows);
    rms_source_groups_free(&g);
    rms_results_close(&a);
    rms_results_close(&b);
    rms_options_free(&RMS_CMD_COMPARE, &o);
    return st;
}
