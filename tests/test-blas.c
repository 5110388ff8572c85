/* Unit tests of src/blas.c: the OpenBLAS kernel-selection policy. */
#include "tests/check.h"
#include "src/engine/blas.h"

static void test_core_ranks_order_generic_below_avx2_below_avx512(void) {
    CHECK(rms_blas_core_rank("Prescott") < rms_blas_core_rank("Haswell"));
    CHECK(rms_blas_core_rank("Haswell") < rms_blas_core_rank("SkylakeX"));
    CHECK(rms_blas_core_rank("SkylakeX") < rms_blas_core_rank("Cooperlake"));
    CHECK_EQ_INT(rms_blas_core_rank("NoSuchCore"), 0);
    CHECK_EQ_INT(rms_blas_core_rank(NULL), 0);
}

static void test_keep_policy_never_restarts(void) {
    const char *core = "x";
    CHECK_EQ_INT(rms_blas_core_plan("keep", NULL, 0, &core), 0);
    CHECK(core == NULL);
}

static void test_a_restarted_process_never_restarts_again(void) {
    const char *core;
    CHECK_EQ_INT(rms_blas_core_plan("Prescott-does-not-matter", NULL, 1, &core), 0);
    CHECK_EQ_INT(rms_blas_core_plan(NULL, NULL, 1, &core), 0);
}

static void test_a_forced_core_restarts_unless_already_in_use(void) {
    const char *core;
    CHECK_EQ_INT(rms_blas_core_plan("NoSuchCore", NULL, 0, &core), 1);
    CHECK(core && strcmp(core, "NoSuchCore") == 0);
    CHECK_EQ_INT(rms_blas_core_plan(rms_blas_corename(), NULL, 0, &core), 0);
}

static void test_auto_restarts_exactly_when_the_cpu_supports_a_better_core(void) {
    const char *core;
    const char *best = rms_blas_best_core_for_cpu();
    const int want = best && rms_blas_core_rank(best) > rms_blas_core_rank(rms_blas_corename());
    CHECK_EQ_INT(rms_blas_core_plan("auto", NULL, 0, &core), want);
    CHECK_EQ_INT(rms_blas_core_plan(NULL, NULL, 0, &core), want);
    if (want) CHECK(strcmp(core, best) == 0);
}

static void test_the_default_keeps_a_core_type_the_environment_chose_and_auto_does_not(void) {
    const char *core = "x";
    CHECK_EQ_INT(rms_blas_core_plan(NULL, "Prescott", 0, &core), 0);
    CHECK(core == NULL);
    CHECK_EQ_INT(rms_blas_core_plan("", "Haswell", 0, &core), 0);
    // RMSCORE_BLAS_CORE=auto upgrades exactly when the CPU supports a better core than the loaded one
    const char *best = rms_blas_best_core_for_cpu();
    const int want = best && rms_blas_core_rank(best) > rms_blas_core_rank(rms_blas_corename());
    CHECK_EQ_INT(rms_blas_core_plan("auto", "Prescott", 0, &core), want);
    // an explicit RMSCORE_BLAS_CORE still wins over it
    CHECK_EQ_INT(rms_blas_core_plan("NoSuchCore", "Haswell", 0, &core), 1);
    CHECK(core && strcmp(core, "NoSuchCore") == 0);
}

static void test_available_cpus_is_at_least_one(void) { CHECK(rms_available_cpus() >= 1); }

int main(void) {
    RUN(test_core_ranks_order_generic_below_avx2_below_avx512);
    RUN(test_keep_policy_never_restarts);
    RUN(test_a_restarted_process_never_restarts_again);
    RUN(test_a_forced_core_restarts_unless_already_in_use);
    RUN(test_auto_restarts_exactly_when_the_cpu_supports_a_better_core);
    RUN(test_the_default_keeps_a_core_type_the_environment_chose_and_auto_does_not);
    RUN(test_available_cpus_is_at_least_one);
    return check_summary();
}
