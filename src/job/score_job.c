/* score_job.c — files, plan, batches and progress of `rmscore score` (see score_job.h). */
#define _GNU_SOURCE
#include "src/job/score_job.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/fingerprint.h"
#include "io/sha256.h"
#include "src/engine/parallel.h"
#include "src/base/clock.h"

int64_t rms_default_threads(void) {
    const char *slurm = getenv("SLURM_CPUS_PER_TASK");
    const long v = slurm ? strtol(slurm, NULL, 10) : 0;
    return v > 0 ? v : rms_available_cpus();
}

const char *rms_score_opts_tokenizer(const rms_score_opts *o) { return o->tokenizer[0] ? o->tokenizer : o->model; }

static rms_status check_tokenizer(const rms_score_opts *o, const rms_pairs_meta *meta, rms_err *err) {
    char path[RMS_PATH_MAX + 32], hex[65];
    snprintf(path, sizeof path, "%s/tokenizer.json", rms_score_opts_tokenizer(o));
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

static rms_status alloc_columns(rms_score_job *j, rms_err *err) {
    const size_t n = (size_t)(j->n > 0 ? j->n : 1);
    j->len_c = malloc(n * sizeof *j->len_c);
    j->len_r = malloc(n * sizeof *j->len_r);
    j->pair_status = malloc(n * sizeof *j->pair_status);
    j->status = malloc(n * sizeof *j->status);
    j->pair_tokens = malloc(n * sizeof *j->pair_tokens);
    j->shared = malloc(n * sizeof *j->shared);
    if (!j->len_c || !j->len_r || !j->pair_status || !j->status || !j->pair_tokens || !j->shared)
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory for %lld rows", (long long)j->n);
    return RMS_OK;
}

static rms_status load_columns(rms_score_job *j, rms_err *err) {
    rms_status st = alloc_columns(j, err);
    if (st == RMS_OK) st = rms_pairs_reader_columns(j->pairs, j->len_c, j->len_r, j->shared, j->pair_status, err);
    if (st == RMS_OK) st = rms_scores_read(j->scores, NULL, NULL, j->status, err);
    for (int64_t i = 0; st == RMS_OK && i < j->n; i++) {
        const int64_t c = rms_effective_length(j->len_c[i], j->o->max_tokens, j->o->overlong == RMS_OVERLONG_TRUNCATE_LEFT);
        const int64_t r = rms_effective_length(j->len_r[i], j->o->max_tokens, j->o->overlong == RMS_OVERLONG_TRUNCATE_LEFT);
        // the prefix computed once, as rms_share_prefixes will find it (a truncated pair may lose it: 0 then)
        const int untouched = c == j->len_c[i] && r == j->len_r[i];
        const int64_t p = j->o->no_prefix_sharing || !untouched ? 0 : rms_shareable_prefix(j->shared[i], c, r);
        j->pair_tokens[i] = (c < 0 || r < 0) ? -1 : c + r - p;
    }
    return st;
}

void rms_shard_block(int64_t index, int64_t count, int64_t n, int64_t *row0, int64_t *row1) {
    if (count < 1) count = 1, index = 0;
    *row0 = index * n / count;
    *row1 = (index + 1) * n / count;
}

void rms_score_job_shard_rows(const rms_score_opts *o, int64_t n, int64_t *row0, int64_t *row1) {
    rms_shard_block(o->shard.index, o->shard.count, n, row0, row1);
}

static int in_shard(const rms_score_job *j, int64_t i) {
    int64_t r0, r1;
    rms_score_job_shard_rows(j->o, j->n, &r0, &r1);
    return i >= r0 && i < r1;
}

static int scoreable(const rms_score_job *j, int64_t i) {
    return j->pair_status[i] == RMS_PAIR_STATUS_OK && j->len_c[i] > 0 && j->len_r[i] > 0 && j->pair_tokens[i] > 0;
}

/* Marks pending rows that will never be scored: bad input (or an empty conversation), too long. */
static rms_status mark_unscorable(rms_score_job *j, rms_err *err) {
    const size_t n = (size_t)(j->n > 0 ? j->n : 1);
    int64_t *rows = malloc(n * sizeof *rows);
    int8_t *st8 = malloc(n * sizeof *st8);
    float *nan = malloc(n * sizeof *nan);
    rms_status st = (!rows || !st8 || !nan) ? rms_fail(err, RMS_ERR_NOMEM, "out of memory") : RMS_OK;
    int64_t k = 0;
    for (int64_t i = 0; st == RMS_OK && i < j->n; i++) {
        if (j->status[i] != RMS_SCORE_PENDING || !in_shard(j, i) || scoreable(j, i)) continue;
        const int8_t s = j->pair_tokens[i] < 0 && j->pair_status[i] == RMS_PAIR_STATUS_OK && j->len_c[i] > 0 &&
                                 j->len_r[i] > 0
                             ? RMS_SCORE_SKIPPED
                             : RMS_SCORE_BAD;
        j->status[i] = s;
        rows[k] = i;
        st8[k] = s;
        nan[k++] = NAN;
    }
    if (st == RMS_OK && k) st = rms_scores_write_rows(j->scores, rows, k, nan, nan, st8, err);
    j->n_marked = k;
    free(rows);
    free(st8);
    free(nan);
    return st;
}

static rms_status build_plan(rms_score_job *j, rms_err *err) {
    uint8_t *include = malloc((size_t)(j->n > 0 ? j->n : 1));
    if (!include) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < j->n; i++) include[i] = (uint8_t)(in_shard(j, i) && scoreable(j, i));
    rms_status st = rms_plan_build(&j->plan, j->pair_tokens, include, j->n, j->o->microbatch_tokens, err);
    free(include);
    for (int64_t b = 0; st == RMS_OK && b < j->plan.n_batches; b++) {
        int64_t pending = 0;
        for (int64_t r = j->plan.batch_start[b]; r < j->plan.batch_start[b + 1]; r++)
            if (j->status[j->plan.rows[r]] == RMS_SCORE_PENDING) {
                pending++;
                j->todo_tokens += j->pair_tokens[j->plan.rows[r]];
            }
        j->todo_rows += pending;
        j->todo_batches += pending > 0;
    }
    return st;
}

