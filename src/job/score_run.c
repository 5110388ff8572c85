/* score_run.c — the score driver and the local executor (see score_run.h). */
#include "src/job/score_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/base/clock.h"
#include "src/job/progress.h"

/* Seconds kept free before --stop-at after the last micro-batch ends, for the executor's finish (stages told to
 * stop), closing the files and the launcher's teardown: STOP_MARGIN_S, or a tenth of the time the run had when
 * that is less (short budgets). */
#define STOP_MARGIN_S 10.0

/* A batch handed to the executor and not yet collected: the rows its scores belong to. */
typedef struct flight {
    int64_t batch, k; // batch -1: free slot
    int64_t tokens;   // tokens the executor computes for it
    int64_t *rows;    // (max batch rows)
    int64_t *seq_of;  // (2 max batch rows) the executor's sequence holding the chosen / rejected of each row
} flight;

/* The batch as the executor gets it: each row's shared prompt prefix computed once (unless switched off). */
typedef struct packed {
    int32_t *ids;     // (cap_tokens)
    int64_t cap_tokens;
    int64_t *offsets; // (3 max batch rows + 1)
    int64_t *parent;  // (3 max batch rows)
} packed;

/* The executor's view of batch b, whose k rows' ids (2k sequences) are in ids/offsets: with share, each row's
 * shared prompt becomes a sequence of its own (rms_share_prefixes, into pk); f->seq_of maps the rows' chosen and
 * rejected sequences to the executor's. */
static rms_status make_work(packed *pk, int64_t b, const rms_ids *ids, const int64_t *offsets, flight *f, int share,
                            rms_batch_work *w, rms_err *err) {
    *w = (rms_batch_work){.batch = b, .n_seqs = 2 * f->k, .offsets = offsets, .ids = ids->ids};
    if (!share) {
        for (int64_t s = 0; s < 2 * f->k; s++) f->seq_of[s] = s;
        return RMS_OK;
    }
    if (ids->n > pk->cap_tokens) {
        int32_t *p = realloc(pk->ids, (size_t)ids->n * sizeof *p);
        if (!p) return rms_fail(err, RMS_ERR_NOMEM, "out of memory for %lld tokens", (long long)ids->n);
        pk->ids = p;
        pk->cap_tokens = ids->n;
    }
    w->n_seqs = rms_share_prefixes(ids->ids, offsets, f->k, pk->ids, pk->offsets, pk->parent, f->seq_of);
    w->offsets = pk->offsets;
    w->parent = pk->parent;
    w->ids = pk->ids;
    return RMS_OK;
}

/* Collects one batch from the executor and writes its scores; *tokens gets the tokens it computed. */
static rms_status collect_one(rms_score_job *j, const rms_executor *ex, flight *fl, int64_t depth, float *pair_scores,
                              int64_t *tokens, rms_err *err) {
    int64_t batch;
    const float *scores;
    rms_status st = ex->collect(ex->self, &batch, &scores, err);
    if (st != RMS_OK) return st;
    flight *f = NULL;
    for (int64_t i = 0; i < depth && !f; i++)
        if (fl[i].batch == batch) f = &fl[i];
    if (!f) return rms_fail(err, RMS_ERR_IO, "scores came back for micro-batch %lld, which is not in flight", (long long)batch);
    for (int64_t s = 0; s < 2 * f->k; s++) pair_scores[s] = scores[f->seq_of[s]]; // (2k) chosen, rejected per row
    if ((st = rms_score_job_write(j, f->rows, f->k, pair_scores, err)) != RMS_OK) return st;
    rms_progress_update(j, j->done_rows == j->todo_rows);
    *tokens = f->tokens;
    f->batch = -1;
    return RMS_OK;
}

/* When the run must have stopped (o->stop_at), and the speed measured so far, to decide whether a micro-batch
 * may still start: it may when the batches in flight and it, at the measured tokens per second, end before the
 * deadline less the margin. Before any batch has come back there is no speed: the first batch goes out alone,
 * and the executor is filled once it has come back. */
typedef struct deadline {
    double at;               // monotonic seconds, the margin taken off; 0: none
    double margin;           // seconds kept free before the deadline
    double t_first;          // when the first batch was submitted (0: not yet)
    int64_t done_tokens;     // computed tokens of the batches collected
    int64_t flight_tokens;   // of the batches in flight
} deadline;

static void deadline_init(deadline *d, const rms_score_opts *o) {
    memset(d, 0, sizeof *d);
    if (o->stop_at <= 0) return;
    const double left = (double)o->stop_at - rms_unix_seconds();
    d->margin = left > 0 && left / 10 < STOP_MARGIN_S ? left / 10 : STOP_MARGIN_S;
    d->at = rms_now_seconds() + left - d->margin;
    if (d->at == 0) d->at = 1e-9; // 0 means none
}

