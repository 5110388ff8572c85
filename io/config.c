#define _GNU_SOURCE
#include "io/config.h"
#include "io/textfile.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_NAME "config.json"
#define CONFIG_ARCH "LlamaForSequenceClassification"
#define CONFIG_JSON_MAX_INT 9007199254740992.0 /* 2^53: larger integers are not exact in a double */

/* Defaults of transformers' LlamaConfig. */
#define CONFIG_DEFAULT_RMS_NORM_EPS 1e-6
#define CONFIG_DEFAULT_ROPE_THETA 10000.0
#define CONFIG_DEFAULT_MAX_POSITIONS 2048
#define CONFIG_DEFAULT_NUM_LABELS 2 /* PretrainedConfig */

typedef enum key_mode {
    KEY_REQUIRED,
    KEY_OPTIONAL, /* absent is fine; null is a type error */
    KEY_NULLABLE, /* absent or null is fine (transformers treats null as "use the default") */
} key_mode;

typedef struct parse_ctx {
    const char *origin;  /* names the source in messages */
    const char *section; /* "" or "rope_scaling." */
    rms_err *err;
} parse_ctx;

/* ---------------------------------------------------------------- typed lookups */

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsArray(v)) return "an array";
    return "an object";
}

static rms_status wrong_type(const parse_ctx *p, const char *key, const char *want, const cJSON *v) {
    return rms_fail(p->err, RMS_ERR_FORMAT, "%s: \"%s%s\" must be %s, got %s", p->origin, p->section,
                    key, want, json_type_name(v));
}

/* *out = the item, or NULL when absent (or null with KEY_NULLABLE). */
static rms_status lookup(const parse_ctx *p, const cJSON *o, const char *key, key_mode mode,
                         const cJSON **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (v && cJSON_IsNull(v) && mode == KEY_NULLABLE) v = NULL;
    *out = v;
    if (!v && mode == KEY_REQUIRED)
        return rms_fail(p->err, RMS_ERR_FORMAT, "%s: missing \"%s%s\"", p->origin, p->section, key);
    return RMS_OK;
}

/* *out is left unchanged when the key is absent (so callers preset defaults). */
static rms_status get_int(const parse_ctx *p, const cJSON *o, const char *key, key_mode mode,
                          int64_t *out) {
    const cJSON *v;
    rms_status st = lookup(p, o, key, mode, &v);
    if (st != RMS_OK || !v) return st;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        fabs(v->valuedouble) > CONFIG_JSON_MAX_INT)
        return wrong_type(p, key, "an integer", v);
    *out = (int64_t)v->valuedouble;
    return RMS_OK;
}

/* An integer in [1, max]; *out is left unchanged when the key is absent. */
static rms_status get_positive_int(const parse_ctx *p, const cJSON *o, const char *key,
                                   key_mode mode, int64_t max, int64_t *out) {
    const cJSON *v;
    int64_t x = 0;
    rms_status st = lookup(p, o, key, mode, &v);
    if (st != RMS_OK || !v) return st;
    st = get_int(p, o, key, mode, &x);
    if (st == RMS_OK && x <= 0)
        return rms_fail(p->err, RMS_ERR_FORMAT, "%s: \"%s%s\" must be positive, got %" PRId64,
                        p->origin, p->section, key, x);
    if (st == RMS_OK && x > max)
        return rms_fail(p->err, RMS_ERR_FORMAT, "%s: \"%s%s\" is %" PRId64 ", above rmscore's limit of %" PRId64,
                        p->origin, p->section, key, x, max);
    if (st == RMS_OK) *out = x;
    return st;
}

