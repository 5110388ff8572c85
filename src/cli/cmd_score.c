/* cmd_score.c — `rmscore score` in a single process: every batch of the plan through the whole model.
 * (mpi/ runs the same job as a pipeline across ranks.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/engine/blas.h"
#include "src/cli/commands.h"
#include "src/engine/forward.h"
#include "src/engine/model.h"
#include "src/job/score_job.h"

static rms_status run_batches(rms_score_job *j, const rms_model *m, rms_workspace *ws, volatile sig_atomic_t *stop,
                              rms_err *err) {
    const int64_t max_rows = rms_score_job_max_batch_rows(j);
    int64_t *rows = malloc((size_t)(max_rows + 1) * sizeof *rows);
    int64_t *offsets = malloc((size_t)(2 * max_rows + 1) * sizeof *offsets);
    float *scores = malloc((size_t)(2 * max_rows + 1) * sizeof *scores);
    rms_ids ids;
    rms_ids_init(&ids);
    rms_status st = (!rows || !offsets || !scores) ? rms_fail(err, RMS_ERR_NOMEM, "out of memory") : RMS_OK;
    for (int64_t b = 0; st == RMS_OK && b < j->plan.n_batches; b++) {
        int64_t k;
        if ((st = rms_score_job_batch(j, b, rows, &k, &ids, offsets, err)) != RMS_OK || k == 0) continue;
        if (*stop) {
            st = rms_fail(err, RMS_ERR_IO, "interrupted after %lld of %lld pairs; rerun the same command to resume",
                          (long long)j->done_rows, (long long)j->todo_rows);
            break;
        }
        const rms_batch batch = {.n_seqs = 2 * k, .offsets = offsets};
        if ((st = rms_forward_all(m, ws, &batch, ids.ids, scores, err)) == RMS_OK &&
            (st = rms_score_job_write(j, rows, k, scores, err)) == RMS_OK)
            rms_score_job_progress(j, j->done_rows == j->todo_rows);
    }
    rms_ids_free(&ids);
    free(rows);
    free(offsets);
    free(scores);
    return st;
}

rms_status rms_cmd_score(int argc, char **argv, volatile sig_atomic_t *stop, rms_err *err) {
    rms_score_opts o;
    rms_status st = rms_score_opts_parse(argc, argv, &o, err);
    if (st == RMS_OK && o.stages != 1)
        st = rms_fail(err, RMS_ERR_ARG, "--stages %lld needs an MPI launch with at least %lld ranks (mpirun -np N)",
                      (long long)o.stages, (long long)o.stages + 1);
    if (st != RMS_OK) {
        rms_score_opts_free(&o);
        return st;
    }
    const int64_t threads = o.threads > 0 ? o.threads : rms_default_threads();
    rms_blas_set_threads((int)threads);
    rms_score_job j;
    rms_model m;
    memset(&m, 0, sizeof m);
    rms_workspace ws;
    rms_workspace_init(&ws, o.compute);
    const double t0 = rms_now_seconds();
    if ((st = rms_score_job_open(&j, &o, 1, 1, err)) == RMS_OK && (st = rms_model_load(&m, o.model, 0, -1, err)) == RMS_OK) {
        if (!o.quiet)
            fprintf(stderr, "rmscore: score: single process, %lld threads, OpenBLAS %s\n", (long long)threads,
                    rms_blas_corename());
        st = run_batches(&j, &m, &ws, stop, err);
    }
    rms_score_job_close(&j, &st, err);
    rms_workspace_free(&ws);
    rms_model_free(&m);
    if (st == RMS_OK && !o.quiet) fprintf(stderr, "rmscore: score: wrote %s in %.1f s\n", o.out, rms_now_seconds() - t0);
    rms_score_opts_free(&o);
    return st;
}
