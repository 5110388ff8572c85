/* pref_row.h — one row of a preference JSONL file (the bytes of one line) as a normalised pair, for
 * `rmscore prepare`: an id, a source, and the two conversations a chat template renders.
 *
 * Formats (rms_row_format):
 *   tulu         the Tülu 3 preference mixture: {"id", "source", "prompt": str (ignored), "chosen": [messages],
 *                "rejected": [messages]}; chosen and rejected are whole conversations.
 *   rewardbench  allenai/reward-bench rows: {"prompt": str, "chosen": str, "rejected": str, "subset": str,
 *                "id": int or str}; chosen = [{"role": "user", "content": prompt}, {"role": "assistant",
 *                "content": chosen}], rejected alike; source = subset.
 *   trl          TRL's conversational preference format: {"prompt": [messages], "chosen": [messages],
 *                "rejected": [messages]}; chosen = prompt + chosen (list concatenation), rejected alike.
 *
 * Detection (RMS_ROW_AUTO) looks at shapes only: "chosen" a string -> rewardbench; "chosen" a list and
 * "prompt" a list -> trl; "chosen" a list otherwise -> tulu. Then the row must fit its format: "rejected" of
 * the same type as "chosen", a rewardbench "prompt" a string, every message of a list an object (what is in
 * a message is kept as it is: content a string, a list or null, extra keys), and each resulting conversation
 * non-empty. Every failure is RMS_ERR_INPUT with a reason ("no \"chosen\"", "\"chosen\" is a number, expected
 * a list of messages or a string", "message 2 of \"chosen\" is not an object"); with a format imposed, a row
 * of another shape is an error naming both. Mixing formats in one file is the caller's check:
 * rms_pref_row.format is the format of each row.
 *
 * id and source, in every format: "id" a string is kept; an integer is written as Python's str(int);
 * missing or null, the row index in decimal; another type is an error. "source" (rewardbench: "subset") a
 * string is kept; missing or null is ""; another type is an error. An id or source holding U+0000 is an
 * error (they are stored as C strings).
 *
 * Ownership: everything a rms_pref_row points at lives in the rms_json_doc passed in (parsed or built
 * there) and stays valid until that doc is freed; the row itself is a plain value.
 */
#ifndef RMS_PREF_ROW_H
#define RMS_PREF_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "io/json_value.h"
#include "src/base/status.h"

/* The values follow the order of RMS_ROW_FORMAT_CHOICES, so an RMS_OPT_CHOICE index is a format. */
typedef enum rms_row_format {
    RMS_ROW_AUTO = 0, /* detect from the row's shape */
    RMS_ROW_TULU = 1,
    RMS_ROW_REWARDBENCH = 2,
    RMS_ROW_TRL = 3,
} rms_row_format;

#define RMS_ROW_FORMAT_CHOICES "auto|tulu|rewardbench|trl"

typedef struct rms_pref_row {
    rms_row_format format;     /* the row's format (never RMS_ROW_AUTO after a successful parse) */
    const char *id;            /* (id_len) NUL-terminated, no NUL inside */
    size_t id_len;
    const char *source;        /* (source_len) NUL-terminated, no NUL inside; "" when none */
    size_t source_len;
    const rms_json *chosen;    /* the chosen conversation: a non-empty JSON array of message objects */
    const rms_json *rejected;  /* the rejected conversation, alike */
    const rms_json *root;      /* the row object as parsed */
} rms_pref_row;

/* "auto", "tulu", "rewardbench", "trl"; "?" for a value out of the enum. */
const char *rms_row_format_name(rms_row_format f);

/* The format called name (one of the names above). 0, or -1 when name is none of them. */
int rms_row_format_parse(const char *name, rms_row_format *f);

/* The format of row (a parsed JSON value) from its shape alone (see above): whether it is an object with
 * "chosen" and "rejected", and the types of "chosen" and "prompt". Errors: RMS_ERR_INPUT with the reason. */
rms_status rms_row_format_detect(const rms_json *row, rms_row_format *f, rms_err *err);

/* Makes *row from a parsed row value: detects the format (want = RMS_ROW_AUTO) or checks that the row has
 * the shape of want; builds the conversations of rewardbench and trl rows in doc. index is the 0-based row
 * number (the id when the row has none). On an error after the format was detected, row->format and row->root
 * are set (the rest is not), so a caller can still tell which format a bad row has. */
rms_status rms_pref_row_from_json(rms_json_doc *doc, const rms_json *root, int64_t index, rms_row_format want,
                                  rms_pref_row *row, rms_err *err);

/* Parses line (len bytes: one JSON object, whitespace and a trailing newline allowed) into doc, then as
 * rms_pref_row_from_json. A line of whitespace only is the error "empty line". */
rms_status rms_pref_row_parse(rms_json_doc *doc, const char *line, size_t len, int64_t index, rms_row_format want,
                              rms_pref_row *row, rms_err *err);

#endif
