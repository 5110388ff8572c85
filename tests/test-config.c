#include <cjson/cJSON.h>
#include <stdint.h>
#include <unistd.h>

#include "io/config.h"
#include "io/textfile.h"
#include "tests/check.h"

/* The config.json of allenai/Llama-3.1-Tulu-3-8B-RM (transformers 4.4x), abridged of nothing rmscore reads. */
static const char *const TULU_RM =
    "{\n"
    "  \"_name_or_path\": \"allenai/Llama-3.1-Tulu-3-8B-SFT\",\n"
    "  \"architectures\": [\"LlamaForSequenceClassification\"],\n"
    "  \"attention_bias\": false,\n"
    "  \"attention_dropout\": 0.0,\n"
    "  \"bos_token_id\": 128000,\n"
    "  \"eos_token_id\": 128001,\n"
    "  \"head_dim\": 128,\n"
    "  \"hidden_act\": \"silu\",\n"
    "  \"hidden_size\": 4096,\n"
    "  \"id2label\": {\"0\": \"LABEL_0\"},\n"
    "  \"initializer_range\": 0.02,\n"
    "  \"intermediate_size\": 14336,\n"
    "  \"label2id\": {\"LABEL_0\": 0},\n"
    "  \"max_position_embeddings\": 131072,\n"
    "  \"mlp_bias\": false,\n"
    "  \"model_type\": \"llama\",\n"
    "  \"num_attention_heads\": 32,\n"
    "  \"num_hidden_layers\": 32,\n"
    "  \"num_key_value_heads\": 8,\n"
    "  \"pad_token_id\": 128256,\n"
    "  \"pretraining_tp\": 1,\n"
    "  \"rms_norm_eps\": 1e-05,\n"
    "  \"rope_scaling\": {\"factor\": 8.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0,\n"
    "                   \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"},\n"
    "  \"rope_theta\": 500000.0,\n"
    "  \"tie_word_embeddings\": false,\n"
    "  \"torch_dtype\": \"bfloat16\",\n"
    "  \"transformers_version\": \"4.46.0\",\n"
    "  \"use_cache\": false,\n"
    "  \"vocab_size\": 128264\n"
    "}\n";

/* The smallest config rmscore accepts: the required sizes and one label. */
static const char *const MINIMAL =
    "{\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2,"
    " \"num_attention_heads\": 4, \"vocab_size\": 300, \"num_labels\": 1}";

/* `base` with `key` set to the JSON text `value` (or removed if value is NULL), parsed into c. */
static rms_status parse_with(rms_config *c, const char *base, const char *key, const char *value,
                             rms_err *err) {
    cJSON *root = cJSON_Parse(base);
    cJSON_DeleteItemFromObjectCaseSensitive(root, key);
    if (value) cJSON_AddItemToObject(root, key, cJSON_Parse(value));
    char *text = cJSON_Print(root);
    err->msg[0] = '\0';
    rms_status st = rms_config_parse(c, text, "cfg.json", err);
    cJSON_free(text);
    cJSON_Delete(root);
    return st;
}

static void check_same_config(const rms_config *a, const rms_config *b) {
    CHECK_EQ_INT(a->hidden_size, b->hidden_size);
    CHECK_EQ_INT(a->intermediate_size, b->intermediate_size);
    CHECK_EQ_INT(a->n_layers, b->n_layers);
    CHECK_EQ_INT(a->n_heads, b->n_heads);
    CHECK_EQ_INT(a->n_kv_heads, b->n_kv_heads);
    CHECK_EQ_INT(a->head_dim, b->head_dim);
    CHECK_EQ_INT(a->vocab_size, b->vocab_size);
    CHECK_EQ_INT(a->max_position_embeddings, b->max_position_embeddings);
    CHECK(a->rms_norm_eps == b->rms_norm_eps);
    CHECK(a->rope_theta == b->rope_theta);
    CHECK_EQ_INT(a->rope_scaling, b->rope_scaling);
    CHECK(a->rope_factor == b->rope_factor);
    CHECK(a->rope_low_freq_factor == b->rope_low_freq_factor);
    CHECK(a->rope_high_freq_factor == b->rope_high_freq_factor);
    CHECK_EQ_INT(a->rope_original_max_position, b->rope_original_max_position);
    CHECK_EQ_INT(a->tie_word_embeddings, b->tie_word_embeddings);
    CHECK_EQ_INT(a->pad_token_id, b->pad_token_id);
    CHECK_EQ_INT(a->num_labels, b->num_labels);
    CHECK(strcmp(a->torch_dtype, b->torch_dtype) == 0);
}