/* path made absolute (symbolic links resolved) into out; as given if it cannot be resolved (the error then comes
 * from whoever opens it). */
static void absolute_path(const char *path, char *out, size_t cap) {
    char resolved[PATH_MAX];
    snprintf(out, cap, "%s", realpath(path, resolved) ? resolved : path);
}

/* The model's identity (its content's fingerprint) and this run's dataset identity and settings for /scores. */
static rms_status results_meta(rms_score_job *j, const rms_pairs_meta *pmeta, int64_t stages, int64_t replicas,
                               rms_scores_meta *smeta, rms_err *err) {
    const rms_score_opts *o = j->o;
    memset(smeta, 0, sizeof *smeta);
    char model[PATH_MAX], data[PATH_MAX];
    absolute_path(o->model, model, sizeof model);
    absolute_path(o->data, data, sizeof data);
    if (strlen(model) >= sizeof smeta->model || strlen(data) >= sizeof smeta->pairs_file)
        return rms_fail(err, RMS_ERR_USAGE, "the --model and --data paths must be shorter than %zu bytes to be recorded "
                        "in %s", sizeof smeta->model, o->out);
    memcpy(smeta->model, model, strlen(model) + 1); // lengths checked above
    memcpy(smeta->pairs_file, data, strlen(data) + 1);
    snprintf(smeta->pairs_tokenizer_sha256, sizeof smeta->pairs_tokenizer_sha256, "%s", pmeta->tokenizer_sha256);
    snprintf(smeta->pairs_template, sizeof smeta->pairs_template, "%s", pmeta->template_name);
    snprintf(smeta->pairs_template_sha256, sizeof smeta->pairs_template_sha256, "%s", pmeta->template_sha256);
    snprintf(smeta->pairs_tokenization, sizeof smeta->pairs_tokenization, "%s", pmeta->tokenization);
    snprintf(smeta->compute, sizeof smeta->compute, "%s", o->compute == RMS_COMPUTE_BF16 ? "bf16" : "fp32");
    snprintf(smeta->overlong, sizeof smeta->overlong, "%s", o->overlong == RMS_OVERLONG_TRUNCATE_LEFT ? "truncate-left" : "skip");
    rms_config cfg; // pooling as transformers does: at the last token that is not the pad token, if there is one
    rms_status st = rms_config_load(&cfg, o->model, err);
    if (st != RMS_OK) return st;
    j->pad_id = cfg.pad_token_id;
    j->vocab_size = cfg.vocab_size;
    if (j->pad_id >= 0)
        snprintf(smeta->pooling, sizeof smeta->pooling, "last-non-pad-token (pad_token_id %lld)", (long long)j->pad_id);
    else
        snprintf(smeta->pooling, sizeof smeta->pooling, "last-token");
    snprintf(smeta->tool_version, sizeof smeta->tool_version, "rmscore %s", RMSCORE_VERSION);
    snprintf(smeta->config_sha256, sizeof smeta->config_sha256, "%s", o->config_sha256);
    smeta->max_tokens = o->max_tokens;
    smeta->shard_index = o->shard.count > 0 ? o->shard.index : 0;
    smeta->shard_count = o->shard.count > 0 ? o->shard.count : 1;
    smeta->stages = stages;
    smeta->replicas = replicas;
    smeta->n_rows = j->n;
    smeta->adopt_identity = o->allow_unverified_resume;
    // the model by its content: every byte of config.json, the safetensors files and the index (io/fingerprint.h)
    rms_model_fingerprint *fp = malloc(sizeof *fp);
    if (!fp) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    const int64_t threads = o->threads > 0 ? o->threads : rms_default_threads();
    st = rms_model_fingerprint_compute(fp, o->model, (int)(threads < 64 ? threads : 64), err);
    if (st == RMS_OK) {
        snprintf(smeta->model_fingerprint, sizeof smeta->model_fingerprint, "%s", fp->sha256);
        snprintf(smeta->model_files, sizeof smeta->model_files, "%s", fp->manifest);
        // said once the results file is open, so that a refused resume prints its error line alone
        snprintf(j->model_line, sizeof j->model_line, "model %s: fingerprint %.16s (%d files, %.2f GB hashed in %.1f s)",
                 smeta->model, fp->sha256, fp->n_files, (double)fp->bytes / 1e9, fp->seconds);
    }
    free(fp);
    return st;
}

