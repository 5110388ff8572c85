/* Unit tests of mpi/layout.c: ranks, roles and the layer split of an MPI scoring job. */
#include <stdint.h>

#include "tests/check.h"
#include "mpi/layout.h"

static void test_workers_form_replicas_of_consecutive_stages(void) {
    rms_layout l;
    rms_err err;
    CHECK_EQ_INT(rms_layout_make(7, 3, &l, &err), RMS_OK);
    CHECK_EQ_INT(l.replicas, 2);
    const rms_role root = rms_layout_role(&l, 0);
    CHECK(root.is_root);
    const rms_role r4 = rms_layout_role(&l, 4); // worker 3: replica 1, stage 0
    CHECK(!r4.is_root);
    CHECK_EQ_INT(r4.replica, 1);
    CHECK_EQ_INT(r4.stage, 0);
    CHECK_EQ_INT(r4.prev_rank, 0);
    CHECK_EQ_INT(r4.next_rank, 5);
    const rms_role r6 = rms_layout_role(&l, 6); // replica 1, last stage: results go to the root
    CHECK_EQ_INT(r6.stage, 2);
    CHECK_EQ_INT(r6.prev_rank, 5);
    CHECK_EQ_INT(r6.next_rank, 0);
    CHECK_EQ_INT(rms_layout_rank(&l, 1, 2), 6);
    CHECK_EQ_INT(rms_layout_rank(&l, 0, 0), 1);
}

