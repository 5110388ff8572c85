/* cmd_score.c — `rmscore score` in a single process: the /pairs dataset -> the /scores results,
 * incrementally and resumably. (The MPI pipeline reuses the plan and the results writer.) */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../io/pairs_h5.h"
#include "../io/scores_h5.h"
#include "../io/sha256.h"
#include "blas.h"
#include "cli.h"
#include "commands.h"
#include "forward.h"
#include "model.h"
#include "schedule.h"

#define DEFAULT_SCORE_MICROBATCH_TOKENS 8192
#define DEFAULT_PROGRESS_SECONDS 10

static const char *const usage_score =
    "usage: rmscore score --model DIR --data pairs.h5 --out scores.h5 [options]\n"
    "\n"
    "Scores every pair of a dataset written by `rmscore prepare` and writes /scores (chosen, rejected,\n"
    "status) aligned with /pairs. Pairs are packed by length into micro-batches; results are written and\n"
    "flushed after every micro-batch, so a killed job loses at most the batch in flight, and a rerun with\n"
    "the same --out scores only the rows not yet scored (the final file equals an uninterrupted run's).\n"
    "SIGINT/SIGTERM stop the job cleanly after the batch in flight (exit status 3: rerun to resume).\n"
    "\n"
    "  --model DIR                  Hugging Face checkpoint directory\n"
    "  --data FILE                  dataset from `rmscore prepare`\n"
    "  --out FILE                   results (created, or resumed if it exists)\n"
    "  --max-tokens N               longest sequence to score (default: no limit)\n"
    "  --overlong skip|truncate-left  a longer pair is skipped (status 2, default) or keeps its last N tokens\n"
    "                               (RewardBench --force_truncation)\n"
    "  --microbatch-tokens N        token budget of one packed micro-batch (default 8192)\n"
    "  --threads N                  compute threads (default: the CPUs this process may use)\n"
    "  --compute fp32|bf16          as score-ids (default fp32)\n"
    "  --tokenizer DIR              tokenizer.json to check the dataset against (default: --model DIR)\n"
    "  --allow-tokenizer-mismatch   score even if the dataset was tokenized with another tokenizer.json\n"
    "  --progress-every SECONDS     interval of progress lines on stderr (default 10)\n"
    "  --quiet                      no progress on stderr\n";

typedef struct score_opts {
    const char *model, *data, *out, *tokenizer;
    int64_t threads, microbatch_tokens, max_tokens, progress_every;
    int truncate_left, allow_mismatch, quiet;
    rms_compute compute;
} score_opts;

static rms_status parse_int_opt(rms_cli *c, const char *name, int64_t lo, int64_t hi, int64_t *out, int *matched,
                                rms_err *err) {
    const int r = rms_cli_option(c, name, err);
    *matched = r != 0;
    if (r < 0) return RMS_ERR_ARG;
    return r ? rms_cli_parse_int(name, c->value, lo, hi, out, err) : RMS_OK;
}

