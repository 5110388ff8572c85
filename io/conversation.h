/* conversation.h — a conversation as JSON: a list of {"role": str, "content": str} messages (extra
 * keys ignored), as `render` reads it per line and as the preference datasets hold chosen/rejected.
 *
 * Ownership: rms_conversation is caller-allocated; its messages array is owned by it (free with
 * rms_conversation_free). Role and content strings are borrowed from the cJSON tree it was built from:
 * rms_conversation_parse owns that tree; rms_conversation_from_json borrows the caller's.
 */
#ifndef RMS_CONVERSATION_H
#define RMS_CONVERSATION_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "src/base/status.h"

/* One message; strings borrowed (see above). */
typedef struct rms_message {
    const char *role;    /* borrowed */
    const char *content; /* borrowed, UTF-8 */
    size_t content_len;
} rms_message;

typedef struct rms_conversation {
    cJSON *root;       // owned when parsed from text, else NULL
    rms_message *msgs; // (n), owned
    int64_t n;
} rms_conversation;

/* Builds from a parsed JSON list. Errors (RMS_ERR_INPUT): not a list, a message that is not an object,
 * role or content missing or not a string ("message 2: content is not a string"). */
rms_status rms_conversation_from_json(rms_conversation *c, const cJSON *list, rms_err *err);
/* Parses one line of JSON text. A \u0000 escape is refused (C strings cannot carry U+0000 here). */
rms_status rms_conversation_parse(rms_conversation *c, const char *json, rms_err *err);
void rms_conversation_free(rms_conversation *c);

#endif
