/* cmd_model.c — `rmscore make-test-model` and `rmscore score-ids`: checkpoints and raw token ids. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/ids_input.h"
#include "src/engine/blas.h"
#include "src/base/argv.h"
#include "src/cli/commands.h"
#include "src/base/dtype.h"
#include "src/engine/forward.h"
#include "src/base/memstat.h"
#include "src/engine/model.h"
#include "src/engine/testmodel.h"

#define DEFAULT_MICROBATCH_TOKENS 4096

static const char *const usage_make_test_model =
    "usage: rmscore make-test-model --out DIR [options]\n"
    "\n"
    "Writes a random-weight LlamaForSequenceClassification checkpoint in the exact Hugging Face layout\n"
    "of allenai/Llama-3.1-Tulu-3-8B-RM (config.json, safetensors shards + index). Memory use stays a few\n"
    "MiB whatever the size, so the full 8B shape can be generated on a small machine.\n"
    "\n"
    "  --out DIR            output directory (created if needed)\n"
    "  --hidden N           hidden size (default 64)\n"
    "  --intermediate N     MLP size (default 128)\n"
    "  --layers N           decoder layers (default 2)\n"
    "  --heads N            attention heads (default 4)\n"
    "  --kv-heads N         key/value heads (default 2; = heads: MHA, 1: MQA)\n"
    "  --head-dim N         head dimension (default hidden / heads)\n"
    "  --vocab N            vocabulary size (default 128264, as Tulu 3)\n"
    "  --shards N           1: model.safetensors; N > 1: model-0000i-of-0000N.safetensors + index (default 1)\n"
    "  --seed N             random seed (default 1)\n"
    "  --dtype T            bf16 | f16 | f32 (default bf16)\n"
    "  --no-rope-scaling    write rope_scaling null instead of Llama 3.1's llama3 scaling\n"
    "  --tokenizer DIR      copy tokenizer.json, tokenizer_config.json (+ special_tokens_map.json) from DIR\n"
    "  --quiet              no progress on stderr\n"
    "\n"
    "The 8B shape: --hidden 4096 --intermediate 14336 --layers 32 --heads 32 --kv-heads 8 --shards 4\n";

static const char *const usage_score_ids =
    "usage: rmscore score-ids --model DIR [options] < ids.jsonl > scores.txt\n"
    "\n"
    "Reads one JSON array of token ids per line on stdin and prints one score per line (%.9g) on\n"
    "stdout, in input order. Lines are packed (no padding) into micro-batches of at most\n"
    "--microbatch-tokens tokens; a longer sequence is scored alone. A bad line stops the run with an\n"
    "error naming the line, after the scores of all earlier lines are printed.\n"
    "\n"
    "  --model DIR              Hugging Face checkpoint directory (config.json + safetensors)\n"
    "  --threads N              compute threads (default: the CPUs this process may use)\n"
    "  --compute fp32|bf16      fp32 (default): fp32 activations, weights converted from their stored\n"
    "                           dtype; bf16: matmul inputs rounded to bf16 as a bf16 model would see them\n"
    "  --microbatch-tokens N    token budget of one packed micro-batch (default 4096)\n"
    "  --quiet                  no summary on stderr\n";


static void describe_blas(char *buf, size_t len) {
    const char *was = rms_blas_restarted_from();
    if (was && strcmp(was, rms_blas_corename()) != 0)
        snprintf(buf, len, "OpenBLAS %s (auto-selected, library picked %s)", rms_blas_corename(), was);
    else
        snprintf(buf, len, "OpenBLAS %s", rms_blas_corename());
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ make-test-model */