rms_status rms_score_job_open(rms_score_job *j, const rms_score_opts *o, int64_t stages, int64_t replicas,
                              rms_err *err) {
    memset(j, 0, sizeof *j);
    rms_file_lock_init(&j->lock);
    j->o = o;
    j->t_start = j->t_last_progress = rms_now_seconds();
    // one writer per results file: taken before anything else, so that a second run fails at once
    rms_status st = rms_file_lock_acquire(&j->lock, o->out, "score", err);
    if (st != RMS_OK) return st;
    if (j->lock.warning[0]) fprintf(stderr, "rmscore: warning: %s\n", j->lock.warning);
    rms_pairs_meta pmeta;
    if ((st = rms_pairs_reader_open(&j->pairs, o->data, &pmeta, err)) != RMS_OK) return st;
    j->n = pmeta.n_rows;
    if ((st = check_tokenizer(o, &pmeta, err)) != RMS_OK) return st;
    rms_scores_meta *smeta = malloc(sizeof *smeta);
    if (!smeta) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    int resumed = 0;
    st = results_meta(j, &pmeta, stages, replicas, smeta, err);
    if (st == RMS_OK) st = rms_scores_open(&j->scores, o->out, smeta, &resumed, err);
    free(smeta);
    if (st != RMS_OK) return st;
    if ((st = load_columns(j, err)) != RMS_OK) return st;
    if ((st = mark_unscorable(j, err)) != RMS_OK) return st;
    if ((st = build_plan(j, err)) != RMS_OK) return st;
    if (!o->quiet) fprintf(stderr, "rmscore: score: %s\n", j->model_line);
    if (!o->quiet)
        fprintf(stderr, "rmscore: score: %s%s: %lld pairs, %lld to score in %lld micro-batches (%lld newly marked "
                        "skipped or bad)\n", resumed ? "resuming " : "", o->out, (long long)j->n,
                (long long)j->todo_rows, (long long)j->todo_batches, (long long)j->n_marked);
    return RMS_OK;
}

