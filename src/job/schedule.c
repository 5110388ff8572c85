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

int64_t rms_trim_sequences(int32_t *ids, int64_t *offsets, int64_t n_seqs, int64_t keep_last, int64_t pad_id) {
    int64_t w = 0;
    for (int64_t s = 0; s < n_seqs; s++) {
        int64_t start = offsets[s], len = offsets[s + 1] - start;
        if (keep_last > 0 && len > keep_last) {
            start += len - keep_last;
            len = keep_last;
        }
        while (pad_id >= 0 && len > 1 && ids[start + len - 1] == pad_id) len--;
        memmove(ids + w, ids + start, (size_t)len * sizeof *ids);
        offsets[s] = w;
        w += len;
    }
    offsets[n_seqs] = w;
    return w;
}

int64_t rms_effective_length(int64_t len, int64_t max_tokens, int truncate_left) {
    if (max_tokens <= 0 || len <= max_tokens) return len;
    return truncate_left ? max_tokens : -1;
}

int64_t rms_shareable_prefix(int64_t common, int64_t c, int64_t r) {
    const int64_t cap = (c < r ? c : r) - 1;
    if (common > cap) common = cap;
    return common > 0 ? common : 0;
}

int64_t rms_share_prefixes(const int32_t *ids, const int64_t *offsets, int64_t k, int32_t *out_ids,
                           int64_t *out_offsets, int64_t *parent, int64_t *seq_of) {
    int64_t n = 0, t = 0; // output sequences and tokens so far
    out_offsets[0] = 0;
    for (int64_t i = 0; i < k; i++) {
        const int32_t *c = ids + offsets[2 * i], *r = ids + offsets[2 * i + 1];
        const int64_t lc = offsets[2 * i + 1] - offsets[2 * i], lr = offsets[2 * i + 2] - offsets[2 * i + 1];
        int64_t common = 0;
        while (common < lc && common < lr && c[common] == r[common]) common++;
        const int64_t p = rms_shareable_prefix(common, lc, lr);
        int64_t prefix = -1;
        if (p > 0) { // the shared prompt, once
            memcpy(out_ids + t, c, (size_t)p * sizeof *out_ids);
            t += p;
            prefix = n;
            parent[n] = -1;
            out_offsets[++n] = t;
        }
        const int32_t *src[2] = {c + p, r + p};
        const int64_t len[2] = {lc - p, lr - p};
        for (int s = 0; s < 2; s++) {
            memcpy(out_ids + t, src[s], (size_t)len[s] * sizeof *out_ids);
            t += len[s];
            parent[n] = prefix;
            seq_of[2 * i + s] = n;
            out_offsets[++n] = t;
        }
    }
    return n;
}
