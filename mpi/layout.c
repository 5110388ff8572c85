#include "mpi/layout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

rms_status rms_layout_make(int size, int stages, rms_layout *out, rms_err *err) {
    if (stages < 1) return rms_fail(err, RMS_ERR_USAGE, "--stages must be at least 1");
    if (size < 2) return rms_fail(err, RMS_ERR_USAGE, "an MPI job needs a root and at least one worker rank");
    const int workers = size - 1;
    if (workers % stages != 0)
        return rms_fail(err, RMS_ERR_USAGE,
                        "%d ranks = 1 root + %d workers, which is not a multiple of --stages %d; use -np %d or -np %d",
                        size, workers, stages, 1 + stages * (workers / stages > 0 ? workers / stages : 1),
                        1 + stages * (workers / stages + 1));
    out->size = size;
    out->stages = stages;
    out->replicas = workers / stages;
    return RMS_OK;
}

int rms_layout_rank(const rms_layout *l, int replica, int stage) { return 1 + replica * l->stages + stage; }

rms_role rms_layout_role(const rms_layout *l, int rank) {
    rms_role r = {0};
    if (rank == 0) {
        r.is_root = 1;
        r.prev_rank = r.next_rank = -1;
        return r;
    }
    r.replica = (rank - 1) / l->stages;
    r.stage = (rank - 1) % l->stages;
    r.prev_rank = r.stage == 0 ? 0 : rank - 1;
    r.next_rank = r.stage == l->stages - 1 ? 0 : rank + 1;
    return r;
}

rms_status rms_layout_stage_layers(int64_t n_layers, int stages, const int64_t *split, int64_t n_split, int stage,
                                   int64_t *l0, int64_t *l1, rms_err *err) {
    RMS_ASSERT(stages >= 1 && stage >= 0 && stage < stages);
    if (stages > n_layers)
        return rms_fail(err, RMS_ERR_USAGE, "--stages %d is more than the model's %lld layers", stages, (long long)n_layers);
    if (split && n_split) {
        if (n_split != stages)
            return rms_fail(err, RMS_ERR_USAGE, "the layer split has %lld entries for %d stages", (long long)n_split, stages);
        int64_t sum = 0, start = 0;
        for (int s = 0; s < stages; s++) {
            if (split[s] < 1) return rms_fail(err, RMS_ERR_USAGE, "the layer split gives stage %d no layers", s);
            if (split[s] > n_layers) // so that the sum below cannot overflow
                return rms_fail(err, RMS_ERR_USAGE, "the layer split gives stage %d %lld layers, the model has %lld", s,
                                (long long)split[s], (long long)n_layers);
            if (s == stage) start = sum;
            sum += split[s];
        }
        if (sum != n_layers)
            return rms_fail(err, RMS_ERR_USAGE, "the layer split sums to %lld layers, the model has %lld", (long long)sum,
                            (long long)n_layers);
        *l0 = start;
        *l1 = start + split[stage];
        return RMS_OK;
    }
    const int64_t base = n_layers / stages, extra = n_layers % stages;
    *l0 = stage * base + (stage < extra ? stage : extra);
    *l1 = *l0 + base + (stage < extra ? 1 : 0);
    return RMS_OK;
}

void rms_layout_describe(const rms_layout *l, int rank, int64_t l0, int64_t l1, char *buf, size_t cap) {
    const rms_role r = rms_layout_role(l, rank);
    if (r.is_root) snprintf(buf, cap, "root");
    else if (l1 > l0)
        snprintf(buf, cap, "replica %d stage %d: layers %lld-%lld", r.replica, r.stage, (long long)l0, (long long)(l1 - 1));
    else snprintf(buf, cap, "replica %d stage %d", r.replica, r.stage);
}

void rms_cpu_list_format(const unsigned char *on, int n, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = '\0';
    for (int c = 0; c < n; c++) {
        if (!on[c]) continue;
        int e = c;
        while (e + 1 < n && on[e + 1]) e++;
        char item[32];
        const size_t k = (size_t)(e > c ? snprintf(item, sizeof item, "%s%d-%d", len ? "," : "", c, e)
                                        : snprintf(item, sizeof item, "%s%d", len ? "," : "", c));
        if (len + k + 1 > cap) { // does not fit: whole items, then ",..." (or only "...")
            size_t at = len;
            while (at > 0 && at + sizeof ",..." > cap) { // drop the last item
                buf[at] = '\0';
                const char *comma = strrchr(buf, ',');
                at = comma ? (size_t)(comma - buf) : 0;
            }
            if (at > 0) memcpy(buf + at, ",...", sizeof ",...");
            else snprintf(buf, cap, "%s", cap >= sizeof "..." ? "..." : "");
            return;
        }
        memcpy(buf + len, item, k + 1);
        len += k;
        c = e;
    }
    if (len == 0) snprintf(buf, cap, "none");
}

int rms_peer_timeout_parse(const char *text, double *seconds) {
    if (!text || !*text) return 0;
    char *end = NULL;
    errno = 0;
    const double v = strtod(text, &end);
    if (errno || end == text || *end != '\0' || !(v > 0) || v > 86400) return -1;
    *seconds = v;
    return 0;
}