int64_t rms_score_job_max_batch_rows(const rms_score_job *j) {
    int64_t mx = 0;
    for (int64_t b = 0; b < j->plan.n_batches; b++) {
        const int64_t k = j->plan.batch_start[b + 1] - j->plan.batch_start[b];
        mx = k > mx ? k : mx;
    }
    return mx;
}

rms_status rms_score_job_batch(rms_score_job *j, int64_t b, int64_t *rows, int64_t *k, rms_ids *ids,
                               int64_t *offsets, rms_err *err) {
    *k = 0;
    for (int64_t r = j->plan.batch_start[b]; r < j->plan.batch_start[b + 1]; r++)
        if (j->status[j->plan.rows[r]] == RMS_SCORE_PENDING) rows[(*k)++] = j->plan.rows[r];
    ids->n = 0;
    if (*k == 0) return RMS_OK;
    rms_status st = rms_pairs_reader_ids(j->pairs, rows, *k, ids, offsets, err);
    for (int64_t s = 0; st == RMS_OK && s < 2 * *k; s++) // ids from the file, checked before the model sees them
        for (int64_t t = offsets[s]; t < offsets[s + 1]; t++)
            if (ids->ids[t] < 0 || ids->ids[t] >= j->vocab_size) {
                st = rms_fail(err, RMS_ERR_FORMAT, "%s: row %lld: token id %d is outside the model's vocabulary [0, "
                              "%lld) (a corrupt file, or prepared with another tokenizer)", j->o->data,
                              (long long)rows[s / 2], ids->ids[t], (long long)j->vocab_size);
                break;
            }
    if (st == RMS_OK) // --overlong truncate-left, then pooling at the last non-pad token
        ids->n = rms_trim_sequences(ids->ids, offsets, 2 * *k,
                                    j->o->overlong == RMS_OVERLONG_TRUNCATE_LEFT ? j->o->max_tokens : 0, j->pad_id);
    return st;
}

rms_status rms_score_job_write(rms_score_job *j, const int64_t *rows, int64_t k, const float *seq_scores,
                               rms_err *err) {
    float *c = calloc((size_t)(k > 0 ? k : 1), sizeof *c), *r = calloc((size_t)(k > 0 ? k : 1), sizeof *r);
    int8_t *s = calloc((size_t)(k > 0 ? k : 1), 1);
    rms_status st = (!c || !r || !s) ? rms_fail(err, RMS_ERR_NOMEM, "out of memory") : RMS_OK;
    for (int64_t i = 0; st == RMS_OK && i < k; i++) {
        c[i] = seq_scores[2 * i];
        r[i] = seq_scores[2 * i + 1];
        // NaN or an infinity (NaN/Inf weights, overflowing activations): a status of its own, never "scored"
        s[i] = isfinite(c[i]) && isfinite(r[i]) ? RMS_SCORE_SCORED : RMS_SCORE_NONFINITE;
    }
    if (st == RMS_OK) st = rms_scores_write_rows(j->scores, rows, k, c, r, s, err);
    // the rows count as done (the summary, --strict) only once the file holds them
    for (int64_t i = 0; st == RMS_OK && i < k; i++) {
        j->status[rows[i]] = s[i];
        j->done_tokens += j->pair_tokens[rows[i]];
    }
    if (st == RMS_OK) j->done_rows += k;
    free(c);
    free(r);
    free(s);
    return st;
}

void rms_score_job_close(rms_score_job *j, rms_status *st, rms_err *err) {
    if (j->scores) {
        rms_err close_err;
        if (rms_scores_close(j->scores, &close_err) != RMS_OK && *st == RMS_OK) {
            *st = RMS_ERR_IO;
            *err = close_err;
        }
    }
    if (j->o) rms_file_lock_release(&j->lock); // after the file is closed; j->o is NULL once closed
    if (j->pairs) rms_pairs_reader_close(j->pairs);
    rms_plan_free(&j->plan);
    free(j->len_c);
    free(j->len_r);
    free(j->pair_status);
    free(j->status);
    free(j->pair_tokens);
    free(j->shared);
    memset(j, 0, sizeof *j);
}