/* A finite real in (0, max]; *out is left unchanged when the key is absent. */
static rms_status get_positive_double(const parse_ctx *p, const cJSON *o, const char *key,
                                      key_mode mode, double max, double *out) {
    const cJSON *v;
    rms_status st = lookup(p, o, key, mode, &v);
    if (st != RMS_OK || !v) return st;
    if (!cJSON_IsNumber(v)) return wrong_type(p, key, "a number", v);
    if (!(v->valuedouble > 0) || !isfinite(v->valuedouble))
        return rms_fail(p->err, RMS_ERR_FORMAT, "%s: \"%s%s\" must be positive and finite, got %g", p->origin,
                        p->section, key, v->valuedouble);
    if (v->valuedouble > max)
        return rms_fail(p->err, RMS_ERR_FORMAT, "%s: \"%s%s\" is %g, above rmscore's limit of %g", p->origin,
                        p->section, key, v->valuedouble, max);
    *out = v->valuedouble;
    return RMS_OK;
}

static rms_status get_bool(const parse_ctx *p, const cJSON *o, const char *key, int *out) {
    const cJSON *v;
    rms_status st = lookup(p, o, key, KEY_OPTIONAL, &v);
    if (st != RMS_OK || !v) return st;
    if (!cJSON_IsBool(v)) return wrong_type(p, key, "true or false", v);
    *out = cJSON_IsTrue(v);
    return RMS_OK;
}

/* *out = the string, or NULL when absent. */
static rms_status get_string(const parse_ctx *p, const cJSON *o, const char *key, key_mode mode,
                             const char **out) {
    const cJSON *v;
    rms_status st = lookup(p, o, key, mode, &v);
    *out = NULL;
    if (st != RMS_OK || !v) return st;
    if (!cJSON_IsString(v)) return wrong_type(p, key, "a string", v);
    *out = v->valuestring;
    return RMS_OK;
}

/* Fails with RMS_ERR_UNSUPPORTED unless the string `key` is absent or equals `want`. */
static rms_status expect_string(const parse_ctx *p, const cJSON *o, const char *key, const char *want) {
    const char *s;
    rms_status st = get_string(p, o, key, KEY_OPTIONAL, &s);
    if (st == RMS_OK && s && strcmp(s, want) != 0)
        return rms_fail(p->err, RMS_ERR_UNSUPPORTED, "%s: \"%s\" is \"%s\"; rmscore supports only \"%s\"",
                        p->origin, key, s, want);
    return st;
}

static rms_status expect_false(const parse_ctx *p, const cJSON *o, const char *key) {
    int b = 0;
    rms_status st = get_bool(p, o, key, &b);
    if (st == RMS_OK && b)
        return rms_fail(p->err, RMS_ERR_UNSUPPORTED, "%s: \"%s\" is true; rmscore supports only false",
                        p->origin, key);
    return st;
}

/* ---------------------------------------------------------------- sections of config.json */

static rms_status check_architectures(const parse_ctx *p, const cJSON *root) {
    const cJSON *a, *v;
    rms_status st = lookup(p, root, "architectures", KEY_NULLABLE, &a);
    if (st != RMS_OK || !a) return st;
    if (!cJSON_IsArray(a)) return wrong_type(p, "architectures", "an array of strings", a);
    cJSON_ArrayForEach(v, a) {
        if (!cJSON_IsString(v)) return wrong_type(p, "architectures", "an array of strings", a);
        if (strcmp(v->valuestring, CONFIG_ARCH) == 0) return RMS_OK;
    }
    return rms_fail(p->err, RMS_ERR_UNSUPPORTED,
                    "%s: \"architectures\" does not include %s (first: %s); rmscore scores Llama "
                    "reward models", p->origin, CONFIG_ARCH, a->child ? a->child->valuestring : "none");
}

static rms_status check_model_kind(const parse_ctx *p, const cJSON *root) {
    rms_status st = expect_string(p, root, "model_type", "llama");
    if (st == RMS_OK) st = check_architectures(p, root);
    if (st == RMS_OK) st = expect_string(p, root, "hidden_act", "silu");
    if (st == RMS_OK) st = expect_false(p, root, "attention_bias");
    if (st == RMS_OK) st = expect_false(p, root, "mlp_bias");
    return st;
}