static rms_status parse_opts(int argc, char **argv, score_opts *o, rms_err *err) {
    memset(o, 0, sizeof *o);
    o->threads = rms_available_cpus();
    o->microbatch_tokens = DEFAULT_SCORE_MICROBATCH_TOKENS;
    o->progress_every = DEFAULT_PROGRESS_SECONDS;
    rms_cli c;
    rms_cli_init(&c, argc, argv, 2);
    while (rms_cli_more(&c)) {
        int r, m;
        rms_status st;
        if (rms_cli_flag(&c, "--help") || rms_cli_flag(&c, "-h")) {
            fputs(usage_score, stdout);
            exit(0);
        }
        if (rms_cli_flag(&c, "--quiet")) { o->quiet = 1; continue; }
        if (rms_cli_flag(&c, "--allow-tokenizer-mismatch")) { o->allow_mismatch = 1; continue; }
        if ((r = rms_cli_option(&c, "--model", err)) != 0) { if (r < 0) return RMS_ERR_ARG; o->model = c.value; continue; }
        if ((r = rms_cli_option(&c, "--data", err)) != 0) { if (r < 0) return RMS_ERR_ARG; o->data = c.value; continue; }
        if ((r = rms_cli_option(&c, "--out", err)) != 0) { if (r < 0) return RMS_ERR_ARG; o->out = c.value; continue; }
        if ((r = rms_cli_option(&c, "--tokenizer", err)) != 0) { if (r < 0) return RMS_ERR_ARG; o->tokenizer = c.value; continue; }
        if ((r = rms_cli_option(&c, "--overlong", err)) != 0) {
            if (r < 0) return RMS_ERR_ARG;
            if (strcmp(c.value, "skip") == 0) o->truncate_left = 0;
            else if (strcmp(c.value, "truncate-left") == 0) o->truncate_left = 1;
            else return rms_fail(err, RMS_ERR_ARG, "--overlong: '%s' is not one of skip, truncate-left", c.value);
            continue;
        }
        if ((r = rms_cli_option(&c, "--compute", err)) != 0) {
            if (r < 0) return RMS_ERR_ARG;
            if (strcmp(c.value, "fp32") == 0) o->compute = RMS_COMPUTE_FP32;
            else if (strcmp(c.value, "bf16") == 0) o->compute = RMS_COMPUTE_BF16;
            else return rms_fail(err, RMS_ERR_ARG, "--compute: '%s' is not one of fp32, bf16", c.value);
            continue;
        }
        if ((st = parse_int_opt(&c, "--threads", 1, 1024, &o->threads, &m, err)) != RMS_OK) return st;
        if (m) continue;
        if ((st = parse_int_opt(&c, "--microbatch-tokens", 1, INT32_MAX, &o->microbatch_tokens, &m, err)) != RMS_OK) return st;
        if (m) continue;
        if ((st = parse_int_opt(&c, "--max-tokens", 1, INT32_MAX, &o->max_tokens, &m, err)) != RMS_OK) return st;
        if (m) continue;
        if ((st = parse_int_opt(&c, "--progress-every", 0, 86400, &o->progress_every, &m, err)) != RMS_OK) return st;
        if (m) continue;
        return rms_fail(err, RMS_ERR_ARG, "score: unknown option '%s' (see --help)", rms_cli_current(&c));
    }
    if (!o->model || !o->data || !o->out)
        return rms_fail(err, RMS_ERR_ARG, "score: --model, --data and --out are required (see --help)");
    if (o->truncate_left && o->max_tokens <= 0)
        return rms_fail(err, RMS_ERR_ARG, "score: --overlong truncate-left needs --max-tokens N");
    if (!o->tokenizer) o->tokenizer = o->model;
    return RMS_OK;
}

static rms_status check_tokenizer(const score_opts *o, const rms_pairs_meta *meta, rms_err *err) {
    char path[4096], hex[65];
    snprintf(path, sizeof path, "%s/tokenizer.json", o->tokenizer);
    rms_err why;
    if (rms_sha256_file(path, hex, &why) != RMS_OK) {
        if (o->allow_mismatch) return RMS_OK;
        return rms_fail(err, RMS_ERR_ARG,
                        "cannot check that %s was tokenized with this model's tokenizer (%s); pass --tokenizer DIR "
                        "or --allow-tokenizer-mismatch", o->data, why.msg);
    }
    if (strcmp(hex, meta->tokenizer_sha256) == 0 || o->allow_mismatch) return RMS_OK;
    return rms_fail(err, RMS_ERR_ARG,
                    "%s was tokenized with another tokenizer.json (sha256 %.12s…) than %s (%.12s…); re-run prepare "
                    "with this tokenizer or pass --allow-tokenizer-mismatch",
                    o->data, meta->tokenizer_sha256, path, hex);
}

/* A run's state: inputs, outputs and the columns of every row. */
typedef struct score_run {
    const score_opts *o;
    rms_model model;
    rms_workspace ws;
    rms_pairs_reader *pairs;
    rms_scores *scores;
    int64_t n;                 // rows
    int32_t *len_c, *len_r;    // (n) stored lengths
    int8_t *pair_status;       // (n) 0 ok / 3 bad
    int8_t *status;            // (n) scores status
    int64_t *pair_tokens;      // (n) tokens of both sequences after truncation, -1 if skipped
} score_run;

