/* preflight.h — a process's memory need before it touches its weights, against what its node lets it use,
 * so a rank that would thrash (or be killed by the cgroup's --mem limit) stops first with a clear error and
 * advice instead. Plain values; nothing to free.
 *
 * The need of a process holding decoder layers [l0, l1):
 *   weights      the slice's tensors as stored (torch_dtype: bf16 2 bytes, f16 2, f32 4): what its mmap'd pages
 *                hold once touched; plus the embedding table when l0 == 0 (an upper bound: only the rows of
 *                the tokens seen are touched) and the final norm and score head when l1 == n_layers
 *   activations  rms_workspace_bytes for the job's largest micro-batch (rms_preflight_largest_batch: the budget,
 *                or one pair longer than it) and its longest sequence (rms_preflight_longest), on `threads`
 *   transfer     a pipeline stage's buffers for the hidden states of `slots` micro-batches in flight
 */
#ifndef RMS_PREFLIGHT_H
#define RMS_PREFLIGHT_H

#include <stdint.h>

#include "io/config.h"
#include "src/base/status.h"
#include "src/job/score_job.h"

typedef struct rms_mem_need {
    int64_t weights, activations, transfer, total; // bytes
} rms_mem_need;

void rms_preflight_need(const rms_config *c, int64_t l0, int64_t l1, int64_t batch_tokens, int64_t max_ctx,
                        int threads, int slots, rms_mem_need *need);

/* The most tokens one micro-batch of this run holds (the plan's largest batch with rows pending): at most the
 * budget (--microbatch-tokens), or one pair longer than it (both its sequences, after --max-tokens; schedule.h). */
int64_t rms_preflight_largest_batch(const rms_score_job *j);

/* The longest sequence the job will compute (--max-tokens applied): the longest context a batch can have. */
int64_t rms_preflight_longest(const rms_score_job *j);

/* Compares need, times the ranks_on_node processes that share this node's memory, with rms_mem_usable.
 * Too little is RMS_ERR_UNSUPPORTED: "<who> needs 14.2 GiB (weights 12.1, activations 1.9, transfer 0.2) x 2
 * processes on this node, but may use 16.0 GiB (cgroup memory.max): use more pipeline stages (--stages) or a
 * smaller --microbatch-tokens, or ask Slurm for more (--mem)". Unknown usable memory passes. */
rms_status rms_preflight_check(const rms_mem_need *need, int64_t ranks_on_node, const char *who, rms_err *err);

/* One line on stderr: "rmscore: score: memory: <who> needs 3.9 GiB (weights 3.5, activations 0.3, transfer 0.1)
 * x 1 process(es); may use 21.2 GiB (MemAvailable)". */
void rms_preflight_log(const rms_mem_need *need, int64_t ranks_on_node, const char *who);

#endif