static char *read_all(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    char *buf = calloc((size_t)n + 1, 1);
    if (fread(buf, 1, (size_t)n, fp) != (size_t)n) buf[0] = '\0';
    fclose(fp);
    return buf;
}

/* ---------------------------------------------------------------- parsing */

static void test_the_tulu_reward_model_config_parses(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(rms_config_parse(&c, TULU_RM, "tulu/config.json", &err), RMS_OK);
    CHECK_EQ_INT(c.hidden_size, 4096);
    CHECK_EQ_INT(c.intermediate_size, 14336);
    CHECK_EQ_INT(c.n_layers, 32);
    CHECK_EQ_INT(c.n_heads, 32);
    CHECK_EQ_INT(c.n_kv_heads, 8);
    CHECK_EQ_INT(c.head_dim, 128);
    CHECK_EQ_INT(c.vocab_size, 128264);
    CHECK_EQ_INT(c.max_position_embeddings, 131072);
    CHECK(c.rms_norm_eps == 1e-5 && c.rope_theta == 500000.0);
    CHECK_EQ_INT(c.rope_scaling, RMS_ROPE_SCALING_LLAMA3);
    CHECK(c.rope_factor == 8.0 && c.rope_low_freq_factor == 1.0 && c.rope_high_freq_factor == 4.0);
    CHECK_EQ_INT(c.rope_original_max_position, 8192);
    CHECK_EQ_INT(c.tie_word_embeddings, 0);
    CHECK_EQ_INT(c.pad_token_id, 128256);
    CHECK_EQ_INT(c.num_labels, 1);
    CHECK(strcmp(c.torch_dtype, "bfloat16") == 0);
}

static void test_defaults_follow_transformers_llama_config(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(rms_config_parse(&c, MINIMAL, "min.json", &err), RMS_OK);
    CHECK(c.rms_norm_eps == 1e-6 && c.rope_theta == 10000.0);
    CHECK_EQ_INT(c.n_kv_heads, 4);
    CHECK_EQ_INT(c.head_dim, 16);
    CHECK_EQ_INT(c.max_position_embeddings, 2048);
    CHECK_EQ_INT(c.rope_scaling, RMS_ROPE_SCALING_NONE);
    CHECK_EQ_INT(c.tie_word_embeddings, 0);
    CHECK_EQ_INT(c.pad_token_id, -1);
    CHECK(c.torch_dtype[0] == '\0');
}

static void test_null_means_the_default_where_transformers_allows_it(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(parse_with(&c, MINIMAL, "num_key_value_heads", "null", &err), RMS_OK);
    CHECK_EQ_INT(c.n_kv_heads, 4);
    CHECK_EQ_INT(parse_with(&c, MINIMAL, "head_dim", "null", &err), RMS_OK);
    CHECK_EQ_INT(c.head_dim, 16);
    CHECK_EQ_INT(parse_with(&c, MINIMAL, "pad_token_id", "null", &err), RMS_OK);
    CHECK_EQ_INT(c.pad_token_id, -1);
    CHECK_EQ_INT(parse_with(&c, MINIMAL, "rope_scaling", "null", &err), RMS_OK);
    CHECK_EQ_INT(parse_with(&c, MINIMAL, "rms_norm_eps", "null", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "cfg.json: \"rms_norm_eps\" must be a number, got null");
}

static void test_a_newer_dtype_key_is_read_when_torch_dtype_is_absent(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(parse_with(&c, MINIMAL, "dtype", "\"float16\"", &err), RMS_OK);
    CHECK(strcmp(c.torch_dtype, "float16") == 0);
}

static void test_a_config_without_labels_counts_as_two_and_is_rejected(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(parse_with(&c, MINIMAL, "num_labels", NULL, &err), RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "cfg.json: num_labels is 2 (the transformers default");
    CHECK_CONTAINS(err.msg, "rmscore scores single-label reward models");
    CHECK_EQ_INT(parse_with(&c, MINIMAL, "num_labels", "3", &err), RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "num_labels is 3 (from num_labels)");
}

static void test_id2label_decides_num_labels_before_the_num_labels_key(void) {
    rms_config c;
    rms_err err;
    const char *two = "{\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2,"
                      " \"num_attention_heads\": 4, \"vocab_size\": 300, \"num_labels\": 1,"
                      " \"id2label\": {\"0\": \"bad\", \"1\": \"good\"}}";
    CHECK_EQ_INT(rms_config_parse(&c, two, "two.json", &err), RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "num_labels is 2 (from id2label)");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "num_labels", "2", &err), RMS_OK);
    CHECK_EQ_INT(c.num_labels, 1);
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "id2label", "[\"LABEL_0\"]", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"id2label\" must be an object");
}

