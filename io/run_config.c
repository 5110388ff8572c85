/* run_config.c — JSON run configs applied through a command's option table (see run_config.h). */
#include "io/run_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/sha256.h"
#include "io/textfile.h"

static const char *type_name(rms_opt_type t) {
    switch (t) {
    case RMS_OPT_FLAG: return "true or false";
    case RMS_OPT_INT: return "an integer";
    case RMS_OPT_INT_LIST: return "a list of integers";
    case RMS_OPT_PATH:
    case RMS_OPT_CHOICE:
    case RMS_OPT_SHARD: return "a string";
    }
    return "?";
}

static int is_int(const cJSON *v) {
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9e15;
}

/* The option's command-line text for JSON value v into buf, or 0 if v is not of the option's type. */
static int value_text(const cJSON *v, const rms_opt *o, char *buf, size_t len) {
    switch (o->type) {
    case RMS_OPT_FLAG:
        if (!cJSON_IsBool(v)) return 0;
        snprintf(buf, len, "%s", cJSON_IsTrue(v) ? "true" : "false");
        return 1;
    case RMS_OPT_INT:
        if (!is_int(v)) return 0;
        snprintf(buf, len, "%.0f", v->valuedouble);
        return 1;
    case RMS_OPT_INT_LIST: {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) return 0;
        size_t k = 0;
        buf[0] = '\0';
        for (const cJSON *e = v->child; e; e = e->next) {
            if (!is_int(e)) return 0;
            const int n = snprintf(buf + k, len - k, "%s%.0f", e == v->child ? "" : ",", e->valuedouble);
            if (n < 0 || (size_t)n >= len - k) return 0;
            k += (size_t)n;
        }
        return 1;
    }
    case RMS_OPT_PATH:
    case RMS_OPT_CHOICE:
    case RMS_OPT_SHARD:
        if (!cJSON_IsString(v)) return 0;
        snprintf(buf, len, "%s", v->valuestring);
        return strlen(v->valuestring) < len;
    }
    return 0;
}

rms_status rms_run_config_apply_text(const char *json_text, const char *origin, const rms_command *cmd, void *target,
                                     rms_err *err) {
    cJSON *root = cJSON_ParseWithOpts(json_text, NULL, 1);
    if (!root) return rms_fail(err, RMS_ERR_FORMAT, "%s: not valid JSON", origin);
    rms_status st = RMS_OK;
    if (!cJSON_IsObject(root)) st = rms_fail(err, RMS_ERR_FORMAT, "%s: a run config must be a JSON object", origin);
    char *text = malloc(RMS_PATH_MAX + 1);
    if (!text) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (const cJSON *e = cJSON_IsObject(root) ? root->child : NULL; e && st == RMS_OK; e = e->next) {
        const rms_opt *o = rms_options_lookup_key(cmd, e->string);
        if (!o) {
            st = rms_fail(err, RMS_ERR_FORMAT, "%s: unknown key \"%s\" (see configs/README.md)", origin, e->string);
        } else if (cJSON_IsNull(e)) {
            continue; // null: not set
        } else if (!value_text(e, o, text, RMS_PATH_MAX + 1)) {
            st = rms_fail(err, RMS_ERR_FORMAT, "%s: \"%s\" must be %s", origin, e->string, type_name(o->type));
        } else if ((st = rms_option_set(o, target, text, err)) != RMS_OK) {
            rms_fail_prefix(err, st, "%s: \"%s\"", origin, e->string);
        }
    }
    free(text);
    cJSON_Delete(root);
    return st;
}

rms_status rms_run_config_apply(const char *path, const rms_command *cmd, void *target, char *sha256_hex,
                                rms_err *err) {
    char *text;
    rms_status st = rms_read_text_file(path, &text, NULL, err);
    if (st != RMS_OK) return st;
    st = rms_run_config_apply_text(text, path, cmd, target, err);
    free(text);
    if (st == RMS_OK && sha256_hex) st = rms_sha256_file(path, sha256_hex, err);
    return st;
}
