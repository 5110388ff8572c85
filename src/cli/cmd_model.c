/* cmd_model.c — `rmscore make-test-model` and `rmscore score-ids`: checkpoints and raw token ids. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

#include "io/ids_input.h"
#include "src/engine/gemm.h"
#include "src/engine/parallel.h"
#include "src/job/schedule.h"
#include "src/base/clock.h"
#include "src/base/options.h"
#include "src/base/outstream.h"
#include "src/cli/commands.h"
#include "src/base/dtype.h"
#include "src/engine/forward.h"
#include "src/base/memstat.h"
#include "src/engine/model.h"
#include "src/engine/testmodel.h"

typedef struct make_test_model_opts {
    char out[RMS_PATH_MAX], tokenizer[RMS_PATH_MAX];
    int64_t hidden, intermediate, layers, heads, kv_heads, head_dim, vocab, shards, seed;
    int dtype; // index in "bf16|f16|f32"
    int no_rope_scaling, quiet;
} make_test_model_opts;

#define M(field) offsetof(make_test_model_opts, field)
static const rms_opt MAKE_TEST_MODEL_OPTS[] = {
    {"--out", RMS_OPT_PATH, "DIR", M(out), .required = 1, .help = "output directory (created if needed)"},
    {"--hidden", RMS_OPT_INT, "N", M(hidden), .lo = 2, .hi = 1 << 20, .value = "64", .help = "hidden size"},
    {"--intermediate", RMS_OPT_INT, "N", M(intermediate), .lo = 1, .hi = 1 << 22, .value = "128", .help = "MLP size"},
    {"--layers", RMS_OPT_INT, "N", M(layers), .lo = 1, .hi = 4096, .value = "2", .help = "decoder layers"},
    {"--heads", RMS_OPT_INT, "N", M(heads), .lo = 1, .hi = 4096, .value = "4", .help = "attention heads"},
    {"--kv-heads", RMS_OPT_INT, "N", M(kv_heads), .lo = 1, .hi = 4096, .value = "2",
     .help = "key/value heads (= heads: MHA, 1: MQA)"},
    {"--head-dim", RMS_OPT_INT, "N", M(head_dim), .lo = 2, .hi = 1 << 16, .shown = "hidden / heads",
     .help = "head dimension"},
    {"--vocab", RMS_OPT_INT, "N", M(vocab), .lo = 1, .hi = INT32_MAX, .value = "128264",
     .help = "vocabulary size (Tulu 3's by default)"},
    {"--shards", RMS_OPT_INT, "N", M(shards), .lo = 1, .hi = 99999, .value = "1",
     .help = "1: model.safetensors; N > 1: model-0000i-of-0000N.safetensors + index"},
    {"--seed", RMS_OPT_INT, "N", M(seed), .lo = 0, .hi = INT64_MAX, .value = "1", .help = "random seed"},
    {"--dtype", RMS_OPT_CHOICE, "bf16|f16|f32", M(dtype), .value = "bf16", .help = "stored dtype"},
    {"--no-rope-scaling", RMS_OPT_FLAG, NULL, M(no_rope_scaling),
     .help = "write rope_scaling null instead of Llama 3.1's llama3 scaling"},
    {"--tokenizer", RMS_OPT_PATH, "DIR", M(tokenizer),
     .help = "copy tokenizer.json, tokenizer_config.json (+ special_tokens_map.json)\nfrom DIR"},
    {"--quiet", RMS_OPT_FLAG, NULL, M(quiet), .help = "no progress on stderr"},
    {0}};

const rms_command RMS_CMD_MAKE_TEST_MODEL = {
    .name = "make-test-model",
    .synopsis = "usage: rmscore make-test-model --out DIR [options]",
    .about = "Writes a random-weight LlamaForSequenceClassification checkpoint in the exact Hugging Face layout\n"
             "of allenai/Llama-3.1-Tulu-3-8B-RM (config.json, safetensors shards + index). Memory use stays a few\n"
             "MiB whatever the size, so the full 8B shape can be generated on a small machine.",
    .opts = MAKE_TEST_MODEL_OPTS,
    .epilog = "The 8B shape: --hidden 4096 --intermediate 14336 --layers 32 --heads 32 --kv-heads 8 --shards 4",
};

typedef struct score_ids_opts {
    char model[RMS_PATH_MAX];
    int64_t threads, microbatch_tokens;
    int compute; // rms_compute
    int quiet;
} score_ids_opts;

#define S(field) offsetof(score_ids_opts, field)
static const rms_opt SCORE_IDS_OPTS[] = {
    {"--model", RMS_OPT_PATH, "DIR", S(model), .required = 1,
     .help = "Hugging Face checkpoint directory (config.json + safetensors)"},
    {"--threads", RMS_OPT_INT, "N", S(threads), .lo = 1, .hi = 1024, .shown = "the CPUs this process may use",
     .help = "compute threads"},
    {"--compute", RMS_OPT_CHOICE, "fp32|bf16", S(compute), .value = "fp32",
     .help = "fp32: fp32 activations, weights converted from their stored dtype;\n"
             "bf16: matmul inputs rounded to bf16 as a bf16 model would see them,\n"
             "AVX512_BF16 dot products where the CPU has them"},
    {"--microbatch-tokens", RMS_OPT_INT, "N", S(microbatch_tokens), .lo = 1, .hi = INT32_MAX, .value = "4096",
     .help = "token budget of one packed micro-batch"},
    {"--quiet", RMS_OPT_FLAG, NULL, S(quiet), .help = "no summary on stderr"},
    {0}};

const rms_command RMS_CMD_SCORE_IDS = {
    .name = "score-ids",
    .synopsis = "usage: rmscore score-ids --model DIR [options] < ids.jsonl > scores.txt",
    .about = "Reads one JSON array of token ids per line on stdin and prints one score per line (%.9g) on\n"
             "stdout, in input order. Lines are packed (no padding) into micro-batches of at most\n"
             "--microbatch-tokens tokens; a longer sequence is scored alone. A bad line stops the run with an\n"
             "error naming the line, after the scores of all earlier lines are printed.",
    .opts = SCORE_IDS_OPTS,
};

/* ------------------------------------------------------------------ make-test-model */

