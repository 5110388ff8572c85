#include "io/run_config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/textfile.h"

typedef enum key_type { KEY_STRING, KEY_INT, KEY_BOOL, KEY_INT_LIST } key_type;

static const struct {
    const char *key;
    key_type type;
    const char *flag;
} KEYS[] = {
    {"model", KEY_STRING, "--model"},
    {"data", KEY_STRING, "--data"},
    {"out", KEY_STRING, "--out"},
    {"tokenizer", KEY_STRING, "--tokenizer"},
    {"threads", KEY_INT, "--threads"},
    {"microbatch_tokens", KEY_INT, "--microbatch-tokens"},
    {"max_tokens", KEY_INT, "--max-tokens"},
    {"overlong", KEY_STRING, "--overlong"},
    {"compute", KEY_STRING, "--compute"},
    {"stages", KEY_INT, "--stages"},
    {"layer_split", KEY_INT_LIST, "--layer-split"},
    {"progress_every", KEY_INT, "--progress-every"},
    {"allow_tokenizer_mismatch", KEY_BOOL, "--allow-tokenizer-mismatch"},
    {"quiet", KEY_BOOL, "--quiet"},
    {"shard", KEY_STRING, "--shard"},
};

static const char *type_name(key_type t) {
    switch (t) {
    case KEY_STRING: return "a string";
    case KEY_INT: return "an integer";
    case KEY_BOOL: return "true or false";
    case KEY_INT_LIST: return "a list of integers";
    }
    return "?";
}

static int is_int(const cJSON *v) {
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 9e15;
}

static int push(char ***args, int *n, const char *s) {
    char **a = realloc(*args, (size_t)(*n + 1) * sizeof *a);
    if (!a) return -1;
    *args = a;
    if (!(a[*n] = strdup(s))) return -1;
    (*n)++;
    return 0;
}

/* The argument text of value v (of type t), or NULL with *ok = 0 if v is not of type t. */
static char *value_text(const cJSON *v, key_type t, int *ok) {
    char buf[64];
    *ok = 1;
    switch (t) {
    case KEY_STRING:
        if (!cJSON_IsString(v)) break;
        return strdup(v->valuestring);
    case KEY_INT:
        if (!is_int(v)) break;
        snprintf(buf, sizeof buf, "%.0f", v->valuedouble);
        return strdup(buf);
    case KEY_BOOL:
        if (!cJSON_IsBool(v)) break;
        return strdup(cJSON_IsTrue(v) ? "true" : "false");
    case KEY_INT_LIST: {
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) break;
        size_t cap = 32 * (size_t)cJSON_GetArraySize(v), len = 0;
        char *out = malloc(cap);
        if (!out) return NULL;
        out[0] = '\0';
        for (const cJSON *e = v->child; e; e = e->next) {
            if (!is_int(e)) {
                free(out);
                *ok = 0;
                return NULL;
            }
            len += (size_t)snprintf(out + len, cap - len, "%s%.0f", e == v->child ? "" : ",", e->valuedouble);
        }
        return out;
    }
    }
    *ok = 0;
    return NULL;
}

rms_status rms_run_config_args(const char *json_text, const char *origin, char ***args, int *n, rms_err *err) {
    *args = NULL;
    *n = 0;
    cJSON *root = cJSON_ParseWithOpts(json_text, NULL, 1);
    if (!root) return rms_fail(err, RMS_ERR_FORMAT, "%s: not valid JSON", origin);
    rms_status st = RMS_OK;
    if (!cJSON_IsObject(root)) st = rms_fail(err, RMS_ERR_FORMAT, "%s: a run config must be a JSON object", origin);
    for (const cJSON *e = cJSON_IsObject(root) ? root->child : NULL; e && st == RMS_OK; e = e->next) {
        size_t k = 0;
        while (k < sizeof KEYS / sizeof KEYS[0] && strcmp(KEYS[k].key, e->string) != 0) k++;
        if (k == sizeof KEYS / sizeof KEYS[0]) {
            st = rms_fail(err, RMS_ERR_FORMAT, "%s: unknown key \"%s\" (see configs/README.md)", origin, e->string);
            break;
        }
        if (cJSON_IsNull(e)) continue; // null: not set
        int ok;
        char *text = value_text(e, KEYS[k].type, &ok);
        if (!ok) {
            st = rms_fail(err, RMS_ERR_FORMAT, "%s: \"%s\" must be %s", origin, e->string, type_name(KEYS[k].type));
        } else if (!text) {
            st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        } else if (KEYS[k].type == KEY_BOOL) {
            if (strcmp(text, "true") == 0 && push(args, n, KEYS[k].flag) != 0) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        } else if (push(args, n, KEYS[k].flag) != 0 || push(args, n, text) != 0) {
            st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        }
        free(text);
    }
    cJSON_Delete(root);
    if (st != RMS_OK) {
        rms_run_config_free_args(*args, *n);
        *args = NULL;
        *n = 0;
    }
    return st;
}

rms_status rms_run_config_load(const char *path, char ***args, int *n, rms_err *err) {
    char *text;
    rms_status st = rms_read_text_file(path, &text, NULL, err);
    if (st != RMS_OK) return st;
    st = rms_run_config_args(text, path, args, n, err);
    free(text);
    return st;
}

void rms_run_config_free_args(char **args, int n) {
    for (int i = 0; i < n; i++) free(args[i]);
    free(args);
}