rms_status rms_cmd_make_test_model(int argc, char **argv, rms_err *err) {
    rms_testmodel_opts o;
    rms_testmodel_defaults(&o);
    o.progress = 1;
    const char *out = NULL;
    int64_t head_dim = 0;
    rms_cli c;
    rms_cli_init(&c, argc, argv, 2);
    while (rms_cli_more(&c)) {
        int r;
        rms_status st = RMS_OK;
#define INT_OPT(flag, lo, hi, dst)                                                     \
    if ((r = rms_cli_option(&c, flag, err)) != 0) {                                    \
        if (r < 0) return RMS_ERR_ARG;                                                 \
        int64_t v_;                                                                    \
        if ((st = rms_cli_parse_int(flag, c.value, lo, hi, &v_, err)) != RMS_OK) return st; \
        dst = v_;                                                                      \
        continue;                                                                      \
    }
        if (rms_cli_flag(&c, "--help") || rms_cli_flag(&c, "-h")) {
            fputs(usage_make_test_model, stdout);
            exit(0);
        }
        if (rms_cli_flag(&c, "--quiet")) { o.progress = 0; continue; }
        if (rms_cli_flag(&c, "--no-rope-scaling")) { o.config.rope_scaling = RMS_ROPE_SCALING_NONE; continue; }
        if ((r = rms_cli_option(&c, "--out", err)) != 0) { if (r < 0) return RMS_ERR_ARG; out = c.value; continue; }
        if ((r = rms_cli_option(&c, "--tokenizer", err)) != 0) { if (r < 0) return RMS_ERR_ARG; o.tokenizer_dir = c.value; continue; }
        if ((r = rms_cli_option(&c, "--dtype", err)) != 0) {
            if (r < 0) return RMS_ERR_ARG;
            if (rms_dtype_parse(c.value, &o.dtype) != 0)
                return rms_fail(err, RMS_ERR_ARG, "--dtype: '%s' is not one of bf16, f16, f32", c.value);
            continue;
        }
        INT_OPT("--hidden", 2, 1 << 20, o.config.hidden_size)
        INT_OPT("--intermediate", 1, 1 << 22, o.config.intermediate_size)
        INT_OPT("--layers", 1, 4096, o.config.n_layers)
        INT_OPT("--heads", 1, 4096, o.config.n_heads)
        INT_OPT("--kv-heads", 1, 4096, o.config.n_kv_heads)
        INT_OPT("--head-dim", 2, 1 << 16, head_dim)
        INT_OPT("--vocab", 1, INT32_MAX, o.config.vocab_size)
        INT_OPT("--shards", 1, 99999, o.n_shards)
        INT_OPT("--seed", 0, INT64_MAX, o.seed)
#undef INT_OPT
        return rms_fail(err, RMS_ERR_ARG, "make-test-model: unknown option '%s' (see --help)", rms_cli_current(&c));
    }
    if (!out) return rms_fail(err, RMS_ERR_ARG, "make-test-model: --out DIR is required");
    if (head_dim > 0) {
        o.config.head_dim = head_dim;
    } else {
        if (o.config.hidden_size % o.config.n_heads != 0)
            return rms_fail(err, RMS_ERR_ARG, "--hidden %lld is not a multiple of --heads %lld (or give --head-dim)",
                            (long long)o.config.hidden_size, (long long)o.config.n_heads);
        o.config.head_dim = o.config.hidden_size / o.config.n_heads;
    }
    if (o.config.n_kv_heads > o.config.n_heads)
        return rms_fail(err, RMS_ERR_ARG, "--kv-heads %lld is more than --heads %lld", (long long)o.config.n_kv_heads,
                        (long long)o.config.n_heads);
    const double t0 = now_seconds();
    rms_status st = rms_testmodel_write(out, &o, err);
    if (st == RMS_OK && o.progress) fprintf(stderr, "rmscore: make-test-model: wrote %s in %.1f s\n", out, now_seconds() - t0);
    return st;
}

/* ------------------------------------------------------------------ score-ids */

typedef struct score_ids_opts {
    const char *model;
    int64_t threads;
    rms_compute compute;
    int64_t microbatch_tokens;
    int quiet;
} score_ids_opts;

