#include "io/conversation.h"

#include <stdlib.h>
#include <string.h>

#include "io/json_string.h"

rms_status rms_conversation_from_json(rms_conversation *c, const cJSON *list, rms_err *err) {
    memset(c, 0, sizeof *c);
    if (!cJSON_IsArray(list)) return rms_fail(err, RMS_ERR_INPUT, "a conversation must be a JSON list of messages");
    const int64_t n = cJSON_GetArraySize(list);
    c->msgs = calloc((size_t)(n > 0 ? n : 1), sizeof *c->msgs);
    if (!c->msgs) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    int64_t i = 0;
    for (const cJSON *m = list->child; m; m = m->next, i++) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        rms_status st = RMS_OK;
        if (!cJSON_IsObject(m))
            st = rms_fail(err, RMS_ERR_INPUT, "message %lld is not an object", (long long)i + 1);
        else if (!cJSON_IsString(role))
            st = rms_fail(err, RMS_ERR_INPUT, "message %lld: role is missing or not a string", (long long)i + 1);
        else if (!cJSON_IsString(content))
            st = rms_fail(err, RMS_ERR_INPUT, "message %lld: content is missing or not a string", (long long)i + 1);
        if (st != RMS_OK) {
            rms_conversation_free(c);
            return st;
        }
        c->msgs[i].role = role->valuestring;
        c->msgs[i].content = content->valuestring;
        c->msgs[i].content_len = strlen(content->valuestring);
    }
    c->n = n;
    return RMS_OK;
}

rms_status rms_conversation_parse(rms_conversation *c, const char *json, rms_err *err) {
    memset(c, 0, sizeof *c);
    if (rms_json_has_nul_escape(json))
        return rms_fail(err, RMS_ERR_INPUT, "a message holds U+0000 (\\u0000), which rmscore does not accept in conversations");
    cJSON *root = cJSON_ParseWithOpts(json, NULL, 1); // nothing but whitespace may follow
    if (!root) return rms_fail(err, RMS_ERR_INPUT, "not valid JSON");
    rms_status st = rms_conversation_from_json(c, root, err);
    if (st != RMS_OK) {
        cJSON_Delete(root);
        return st;
    }
    c->root = root;
    return RMS_OK;
}

void rms_conversation_free(rms_conversation *c) {
    free(c->msgs);
    cJSON_Delete(c->root);
    memset(c, 0, sizeof *c);
}
