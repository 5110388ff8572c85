/* rng.h — a small deterministic random generator (splitmix64) for generated test checkpoints.
 * Plain value type; nothing to free. Streams are keyed by (seed, name) so a tensor's values do not
 * depend on the order tensors are generated in or on how the checkpoint is sharded. */
#ifndef RMS_RNG_H
#define RMS_RNG_H

#include <stdint.h>

typedef struct rms_rng {
    uint64_t state;
} rms_rng;

void rms_rng_seed(rms_rng *r, uint64_t seed, const char *stream_name);
uint64_t rms_rng_next(rms_rng *r);
/* n floats uniform in [-a, a). */
void rms_rng_uniform(rms_rng *r, float *out, int64_t n, float a);

#endif