static rms_status parse_score_ids(int argc, char **argv, score_ids_opts *o, rms_err *err) {
    memset(o, 0, sizeof *o);
    o->threads = rms_available_cpus();
    o->microbatch_tokens = DEFAULT_MICROBATCH_TOKENS;
    rms_cli c;
    rms_cli_init(&c, argc, argv, 2);
    while (rms_cli_more(&c)) {
        int r;
        rms_status st;
        if (rms_cli_flag(&c, "--help") || rms_cli_flag(&c, "-h")) {
            fputs(usage_score_ids, stdout);
            exit(0);
        }
        if (rms_cli_flag(&c, "--quiet")) { o->quiet = 1; continue; }
        if ((r = rms_cli_option(&c, "--model", err)) != 0) { if (r < 0) return RMS_ERR_ARG; o->model = c.value; continue; }
        if ((r = rms_cli_option(&c, "--threads", err)) != 0) {
            if (r < 0) return RMS_ERR_ARG;
            if ((st = rms_cli_parse_int("--threads", c.value, 1, 1024, &o->threads, err)) != RMS_OK) return st;
            continue;
        }
        if ((r = rms_cli_option(&c, "--microbatch-tokens", err)) != 0) {
            if (r < 0) return RMS_ERR_ARG;
            if ((st = rms_cli_parse_int("--microbatch-tokens", c.value, 1, INT32_MAX, &o->microbatch_tokens, err)))
                return st;
            continue;
        }
        if ((r = rms_cli_option(&c, "--compute", err)) != 0) {
            if (r < 0) return RMS_ERR_ARG;
            if ((st = rms_compute_parse(c.value, &o->compute, err)) != RMS_OK) return st;
            continue;
        }
        return rms_fail(err, RMS_ERR_ARG, "score-ids: unknown option '%s' (see --help)", rms_cli_current(&c));
    }
    if (!o->model) return rms_fail(err, RMS_ERR_ARG, "score-ids: --model DIR is required");
    return RMS_OK;
}

/* A packed batch being filled from stdin lines. */
typedef struct pending {
    rms_ids ids;       // (n_tokens)
    int64_t *offsets;  // (n_seqs + 1)
    int64_t n_seqs, cap_seqs;
    float *scores;     // (cap_seqs)
} pending;

static rms_status flush_pending(const rms_model *m, rms_workspace *ws, pending *p, rms_err *err) {
    if (p->n_seqs == 0) return RMS_OK;
    const rms_batch b = {.n_seqs = p->n_seqs, .offsets = p->offsets};
    rms_status st = rms_forward_all(m, ws, &b, p->ids.ids, p->scores, err);
    if (st != RMS_OK) return st;
    for (int64_t s = 0; s < p->n_seqs; s++) printf("%.9g\n", p->scores[s]);
    fflush(stdout);
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
    rms_status st = parse_score_ids(argc, argv, &o, err);
    if (st != RMS_OK) return st;
    rms_blas_set_threads((int)o.threads);
    const double t0 = now_seconds();
    rms_model m;
    if ((st = rms_model_load(&m, o.model, 0, -1, err)) != RMS_OK) return st;
    char blas[128];
    describe_blas(blas, sizeof blas);
    if (!o.quiet)
        fprintf(stderr, "rmscore: score-ids: %s: %lld layers, hidden %lld, %s weights; %lld threads, %s, compute %s\n",
                o.model, (long long)m.config.n_layers, (long long)m.config.hidden_size,
                rms_dtype_name(m.layers[0].q_proj.dtype), (long long)o.threads, blas,
                o.compute == RMS_COMPUTE_BF16 ? "bf16" : "fp32");
    rms_workspace ws;
    rms_workspace_init(&ws, o.compute);
    int64_t n_lines = 0, n_tokens = 0;
    const double t1 = now_seconds();
    st = score_stream(&m, &ws, &o, &n_lines, &n_tokens, err);
    const double t2 = now_seconds();
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
