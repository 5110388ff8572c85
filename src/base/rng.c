#include "src/base/rng.h"

void rms_rng_seed(rms_rng *r, uint64_t seed, const char *stream_name) {
    uint64_t h = 1469598103934665603ull; // FNV-1a of the stream name, mixed with the seed
    for (const char *p = stream_name; p && *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    r->state = h ^ (seed * 0x9E3779B97F4A7C15ull);
    (void)rms_rng_next(r);
}

uint64_t rms_rng_next(rms_rng *r) {
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rms_rng_uniform(rms_rng *r, float *out, int64_t n, float a) {
    const float scale = 2.0f * a / 4294967296.0f; // 2a / 2^32
    int64_t i = 0;
    for (; i + 1 < n; i += 2) { // two 32-bit draws per 64-bit output
        const uint64_t x = rms_rng_next(r);
        out[i] = (float)(uint32_t)x * scale - a;
        out[i + 1] = (float)(uint32_t)(x >> 32) * scale - a;
    }
    if (i < n) out[i] = (float)(uint32_t)rms_rng_next(r) * scale - a;
}