static rms_status parse_sizes(rms_config *c, const parse_ctx *p, const cJSON *root) {
    rms_status st = get_positive_int(p, root, "hidden_size", KEY_REQUIRED, RMS_CONFIG_MAX_HIDDEN, &c->hidden_size);
    if (st == RMS_OK)
        st = get_positive_int(p, root, "intermediate_size", KEY_REQUIRED, RMS_CONFIG_MAX_INTERMEDIATE,
                              &c->intermediate_size);
    if (st == RMS_OK)
        st = get_positive_int(p, root, "num_hidden_layers", KEY_REQUIRED, RMS_CONFIG_MAX_LAYERS, &c->n_layers);
    if (st == RMS_OK)
        st = get_positive_int(p, root, "num_attention_heads", KEY_REQUIRED, RMS_CONFIG_MAX_HEADS, &c->n_heads);
    if (st == RMS_OK) st = get_positive_int(p, root, "vocab_size", KEY_REQUIRED, RMS_CONFIG_MAX_VOCAB, &c->vocab_size);
    if (st != RMS_OK) return st;
    c->n_kv_heads = c->n_heads;
    c->head_dim = 0;
    c->max_position_embeddings = CONFIG_DEFAULT_MAX_POSITIONS;
    st = get_positive_int(p, root, "num_key_value_heads", KEY_NULLABLE, RMS_CONFIG_MAX_HEADS, &c->n_kv_heads);
    if (st == RMS_OK) st = get_positive_int(p, root, "head_dim", KEY_NULLABLE, RMS_CONFIG_MAX_HEAD_DIM, &c->head_dim);
    if (st == RMS_OK)
        st = get_positive_int(p, root, "max_position_embeddings", KEY_OPTIONAL, RMS_CONFIG_MAX_POSITIONS,
                              &c->max_position_embeddings);
    return st;
}

static rms_status check_heads(rms_config *c, const parse_ctx *p) {
    if (c->n_heads % c->n_kv_heads != 0)
        return rms_fail(p->err, RMS_ERR_FORMAT,
                        "%s: num_attention_heads %" PRId64 " is not a multiple of num_key_value_heads %"
                        PRId64, p->origin, c->n_heads, c->n_kv_heads);
    if (c->head_dim == 0 && c->hidden_size % c->n_heads != 0)
        return rms_fail(p->err, RMS_ERR_FORMAT,
                        "%s: hidden_size %" PRId64 " is not a multiple of num_attention_heads %" PRId64
                        " and no head_dim is given", p->origin, c->hidden_size, c->n_heads);
    if (c->head_dim == 0) c->head_dim = c->hidden_size / c->n_heads;
    if (c->head_dim > RMS_CONFIG_MAX_HEAD_DIM)
        return rms_fail(p->err, RMS_ERR_FORMAT,
                        "%s: head_dim (hidden_size / num_attention_heads) is %" PRId64 ", above rmscore's limit of %d",
                        p->origin, c->head_dim, RMS_CONFIG_MAX_HEAD_DIM);
    return RMS_OK;
}

static rms_status parse_llama3_scaling(rms_config *c, const parse_ctx *outer, const cJSON *rs) {
    parse_ctx p = *outer;
    p.section = "rope_scaling.";
    const double fmax = RMS_CONFIG_MAX_ROPE_FACTOR;
    rms_status st = get_positive_double(&p, rs, "factor", KEY_REQUIRED, fmax, &c->rope_factor);
    if (st == RMS_OK) st = get_positive_double(&p, rs, "low_freq_factor", KEY_REQUIRED, fmax, &c->rope_low_freq_factor);
    if (st == RMS_OK)
        st = get_positive_double(&p, rs, "high_freq_factor", KEY_REQUIRED, fmax, &c->rope_high_freq_factor);
    if (st == RMS_OK)
        st = get_positive_int(&p, rs, "original_max_position_embeddings", KEY_REQUIRED, RMS_CONFIG_MAX_POSITIONS,
                              &c->rope_original_max_position);
    if (st == RMS_OK && !(c->rope_high_freq_factor > c->rope_low_freq_factor))
        return rms_fail(p.err, RMS_ERR_FORMAT, "%s: rope_scaling.high_freq_factor %g must be greater "
                        "than low_freq_factor %g", p.origin, c->rope_high_freq_factor,
                        c->rope_low_freq_factor);
    if (st == RMS_OK) c->rope_scaling = RMS_ROPE_SCALING_LLAMA3;
    return st;
}

