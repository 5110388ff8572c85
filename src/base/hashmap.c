#include "src/base/hashmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull; // FNV-1a, then a final mix
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    return h ? h : 1; // 0 marks an empty slot
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

void rms_strmap_init(rms_strmap *m) { memset(m, 0, sizeof *m); }

void rms_strmap_free(rms_strmap *m) {
    free(m->hashes);
    free(m->key_off);
    free(m->key_len);
    free(m->values);
    free(m->arena);
    memset(m, 0, sizeof *m);
}

void rms_strmap_clear(rms_strmap *m) {
    if (m->hashes) memset(m->hashes, 0, (size_t)m->cap * sizeof *m->hashes);
    m->n = 0;
    m->arena_len = 0;
}

static int64_t strmap_find(const rms_strmap *m, uint64_t h, const char *key, size_t len) {
    const int64_t mask = m->cap - 1;
    for (int64_t i = (int64_t)(h & (uint64_t)mask);; i = (i + 1) & mask) {
        if (m->hashes[i] == 0) return i;
        if (m->hashes[i] == h && m->key_len[i] == len && (len == 0 || memcmp(m->arena + m->key_off[i], key, len) == 0))
            return i;
    }
}

static int strmap_grow(rms_strmap *m) {
    const int64_t cap = m->cap ? m->cap * 2 : 1024;
    rms_strmap g = {0};
    g.cap = cap;
    g.hashes = calloc((size_t)cap, sizeof *g.hashes);
    g.key_off = malloc((size_t)cap * sizeof *g.key_off);
    g.key_len = malloc((size_t)cap * sizeof *g.key_len);
    g.values = malloc((size_t)cap * sizeof *g.values);
    if (!g.hashes || !g.key_off || !g.key_len || !g.values) {
        free(g.hashes);
        free(g.key_off);
        free(g.key_len);
        free(g.values);
        return -1;
    }
    g.arena = m->arena;
    g.arena_len = m->arena_len;
    g.arena_cap = m->arena_cap;
    g.n = m->n;
    for (int64_t i = 0; i < m->cap; i++) {
        if (!m->hashes[i]) continue;
        const int64_t j = strmap_find(&g, m->hashes[i], m->arena + m->key_off[i], m->key_len[i]);
        g.hashes[j] = m->hashes[i];
        g.key_off[j] = m->key_off[i];
        g.key_len[j] = m->key_len[i];
        g.values[j] = m->values[i];
    }
    free(m->hashes);
    free(m->key_off);
    free(m->key_len);
    free(m->values);
    *m = g;
    return 0;
}

int rms_strmap_put(rms_strmap *m, const char *key, size_t len, int64_t value) {
    if ((m->n + 1) * 4 > m->cap * 3 && strmap_grow(m) != 0) return -1;
    const uint64_t h = hash_bytes(key, len);
    const int64_t i = strmap_find(m, h, key, len);
    if (m->hashes[i]) {
        m->values[i] = value;
        return 0;
    }
    if (m->arena_len + (int64_t)len > m->arena_cap) {
        int64_t cap = m->arena_cap ? m->arena_cap : 1 << 16;
        while (cap < m->arena_len + (int64_t)len) cap *= 2;
        char *a = realloc(m->arena, (size_t)cap);
        if (!a) return -1;
        m->arena = a;
        m->arena_cap = cap;
    }
    if (len > 0) memcpy(m->arena + m->arena_len, key, len); // an empty key needs no arena (which may not exist yet)
    m->hashes[i] = h;
    m->key_off[i] = m->arena_len;
    m->key_len[i] = (uint32_t)len;
    m->values[i] = value;
    m->arena_len += (int64_t)len;
    m->n++;
    return 0;
}

int rms_strmap_get(const rms_strmap *m, const char *key, size_t len, int64_t *value) {
    if (m->n == 0) return 0;
    const int64_t i = strmap_find(m, hash_bytes(key, len), key, len);
    if (!m->hashes[i]) return 0;
    *value = m->values[i];
    return 1;
}

void rms_u64map_init(rms_u64map *m) { memset(m, 0, sizeof *m); }

void rms_u64map_free(rms_u64map *m) {
    free(m->keys);
    free(m->values);
    free(m->used);
    memset(m, 0, sizeof *m);
}

static int64_t u64map_find(const rms_u64map *m, uint64_t key) {
    const int64_t mask = m->cap - 1;
    for (int64_t i = (int64_t)(hash_u64(key) & (uint64_t)mask);; i = (i + 1) & mask)
        if (!m->used[i] || m->keys[i] == key) return i;
}

static int u64map_grow(rms_u64map *m) {
    rms_u64map g = {0};
    g.cap = m->cap ? m->cap * 2 : 1024;
    g.keys = malloc((size_t)g.cap * sizeof *g.keys);
    g.values = malloc((size_t)g.cap * sizeof *g.values);
    g.used = calloc((size_t)g.cap, 1);
    if (!g.keys || !g.values || !g.used) {
        rms_u64map_free(&g);
        return -1;
    }
    for (int64_t i = 0; i < m->cap; i++) {
        if (!m->used[i]) continue;
        const int64_t j = u64map_find(&g, m->keys[i]);
        g.used[j] = 1;
        g.keys[j] = m->keys[i];
        g.values[j] = m->values[i];
    }
    g.n = m->n;
    rms_u64map_free(m);
    *m = g;
    return 0;
}

int rms_u64map_put(rms_u64map *m, uint64_t key, uint64_t value) {
    if ((m->n + 1) * 4 > m->cap * 3 && u64map_grow(m) != 0) return -1;
    const int64_t i = u64map_find(m, key);
    if (!m->used[i]) {
        m->used[i] = 1;
        m->keys[i] = key;
        m->n++;
    }
    m->values[i] = value;
    return 0;
}

int rms_u64map_get(const rms_u64map *m, uint64_t key, uint64_t *value) {
    if (m->n == 0) return 0;
    const int64_t i = u64map_find(m, key);
    if (!m->used[i]) return 0;
    *value = m->values[i];
    return 1;
}