enum { DEADLINE_GO, DEADLINE_WAIT, DEADLINE_STOP };

/* Whether a batch of `tokens` may start now (GO), only after a batch in flight has come back and measured the
 * speed (WAIT: with a deadline, the first batch goes out alone), or never (STOP; *why gets the reason). */
static int deadline_allows(const deadline *d, int64_t tokens, char *why, size_t cap) {
    if (d->at == 0) return DEADLINE_GO;
    const double now = rms_now_seconds();
    if (now >= d->at) {
        snprintf(why, cap, "the deadline is less than %.1f s away", d->margin);
        return DEADLINE_STOP;
    }
    if (d->t_first == 0) return DEADLINE_GO;
    if (d->done_tokens == 0) return DEADLINE_WAIT;
    const double rate = (double)d->done_tokens / (now - d->t_first > 1e-6 ? now - d->t_first : 1e-6);
    const double end = now + (double)(d->flight_tokens + tokens) / rate;
    if (end <= d->at) return DEADLINE_GO;
    snprintf(why, cap, "at the measured %.0f tokens/s the next micro-batch (%lld tokens) would end %.1f s after the "
                       "deadline less %.1f s",
             rate, (long long)tokens, end - d->at, d->margin);
    return DEADLINE_STOP;
}

rms_status rms_score_run(rms_score_job *j, const rms_executor *ex, volatile sig_atomic_t *stop, rms_err *err) {
    const int64_t depth = ex->depth > 0 ? ex->depth : 1, max_rows = rms_score_job_max_batch_rows(j) + 1;
    flight *fl = calloc((size_t)depth, sizeof *fl);
    int64_t *offsets = malloc((size_t)(2 * max_rows + 1) * sizeof *offsets); // (2 max_rows + 1)
    float *pair_scores = malloc((size_t)(2 * max_rows) * sizeof *pair_scores); // (2 max_rows)
    packed pk = {NULL, 0, malloc((size_t)(3 * max_rows + 1) * sizeof(int64_t)), malloc((size_t)(3 * max_rows) * sizeof(int64_t))};
    rms_ids ids;
    rms_ids_init(&ids);
    rms_status st = (!fl || !offsets || !pair_scores || !pk.offsets || !pk.parent)
                        ? rms_fail(err, RMS_ERR_NOMEM, "out of memory")
                        : RMS_OK;
    for (int64_t i = 0; st == RMS_OK && i < depth; i++) {
        fl[i].batch = -1;
        fl[i].rows = malloc((size_t)max_rows * sizeof *fl[i].rows);
        fl[i].seq_of = malloc((size_t)(2 * max_rows) * sizeof *fl[i].seq_of);
        if (!fl[i].rows || !fl[i].seq_of) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    int64_t next = 0, in_flight = 0;
    deadline dl;
    deadline_init(&dl, j->o);
    while (st == RMS_OK) {
        // keep the executor `depth` batches deep while there is work, no stop was asked for and the deadline allows
        while (st == RMS_OK && in_flight < depth && next < j->plan.n_batches && !*stop && !j->stopped_for_deadline) {
            flight *f = NULL;
            for (int64_t i = 0; i < depth && !f; i++)
                if (fl[i].batch < 0) f = &fl[i];
            const int64_t b = next;
            if ((st = rms_score_job_batch(j, b, f->rows, &f->k, &ids, offsets, err)) != RMS_OK) break;
            if (f->k == 0) {
                next++;
                continue;
            }
            rms_batch_work w;
            if ((st = make_work(&pk, b, &ids, offsets, f, !j->o->no_prefix_sharing, &w, err)) != RMS_OK) break;
            char why[256];
            const int go = deadline_allows(&dl, w.offsets[w.n_seqs], why, sizeof why);
            if (go == DEADLINE_WAIT) break; // read again once a batch has come back
            if (go == DEADLINE_STOP) {
                j->stopped_for_deadline = 1;
                char reason[400];
                snprintf(reason, sizeof reason, "%s (%s)", why, j->o->stop_at_source);
                rms_progress_stopping(j, reason, in_flight);
                break;
            }
            next++;
            j->seq_tokens += offsets[2 * f->k];
            j->computed_tokens += w.offsets[w.n_seqs];
            if ((st = ex->submit(ex->self, &w, err)) != RMS_OK) break;
            f->batch = b;
            f->tokens = w.offsets[w.n_seqs];
            dl.flight_tokens += f->tokens;
            if (dl.t_first == 0) dl.t_first = rms_now_seconds();
            in_flight++;
        }
        if (st != RMS_OK || in_flight == 0) break;
        int64_t collected = -1;
        if ((st = collect_one(j, ex, fl, depth, pair_scores, &collected, err)) == RMS_OK) {
            in_flight--;
            dl.flight_tokens -= collected;
            dl.done_tokens += collected;
        }
    }
    if (st == RMS_OK) st = ex->finish(ex->self, err);
    if (!j->o->quiet && j->seq_tokens > 0)
        fprintf(stderr, "rmscore: score: computed %lld tokens for %lld tokens of conversations (%.1f%% saved by "
                "computing shared prompt prefixes once%s)\n", (long long)j->computed_tokens, (long long)j->seq_tokens,
                100.0 * (double)(j->seq_tokens - j->computed_tokens) / (double)j->seq_tokens,
                j->o->no_prefix_sharing ? "; off: --no-prefix-sharing" : "");
    if (st == RMS_OK && j->done_rows < j->todo_rows && j->stopped_for_deadline) {
        char when[48];
        rms_format_time(when, sizeof when, j->o->stop_at);
        st = rms_fail(err, RMS_INTERRUPTED,
                      "stopped before the deadline %s (%s) after %lld of %lld pairs, all written; rerun the same "
                      "command to resume",
                      when, j->o->stop_at_source, (long long)j->done_rows, (long long)j->todo_rows);
    } else if (st == RMS_OK && j->done_rows < j->todo_rows) {
        st = rms_fail(err, RMS_INTERRUPTED, "interrupted after %lld of %lld pairs; rerun the same command to resume",
                      (long long)j->done_rows, (long long)j->todo_rows);
    }
    rms_status_counts c;
    rms_progress_counts(j, &c);
    if ((st == RMS_OK || st == RMS_INTERRUPTED) && c.non_finite > 0) // a model problem: said even under --quiet
        fprintf(stderr, "rmscore: warning: score: %lld of %lld pairs got a non-finite score (NaN or infinity: status 4 "
                        "in %s; NaN/Inf weights or overflowing activations); report excludes them from accuracy\n",
                (long long)c.non_finite, (long long)c.rows, j->o->out);
    if (st == RMS_OK && j->o->strict) { // --strict: a completed run over bad or non-finite rows says so in its status
        if (c.bad_input > 0)
            st = rms_fail(err, RMS_BAD_ROWS, "%lld of %lld rows of %s are bad input (status 3); --strict makes that exit "
                          "status 4",
                          (long long)c.bad_input, (long long)c.rows, j->o->data);
        else if (c.non_finite > 0)
            st = rms_fail(err, RMS_BAD_ROWS, "%lld of %lld rows of %s got a non-finite score (status 4); --strict makes "
                          "that exit status 4",
                          (long long)c.non_finite, (long long)c.rows, j->o->data);
    }
    for (int64_t i = 0; fl && i < depth; i++) {
        free(fl[i].rows);
        free(fl[i].seq_of);
    }
    free(fl);
    free(offsets);
    free(pair_scores);
    free(pk.ids);
    free(pk.offsets);
    free(pk.parent);
    rms_ids_free(&ids);
    return st;
}

/* ------------------------------------------------------------------ local executor */

static rms_status local_submit(void *self, const rms_batch_work *w, rms_err *err) {
    rms_local_executor *x = self;
    RMS_ASSERT(x->batch < 0); // depth 1: collected before the next submit
    if (w->n_seqs > x->cap) {
        float *s = realloc(x->scores, (size_t)w->n_seqs * sizeof *s);
        if (!s) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        x->scores = s;
        x->cap = w->n_seqs;
    }
    const rms_batch b = {.n_seqs = w->n_seqs, .offsets = w->offsets, .parent = w->parent};
    rms_status st = rms_forward_all(&x->model, &x->ws, &b, w->ids, x->scores, err);
    if (st == RMS_OK) x->batch = w->batch;
    return st;
}

static rms_status local_collect(void *self, int64_t *batch, const float **scores, rms_err *err) {
    rms_local_executor *x = self;
    if (x->batch < 0) return rms_fail(err, RMS_ERR_ARG, "collect without a submitted batch");
    *batch = x->batch;
    *scores = x->scores;
    x->batch = -1;
    return RMS_OK;
}

static rms_status local_finish(void *self, rms_err *err) { return RMS_OK; }

rms_status rms_local_executor_init(rms_local_executor *x, const char *model_dir, rms_compute compute,
                                   rms_executor *ex, rms_err *err) {
    memset(x, 0, sizeof *x);
    x->batch = -1;
    rms_workspace_init(&x->ws, compute);
    *ex = (rms_executor){.self = x, .depth = 1, .submit = local_submit, .collect = local_collect, .finish = local_finish};
    return rms_model_load(&x->model, model_dir, 0, -1, err);
}

void rms_local_executor_free(rms_local_executor *x) {
    rms_workspace_free(&x->ws);
    rms_model_free(&x->model);
    free(x->scores);
    memset(x, 0, sizeof *x);
}