static rms_status parse_rope_scaling(rms_config *c, const parse_ctx *p, const cJSON *root) {
    const cJSON *rs;
    const char *type = NULL;
    c->rope_scaling = RMS_ROPE_SCALING_NONE;
    rms_status st = lookup(p, root, "rope_scaling", KEY_NULLABLE, &rs);
    if (st != RMS_OK || !rs) return st;
    if (!cJSON_IsObject(rs)) return wrong_type(p, "rope_scaling", "an object or null", rs);
    parse_ctx inner = *p;
    inner.section = "rope_scaling.";
    st = get_string(&inner, rs, "rope_type", KEY_OPTIONAL, &type);
    if (st == RMS_OK && !type) st = get_string(&inner, rs, "type", KEY_REQUIRED, &type); /* legacy */
    if (st != RMS_OK) return st;
    if (strcmp(type, "default") == 0) return RMS_OK;
    if (strcmp(type, "llama3") == 0) return parse_llama3_scaling(c, p, rs);
    return rms_fail(p->err, RMS_ERR_UNSUPPORTED,
                    "%s: rope_scaling type \"%s\" is not supported (only default and llama3)", p->origin,
                    type);
}

static rms_status parse_rope_and_norm(rms_config *c, const parse_ctx *p, const cJSON *root) {
    c->rms_norm_eps = CONFIG_DEFAULT_RMS_NORM_EPS;
    c->rope_theta = CONFIG_DEFAULT_ROPE_THETA;
    rms_status st = get_positive_double(p, root, "rms_norm_eps", KEY_OPTIONAL, RMS_CONFIG_MAX_EPS, &c->rms_norm_eps);
    if (st == RMS_OK)
        st = get_positive_double(p, root, "rope_theta", KEY_OPTIONAL, RMS_CONFIG_MAX_ROPE_THETA, &c->rope_theta);
    if (st == RMS_OK) st = parse_rope_scaling(c, p, root);
    return st;
}

/* num_labels as transformers derives it: len(id2label), else num_labels, else 2. Must be 1. */
static rms_status parse_labels(rms_config *c, const parse_ctx *p, const cJSON *root) {
    const cJSON *id2label;
    const char *from = "from id2label";
    rms_status st = lookup(p, root, "id2label", KEY_NULLABLE, &id2label);
    if (st != RMS_OK) return st;
    c->num_labels = CONFIG_DEFAULT_NUM_LABELS;
    if (id2label) {
        if (!cJSON_IsObject(id2label)) return wrong_type(p, "id2label", "an object", id2label);
        c->num_labels = cJSON_GetArraySize(id2label);
    } else if (cJSON_GetObjectItemCaseSensitive(root, "num_labels")) {
        from = "from num_labels";
        st = get_int(p, root, "num_labels", KEY_OPTIONAL, &c->num_labels);
    } else {
        from = "the transformers default when neither id2label nor num_labels is given";
    }
    if (st == RMS_OK && c->num_labels != 1)
        return rms_fail(p->err, RMS_ERR_UNSUPPORTED,
                        "%s: num_labels is %" PRId64 " (%s); rmscore scores single-label reward "
                        "models (num_labels 1)", p->origin, c->num_labels, from);
    return st;
}