rms_status rms_cmd_make_test_model(int argc, char **argv, rms_err *err) {
    make_test_model_opts mo;
    rms_status st = rms_options_parse(&RMS_CMD_MAKE_TEST_MODEL, argc, argv, 2, &mo, err);
    if (st != RMS_OK) return st;
    static const rms_dtype DTYPES[] = {RMS_DTYPE_BF16, RMS_DTYPE_F16, RMS_DTYPE_F32}; // the --dtype choices
    rms_testmodel_opts o;
    rms_testmodel_defaults(&o);
    o.progress = !mo.quiet;
    o.tokenizer_dir = mo.tokenizer[0] ? mo.tokenizer : NULL;
    o.dtype = DTYPES[mo.dtype];
    o.n_shards = mo.shards;
    o.seed = (uint64_t)mo.seed;
    if (mo.no_rope_scaling) o.config.rope_scaling = RMS_ROPE_SCALING_NONE;
    o.config.hidden_size = mo.hidden;
    o.config.intermediate_size = mo.intermediate;
    o.config.n_layers = mo.layers;
    o.config.n_heads = mo.heads;
    o.config.n_kv_heads = mo.kv_heads;
    o.config.vocab_size = mo.vocab;
    if (mo.head_dim > 0) {
        o.config.head_dim = mo.head_dim;
    } else {
        if (mo.hidden % mo.heads != 0)
            return rms_fail(err, RMS_ERR_USAGE, "--hidden %lld is not a multiple of --heads %lld (or give --head-dim)",
                            (long long)mo.hidden, (long long)mo.heads);
        o.config.head_dim = mo.hidden / mo.heads;
    }
    if (mo.kv_heads > mo.heads)
        return rms_fail(err, RMS_ERR_USAGE, "--kv-heads %lld is more than --heads %lld", (long long)mo.kv_heads,
                        (long long)mo.heads);
    const char *out = mo.out;
    const double t0 = rms_now_seconds();
    st = rms_testmodel_write(out, &o, err);
    if (st == RMS_OK && o.progress) fprintf(stderr, "rmscore: make-test-model: wrote %s in %.1f s\n", out, rms_now_seconds() - t0);
    return st;
}

/* ------------------------------------------------------------------ score-ids */

/* A packed batch being filled from stdin lines. */
typedef struct pending {
    rms_ids ids;       // (n_tokens)
    int64_t *offsets;  // (n_seqs + 1)
    int64_t n_seqs, cap_seqs;
    float *scores;     // (cap_seqs)
} pending;

static rms_status flush_pending(const rms_model *m, rms_workspace *ws, pending *p, rms_err *err) {
    if (p->n_seqs == 0) return RMS_OK;
    // pooled as transformers does: at the last token that is not the pad token, if the config names one
    p->ids.n = rms_trim_sequences(p->ids.ids, p->offsets, p->n_seqs, 0, m->config.pad_token_id);
    const rms_batch b = {.n_seqs = p->n_seqs, .offsets = p->offsets};
    rms_status st = rms_forward_all(m, ws, &b, p->ids.ids, p->scores, err);
    if (st != RMS_OK) return st;
    for (int64_t s = 0; s < p->n_seqs; s++) printf("%.9g\n", p->scores[s]);
    fflush(stdout);
    if ((st = rms_out_check(stdout, "standard output", err)) != RMS_OK) return st;
    p->n_seqs = 0;
    p->ids.n = 0;
    return RMS_OK;
}

