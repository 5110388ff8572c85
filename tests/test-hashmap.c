/* Unit tests of src/base/hashmap.c: string and integer maps (growth, overwrite, empty keys). */
#include "tests/check.h"
#include "src/base/hashmap.h"

static void test_an_empty_key_is_stored_in_a_fresh_map(void) {
    rms_strmap m;
    rms_strmap_init(&m);
    int64_t v = -1;
    CHECK_EQ_INT(rms_strmap_get(&m, "", 0, &v), 0);
    CHECK_EQ_INT(rms_strmap_put(&m, "", 0, 7), 0); // before any key allocated the arena
    CHECK_EQ_INT(rms_strmap_get(&m, "", 0, &v), 1);
    CHECK_EQ_INT(v, 7);
    CHECK_EQ_INT(rms_strmap_put(&m, "a", 1, 8), 0);
    CHECK_EQ_INT(rms_strmap_get(&m, "", 0, &v), 1);
    CHECK_EQ_INT(v, 7);
    rms_strmap_free(&m);
}

static void test_string_keys_survive_growth_and_overwrite(void) {
    rms_strmap m;
    rms_strmap_init(&m);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        CHECK_EQ_INT(rms_strmap_put(&m, key, strlen(key), i), 0);
    }
    CHECK_EQ_INT(rms_strmap_put(&m, "key-42", 6, -42), 0);
    int ok = 1;
    for (int i = 0; i < 5000; i++) {
        int64_t v;
        snprintf(key, sizeof key, "key-%d", i);
        ok &= rms_strmap_get(&m, key, strlen(key), &v) == 1 && v == (i == 42 ? -42 : i);
    }
    CHECK(ok);
    int64_t v;
    CHECK_EQ_INT(rms_strmap_get(&m, "key-5000", 8, &v), 0);
    CHECK_EQ_INT(m.n, 5000);
    rms_strmap_free(&m);
}

static void test_integer_keys_map_to_their_values(void) {
    rms_u64map m;
    rms_u64map_init(&m);
    for (uint64_t k = 0; k < 3000; k++) CHECK_EQ_INT(rms_u64map_put(&m, k * 2654435761u, k + 1), 0);
    int ok = 1;
    for (uint64_t k = 0; k < 3000; k++) {
        uint64_t v = 0;
        ok &= rms_u64map_get(&m, k * 2654435761u, &v) == 1 && v == k + 1;
    }
    CHECK(ok);
    uint64_t v;
    CHECK_EQ_INT(rms_u64map_get(&m, 1, &v), 0);
    rms_u64map_free(&m);
}

int main(void) {
    RUN(test_an_empty_key_is_stored_in_a_fresh_map);
    RUN(test_string_keys_survive_growth_and_overwrite);
    RUN(test_integer_keys_map_to_their_values);
    return check_summary();
}
