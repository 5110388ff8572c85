#include "src/engine/testmodel.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "io/safetensors.h"
#include "src/base/path.h"
#include "src/base/rng.h"

#define CHUNK_ELEMS ((int64_t)1 << 20)
#define PATH_LEN 4096
#define TENSOR_NAME_LEN 96
#define LLAMA3_BOS 128000
#define LLAMA3_EOS 128001
#define TULU_PAD 128256

typedef enum init_kind { INIT_UNIFORM, INIT_NORM } init_kind;

typedef struct gen_tensor {
    char name[TENSOR_NAME_LEN];
    int ndim;
    int64_t shape[2];
    init_kind kind;
    float std;  /* INIT_UNIFORM */
    int shard;  /* 0-based */
} gen_tensor;

void rms_testmodel_defaults(rms_testmodel_opts *o) {
    memset(o, 0, sizeof *o);
    rms_config *c = &o->config;
    c->hidden_size = 64;
    c->intermediate_size = 128;
    c->n_layers = 2;
    c->n_heads = 4;
    c->n_kv_heads = 2;
    c->head_dim = 16;
    c->vocab_size = 128264;
    c->max_position_embeddings = 131072;
    c->rms_norm_eps = 1e-5;
    c->rope_theta = 500000.0;
    c->rope_scaling = RMS_ROPE_SCALING_LLAMA3;
    c->rope_factor = 8.0;
    c->rope_low_freq_factor = 1.0;
    c->rope_high_freq_factor = 4.0;
    c->rope_original_max_position = 8192;
    c->tie_word_embeddings = 0;
    c->pad_token_id = TULU_PAD;
    c->num_labels = 1;
    o->n_shards = 1;
    o->seed = 1;
    o->dtype = RMS_DTYPE_BF16;
}

static void add_tensor(gen_tensor *t, int64_t *n, const char *name, int64_t rows, int64_t cols, init_kind kind,
                       double std) {
    gen_tensor *g = &t[(*n)++];
    snprintf(g->name, sizeof g->name, "%s", name);
    g->ndim = cols > 0 ? 2 : 1;
    g->shape[0] = rows;
    g->shape[1] = cols;
    g->kind = kind;
    g->std = (float)std;
}

/* The tensors in the order transformers' state_dict lists them. */
static int64_t list_tensors(const rms_config *c, gen_tensor *t) {
    const int64_t h = c->hidden_size, q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
    const int64_t inter = c->intermediate_size;
    const double depth = sqrt(2.0 * (double)c->n_layers);
    char name[TENSOR_NAME_LEN];
    int64_t n = 0;
    add_tensor(t, &n, "model.embed_tokens.weight", c->vocab_size, h, INIT_UNIFORM, 1.0);
    for (int64_t l = 0; l < c->n_layers; l++) {
#define LN(s) (snprintf(name, sizeof name, "model.layers.%lld." s, (long long)l), name)
        add_tensor(t, &n, LN("self_attn.q_proj.weight"), q, h, INIT_UNIFORM, 1.0 / sqrt((double)h));
        add_tensor(t, &n, LN("self_attn.k_proj.weight"), kv, h, INIT_UNIFORM, 1.0 / sqrt((double)h));
        add_tensor(t, &n, LN("self_attn.v_proj.weight"), kv, h, INIT_UNIFORM, 1.0 / sqrt((double)h));
        add_tensor(t, &n, LN("self_attn.o_proj.weight"), h, q, INIT_UNIFORM, 1.0 / sqrt((double)q) / depth);
        add_tensor(t, &n, LN("mlp.gate_proj.weight"), inter, h, INIT_UNIFORM, 1.0 / sqrt((double)h));
        add_tensor(t, &n, LN("mlp.up_proj.weight"), inter, h, INIT_UNIFORM, 1.0 / sqrt((double)h));
        add_tensor(t, &n, LN("mlp.down_proj.weight"), h, inter, INIT_UNIFORM, 1.0 / sqrt((double)inter) / depth);
        add_tensor(t, &n, LN("input_layernorm.weight"), h, 0, INIT_NORM, 0);
        add_tensor(t, &n, LN("post_attention_layernorm.weight"), h, 0, INIT_NORM, 0);
#undef LN
    }
    add_tensor(t, &n, "model.norm.weight", h, 0, INIT_NORM, 0);
    add_tensor(t, &n, "score.weight", 1, h, INIT_UNIFORM, 1.0 / sqrt((double)h));
    return n;
}

static int64_t tensor_elems(const gen_tensor *g) { return g->shape[0] * (g->ndim == 2 ? g->shape[1] : 1); }