static rms_status parse_misc(rms_config *c, const parse_ctx *p, const cJSON *root) {
    const char *dtype = NULL;
    c->pad_token_id = -1;
    rms_status st = get_bool(p, root, "tie_word_embeddings", &c->tie_word_embeddings);
    if (st == RMS_OK) st = get_int(p, root, "pad_token_id", KEY_NULLABLE, &c->pad_token_id);
    if (st == RMS_OK && (c->pad_token_id < -1 || c->pad_token_id >= RMS_CONFIG_MAX_VOCAB))
        return rms_fail(p->err, RMS_ERR_FORMAT, "%s: \"pad_token_id\" is %" PRId64 "; rmscore accepts null, -1 or 0 to %d",
                        p->origin, c->pad_token_id, RMS_CONFIG_MAX_VOCAB - 1);
    if (st == RMS_OK) st = get_string(p, root, "torch_dtype", KEY_NULLABLE, &dtype);
    if (st == RMS_OK && !dtype) st = get_string(p, root, "dtype", KEY_NULLABLE, &dtype); /* newer name */
    if (st != RMS_OK || !dtype) return st;
    if (strlen(dtype) >= sizeof c->torch_dtype)
        return rms_fail(p->err, RMS_ERR_FORMAT, "%s: \"torch_dtype\" \"%.32s\" is too long", p->origin,
                        dtype);
    strcpy(c->torch_dtype, dtype);
    return RMS_OK;
}

rms_status rms_config_parse(rms_config *c, const char *json_text, const char *origin, rms_err *err) {
    parse_ctx p = {origin, "", err};
    const char *end = NULL;
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithOpts(json_text, &end, 0);
    if (!root)
        return rms_fail(err, RMS_ERR_FORMAT, "%s: not valid JSON (error near byte %td)", origin,
                        end ? end - json_text : (ptrdiff_t)0);
    rms_status st = cJSON_IsObject(root)
                        ? RMS_OK
                        : rms_fail(err, RMS_ERR_FORMAT, "%s: not a JSON object", origin);
    if (st == RMS_OK) st = check_model_kind(&p, root);
    if (st == RMS_OK) st = parse_sizes(c, &p, root);
    if (st == RMS_OK) st = check_heads(c, &p);
    if (st == RMS_OK) st = parse_rope_and_norm(c, &p, root);
    if (st == RMS_OK) st = parse_labels(c, &p, root);
    if (st == RMS_OK) st = parse_misc(c, &p, root);
    cJSON_Delete(root);
    return st;
}

/* ---------------------------------------------------------------- files */

rms_status rms_config_load(rms_config *c, const char *dir, rms_err *err) {
    char *path = NULL, *text = NULL;
    if (asprintf(&path, "%s/%s", dir, CONFIG_NAME) < 0)
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    rms_status st = rms_read_text_file(path, &text, NULL, err);
    if (st == RMS_OK) st = rms_config_parse(c, text, path, err);
    free(text);
    free(path);
    return st;
}

/* ---------------------------------------------------------------- writing, as transformers does */

/* Shortest "%.Ng" that reads back exactly, with ".0" on integral values as Python prints floats. */
static const char *format_double(char *buf, size_t cap, double v) {
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", cap - strlen(buf) - 1);
    return buf;
}

static const char *format_int_or_null(char *buf, size_t cap, int64_t v) {
    if (v < 0) return "null";
    snprintf(buf, cap, "%" PRId64, v);
    return buf;
}

/* Writes the members of one JSON object, indented by two spaces, comma-separated. */
typedef struct json_out {
    FILE *fp;
    int n;
} json_out;

static void put_raw(json_out *o, const char *key, const char *raw) {
    fprintf(o->fp, "%s\n  \"%s\": %s", o->n++ ? "," : "", key, raw);
}

static void put_int(json_out *o, const char *key, int64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    put_raw(o, key, buf);
}

static void put_double(json_out *o, const char *key, double v) {
    char buf[40];
    put_raw(o, key, format_double(buf, sizeof buf, v));
}

