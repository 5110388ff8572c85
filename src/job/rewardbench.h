/* rewardbench.h — RewardBench's section scores from per-subset accuracies, weighted as RewardBench weights them
 * (allenai/reward-bench: rewardbench/constants.py EXAMPLE_COUNTS and SUBSET_MAPPING, utils.py
 * calculate_scores_per_section, analysis/get_benchmark_results.py for the prior sets and the overall score):
 *  - a section (Chat, Chat Hard, Safety, Reasoning) = the mean of its subsets' accuracies weighted by each subset's
 *    example count, over the subsets present (math-prm counts 984, not its 447 rows: RewardBench up-weights it to
 *    equal the code subsets together); a section with no subset present is absent;
 *  - the prior sets = the plain mean of the accuracies of anthropic_helpful, anthropic_hhh, shp and summarize present;
 *  - the score = the mean of the sections present and the prior sets, weighted 2, 2, 2, 2 and 1.
 * Subsets are matched by exact name (the `subset` field of RewardBench rows is each pair's source).
 * Pure functions; rms_rewardbench is a plain value.
 */
#ifndef RMS_REWARDBENCH_H
#define RMS_REWARDBENCH_H

#include <stdint.h>

#define RMS_RB_SECTIONS 4

typedef struct rms_rewardbench {
    int n_matched;                       // sources that are RewardBench subsets or prior sets
    double section[RMS_RB_SECTIONS];     // NaN when absent, in the order of rms_rewardbench_section_name
    double prior_sets;                   // NaN when absent
    double score;                        // NaN when nothing matched
} rms_rewardbench;

/* The name of section i (0..RMS_RB_SECTIONS-1): "Chat", "Chat Hard", "Safety", "Reasoning". */
const char *rms_rewardbench_section_name(int i);

/* The section of a subset name (0..3), RMS_RB_SECTIONS for a prior set, -1 for neither. */
int rms_rewardbench_section_of(const char *subset);

/* The example count RewardBench weights a subset by (0 for a name that is not a subset). */
int64_t rms_rewardbench_weight(const char *subset);

/* Section scores of n sources: names[i] with accuracy accuracy[i] (NaN: nothing scored, left out). */
void rms_rewardbench_compute(const char *const *names, const double *accuracy, int64_t n, rms_rewardbench *out);

#endif