static void test_worker_counts_that_do_not_divide_by_the_stages_are_refused(void) {
    rms_layout l;
    rms_err err;
    CHECK_EQ_INT(rms_layout_make(4, 2, &l, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "-np 3");
    CHECK_CONTAINS(err.msg, "-np 5");
    CHECK_EQ_INT(rms_layout_make(1, 1, &l, &err), RMS_ERR_USAGE);
    CHECK_EQ_INT(rms_layout_make(5, 4, &l, &err), RMS_OK);
    CHECK_EQ_INT(l.replicas, 1);
}

static void test_balanced_split_gives_the_first_stages_the_extra_layers(void) {
    rms_err err;
    int64_t l0, l1, covered = 0;
    const int64_t want[4][2] = {{0, 9}, {9, 17}, {17, 25}, {25, 33}};
    for (int s = 0; s < 4; s++) {
        CHECK_EQ_INT(rms_layout_stage_layers(33, 4, NULL, 0, s, &l0, &l1, &err), RMS_OK);
        CHECK_EQ_INT(l0, want[s][0]);
        CHECK_EQ_INT(l1, want[s][1]);
        covered += l1 - l0;
    }
    CHECK_EQ_INT(covered, 33);
    CHECK_EQ_INT(rms_layout_stage_layers(32, 1, NULL, 0, 0, &l0, &l1, &err), RMS_OK);
    CHECK(l0 == 0 && l1 == 32);
    CHECK_EQ_INT(rms_layout_stage_layers(2, 3, NULL, 0, 0, &l0, &l1, &err), RMS_ERR_USAGE);
}

static void test_an_explicit_split_is_used_as_given_and_checked(void) {
    rms_err err;
    int64_t l0, l1;
    const int64_t split[3] = {6, 14, 12};
    CHECK_EQ_INT(rms_layout_stage_layers(32, 3, split, 3, 1, &l0, &l1, &err), RMS_OK);
    CHECK(l0 == 6 && l1 == 20);
    const int64_t short_split[3] = {6, 14, 11};
    CHECK_EQ_INT(rms_layout_stage_layers(32, 3, short_split, 3, 0, &l0, &l1, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "sums to 31");
    CHECK_EQ_INT(rms_layout_stage_layers(32, 2, split, 3, 0, &l0, &l1, &err), RMS_ERR_USAGE);
    // entries whose sum would overflow int64 (and wrap to exactly 32) are refused one by one
    const int64_t huge[3] = {INT64_MAX / 2 + 1, INT64_MAX / 2 + 1, 32};
    CHECK_EQ_INT(rms_layout_stage_layers(32, 3, huge, 3, 2, &l0, &l1, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "the layer split gives stage 0 4611686018427387904 layers, the model has 32");
    const int64_t zero[2] = {0, 32};
    CHECK_EQ_INT(rms_layout_stage_layers(32, 2, zero, 2, 1, &l0, &l1, &err), RMS_ERR_USAGE);
    CHECK_CONTAINS(err.msg, "gives stage 0 no layers");
}

static void test_a_rank_describes_its_role_and_layers_for_the_start_line(void) {
    rms_layout l;
    rms_err err;
    char buf[96];
    CHECK_EQ_INT(rms_layout_make(7, 3, &l, &err), RMS_OK);
    rms_layout_describe(&l, 0, 0, 0, buf, sizeof buf);
    CHECK(strcmp(buf, "root") == 0);
    rms_layout_describe(&l, 5, 11, 22, buf, sizeof buf); // replica 1, stage 1
    CHECK(strcmp(buf, "replica 1 stage 1: layers 11-21") == 0);
    rms_layout_describe(&l, 3, 0, 0, buf, sizeof buf); // layers not known yet
    CHECK(strcmp(buf, "replica 0 stage 2") == 0);
    char tiny[8];
    rms_layout_describe(&l, 5, 11, 22, tiny, sizeof tiny);
    CHECK(strcmp(tiny, "replica") == 0);
}

static void test_cpu_sets_print_as_compact_ranges(void) {
    char buf[64];
    unsigned char on[16] = {0};
    rms_cpu_list_format(on, 16, buf, sizeof buf);
    CHECK(strcmp(buf, "none") == 0);
    on[0] = on[1] = on[2] = on[3] = on[8] = 1;
    rms_cpu_list_format(on, 16, buf, sizeof buf);
    CHECK(strcmp(buf, "0-3,8") == 0);
    memset(on, 0, sizeof on);
    on[1] = on[3] = on[4] = on[15] = 1;
    rms_cpu_list_format(on, 16, buf, sizeof buf);
    CHECK(strcmp(buf, "1,3-4,15") == 0);
    memset(on, 1, sizeof on);
    rms_cpu_list_format(on, 16, buf, sizeof buf);
    CHECK(strcmp(buf, "0-15") == 0);
}

static void test_a_cpu_list_too_long_for_its_buffer_keeps_whole_items_and_ends_with_dots(void) {
    unsigned char on[64] = {0};
    for (int c = 0; c < 64; c += 2) on[c] = 1; // 0,2,4,...,62
    char buf[16];
    rms_cpu_list_format(on, 64, buf, sizeof buf);
    CHECK(strlen(buf) < sizeof buf);
    CHECK(strcmp(buf, "0,2,4,6,8,...") == 0);
    char small[5];
    rms_cpu_list_format(on, 64, small, sizeof small);
    CHECK(strcmp(small, "...") == 0);
    CHECK(strlen(small) < sizeof small);
}

static void test_the_peer_timeout_takes_positive_seconds_only(void) {
    double t = 20;
    CHECK_EQ_INT(rms_peer_timeout_parse(NULL, &t), 0);
    CHECK_EQ_INT(rms_peer_timeout_parse("", &t), 0);
    CHECK_NEAR(t, 20, 0);
    CHECK_EQ_INT(rms_peer_timeout_parse("45", &t), 0);
    CHECK_NEAR(t, 45, 0);
    CHECK_EQ_INT(rms_peer_timeout_parse("2.5", &t), 0);
    CHECK_NEAR(t, 2.5, 0);
    const char *bad[] = {"0", "-3", "abc", "10s", "1e9", "nan", " "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        t = 7;
        CHECK_EQ_INT(rms_peer_timeout_parse(bad[i], &t), -1);
        CHECK_NEAR(t, 7, 0);
    }
}

int main(void) {
    RUN(test_workers_form_replicas_of_consecutive_stages);
    RUN(test_worker_counts_that_do_not_divide_by_the_stages_are_refused);
    RUN(test_balanced_split_gives_the_first_stages_the_extra_layers);
    RUN(test_an_explicit_split_is_used_as_given_and_checked);
    RUN(test_a_rank_describes_its_role_and_layers_for_the_start_line);
    RUN(test_cpu_sets_print_as_compact_ranges);
    RUN(test_a_cpu_list_too_long_for_its_buffer_keeps_whole_items_and_ends_with_dots);
    RUN(test_the_peer_timeout_takes_positive_seconds_only);
    return check_summary();
}
