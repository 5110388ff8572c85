/* Unit tests of mpi/layout.c: ranks, roles and the layer split of an MPI scoring job. */
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
}

int main(void) {
    RUN(test_workers_form_replicas_of_consecutive_stages);
    RUN(test_worker_counts_that_do_not_divide_by_the_stages_are_refused);
    RUN(test_balanced_split_gives_the_first_stages_the_extra_layers);
    RUN(test_an_explicit_split_is_used_as_given_and_checked);
    return check_summary();
}