static void test_a_string_where_an_integer_belongs_names_the_key(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "hidden_size", "\"4096\"", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "cfg.json: \"hidden_size\" must be an integer, got a string");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "num_key_value_heads", "8.5", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"num_key_value_heads\" must be an integer, got a number");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "rope_theta", "\"500000\"", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"rope_theta\" must be a number, got a string");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "tie_word_embeddings", "0", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"tie_word_embeddings\" must be true or false, got a number");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "torch_dtype", "16", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"torch_dtype\" must be a string");
}

static void test_missing_or_non_positive_sizes_name_the_key(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "vocab_size", NULL, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "cfg.json: missing \"vocab_size\"");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "num_hidden_layers", "0", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"num_hidden_layers\" must be positive, got 0");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "rms_norm_eps", "-1e-5", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"rms_norm_eps\" must be positive");
}

/* MINIMAL with `key` (one of its keys, or a new one) set to the raw JSON text `raw` (which cJSON may print
 * differently, e.g. 1e999), parsed into c. */
static rms_status parse_raw(rms_config *c, const char *key, const char *raw, rms_err *err) {
    static const char *const keys[] = {"hidden_size", "intermediate_size", "num_hidden_layers",
                                       "num_attention_heads", "vocab_size", "num_labels"};
    static const char *const values[] = {"64", "128", "2", "4", "300", "1"};
    char text[1024];
    size_t n = (size_t)snprintf(text, sizeof text, "{\"%s\": %s", key, raw);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i], key) != 0) n += (size_t)snprintf(text + n, sizeof text - n, ", \"%s\": %s", keys[i], values[i]);
    snprintf(text + n, sizeof text - n, "}");
    err->msg[0] = '\0';
    return rms_config_parse(c, text, "raw.json", err);
}

static void test_sizes_above_their_limits_name_the_key_and_the_limit(void) {
    static const struct { const char *key; long long limit; } cases[] = {
        {"hidden_size", RMS_CONFIG_MAX_HIDDEN},         {"intermediate_size", RMS_CONFIG_MAX_INTERMEDIATE},
        {"num_hidden_layers", RMS_CONFIG_MAX_LAYERS},   {"num_attention_heads", RMS_CONFIG_MAX_HEADS},
        {"num_key_value_heads", RMS_CONFIG_MAX_HEADS},  {"head_dim", RMS_CONFIG_MAX_HEAD_DIM},
        {"vocab_size", RMS_CONFIG_MAX_VOCAB},           {"max_position_embeddings", RMS_CONFIG_MAX_POSITIONS},
    };
    rms_config c;
    rms_err err;
    char value[32], want[160];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(value, sizeof value, "%lld", cases[i].limit + 1);
        CHECK_EQ_INT(parse_with(&c, TULU_RM, cases[i].key, value, &err), RMS_ERR_FORMAT);
        snprintf(want, sizeof want, "\"%s\" is %lld, above rmscore's limit of %lld", cases[i].key,
                 cases[i].limit + 1, cases[i].limit);
        CHECK_CONTAINS(err.msg, want);
        CHECK_EQ_INT(parse_with(&c, TULU_RM, cases[i].key, "1099511627776", &err), RMS_ERR_FORMAT); // 2^40
        CHECK_CONTAINS(err.msg, cases[i].key);
        CHECK_EQ_INT(parse_with(&c, TULU_RM, cases[i].key, "-3", &err), RMS_ERR_FORMAT);
        CHECK_CONTAINS(err.msg, "must be positive, got -3");
        CHECK_EQ_INT(parse_raw(&c, cases[i].key, "1e999", &err), RMS_ERR_FORMAT); // cJSON reads inf
        CHECK_CONTAINS(err.msg, "must be an integer");
    }
}

