#include "src/cli/results.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/hashmap.h"

#define GROUP_CHUNK_ROWS 65536 /* sources read per call */

rms_status rms_results_open(const char *scores, const char *data_opt, rms_results *res, rms_err *err) {
    memset(res, 0, sizeof *res);
    rms_scores *s;
    rms_status st = rms_scores_open_read(&s, scores, &res->meta, err);
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
    const char *data = data_opt[0] ? data_opt : res->meta.pairs_file;
    if (!data[0]) return RMS_OK;
    rms_pairs_meta *pm = &res->pairs_meta;
    rms_err why;
    if (rms_pairs_reader_open(&res->pairs, data, pm, &why) != RMS_OK) {
        res->pairs = NULL;
        if (data_opt[0]) {
            *err = why;
            return RMS_ERR_IO;
        }
        fprintf(stderr, "rmscore: warning: cannot open the dataset %s (%s): no ids or sources\n", data, why.msg);
        return RMS_OK;
    }
    if (pm->n_rows != res->n || strcmp(pm->tokenizer_sha256, res->meta.pairs_tokenizer_sha256) != 0)
        return rms_fail(err, RMS_ERR_ARG, "%s (%lld rows) is not the dataset %s was scored from (%lld rows)", data,
                        (long long)pm->n_rows, scores, (long long)res->n);
    return RMS_OK;
}

void rms_results_close(rms_results *res) {
    free(res->chosen);
    free(res->rejected);
    free(res->status);
    if (res->pairs) rms_pairs_reader_close(res->pairs);
}

rms_status rms_source_groups_init(rms_pairs_reader *pairs, int64_t n, rms_source_groups *g, rms_err *err) {
    memset(g, 0, sizeof *g);
    rms_text_init(&g->names);
    g->group = malloc((size_t)(n > 0 ? n : 1) * sizeof *g->group);
    g->name_start = malloc((size_t)(n > 0 ? n : 1) * sizeof *g->name_start);
    int64_t *starts = malloc((size_t)GROUP_CHUNK_ROWS * sizeof *starts);
    rms_text chunk;
    rms_text_init(&chunk);
    rms_strmap map;
    rms_strmap_init(&map);
    rms_status st = (!g->group || !g->name_start || !starts) ? rms_fail(err, RMS_ERR_NOMEM, "out of memory") : RMS_OK;
    for (int64_t r0 = 0; st == RMS_OK && r0 < n; r0 += GROUP_CHUNK_ROWS) {
        const int64_t k = n - r0 < GROUP_CHUNK_ROWS ? n - r0 : GROUP_CHUNK_ROWS;
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

void rms_source_groups_free(rms_source_groups *g) {
    free(g->group);
    free(g->name_start);
    rms_text_free(&g->names);
}

int64_t rms_source_groups_rows(const rms_source_groups *g, int64_t n, int64_t gi, int64_t *rows) {
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (g->group[i] == gi) rows[k++] = i;
    return k;
}

const char *rms_source_groups_name(const rms_source_groups *g, int64_t gi) { return g->names.data + g->name_start[gi]; }

void rms_print_figure(int width, int decimals, double v) {
    if (isfinite(v)) printf(" %*.*f", width, decimals, v);
    else printf(" %*s", width, "-");
}

cJSON *rms_json_number(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }
