#include "io/ids_input.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void rms_ids_init(rms_ids *v) { memset(v, 0, sizeof *v); }

void rms_ids_free(rms_ids *v) {
    free(v->ids);
    memset(v, 0, sizeof *v);
}

int rms_ids_reserve(rms_ids *v, int64_t need) {
    if (need <= v->cap) return 0;
    int64_t cap = v->cap ? v->cap : 1024;
    while (cap < need) cap *= 2;
    int32_t *p = realloc(v->ids, (size_t)cap * sizeof *p);
    if (!p) return -1;
    v->ids = p;
    v->cap = cap;
    return 0;
}

static int is_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 0;
    return 1;
}

rms_status rms_ids_parse_line(rms_ids *v, const char *line, int64_t vocab, int64_t *n_added, rms_err *err) {
    *n_added = 0;
    if (is_blank(line)) return rms_fail(err, RMS_ERR_INPUT, "empty line (expected a JSON array of token ids)");
    cJSON *arr = cJSON_ParseWithOpts(line, NULL, 1); // nothing but whitespace may follow
    if (!arr) return rms_fail(err, RMS_ERR_INPUT, "not valid JSON (expected a JSON array of token ids)");
    rms_status st = RMS_OK;
    const int64_t n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : -1;
    if (n < 0) {
        st = rms_fail(err, RMS_ERR_INPUT, "not a JSON array (expected a JSON array of token ids)");
    } else if (n == 0) {
        st = rms_fail(err, RMS_ERR_INPUT, "empty array: a sequence needs at least one token");
    } else if (rms_ids_reserve(v, v->n + n) != 0) {
        st = rms_fail(err, RMS_ERR_NOMEM, "out of memory for %lld token ids", (long long)(v->n + n));
    } else {
        int64_t i = 0;
        for (const cJSON *it = arr->child; it; it = it->next, i++) {
            const double x = it->valuedouble;
            if (!cJSON_IsNumber(it) || x != floor(x)) {
                st = rms_fail(err, RMS_ERR_INPUT, "element %lld is not an integer token id", (long long)i);
                break;
            }
            if (x < 0 || x >= (double)vocab) {
                st = rms_fail(err, RMS_ERR_INPUT, "token id %.0f (element %lld) is outside the vocabulary [0, %lld)",
                              x, (long long)i, (long long)vocab);
                break;
            }
            v->ids[v->n + i] = (int32_t)x;
        }
    }
    cJSON_Delete(arr);
    if (st == RMS_OK) {
        v->n += n;
        *n_added = n;
    }
    return st;
}