/* Makes room for one more sequence (offsets needs n_seqs + 2 entries). */
static rms_status reserve_seq(pending *p, rms_err *err) {
    if (p->n_seqs + 2 > p->cap_seqs) {
        const int64_t cap = p->cap_seqs ? 2 * p->cap_seqs : 64;
        int64_t *o = realloc(p->offsets, (size_t)cap * sizeof *o);
        if (o) p->offsets = o;
        float *s = realloc(p->scores, (size_t)cap * sizeof *s);
        if (s) p->scores = s;
        if (!o || !s) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        p->cap_seqs = cap;
    }
    return RMS_OK;
}

static rms_status score_stream(const rms_model *m, rms_workspace *ws, const score_ids_opts *o, int64_t *n_lines,
                               int64_t *n_tokens, rms_err *err) {
    pending p;
    memset(&p, 0, sizeof p);
    rms_ids_init(&p.ids);
    char *line = NULL;
    size_t cap = 0;
    rms_status st = reserve_seq(&p, err);
    if (st == RMS_OK) p.offsets[0] = 0;
    while (st == RMS_OK && getline(&line, &cap, stdin) >= 0) {
        (*n_lines)++;
        const int64_t before = p.ids.n;
        int64_t added = 0;
        st = rms_ids_parse_line(&p.ids, line, m->config.vocab_size, &added, err);
        if (st != RMS_OK) {
            rms_err flush_err;
            if (flush_pending(m, ws, &p, &flush_err) != RMS_OK) *err = flush_err;
            else rms_fail_prefix(err, st, "stdin line %lld", (long long)*n_lines);
            break;
        }
        *n_tokens += added;
        // this line does not fit next to what is pending: score the pending ones first
        if (before > 0 && p.ids.n > o->microbatch_tokens) {
            int32_t *tail = malloc((size_t)added * sizeof *tail);
            if (!tail) { st = rms_fail(err, RMS_ERR_NOMEM, "out of memory"); break; }
            memcpy(tail, p.ids.ids + before, (size_t)added * sizeof *tail);
            p.ids.n = before;
            st = flush_pending(m, ws, &p, err);
            if (st == RMS_OK) {
                memcpy(p.ids.ids, tail, (size_t)added * sizeof *tail);
                p.ids.n = added;
            }
            free(tail);
            if (st != RMS_OK) break;
        }
        if ((st = reserve_seq(&p, err)) != RMS_OK) break;
        p.offsets[++p.n_seqs] = p.ids.n;
        if (p.ids.n >= o->microbatch_tokens) st = flush_pending(m, ws, &p, err);
    }
    if (st == RMS_OK) st = flush_pending(m, ws, &p, err);
    free(line);
    rms_ids_free(&p.ids);
    free(p.offsets);
    free(p.scores);
    return st;
}

rms_status rms_cmd_score_ids(int argc, char **argv, rms_err *err) {
    score_ids_opts o;
    rms_status st = rms_options_parse(&RMS_CMD_SCORE_IDS, argc, argv, 2, &o, err);
    if (st != RMS_OK) return st;
    if (o.threads == 0) o.threads = rms_available_cpus();
    if ((st = rms_engine_start((int)o.threads, err)) != RMS_OK) return st;
    const double t0 = rms_now_seconds();
    rms_model m;
    if ((st = rms_model_load(&m, o.model, 0, -1, err)) != RMS_OK) return st;
    char engine[192];
    rms_engine_describe(engine, sizeof engine, o.compute == RMS_COMPUTE_BF16);
    if (!o.quiet)
        fprintf(stderr, "rmscore: score-ids: %s: %lld layers, hidden %lld, %s weights; %lld threads, %s\n", o.model,
                (long long)m.config.n_layers, (long long)m.config.hidden_size,
                rms_dtype_name(m.layers[0].q_proj.dtype), (long long)o.threads, engine);
    rms_workspace ws;
    rms_workspace_init(&ws, (rms_compute)o.compute);
    int64_t n_lines = 0, n_tokens = 0;
    const double t1 = rms_now_seconds();
    st = score_stream(&m, &ws, &o, &n_lines, &n_tokens, err);
    const double t2 = rms_now_seconds();
    if (st == RMS_OK && !o.quiet) {
        rms_memstat mem;
        rms_memstat_read(&mem);
        fprintf(stderr,
                "rmscore: score-ids: %lld sequences, %lld tokens in %.3f s (%.1f tokens/s; load %.3f s); "
                "peak RSS %.1f MiB (private %.1f MiB, mapped weights %.1f MiB)\n",
                (long long)n_lines, (long long)n_tokens, t2 - t1, t2 > t1 ? (double)n_tokens / (t2 - t1) : 0.0,
                t1 - t0, mem.peak_rss_kb / 1024.0, mem.rss_anon_kb / 1024.0, mem.rss_file_kb / 1024.0);
    }
    rms_workspace_free(&ws);
    rms_model_free(&m);
    return st;
}
