/* schedule.h — how pairs become packed micro-batches: pure, deterministic functions (unit-tested).
 *
 * A micro-batch holds whole pairs (both the chosen and the rejected sequence of each row) so that a
 * row is finished when its batch is. Rows are ordered by total length, longest first (ties: lower
 * row first), and packed greedily under a token budget; a pair longer than the budget forms a batch
 * of its own. The plan depends only on the lengths, the rows included and the budget, so a resumed run
 * re-forms the same batches and their scores are bit-identical to an uninterrupted run's.
 *
 * Ownership: rms_plan is caller-allocated; rms_plan_build fills it, rms_plan_free releases it.
 */
#ifndef RMS_SCHEDULE_H
#define RMS_SCHEDULE_H

#include <stdint.h>

#include "src/base/status.h"

typedef struct rms_plan {
    int64_t n_batches;
    int64_t *batch_start; // (n_batches + 1): batch b is rows[batch_start[b] .. batch_start[b+1])
    int64_t *rows;        // (number of included rows) row indices, in batch order
    int64_t *batch_tokens;// (n_batches) tokens of each batch
} rms_plan;

/* Plans rows i with include[i] != 0; pair_tokens[i] = tokens of both sequences of row i (after any
 * truncation). budget >= 1. */
rms_status rms_plan_build(rms_plan *p, const int64_t *pair_tokens, const uint8_t *include, int64_t n, int64_t budget,
                          rms_err *err);
void rms_plan_free(rms_plan *p);

/* Length of a sequence after the over-long policy: max_tokens <= 0 means no limit; with truncate_left
 * a longer sequence keeps its last max_tokens tokens, else it is skipped (returns -1). */
int64_t rms_effective_length(int64_t len, int64_t max_tokens, int truncate_left);

/* What of each sequence is computed, compacting the n_seqs sequences of ids/offsets in place; returns the new
 * total of tokens.
 *  - keep_last > 0 (--overlong truncate-left): a longer sequence keeps its last keep_last tokens.
 *  - pad_id >= 0: pooling as transformers (>= 4.48) does it for a model whose config has a pad_token_id, the
 *    score read at the last token that is not pad_id (position 0 when every token is pad_id). A causal model's
 *    output at a position depends only on the tokens up to it, so dropping each sequence's trailing pad_id
 *    tokens (keeping at least one) gives exactly that score at the last token. Applied after the truncation. */
int64_t rms_trim_sequences(int32_t *ids, int64_t *offsets, int64_t n_seqs, int64_t keep_last, int64_t pad_id);

/* ---- shared prompt prefixes ---- */

/* How many leading tokens of a pair are computed once: the common prefix of its two sequences (lengths c
 * and r), at most min(c, r) - 1 so that each continuation keeps a token to score; 0 if nothing is shared. */
int64_t rms_shareable_prefix(int64_t common, int64_t c, int64_t r);

/* Rewrites a micro-batch of k pairs — 2k sequences in ids/offsets, chosen then rejected per row — so that
 * the prefix a row's two sequences share (rms_shareable_prefix of their common prefix) is a sequence of
 * its own, followed by the chosen and the rejected continuation, both with the prefix as parent
 * (src/engine/forward.h); a row with nothing shared stays two sequences. Outputs (caller-allocated):
 * out_ids (<= offsets[2k]), out_offsets (<= 3k + 1), parent (<= 3k), and seq_of (2k): where input
 * sequence s (2i chosen, 2i+1 rejected) ends up. Returns the number of output sequences. */
int64_t rms_share_prefixes(const int32_t *ids, const int64_t *offsets, int64_t k, int32_t *out_ids,
                           int64_t *out_offsets, int64_t *parent, int64_t *seq_of);

#endif