static void test_sizes_at_their_limits_parse(void) {
    rms_config c;
    rms_err err;
    char text[512];
    snprintf(text, sizeof text,
             "{\"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d, "
             "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"vocab_size\": %d, "
             "\"max_position_embeddings\": %d, \"num_labels\": 1, \"pad_token_id\": %d, \"rms_norm_eps\": 1.0, "
             "\"rope_theta\": 1e12}", RMS_CONFIG_MAX_HIDDEN, RMS_CONFIG_MAX_INTERMEDIATE, RMS_CONFIG_MAX_LAYERS,
             RMS_CONFIG_MAX_HEADS, RMS_CONFIG_MAX_HEADS, RMS_CONFIG_MAX_VOCAB, RMS_CONFIG_MAX_POSITIONS,
             RMS_CONFIG_MAX_VOCAB - 1);
    CHECK_EQ_INT(rms_config_parse(&c, text, "max.json", &err), RMS_OK);
    CHECK_EQ_INT(c.head_dim, RMS_CONFIG_MAX_HIDDEN / RMS_CONFIG_MAX_HEADS);
    CHECK_EQ_INT(c.vocab_size, RMS_CONFIG_MAX_VOCAB);
}

static void test_a_derived_head_dim_above_its_limit_is_rejected(void) {
    rms_config c;
    rms_err err;
    const char *text = "{\"hidden_size\": 4096, \"intermediate_size\": 128, \"num_hidden_layers\": 2,"
                       " \"num_attention_heads\": 2, \"vocab_size\": 300, \"num_labels\": 1}";
    CHECK_EQ_INT(rms_config_parse(&c, text, "hd.json", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "head_dim (hidden_size / num_attention_heads) is 2048, above rmscore's limit of 1024");
}

static void test_reals_must_be_finite_positive_and_within_limits(void) {
    static const struct { const char *key, *value, *msg; } cases[] = {
        {"rms_norm_eps", "0", "\"rms_norm_eps\" must be positive and finite, got 0"},
        {"rms_norm_eps", "2", "\"rms_norm_eps\" is 2, above rmscore's limit of 1"},
        {"rope_theta", "-500000", "\"rope_theta\" must be positive and finite"},
        {"rope_theta", "1e300", "\"rope_theta\" is 1e+300, above rmscore's limit of 1e+12"},
        {"rope_theta", "\"big\"", "\"rope_theta\" must be a number, got a string"},
    };
    rms_config c;
    rms_err err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_EQ_INT(parse_with(&c, TULU_RM, cases[i].key, cases[i].value, &err), RMS_ERR_FORMAT);
        CHECK_CONTAINS(err.msg, cases[i].msg);
    }
    CHECK_EQ_INT(parse_raw(&c, "rms_norm_eps", "1e999", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"rms_norm_eps\" must be positive and finite, got inf");
    CHECK_EQ_INT(parse_raw(&c, "rope_theta", "-1e999", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"rope_theta\" must be positive and finite, got -inf");
    const char *rope = "{\"rope_type\": \"llama3\", \"factor\": 1e9, \"low_freq_factor\": 1.0, "
                       "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}";
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "rope_scaling", rope, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"rope_scaling.factor\" is 1e+09, above rmscore's limit of 65536");
    rope = "{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, "
           "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 1099511627776}";
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "rope_scaling", rope, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"rope_scaling.original_max_position_embeddings\" is 1099511627776, above");
}

static void test_pad_token_id_is_null_minus_one_or_a_plausible_id(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "pad_token_id", "-1", &err), RMS_OK);
    CHECK_EQ_INT(c.pad_token_id, -1);
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "pad_token_id", "0", &err), RMS_OK);
    CHECK_EQ_INT(c.pad_token_id, 0);
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "pad_token_id", "-2", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"pad_token_id\" is -2; rmscore accepts null, -1 or 0 to 4194303");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "pad_token_id", "4194304", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"pad_token_id\" is 4194304");
}

static void test_other_models_are_unsupported_with_a_clear_message(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "architectures", "[\"LlamaForCausalLM\"]", &err),
                 RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "does not include LlamaForSequenceClassification (first: LlamaForCausalLM)");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "model_type", "\"mistral\"", &err), RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "\"model_type\" is \"mistral\"");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "hidden_act", "\"gelu\"", &err), RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "\"hidden_act\" is \"gelu\"");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "attention_bias", "true", &err), RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "\"attention_bias\" is true");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "mlp_bias", "true", &err), RMS_ERR_UNSUPPORTED);
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "architectures", "\"LlamaForSequenceClassification\"", &err),
                 RMS_ERR_FORMAT);
}

static void test_heads_must_divide_evenly(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "num_key_value_heads", "5", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "num_attention_heads 32 is not a multiple of num_key_value_heads 5");
    CHECK_EQ_INT(parse_with(&c, MINIMAL, "hidden_size", "66", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "hidden_size 66 is not a multiple of num_attention_heads 4");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "hidden_size", "4000", &err), RMS_OK); /* head_dim given */
    CHECK_EQ_INT(c.head_dim, 128);
}

