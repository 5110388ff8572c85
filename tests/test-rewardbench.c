/* Unit tests of src/job/rewardbench.c (RewardBench's section weighting) on a small example computed by hand. */
#include "tests/check.h"
#include "src/job/rewardbench.h"

static void test_sections_weight_subsets_by_rewardbench_example_counts(void) {
    // Chat: alpacaeval-easy 0.9 (100 examples), alpacaeval-hard 0.8 (95) -> (90 + 76) / 195
    // Chat Hard: llmbar-natural 0.7 alone -> 0.7;  Safety: no subset -> absent
    // Reasoning: math-prm 0.5 (counted 984, not its 447 rows), hep-python 1.0 (164) -> (492 + 164) / 1148 = 4/7
    // prior sets: shp 0.6, summarize 0.4 -> plain mean 0.5
    // score: (2 * 166/195 + 2 * 0.7 + 2 * 4/7 + 1 * 0.5) / 7
    const char *names[] = {"alpacaeval-easy", "alpacaeval-hard", "llmbar-natural", "math-prm", "hep-python", "shp",
                           "summarize", "my-own-data", "donotanswer"};
    const double acc[] = {0.9, 0.8, 0.7, 0.5, 1.0, 0.6, 0.4, 0.123, NAN}; // donotanswer: nothing scored
    rms_rewardbench rb;
    rms_rewardbench_compute(names, acc, 9, &rb);
    CHECK_EQ_INT(rb.n_matched, 8); // my-own-data is not a RewardBench subset
    CHECK_NEAR(rb.section[0], 166.0 / 195.0, 1e-12);
    CHECK_NEAR(rb.section[1], 0.7, 1e-12);
    CHECK(isnan(rb.section[2]));
    CHECK_NEAR(rb.section[3], 4.0 / 7.0, 1e-12);
    CHECK_NEAR(rb.prior_sets, 0.5, 1e-12);
    CHECK_NEAR(rb.score, (2 * 166.0 / 195.0 + 2 * 0.7 + 2 * 4.0 / 7.0 + 0.5) / 7.0, 1e-12);
}

static void test_without_prior_sets_the_score_is_the_mean_of_the_sections(void) {
    const char *names[] = {"mt-bench-easy", "mt-bench-hard", "refusals-dangerous", "hep-go"};
    const double acc[] = {1.0, 0.5, 0.25, 0.75};
    rms_rewardbench rb;
    rms_rewardbench_compute(names, acc, 4, &rb);
    CHECK(isnan(rb.prior_sets));
    CHECK_NEAR(rb.score, (1.0 + 0.5 + 0.25 + 0.75) / 4.0, 1e-12);
}

static void test_no_rewardbench_subset_gives_no_score(void) {
    const char *names[] = {"sample/chat", "Math"};
    const double acc[] = {0.5, 0.5};
    rms_rewardbench rb;
    rms_rewardbench_compute(names, acc, 2, &rb);
    CHECK_EQ_INT(rb.n_matched, 0);
    CHECK(isnan(rb.score));
    for (int k = 0; k < RMS_RB_SECTIONS; k++) CHECK(isnan(rb.section[k]));
}

static void test_names_sections_and_weights_are_rewardbench_s(void) {
    CHECK(strcmp(rms_rewardbench_section_name(1), "Chat Hard") == 0);
    CHECK_EQ_INT(rms_rewardbench_section_of("xstest-should-respond"), 2);
    CHECK_EQ_INT(rms_rewardbench_section_of("anthropic_hhh"), RMS_RB_SECTIONS);
    CHECK_EQ_INT(rms_rewardbench_section_of("Chat"), -1);
    CHECK_EQ_INT(rms_rewardbench_weight("math-prm"), 984);
    CHECK_EQ_INT(rms_rewardbench_weight("xstest-should-respond"), 250);
    CHECK_EQ_INT(rms_rewardbench_weight("shp"), 0);
}

int main(void) {
    RUN(test_sections_weight_subsets_by_rewardbench_example_counts);
    RUN(test_without_prior_sets_the_score_is_the_mean_of_the_sections);
    RUN(test_no_rewardbench_subset_gives_no_score);
    RUN(test_names_sections_and_weights_are_rewardbench_s);
    return check_summary();
}
