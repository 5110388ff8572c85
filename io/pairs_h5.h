/* pairs_h5.h — the preference dataset file (`prepare` writes, `score`/`report`/`export` read).
 *
 * HDF5 layout (see README "HDF5 dataset"): group /pairs, N rows, every dataset 1-D of length N,
 * chunked (RMS_PAIRS_CHUNK_ROWS rows), deflate-compressed (fixed-size datasets also shuffled):
 *   id, source                 variable-length UTF-8 strings
 *   chosen_ids, rejected_ids   variable-length int32 arrays (rendered + tokenized conversations)
 *   chosen_len, rejected_len   int32: lengths of those arrays (read without touching the ids)
 *   shared_prefix              int32: longest common prefix of the two id arrays
 *   chosen_text, rejected_text variable-length UTF-8 strings: the source conversations as JSON
 *   status                     int8: 0 ok, 3 bad input (then the ids are empty)
 *   error                      variable-length UTF-8 string: why a row is bad ("" when ok)
 * Attributes of /pairs: tokenizer_sha256, template (its name), template_sha256 (of its source), format (of the
 * input rows: tulu, rewardbench, trl), tokenization (chat-template or text-with-special), tool_version (strings),
 * n_rows (int64). Files written before template_sha256/format/tokenization were recorded read as "", "tulu" and
 * "chat-template" (what prepare did then).
 *
 * Writing streams: rows are buffered and written a chunk at a time, so memory does not grow with N.
 * Ownership: rms_pairs_writer and rms_pairs_reader are opaque: *_open allocates one and returns it
 * through its first argument (NULL on failure), *_close frees it (the writer's close also on error);
 * the caller never allocates or frees them itself. Strings and arrays handed to append are copied.
 * Data returned by the readers goes into caller-owned buffers (documented per function).
 */
#ifndef RMS_PAIRS_H5_H
#define RMS_PAIRS_H5_H

#include <hdf5.h>
#include <stdint.h>

#include "src/base/status.h"
#include "src/base/text.h"
#include "io/ids_input.h"

#define RMS_PAIRS_CHUNK_ROWS 1024
/* Limits a pairs file must respect (README "What rmscore refuses, and how"): rows (the largest preference sets
 * have ~10^6 pairs) and ids of one conversation (contexts of published models reach 10^7 tokens); both far
 * below where a per-row array, a row offset or a token count could overflow. */
#define RMS_PAIRS_MAX_ROWS ((int64_t)1 << 32)
#define RMS_PAIRS_MAX_IDS ((int64_t)1 << 24)
#define RMS_PAIR_STATUS_OK 0
#define RMS_PAIR_STATUS_BAD 3

typedef struct rms_pairs_meta {
    char tokenizer_sha256[65];
    char template_name[64];
    char template_sha256[65];
    char format[16];       // "tulu", "rewardbench", "trl"
    char tokenization[32]; // "chat-template", "text-with-special"
    char tool_version[32];
    int64_t n_rows; /* filled by the reader; ignored by the writer (it counts) */
} rms_pairs_meta;

typedef struct rms_pair_row {
    const char *id, *source;            /* UTF-8, NUL-terminated */
    const char *chosen_text, *rejected_text;
    const char *error;                  /* "" or NULL when ok */
    const int32_t *chosen_ids;          /* (n_chosen) */
    int64_t n_chosen;
    const int32_t *rejected_ids;        /* (n_rejected) */
    int64_t n_rejected;
    int32_t shared_prefix;
    int8_t status;
} rms_pair_row;

typedef struct rms_pairs_writer rms_pairs_writer; /* opaque */

/* Creates (truncates) path; *w is the new writer, to be freed by rms_pairs_writer_close. */
rms_status rms_pairs_writer_open(rms_pairs_writer **w, const char *path, const rms_pairs_meta *meta, rms_err *err);
rms_status rms_pairs_writer_append(rms_pairs_writer *w, const rms_pair_row *row, rms_err *err);
/* The format attribute written at close (meta->format until set). */
void rms_pairs_writer_set_format(rms_pairs_writer *w, const char *format);
/* Writes buffered rows and the format and n_rows attributes, closes and frees w (also on error). */
rms_status rms_pairs_writer_close(rms_pairs_writer *w, rms_err *err);

typedef struct rms_pairs_reader rms_pairs_reader; /* opaque */

/* Opens path read-only and checks the layout (every dataset present, same length N <= RMS_PAIRS_MAX_ROWS, right
 * types);
 * fills *meta and sets *r to the new reader (to be freed by rms_pairs_reader_close). A missing or malformed
 * file is a clear error naming the file and the dataset. */
rms_status rms_pairs_reader_open(rms_pairs_reader **r, const char *path, rms_pairs_meta *meta, rms_err *err);
/* Closes and frees r (NULL is fine). */
void rms_pairs_reader_close(rms_pairs_reader *r);

/* Reads the fixed-size columns for rows [0, N) into caller arrays of N elements (any may be NULL). Checks each row
 * of what it read: lengths in [0, RMS_PAIRS_MAX_IDS], status 0 or 3, shared_prefix in [0, min(lengths)] (when both
 * lengths are read too); a row outside is RMS_ERR_FORMAT naming the row ("corrupt file"). */
rms_status rms_pairs_reader_columns(rms_pairs_reader *r, int32_t *chosen_len, int32_t *rejected_len,
                                    int32_t *shared_prefix, int8_t *status, rms_err *err);

/* Reads the ids of n rows (any order; rows may repeat) and appends them to out: row rows[i]'s chosen
 * ids then its rejected ids, in the order of rows. offsets (2n + 1, caller-owned) gets the sequence
 * boundaries relative to out->n at entry: sequence 2i = chosen of rows[i], 2i+1 = rejected. Checks that
 * the stored lengths match chosen_len/rejected_len (corrupt file otherwise). */
rms_status rms_pairs_reader_ids(rms_pairs_reader *r, const int64_t *rows, int64_t n, rms_ids *out, int64_t *offsets,
                                rms_err *err);

/* Reads string column `name` ("id", "source", "error", "chosen_text", "rejected_text") for rows
 * [row0, row0 + n) into out: the strings one after the other, each NUL-terminated; starts (n,
 * caller-owned) gets each string's offset in out->data. out is replaced. */
rms_status rms_pairs_reader_strings(rms_pairs_reader *r, const char *name, int64_t row0, int64_t n, rms_text *out,
                                    int64_t *starts, rms_err *err);

#endif