/* Assigns consecutive tensors to shards of about equal bytes; every shard gets at least one. */
static void assign_shards(gen_tensor *t, int64_t n, int64_t n_shards, size_t esize) {
    int64_t total = 0, done = 0;
    for (int64_t i = 0; i < n; i++) total += tensor_elems(&t[i]) * (int64_t)esize;
    int64_t shard = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t remaining_tensors = n - i, remaining_shards = n_shards - shard;
        const int64_t target = (int64_t)((double)total * (double)(shard + 1) / (double)n_shards);
        if (shard + 1 < n_shards && i > 0 && t[i - 1].shard == shard &&
            (done >= target || remaining_tensors <= remaining_shards - 1))
            shard++;
        t[i].shard = (int)shard;
        done += tensor_elems(&t[i]) * (int64_t)esize;
    }
}

static void shard_name(char *buf, size_t len, int64_t shard, int64_t n_shards) {
    if (n_shards == 1)
        snprintf(buf, len, "%s", ST_SINGLE_NAME);
    else
        snprintf(buf, len, "model-%05lld-of-%05lld.safetensors", (long long)shard + 1, (long long)n_shards);
}

static rms_status generate_values(st_writer *w, const gen_tensor *g, const rms_testmodel_opts *o, float *buf,
                                  void *conv, rms_err *err) {
    rms_rng rng;
    rms_rng_seed(&rng, o->seed, g->name);
    const size_t esize = rms_dtype_size(o->dtype);
    const int64_t total = tensor_elems(g);
    for (int64_t done = 0; done < total; done += CHUNK_ELEMS) {
        const int64_t n = total - done < CHUNK_ELEMS ? total - done : CHUNK_ELEMS;
        if (g->kind == INIT_NORM) {
            rms_rng_uniform(&rng, buf, n, 0.2f);
            for (int64_t i = 0; i < n; i++) buf[i] += 1.0f;
        } else {
            rms_rng_uniform(&rng, buf, n, g->std * sqrtf(3.0f));
        }
        rms_convert_from_f32(conv, buf, o->dtype, n);
        rms_status st = st_writer_write(w, conv, (size_t)n * esize, err);
        if (st != RMS_OK) return st;
    }
    return RMS_OK;
}

static rms_status write_shard(const char *dir, const gen_tensor *t, int64_t n, int64_t shard,
                              const rms_testmodel_opts *o, float *buf, void *conv, rms_err *err) {
    char fname[128], path[PATH_LEN];
    shard_name(fname, sizeof fname, shard, o->n_shards);
    rms_status jst = rms_path_join(path, sizeof path, dir, fname, err);
    if (jst != RMS_OK) return jst;
    st_writer_tensor *table = calloc((size_t)n, sizeof *table);
    if (!table) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (t[i].shard != shard) continue;
        table[k].name = t[i].name;
        table[k].dtype = o->dtype;
        table[k].ndim = t[i].ndim;
        table[k].shape[0] = t[i].shape[0];
        table[k].shape[1] = t[i].shape[1];
        k++;
    }
    st_writer w;
    rms_status st = st_writer_open(&w, path, table, k, "pt", err);
    free(table);
    if (st != RMS_OK) return st;
    for (int64_t i = 0; i < n && st == RMS_OK; i++) {
        if (t[i].shard != shard) continue;
        st = generate_values(&w, &t[i], o, buf, conv, err);
        if (st == RMS_OK && o->progress)
            fprintf(stderr, "\rrmscore: make-test-model: %s %-48s", fname, t[i].name);
    }
    rms_status close_st = st_writer_close(&w, st == RMS_OK ? err : NULL);
    return st != RMS_OK ? st : close_st;
}

static rms_status write_index(const char *dir, const gen_tensor *t, int64_t n, const rms_testmodel_opts *o,
                              rms_err *err) {
    const char **names = calloc((size_t)n, sizeof *names);
    const char **files = calloc((size_t)n, sizeof *files);
    char(*fnames)[128] = calloc((size_t)o->n_shards, sizeof *fnames);
    rms_status st = RMS_ERR_NOMEM;
    if (names && files && fnames) {
        uint64_t total = 0;
        for (int64_t s = 0; s < o->n_shards; s++) shard_name(fnames[s], sizeof fnames[s], s, o->n_shards);
        for (int64_t i = 0; i < n; i++) {
            names[i] = t[i].name;
            files[i] = fnames[t[i].shard];
            total += (uint64_t)tensor_elems(&t[i]) * rms_dtype_size(o->dtype);
        }
        st = st_write_index(dir, total, names, files, n, err);
    } else {
        rms_fail(err, st, "out of memory");
    }
    free(names);
    free(files);
    free(fnames);
    return st;
}

static rms_status copy_file(const char *src, const char *dst, rms_err *err) {
    FILE *in = fopen(src, "rb");
    if (!in) return rms_fail(err, RMS_ERR_IO, "cannot open %s: %s", src, strerror(errno));
    FILE *out = fopen(dst, "wb");
    if (!out) {
        fclose(in);
        return rms_fail(err, RMS_ERR_IO, "cannot create %s: %s", dst, strerror(errno));
    }
    char buf[1 << 16];
    size_t k;
    int bad = 0;
    while ((k = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, k, out) != k) bad = 1;
    bad |= ferror(in);
    fclose(in);
    if (fclose(out) != 0) bad = 1;
    return bad ? rms_fail(err, RMS_ERR_IO, "cannot copy %s to %s", src, dst) : RMS_OK;
}