static rms_status load_columns(score_run *r, rms_err *err) {
    const size_t n = (size_t)(r->n > 0 ? r->n : 1);
    r->len_c = malloc(n * sizeof *r->len_c);
    r->len_r = malloc(n * sizeof *r->len_r);
    r->pair_status = malloc(n * sizeof *r->pair_status);
    r->status = malloc(n * sizeof *r->status);
    r->pair_tokens = malloc(n * sizeof *r->pair_tokens);
    if (!r->len_c || !r->len_r || !r->pair_status || !r->status || !r->pair_tokens)
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory for %lld rows", (long long)r->n);
    rms_status st = rms_pairs_reader_columns(r->pairs, r->len_c, r->len_r, NULL, r->pair_status, err);
    if (st == RMS_OK) st = rms_scores_read(r->scores, NULL, NULL, r->status, err);
    for (int64_t i = 0; st == RMS_OK && i < r->n; i++) {
        const int64_t c = rms_effective_length(r->len_c[i], r->o->max_tokens, r->o->truncate_left);
        const int64_t j = rms_effective_length(r->len_r[i], r->o->max_tokens, r->o->truncate_left);
        r->pair_tokens[i] = (c < 0 || j < 0) ? -1 : c + j;
    }
    return st;
}

/* Marks pending rows that will never be scored: bad input, too long, or an empty conversation. */
static rms_status mark_unscorable(score_run *r, int64_t *n_marked, rms_err *err) {
    int64_t *rows = malloc((size_t)(r->n > 0 ? r->n : 1) * sizeof *rows);
    int8_t *st8 = malloc((size_t)(r->n > 0 ? r->n : 1) * sizeof *st8);
    float *nan = malloc((size_t)(r->n > 0 ? r->n : 1) * sizeof *nan);
    if (!rows || !st8 || !nan) {
        free(rows); free(st8); free(nan);
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    int64_t k = 0;
    for (int64_t i = 0; i < r->n; i++) {
        if (r->status[i] != RMS_SCORE_PENDING) continue;
        int8_t s = RMS_SCORE_PENDING;
        if (r->pair_status[i] != RMS_PAIR_STATUS_OK || r->len_c[i] == 0 || r->len_r[i] == 0) s = RMS_SCORE_BAD;
        else if (r->pair_tokens[i] < 0) s = RMS_SCORE_SKIPPED;
        if (s == RMS_SCORE_PENDING) continue;
        r->status[i] = s;
        rows[k] = i;
        st8[k] = s;
        nan[k++] = NAN;
    }
    rms_status st = k ? rms_scores_write_rows(r->scores, rows, k, nan, nan, st8, err) : RMS_OK;
    *n_marked = k;
    free(rows); free(st8); free(nan);
    return st;
}

/* Scores rows[0..n) (one micro-batch) and writes their results. */
static rms_status score_batch(score_run *r, const int64_t *rows, int64_t n, rms_ids *ids, int64_t *offsets,
                              float *seq_scores, float *chosen, float *rejected, int8_t *st8, rms_err *err) {
    ids->n = 0;
    rms_status st = rms_pairs_reader_ids(r->pairs, rows, n, ids, offsets, err);
    if (st != RMS_OK) return st;
    if (r->o->truncate_left) { // keep the last max_tokens ids of each sequence, compacting in place
        int64_t w = 0;
        for (int64_t s = 0; s < 2 * n; s++) {
            const int64_t len = offsets[s + 1] - offsets[s], keep = len < r->o->max_tokens ? len : r->o->max_tokens;
            memmove(ids->ids + w, ids->ids + offsets[s + 1] - keep, (size_t)keep * sizeof *ids->ids);
            offsets[s] = w;
            w += keep;
        }
        offsets[2 * n] = w;
        ids->n = w;
    }
    const rms_batch b = {.n_seqs = 2 * n, .offsets = offsets};
    if ((st = rms_forward_all(&r->model, &r->ws, &b, ids->ids, seq_scores, err)) != RMS_OK) return st;
    for (int64_t i = 0; i < n; i++) {
        chosen[i] = seq_scores[2 * i];
        rejected[i] = seq_scores[2 * i + 1];
        st8[i] = RMS_SCORE_SCORED;
    }
    return rms_scores_write_rows(r->scores, rows, n, chosen, rejected, st8, err);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void format_eta(char *buf, size_t len, double seconds) {
    if (!(seconds >= 0) || seconds > 1e8) {
        snprintf(buf, len, "?");
        return;
    }
    const long s = (long)seconds;
    snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
}

/* Scores every pending batch of the plan. */
static rms_status run_plan(score_run *r, const rms_plan *plan, volatile sig_atomic_t *stop, rms_err *err) {
    // the plan covers every scoreable row (so resumed runs re-form the same batches); count what is left
    int64_t max_rows = 0, todo_rows = 0, todo_tokens = 0;
    for (int64_t b = 0; b < plan->n_batches; b++) {
        const int64_t k = plan->batch_start[b + 1] - plan->batch_start[b];
        max_rows = k > max_rows ? k : max_rows;
        for (int64_t j = plan->batch_start[b]; j < plan->batch_start[b + 1]; j++)
            if (r->status[plan->rows[j]] == RMS_SCORE_PENDING) {
                todo_rows++;
                todo_tokens += r->pair_tokens[plan->rows[j]];
            }
    }
    rms_ids ids;
    rms_ids_init(&ids);
    int64_t *pending = malloc((size_t)(max_rows + 1) * sizeof *pending);
    int64_t *offsets = malloc((size_t)(2 * max_rows + 1) * sizeof *offsets);
    float *seq = malloc((size_t)(2 * max_rows + 1) * sizeof *seq);
    float *ch = malloc((size_t)(max_rows + 1) * sizeof *ch), *rj = malloc((size_t)(max_rows + 1) * sizeof *rj);
    int8_t *st8 = malloc((size_t)(max_rows + 1) * sizeof *st8);
    rms_status st = (!pending || !offsets || !seq || !ch || !rj || !st8) ? rms_fail(err, RMS_ERR_NOMEM, "out of memory") : RMS_OK;
    const double t0 = now_seconds();
    double last = t0;
    int64_t done_rows = 0, done_tokens = 0;
    for (int64_t b = 0; st == RMS_OK && b < plan->n_batches; b++) {
        if (*stop) {
            st = rms_fail(err, RMS_ERR_IO, "interrupted after %lld of %lld pairs; rerun the same command to resume",
                          (long long)done_rows, (long long)todo_rows);
            break;
        }
        int64_t k = 0, tokens = 0;
        for (int64_t j = plan->batch_start[b]; j < plan->batch_start[b + 1]; j++)
            if (r->status[plan->rows[j]] == RMS_SCORE_PENDING) {
                pending[k++] = plan->rows[j];
                tokens += r->pair_tokens[plan->rows[j]];
            }
        if (k == 0) continue; // done by an earlier run
        if ((st = score_batch(r, pending, k, &ids, offsets, seq, ch, rj, st8, err)) != RMS_OK) break;
        done_rows += k;
        done_tokens += tokens;
        const double now = now_seconds();
        if (!r->o->quiet && (now - last >= (double)r->o->progress_every || done_rows == todo_rows)) {
            const double rate = done_tokens / (now - t0);
            char eta[32];
            format_eta(eta, sizeof eta, (double)(todo_tokens - done_tokens) / rate);
            fprintf(stderr, "rmscore: score: %lld/%lld pairs (%.1f%%), %.1f pairs/s, %.0f tokens/s, ETA %s\n",
                    (long long)done_rows, (long long)todo_rows, 100.0 * (double)done_rows / (double)todo_rows,
                    done_rows / (now - t0), rate, eta);
            last = now;
        }
    }
    rms_ids_free(&ids);
    free(pending); free(offsets); free(seq); free(ch); free(rj); free(st8);
    return st;
}

static rms_status open_inputs(score_run *r, rms_err *err) {
    const score_opts *o = r->o;
    rms_pairs_meta pmeta;
    rms_status st = rms_pairs_reader_open(&r->pairs, o->data, &pmeta, err);
    if (st != RMS_OK) return st;
    r->n = pmeta.n_rows;
    if ((st = check_tokenizer(o, &pmeta, err)) != RMS_OK) return st;
    if ((st = rms_model_load(&r->model, o->model, 0, -1, err)) != RMS_OK) return st;
    rms_scores_meta smeta;
    memset(&smeta, 0, sizeof smeta);
    snprintf(smeta.model, sizeof smeta.model, "%s", o->model);
    snprintf(smeta.pairs_file, sizeof smeta.pairs_file, "%s", o->data);
    snprintf(smeta.pairs_tokenizer_sha256, sizeof smeta.pairs_tokenizer_sha256, "%s", pmeta.tokenizer_sha256);
    snprintf(smeta.compute, sizeof smeta.compute, "%s", o->compute == RMS_COMPUTE_BF16 ? "bf16" : "fp32");
    snprintf(smeta.overlong, sizeof smeta.overlong, "%s", o->truncate_left ? "truncate-left" : "skip");
    snprintf(smeta.tool_version, sizeof smeta.tool_version, "rmscore %s", RMSCORE_VERSION);
    smeta.max_tokens = o->max_tokens;
    smeta.stages = smeta.replicas = 1;
    smeta.n_rows = r->n;
    int resumed = 0;
    if ((st = rms_scores_open(&r->scores, o->out, &smeta, &resumed, err)) != RMS_OK) return st;
    if (resumed && !o->quiet) fprintf(stderr, "rmscore: score: resuming %s\n", o->out);
    return load_columns(r, err);
}

static void close_run(score_run *r, rms_status *st, rms_err *err) {
    if (r->scores) {
        rms_err close_err;
        if (rms_scores_close(r->scores, &close_err) != RMS_OK && *st == RMS_OK) {
            *st = RMS_ERR_IO;
            *err = close_err;
        }
    }
    if (r->pairs) rms_pairs_reader_close(r->pairs);
    rms_workspace_free(&r->ws);
    rms_model_free(&r->model);
    free(r->len_c); free(r->len_r); free(r->pair_status); free(r->status); free(r->pair_tokens);
}

rms_status rms_cmd_score(int argc, char **argv, volatile sig_atomic_t *stop, rms_err *err) {
    score_opts o;
    rms_status st = parse_opts(argc, argv, &o, err);
    if (st != RMS_OK) return st;
    rms_blas_set_threads((int)o.threads);
    score_run r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    rms_workspace_init(&r.ws, o.compute);
    const double t0 = now_seconds();
    int64_t n_marked = 0;
    rms_plan plan;
    memset(&plan, 0, sizeof plan);
    if ((st = open_inputs(&r, err)) == RMS_OK && (st = mark_unscorable(&r, &n_marked, err)) == RMS_OK) {
        uint8_t *include = malloc((size_t)(r.n > 0 ? r.n : 1));
        if (!include) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; st == RMS_OK && i < r.n; i++)
            include[i] = r.pair_status[i] == RMS_PAIR_STATUS_OK && r.pair_tokens[i] > 0 && r.len_c[i] > 0 && r.len_r[i] > 0;
        if (st == RMS_OK) st = rms_plan_build(&plan, r.pair_tokens, include, r.n, o.microbatch_tokens, err);
        free(include);
        int64_t pending = 0;
        for (int64_t i = 0; i < r.n; i++) pending += r.status[i] == RMS_SCORE_PENDING;
        if (st == RMS_OK && !o.quiet)
            fprintf(stderr, "rmscore: score: %lld pairs, %lld to score in %lld micro-batches (%lld marked skipped/bad now), %lld threads, %s\n",
                    (long long)r.n, (long long)pending, (long long)plan.n_batches, (long long)n_marked,
                    (long long)o.threads, rms_blas_corename());
        if (st == RMS_OK) st = run_plan(&r, &plan, stop, err);
    }
    rms_plan_free(&plan);
    close_run(&r, &st, err);
    if (st == RMS_OK && !o.quiet) fprintf(stderr, "rmscore: score: wrote %s in %.1f s\n", o.out, now_seconds() - t0);
    return st;
}