static void test_rope_scaling_accepts_default_llama3_and_the_legacy_type_key(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "rope_scaling", "{\"rope_type\": \"default\"}", &err), RMS_OK);
    CHECK_EQ_INT(c.rope_scaling, RMS_ROPE_SCALING_NONE);
    const char *legacy = "{\"type\": \"llama3\", \"factor\": 32, \"low_freq_factor\": 1,"
                         " \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}";
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "rope_scaling", legacy, &err), RMS_OK);
    CHECK_EQ_INT(c.rope_scaling, RMS_ROPE_SCALING_LLAMA3);
    CHECK(c.rope_factor == 32.0);
}

static void test_unsupported_or_incomplete_rope_scaling_is_an_error(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4}", &err),
                 RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "rope_scaling type \"yarn\" is not supported");
    const char *no_low = "{\"rope_type\": \"llama3\", \"factor\": 8, \"high_freq_factor\": 4,"
                         " \"original_max_position_embeddings\": 8192}";
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "rope_scaling", no_low, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "cfg.json: missing \"rope_scaling.low_freq_factor\"");
    const char *inverted = "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4,"
                           " \"high_freq_factor\": 1, \"original_max_position_embeddings\": 8192}";
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "rope_scaling", inverted, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "high_freq_factor 1 must be greater than low_freq_factor 4");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "rope_scaling", "{\"factor\": 8}", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "missing \"rope_scaling.type\"");
    CHECK_EQ_INT(parse_with(&c, TULU_RM, "rope_scaling", "8", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "\"rope_scaling\" must be an object or null");
}

