/* sizes.c — overflow-checked size arithmetic (sizes.h). */
#include "src/base/sizes.h"

int rms_mul_i64(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return -1;
    *out = r;
    return 0;
}

int rms_add_i64(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r)) return -1;
    *out = r;
    return 0;
}

int rms_mul3_i64(int64_t a, int64_t b, int64_t c, int64_t *out) {
    int64_t ab;
    if (rms_mul_i64(a, b, &ab) != 0) return -1;
    return rms_mul_i64(ab, c, out);
}

int rms_array_bytes(int64_t n, size_t elem_size, size_t *out) {
    size_t r;
    if (n < 0 || (uint64_t)n > SIZE_MAX || __builtin_mul_overflow((size_t)n, elem_size, &r) || r > (size_t)INT64_MAX)
        return -1;
    *out = r;
    return 0;
}

int64_t rms_sat_mul_i64(int64_t a, int64_t b) {
    int64_t r;
    return rms_mul_i64(a, b, &r) == 0 ? r : INT64_MAX;
}

int64_t rms_sat_add_i64(int64_t a, int64_t b) {
    int64_t r;
    return rms_add_i64(a, b, &r) == 0 ? r : INT64_MAX;
}