static void put_rope_scaling(json_out *o, const rms_config *c) {
    char f[40], lo[40], hi[40], text[256];
    if (c->rope_scaling != RMS_ROPE_SCALING_LLAMA3) {
        put_raw(o, "rope_scaling", "null");
        return;
    }
    snprintf(text, sizeof text,
             "{\n    \"factor\": %s,\n    \"high_freq_factor\": %s,\n    \"low_freq_factor\": %s,\n"
             "    \"original_max_position_embeddings\": %" PRId64 ",\n    \"rope_type\": \"llama3\"\n  }",
             format_double(f, sizeof f, c->rope_factor),
             format_double(hi, sizeof hi, c->rope_high_freq_factor),
             format_double(lo, sizeof lo, c->rope_low_freq_factor), c->rope_original_max_position);
    put_raw(o, "rope_scaling", text);
}

/* Keys in sorted order, as transformers' to_json_string (sort_keys=True, indent=2). */
static void put_config(json_out *o, const rms_config *c, int64_t bos, int64_t eos) {
    char buf[40], dtype[sizeof c->torch_dtype + 2];
    snprintf(dtype, sizeof dtype, "\"%s\"", c->torch_dtype);
    put_raw(o, "architectures", "[\n    \"" CONFIG_ARCH "\"\n  ]");
    put_raw(o, "attention_bias", "false");
    put_raw(o, "attention_dropout", "0.0");
    put_raw(o, "bos_token_id", format_int_or_null(buf, sizeof buf, bos));
    put_raw(o, "eos_token_id", format_int_or_null(buf, sizeof buf, eos));
    put_int(o, "head_dim", c->head_dim);
    put_raw(o, "hidden_act", "\"silu\"");
    put_int(o, "hidden_size", c->hidden_size);
    put_raw(o, "id2label", "{\n    \"0\": \"LABEL_0\"\n  }");
    put_raw(o, "initializer_range", "0.02");
    put_int(o, "intermediate_size", c->intermediate_size);
    put_raw(o, "label2id", "{\n    \"LABEL_0\": 0\n  }");
    put_int(o, "max_position_embeddings", c->max_position_embeddings);
    put_raw(o, "mlp_bias", "false");
    put_raw(o, "model_type", "\"llama\"");
    put_int(o, "num_attention_heads", c->n_heads);
    put_int(o, "num_hidden_layers", c->n_layers);
    put_int(o, "num_key_value_heads", c->n_kv_heads);
    put_raw(o, "pad_token_id", format_int_or_null(buf, sizeof buf, c->pad_token_id));
    put_raw(o, "pretraining_tp", "1");
    put_double(o, "rms_norm_eps", c->rms_norm_eps);
    put_rope_scaling(o, c);
    put_double(o, "rope_theta", c->rope_theta);
    put_raw(o, "tie_word_embeddings", c->tie_word_embeddings ? "true" : "false");
    put_raw(o, "torch_dtype", c->torch_dtype[0] ? dtype : "null");
    put_raw(o, "use_cache", "true");
    put_int(o, "vocab_size", c->vocab_size);
}

/* torch_dtype is written verbatim inside quotes: allow only plain identifiers. */
static int is_identifier(const char *s) {
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return 0;
    return 1;
}

rms_status rms_config_write(const rms_config *c, const char *dir, int64_t bos_token_id,
                            int64_t eos_token_id, rms_err *err) {
    if (!is_identifier(c->torch_dtype) || !isfinite(c->rms_norm_eps) || !isfinite(c->rope_theta))
        return rms_fail(err, RMS_ERR_ARG, "%s/%s: torch_dtype must be an identifier and "
                        "rms_norm_eps/rope_theta finite", dir, CONFIG_NAME);
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, CONFIG_NAME) < 0)
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    json_out o = {fopen(path, "w"), 0};
    rms_status st = RMS_OK;
    if (!o.fp) {
        st = rms_fail(err, RMS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    } else {
        fputc('{', o.fp);
        put_config(&o, c, bos_token_id, eos_token_id);
        fputs("\n}\n", o.fp);
        int ok = !ferror(o.fp);
        if (fclose(o.fp) != 0 || !ok)
            st = rms_fail(err, RMS_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    }
    free(path);
    return st;
}