static rms_status copy_tokenizer(const char *from, const char *to, rms_err *err) {
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};
    char src[PATH_LEN], dst[PATH_LEN];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        rms_status st = rms_path_join(src, sizeof src, from, files[i], err);
        if (st == RMS_OK) st = rms_path_join(dst, sizeof dst, to, files[i], err);
        if (st != RMS_OK) return st;
        struct stat sb;
        if (stat(src, &sb) != 0) {
            if (i == 0) return rms_fail(err, RMS_ERR_IO, "--tokenizer %s: no tokenizer.json there", from);
            continue; // the other files are optional
        }
        if ((st = copy_file(src, dst, err)) != RMS_OK) return st;
    }
    return RMS_OK;
}

static rms_status make_dirs(const char *dir, rms_err *err) {
    char path[PATH_LEN];
    if (strlen(dir) >= sizeof path)
        return rms_fail(err, RMS_ERR_ARG, "%.200s...: path too long (%zu bytes, the limit is %zu)", dir, strlen(dir),
                        sizeof path - 1);
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return rms_fail(err, RMS_ERR_IO, "cannot create directory %s: %s", path, strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return rms_fail(err, RMS_ERR_IO, "cannot create directory %s: %s", path, strerror(errno));
    return RMS_OK;
}

static rms_status check_opts(const rms_testmodel_opts *o, int64_t n_tensors, rms_err *err) {
    const rms_config *c = &o->config;
    if (c->hidden_size <= 0 || c->intermediate_size <= 0 || c->n_layers <= 0 || c->n_heads <= 0 ||
        c->n_kv_heads <= 0 || c->head_dim <= 0 || c->vocab_size <= 0)
        return rms_fail(err, RMS_ERR_ARG, "model sizes must be positive");
    if (c->n_heads % c->n_kv_heads != 0)
        return rms_fail(err, RMS_ERR_ARG, "--heads %lld is not a multiple of --kv-heads %lld",
                        (long long)c->n_heads, (long long)c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return rms_fail(err, RMS_ERR_ARG, "head dim %lld (hidden / heads) must be even for RoPE", (long long)c->head_dim);
    if (o->n_shards < 1 || o->n_shards > n_tensors || o->n_shards > 99999)
        return rms_fail(err, RMS_ERR_ARG, "--shards must be between 1 and the number of tensors (%lld)",
                        (long long)n_tensors);
    if (c->vocab_size > INT32_MAX) return rms_fail(err, RMS_ERR_ARG, "--vocab must fit in int32");
    return RMS_OK;
}

rms_status rms_testmodel_write(const char *out_dir, const rms_testmodel_opts *o, rms_err *err) {
    const rms_config *c = &o->config;
    const int64_t max_tensors = 9 * (c->n_layers > 0 ? c->n_layers : 0) + 3;
    rms_status st = check_opts(o, max_tensors, err);
    if (st != RMS_OK) return st;
    gen_tensor *t = calloc((size_t)max_tensors, sizeof *t);
    float *buf = malloc((size_t)CHUNK_ELEMS * sizeof(float));       // (CHUNK_ELEMS)
    void *conv = malloc((size_t)CHUNK_ELEMS * rms_dtype_size(o->dtype)); // (CHUNK_ELEMS) in o->dtype
    if (!t || !buf || !conv) {
        st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        goto done;
    }
    const int64_t n = list_tensors(c, t);
    assign_shards(t, n, o->n_shards, rms_dtype_size(o->dtype));
    if ((st = make_dirs(out_dir, err)) != RMS_OK) goto done;
    rms_config written = *c;
    snprintf(written.torch_dtype, sizeof written.torch_dtype, "%s",
             o->dtype == RMS_DTYPE_BF16 ? "bfloat16" : o->dtype == RMS_DTYPE_F16 ? "float16" : "float32");
    if (written.pad_token_id >= written.vocab_size) written.pad_token_id = -1;
    if ((st = rms_config_write(&written, out_dir, LLAMA3_BOS < c->vocab_size ? LLAMA3_BOS : -1,
                               LLAMA3_EOS < c->vocab_size ? LLAMA3_EOS : -1, err)) != RMS_OK)
        goto done;
    for (int64_t s = 0; s < o->n_shards && st == RMS_OK; s++) st = write_shard(out_dir, t, n, s, o, buf, conv, err);
    if (o->progress) fprintf(stderr, "\n");
    if (st == RMS_OK && o->n_shards > 1) st = write_index(out_dir, t, n, o, err);
    if (st == RMS_OK && o->tokenizer_dir) st = copy_tokenizer(o->tokenizer_dir, out_dir, err);
done:
    free(t);
    free(buf);
    free(conv);
    return st;
}
