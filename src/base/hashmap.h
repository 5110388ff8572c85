/* hashmap.h — two small open-addressing hash maps for the tokenizer's tables.
 *
 *   rms_strmap: byte string -> int64 (keys copied into the map's own arena)
 *   rms_u64map: uint64 key  -> uint64 value
 *
 * init/free pairs; the maps own all their memory. Not thread-safe for concurrent writes. Insert of an
 * existing key overwrites its value. Allocation failure returns -1 (the map stays valid).
 */
#ifndef RMS_HASHMAP_H
#define RMS_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct rms_strmap {
    uint64_t *hashes;   // (cap) 0 = empty slot
    int64_t *key_off;   // (cap) offset of the key in arena
    uint32_t *key_len;  // (cap)
    int64_t *values;    // (cap)
    int64_t cap, n;
    char *arena;        // (arena_cap) key bytes
    int64_t arena_len, arena_cap;
} rms_strmap;

void rms_strmap_init(rms_strmap *m);
void rms_strmap_free(rms_strmap *m);
/* Removes every entry, keeping the allocations. */
void rms_strmap_clear(rms_strmap *m);
int rms_strmap_put(rms_strmap *m, const char *key, size_t len, int64_t value);
/* 1 and *value if found, else 0. */
int rms_strmap_get(const rms_strmap *m, const char *key, size_t len, int64_t *value);

typedef struct rms_u64map {
    uint64_t *keys;    // (cap)
    uint64_t *values;  // (cap)
    uint8_t *used;     // (cap)
    int64_t cap, n;
} rms_u64map;

void rms_u64map_init(rms_u64map *m);
void rms_u64map_free(rms_u64map *m);
int rms_u64map_put(rms_u64map *m, uint64_t key, uint64_t value);
int rms_u64map_get(const rms_u64map *m, uint64_t key, uint64_t *value);

#endif
