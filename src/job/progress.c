/* progress.c — progress lines, stop notices and the closing summary of `score` (see progress.h). */
#include "src/job/progress.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "src/base/clock.h"

/* "[2026-12-01T07:40:12+0000]"-style stamp of now (into out, cap >= 40) and the Unix time. */
static double stamp(char *out, size_t cap) {
    const double unix_s = rms_unix_seconds();
    rms_format_time(out, cap, (int64_t)unix_s);
    return unix_s;
}

static void format_eta(char *buf, size_t len, double seconds) {
    if (!(seconds >= 0) || seconds > 1e8) {
        snprintf(buf, len, "?");
        return;
    }
    const long s = (long)seconds;
    snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
}

void rms_progress_update(rms_score_job *j, int force) {
    const double now = rms_now_seconds();
    if (j->o->quiet || (!force && now - j->t_last_progress < (double)j->o->progress_every)) return;
    const double dt = now - j->t_start > 1e-9 ? now - j->t_start : 1e-9;
    const double rate = (double)j->done_tokens / dt;
    const double eta_s = rate > 0 ? (double)(j->todo_tokens - j->done_tokens) / rate : -1.0;
    char when[48];
    const double unix_s = stamp(when, sizeof when);
    if (j->o->progress_json) {
        char eta[32] = "null";
        if (eta_s >= 0 && eta_s < 1e12) snprintf(eta, sizeof eta, "%.0f", eta_s);
        fprintf(stderr,
                "{\"event\": \"progress\", \"time\": \"%s\", \"unix\": %.0f, \"done_pairs\": %lld, \"todo_pairs\": %lld, "
                "\"pairs_per_s\": %.3f, \"tokens_per_s\": %.1f, \"eta_s\": %s}\n",
                when, unix_s, (long long)j->done_rows, (long long)j->todo_rows, (double)j->done_rows / dt, rate, eta);
    } else {
        char eta[32];
        format_eta(eta, sizeof eta, eta_s);
        fprintf(stderr, "rmscore: score: [%s] %lld/%lld pairs (%.1f%%), %.1f pairs/s, %.0f tokens/s, ETA %s\n", when,
                (long long)j->done_rows, (long long)j->todo_rows,
                j->todo_rows ? 100.0 * (double)j->done_rows / (double)j->todo_rows : 100.0, (double)j->done_rows / dt,
                rate, eta);
    }
    fflush(stderr);
    j->t_last_progress = now;
}

/* reason as a JSON string body (quotes and backslashes escaped; it is rmscore's own ASCII text). */
static void json_text(char *out, size_t cap, const char *s) {
    size_t o = 0;
    for (; *s && o + 3 < cap; s++) {
        if (*s == '"' || *s == '\\') out[o++] = '\\';
        out[o++] = (unsigned char)*s < 0x20 ? ' ' : *s;
    }
    out[o] = '\0';
}

void rms_progress_stopping(const rms_score_job *j, const char *reason, int64_t in_flight) {
    if (j->o->quiet) return;
    char when[48], text[512];
    const double unix_s = stamp(when, sizeof when);
    if (j->o->progress_json) {
        json_text(text, sizeof text, reason);
        fprintf(stderr,
                "{\"event\": \"stopping\", \"time\": \"%s\", \"unix\": %.0f, \"reason\": \"%s\", \"stop_at\": %lld, "
                "\"in_flight\": %lld}\n",
                when, unix_s, text, (long long)j->o->stop_at, (long long)in_flight);
    } else {
        fprintf(stderr, "rmscore: score: [%s] stopping: %s; draining %lld micro-batch(es) in flight\n", when, reason,
                (long long)in_flight);
    }
    fflush(stderr);
}

void rms_progress_counts(const rms_score_job *j, rms_status_counts *c) {
    memset(c, 0, sizeof *c);
    int64_t r0, r1;
    rms_score_job_shard_rows(j->o, j->n, &r0, &r1);
    for (int64_t r = r0; j->status && r < r1; r++) {
        c->rows++;
        switch (j->status[r]) { // io/scores_h5.h: 0 pending, 1 scored, 2 skipped (too long), 3 bad input, 4 non-finite
        case RMS_SCORE_SCORED: c->scored++; break;
        case RMS_SCORE_SKIPPED: c->skipped++; break;
        case RMS_SCORE_BAD: c->bad_input++; break;
        case RMS_SCORE_NONFINITE: c->non_finite++; break;
        default: c->pending++;
        }
    }
}

void rms_progress_summary(const rms_score_job *j, rms_status st, int exit_status, double wall_s) {
    if (!j->o || j->o->quiet) return;
    rms_status_counts c;
    rms_progress_counts(j, &c);
    const char *what = st == RMS_OK ? "done" : st == RMS_BAD_ROWS ? "bad-rows" :
                       st == RMS_INTERRUPTED ? (j->stopped_for_deadline ? "stopped" : "interrupted") : "error";
    char when[48];
    const double unix_s = stamp(when, sizeof when);
    if (j->o->progress_json) {
        fprintf(stderr,
                "{\"event\": \"summary\", \"time\": \"%s\", \"unix\": %.0f, \"status\": \"%s\", \"exit_status\": %d, "
                "\"rows\": %lld, \"scored\": %lld, \"skipped\": %lld, \"bad_input\": %lld, \"non_finite\": %lld, "
                "\"pending\": %lld, \"seconds\": %.1f}\n",
                when, unix_s, what, exit_status, (long long)c.rows, (long long)c.scored, (long long)c.skipped,
                (long long)c.bad_input, (long long)c.non_finite, (long long)c.pending, wall_s);
    } else {
        static const char *const meaning[] = {"done", "error", "usage error", ("stopped with work remaining: rerun the "
                                              "same command to resume"), "done, but rows are bad input or non-finite (--strict)"};
        char non_finite[64] = "";
        if (c.non_finite) snprintf(non_finite, sizeof non_finite, ", %lld non-finite score", (long long)c.non_finite);
        fprintf(stderr,
                "rmscore: score: [%s] summary: %lld rows: %lld scored, %lld skipped (too long), %lld bad input%s, %lld "
                "pending; %.1f s; exit status %d (%s)\n",
                when, (long long)c.rows, (long long)c.scored, (long long)c.skipped, (long long)c.bad_input, non_finite,
                (long long)c.pending, wall_s, exit_status, exit_status >= 0 && exit_status <= 4 ? meaning[exit_status] : "?");
    }
    fflush(stderr);
}