static void test_text_that_is_not_a_json_object_is_rejected(void) {
    rms_config c;
    rms_err err;
    CHECK_EQ_INT(rms_config_parse(&c, "{\"hidden_size\": ", "broken.json", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "broken.json: not valid JSON");
    CHECK_EQ_INT(rms_config_parse(&c, "[1, 2]", "array.json", &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "array.json: not a JSON object");
    CHECK_EQ_INT(rms_config_parse(&c, "", "empty.json", &err), RMS_ERR_FORMAT);
}

/* ---------------------------------------------------------------- files */

static void test_written_configs_round_trip_through_parse(void) {
    char dir[4096];
    rms_config c, back;
    rms_err err;
    snprintf(dir, sizeof dir, "%s", check_tmpdir("config-roundtrip"));
    CHECK_EQ_INT(rms_config_parse(&c, TULU_RM, "tulu", &err), RMS_OK);
    CHECK_EQ_INT(rms_config_write(&c, dir, 128000, 128001, &err), RMS_OK);
    CHECK_EQ_INT(rms_config_load(&back, dir, &err), RMS_OK);
    check_same_config(&c, &back);
    CHECK(back.rms_norm_eps == 1e-5 && back.rope_theta == 500000.0);

    CHECK_EQ_INT(rms_config_parse(&c, MINIMAL, "min", &err), RMS_OK);
    c.rms_norm_eps = 1.0 / 3.0;
    c.tie_word_embeddings = 1;
    CHECK_EQ_INT(rms_config_write(&c, dir, -1, -1, &err), RMS_OK);
    CHECK_EQ_INT(rms_config_load(&back, dir, &err), RMS_OK);
    check_same_config(&c, &back);
}

static void test_the_written_config_looks_like_the_tulu_one(void) {
    char dir[4096], path[4200];
    rms_config c;
    rms_err err;
    snprintf(dir, sizeof dir, "%s", check_tmpdir("config-text"));
    CHECK_EQ_INT(rms_config_parse(&c, TULU_RM, "tulu", &err), RMS_OK);
    CHECK_EQ_INT(rms_config_write(&c, dir, 128000, 128001, &err), RMS_OK);
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = read_all(path);
    CHECK_CONTAINS(text, "{\n  \"architectures\": [\n    \"LlamaForSequenceClassification\"\n  ],\n");
    CHECK_CONTAINS(text, "\"attention_bias\": false,");
    CHECK_CONTAINS(text, "\"bos_token_id\": 128000,\n  \"eos_token_id\": 128001,");
    CHECK_CONTAINS(text, "\"id2label\": {\n    \"0\": \"LABEL_0\"\n  },");
    CHECK_CONTAINS(text, "\"label2id\": {\n    \"LABEL_0\": 0\n  },");
    CHECK_CONTAINS(text, "\"mlp_bias\": false,");
    CHECK_CONTAINS(text, "\"model_type\": \"llama\",");
    CHECK_CONTAINS(text, "\"pad_token_id\": 128256,");
    CHECK_CONTAINS(text, "\"rms_norm_eps\": 1e-05,");
    CHECK_CONTAINS(text, "\"factor\": 8.0,\n    \"high_freq_factor\": 4.0,\n    \"low_freq_factor\": 1.0,\n"
                         "    \"original_max_position_embeddings\": 8192,\n    \"rope_type\": \"llama3\"\n  },");
    CHECK_CONTAINS(text, "\"rope_theta\": 500000.0,");
    CHECK_CONTAINS(text, "\"torch_dtype\": \"bfloat16\",");
    CHECK_CONTAINS(text, "\"vocab_size\": 128264\n}\n");
    free(text);

    CHECK_EQ_INT(rms_config_parse(&c, MINIMAL, "min", &err), RMS_OK);
    CHECK_EQ_INT(rms_config_write(&c, dir, -1, 2, &err), RMS_OK);
    text = read_all(path);
    CHECK_CONTAINS(text, "\"bos_token_id\": null,");
    CHECK_CONTAINS(text, "\"pad_token_id\": null,");
    CHECK_CONTAINS(text, "\"rope_scaling\": null,");
    CHECK_CONTAINS(text, "\"torch_dtype\": null,");
    free(text);
}

static void test_loading_a_missing_config_is_an_io_error_naming_the_path(void) {
    char dir[4096];
    rms_config c;
    rms_err err;
    snprintf(dir, sizeof dir, "%s", check_tmpdir("config-missing"));
    CHECK_EQ_INT(rms_config_load(&c, dir, &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "config-missing/config.json: cannot open");
    CHECK_EQ_INT(rms_config_parse(&c, MINIMAL, "min", &err), RMS_OK);
    CHECK_EQ_INT(rms_config_write(&c, "/nonexistent-rmscore-dir", 1, 2, &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "/nonexistent-rmscore-dir/config.json: cannot create");
}

static void test_a_config_file_above_the_size_limit_is_refused_unread(void) {
    char dir[4096], path[4200];
    rms_config c;
    rms_err err;
    snprintf(dir, sizeof dir, "%s", check_tmpdir("config-huge"));
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *fp = fopen(path, "w"); // sparse: 1 GiB + 1 byte of holes, no disk used
    CHECK(fp && ftruncate(fileno(fp), RMS_TEXT_FILE_MAX + 1) == 0);
    if (fp) fclose(fp);
    CHECK_EQ_INT(rms_config_load(&c, dir, &err), RMS_ERR_FORMAT);
    CHECK_CONTAINS(err.msg, "config.json: 1073741825 bytes, above rmscore's limit of 1073741824 bytes");
    unlink(path);
}

int main(void) {
    RUN(test_the_tulu_reward_model_config_parses);
    RUN(test_defaults_follow_transformers_llama_config);
    RUN(test_null_means_the_default_where_transformers_allows_it);
    RUN(test_a_newer_dtype_key_is_read_when_torch_dtype_is_absent);
    RUN(test_a_config_without_labels_counts_as_two_and_is_rejected);
    RUN(test_id2label_decides_num_labels_before_the_num_labels_key);
    RUN(test_a_string_where_an_integer_belongs_names_the_key);
    RUN(test_missing_or_non_positive_sizes_name_the_key);
    RUN(test_sizes_above_their_limits_name_the_key_and_the_limit);
    RUN(test_sizes_at_their_limits_parse);
    RUN(test_a_derived_head_dim_above_its_limit_is_rejected);
    RUN(test_reals_must_be_finite_positive_and_within_limits);
    RUN(test_pad_token_id_is_null_minus_one_or_a_plausible_id);
    RUN(test_other_models_are_unsupported_with_a_clear_message);
    RUN(test_heads_must_divide_evenly);
    RUN(test_rope_scaling_accepts_default_llama3_and_the_legacy_type_key);
    RUN(test_unsupported_or_incomplete_rope_scaling_is_an_error);
    RUN(test_text_that_is_not_a_json_object_is_rejected);
    RUN(test_written_configs_round_trip_through_parse);
    RUN(test_the_written_config_looks_like_the_tulu_one);
    RUN(test_loading_a_missing_config_is_an_io_error_naming_the_path);
    RUN(test_a_config_file_above_the_size_limit_is_refused_unread);
    return check_summary();
}
