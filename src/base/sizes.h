/* sizes.h — overflow-checked arithmetic on element counts and byte sizes.
 *
 * Every product of sizes that come from a file or the command line (tensor shapes, workspace buffers, HDF5 row
 * counts, MPI message lengths) goes through these, so that an absurd value becomes a clear error (or a memory
 * estimate that no machine satisfies) instead of a wrapped-around small number. Sizes are non-negative: a
 * negative operand counts as an overflow.
 *
 * Ownership: pure functions on values; nothing to free.
 */
#ifndef RMS_SIZES_H
#define RMS_SIZES_H

#include <stddef.h>
#include <stdint.h>

/* *out = a * b. Returns 0, or -1 (and leaves *out) when a or b is negative or the product overflows int64_t. */
int rms_mul_i64(int64_t a, int64_t b, int64_t *out);
/* *out = a + b. Returns 0, or -1 (and leaves *out) when a or b is negative or the sum overflows int64_t. */
int rms_add_i64(int64_t a, int64_t b, int64_t *out);
/* *out = a * b * c, as rms_mul_i64. */
int rms_mul3_i64(int64_t a, int64_t b, int64_t c, int64_t *out);
/* *out = n * elem_size bytes as a size_t, for malloc. Returns 0, or -1 (and leaves *out) when n is negative or the
 * product does not fit size_t (or int64_t). */
int rms_array_bytes(int64_t n, size_t elem_size, size_t *out);

/* Saturating forms for estimates (memory pre-flight): INT64_MAX when an operand is negative or INT64_MAX, or the
 * result overflows. */
int64_t rms_sat_mul_i64(int64_t a, int64_t b);
int64_t rms_sat_add_i64(int64_t a, int64_t b);

#endif
