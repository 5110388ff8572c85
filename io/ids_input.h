/* ids_input.h — one line of token ids as JSON ("[128000, 9906, 1917]"), as `score-ids` reads them.
 *
 * Ownership: rms_ids is a growable int32 buffer owned by the caller: init/free pair; rms_ids_parse_line
 * appends to it (so several lines can be packed into one batch) and reallocates as needed.
 */
#ifndef RMS_IDS_INPUT_H
#define RMS_IDS_INPUT_H

#include <stdint.h>

#include "src/base/status.h"

typedef struct rms_ids {
    int32_t *ids; // (cap)
    int64_t n;    // used
    int64_t cap;
} rms_ids;

void rms_ids_init(rms_ids *v);
void rms_ids_free(rms_ids *v);

/* Grows v to hold at least need ids (contents kept). Returns 0, or -1 when out of memory. */
int rms_ids_reserve(rms_ids *v, int64_t need);

/* Parses `line` (a JSON array of integers, trailing newline allowed) and appends its ids to v.
 * Fails with RMS_ERR_INPUT (and leaves v as it was) if the line is empty, not JSON, not an array,
 * empty, or holds a non-integer or an id outside [0, vocab). *n_added gets the number appended. */
rms_status rms_ids_parse_line(rms_ids *v, const char *line, int64_t vocab, int64_t *n_added, rms_err *err);

#endif
