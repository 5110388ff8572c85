#include "src/job/schedule.h"

#include <stdlib.h>
#include <string.h>

typedef struct keyed_row {
    int64_t tokens, row;
} keyed_row;

static int cmp_longest_first(const void *a, const void *b) {
    const keyed_row *x = a, *y = b;
    if (x->tokens != y->tokens) return x->tokens > y->tokens ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

rms_status rms_plan_build(rms_plan *p, const int64_t *pair_tokens, const uint8_t *include, int64_t n, int64_t budget,
                          rms_err *err) {
    memset(p, 0, sizeof *p);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) m += include[i] != 0;
    keyed_row *k = malloc((size_t)(m > 0 ? m : 1) * sizeof *k);
    p->rows = malloc((size_t)(m > 0 ? m : 1) * sizeof *p->rows);
    p->batch_start = malloc((size_t)(m + 1) * sizeof *p->batch_start);
    p->batch_tokens = malloc((size_t)(m > 0 ? m : 1) * sizeof *p->batch_tokens);
    if (!k || !p->rows || !p->batch_start || !p->batch_tokens) {
        free(k);
        rms_plan_free(p);
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory planning %lld pairs", (long long)m);
    }
    m = 0;
    for (int64_t i = 0; i < n; i++)
        if (include[i]) k[m++] = (keyed_row){pair_tokens[i], i};
    qsort(k, (size_t)m, sizeof *k, cmp_longest_first);
    int64_t tokens = 0;
    for (int64_t j = 0; j < m; j++) {
        if (j == 0 || tokens + k[j].tokens > budget) { // open a new batch
            if (j > 0) p->batch_tokens[p->n_batches - 1] = tokens;
            p->batch_start[p->n_batches++] = j;
            tokens = 0;
        }
        tokens += k[j].tokens;
        p->rows[j] = k[j].row;
    }
    if (m > 0) p->batch_tokens[p->n_batches - 1] = tokens;
    p->batch_start[p->n_batches] = m;
    free(k);
    return RMS_OK;
}

void rms_plan_free(rms_plan *p) {
    free(p->batch_start);
    free(p->rows);
    free(p->batch_tokens);
    memset(p, 0, sizeof *p);
}

int64_t rms_effective_length(int64_t len, int64_t max_tokens, int truncate_left) {
    if (max_tokens <= 0 || len <= max_tokens) return len;
    return truncate_left ? max_tokens : -1;
}
