/* pipeline.c — the MPI scoring job: root scheduler and pipeline stages (see pipeline.h). */
#define _GNU_SOURCE
#include "mpi/pipeline.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "src/engine/blas.h"
#include "src/engine/forward.h"
#include "src/base/memstat.h"
#include "src/engine/model.h"
#include "src/job/score_job.h"
#include "mpi/layout.h"

enum { TAG_HEADER = 11, TAG_OFFSETS = 12, TAG_PAYLOAD = 13, TAG_RESULT = 14, TAG_RESULT_SCORES = 15 };
enum { KIND_DATA = 0, KIND_STOP = 1 };
enum { HDR_KIND, HDR_BATCH, HDR_SEQS, HDR_TOKENS, HDR_LEN };
#define SLEEP_MIN_NS 20000L
#define SLEEP_MAX_NS 1000000L
#define N_STATS 8

/* ------------------------------------------------------------------ helpers */

static rms_status mpi_fail(int rc, const char *what, rms_err *err) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return rms_fail(err, RMS_ERR_IO, "MPI %s failed: %s", what, msg);
}

#define MPI_CHECK(call, what)                                         \
    do {                                                              \
        const int rc_ = (call);                                       \
        if (rc_ != MPI_SUCCESS) return mpi_fail(rc_, (what), err);    \
    } while (0)

int rms_mpi_launched(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

static void sleep_ns(long ns) {
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* Waits for all n requests with a backing-off sleep (no busy-polling); adds the time to *wait_s. */
static rms_status wait_all(MPI_Request *reqs, int n, double *wait_s, rms_err *err) {
    const double t0 = rms_now_seconds();
    long nap = SLEEP_MIN_NS;
    for (;;) {
        int done = 0;
        MPI_CHECK(MPI_Testall(n, reqs, &done, MPI_STATUSES_IGNORE), "Testall");
        if (done) break;
        sleep_ns(nap);
        nap = nap * 2 > SLEEP_MAX_NS ? SLEEP_MAX_NS : nap * 2;
    }
    if (wait_s) *wait_s += rms_now_seconds() - t0;
    return RMS_OK;
}

static rms_status wait_one(MPI_Request *req, MPI_Status *status, double *wait_s, rms_err *err) {
    const double t0 = rms_now_seconds();
    long nap = SLEEP_MIN_NS;
    for (;;) {
        int done = 0;
        MPI_CHECK(MPI_Test(req, &done, status), "Test");
        if (done) break;
        sleep_ns(nap);
        nap = nap * 2 > SLEEP_MAX_NS ? SLEEP_MAX_NS : nap * 2;
    }
    if (wait_s) *wait_s += rms_now_seconds() - t0;
    return RMS_OK;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

static int grow_bytes(void **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    void *p = realloc(*buf, need);
    if (!p) return 0;
    *buf = p;
    *cap = need;
    return 1;
}

/* ------------------------------------------------------------------ stages */

/* One in/out buffer set; two alternate so a batch can be received while the previous one is sent. */
typedef struct slot {
    int64_t hdr[HDR_LEN];
    void *offsets; size_t offsets_cap;  // (n_seqs + 1) int64
    void *payload; size_t payload_cap;  // ids (int32, stage 0 input) or hidden (n_tokens, hidden) fp32
    void *scores; size_t scores_cap;    // (n_seqs) fp32, last stage output
    void *hidden; size_t hidden_cap;    // stage 0: (n_tokens, hidden) fp32 embedded from the ids
    MPI_Request sends[3];
} slot;

typedef struct stage_ctx {
    MPI_Comm comm;
    rms_role role;
    int n_stages;
    rms_model model;
    rms_workspace ws;
    int64_t l0, l1;
    double compute_s, wait_s;
    int64_t batches, tokens;
} stage_ctx;

static rms_status stage_compute(stage_ctx *c, slot *in, float **out, size_t *out_count, rms_err *err) {
    const int64_t n_seqs = in->hdr[HDR_SEQS], n_tok = in->hdr[HDR_TOKENS], h = c->model.config.hidden_size;
    const rms_batch b = {.n_seqs = n_seqs, .offsets = in->offsets};
    float *hidden = in->payload;
    rms_status st;
    if (c->role.stage == 0) {
        if (!grow_bytes(&in->hidden, &in->hidden_cap, (size_t)(n_tok * h) * sizeof(float) + 1))
            return rms_fail(err, RMS_ERR_NOMEM, "out of memory for %lld tokens", (long long)n_tok);
        hidden = in->hidden;
        if ((st = rms_forward_embed(&c->model, in->payload, n_tok, hidden, err)) != RMS_OK) return st;
    }
    if ((st = rms_forward_layers(&c->model, &c->ws, c->l0, c->l1, &b, hidden, err)) != RMS_OK) return st;
    if (c->role.stage == c->n_stages - 1) {
        if (!grow_bytes(&in->scores, &in->scores_cap, (size_t)n_seqs * sizeof(float) + 1))
            return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
        if ((st = rms_forward_score(&c->model, &b, hidden, in->scores, err)) != RMS_OK) return st;
        *out = in->scores;
        *out_count = (size_t)n_seqs;
    } else {
        *out = hidden;
        *out_count = (size_t)(n_tok * h);
    }
    return RMS_OK;
}

/* Receives the offsets and payload that follow a header into s. */
static rms_status stage_recv_body(stage_ctx *c, slot *s, rms_err *err) {
    const int64_t n_seqs = s->hdr[HDR_SEQS], n_tok = s->hdr[HDR_TOKENS];
    const int from_root = c->role.stage == 0;
    const size_t elem = from_root ? sizeof(int32_t) : sizeof(float);
    const int64_t count = from_root ? n_tok : n_tok * c->model.config.hidden_size;
    if (count > INT_MAX) return rms_fail(err, RMS_ERR_ARG, "a micro-batch of %lld tokens is too large for one MPI message; lower --microbatch-tokens", (long long)n_tok);
    if (!grow_bytes(&s->offsets, &s->offsets_cap, (size_t)(n_seqs + 1) * sizeof(int64_t)) ||
        !grow_bytes(&s->payload, &s->payload_cap, (size_t)count * elem + 1))
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory receiving %lld tokens", (long long)n_tok);
    MPI_Request r[2];
    MPI_CHECK(MPI_Irecv(s->offsets, (int)(n_seqs + 1), MPI_INT64_T, c->role.prev_rank, TAG_OFFSETS, c->comm, &r[0]), "Irecv");
    MPI_CHECK(MPI_Irecv(s->payload, (int)count, from_root ? MPI_INT32_T : MPI_FLOAT, c->role.prev_rank, TAG_PAYLOAD,
                        c->comm, &r[1]), "Irecv");
    return wait_all(r, 2, &c->wait_s, err);
}

/* Sends s's result downstream (hidden states to the next stage, or scores to the root). */
static rms_status stage_send(stage_ctx *c, slot *s, const float *out, size_t count, rms_err *err) {
    const int last = c->role.stage == c->n_stages - 1;
    const int64_t n_seqs = s->hdr[HDR_SEQS];
    if (last) {
        MPI_CHECK(MPI_Isend(s->hdr, HDR_LEN, MPI_INT64_T, 0, TAG_RESULT, c->comm, &s->sends[0]), "Isend");
        MPI_CHECK(MPI_Isend(out, (int)count, MPI_FLOAT, 0, TAG_RESULT_SCORES, c->comm, &s->sends[1]), "Isend");
        s->sends[2] = MPI_REQUEST_NULL;
        return RMS_OK;
    }
    const int next = c->role.next_rank;
    MPI_CHECK(MPI_Isend(s->hdr, HDR_LEN, MPI_INT64_T, next, TAG_HEADER, c->comm, &s->sends[0]), "Isend");
    MPI_CHECK(MPI_Isend(s->offsets, (int)(n_seqs + 1), MPI_INT64_T, next, TAG_OFFSETS, c->comm, &s->sends[1]), "Isend");
    MPI_CHECK(MPI_Isend(out, (int)count, MPI_FLOAT, next, TAG_PAYLOAD, c->comm, &s->sends[2]), "Isend");
    return RMS_OK;
}

static rms_status stage_loop(stage_ctx *c, rms_err *err) {
    slot slots[2];
    memset(slots, 0, sizeof slots);
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) slots[i].sends[k] = MPI_REQUEST_NULL;
    const int last = c->role.stage == c->n_stages - 1;
    rms_status st = RMS_OK;
    int cur = 0;
    MPI_Request hdr_req;
    int rc = MPI_Irecv(slots[cur].hdr, HDR_LEN, MPI_INT64_T, c->role.prev_rank, TAG_HEADER, c->comm, &hdr_req);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "Irecv", err);
    for (;;) {
        slot *s = &slots[cur];
        if ((st = wait_one(&hdr_req, MPI_STATUS_IGNORE, &c->wait_s, err)) != RMS_OK) break;
        if (s->hdr[HDR_KIND] == KIND_STOP) break;
        if ((st = stage_recv_body(c, s, err)) != RMS_OK) break;
        // the other slot takes the next header while this batch computes (its sends must be done)
        slot *o = &slots[1 - cur];
        if ((st = wait_all(o->sends, 3, &c->wait_s, err)) != RMS_OK) break;
        rc = MPI_Irecv(o->hdr, HDR_LEN, MPI_INT64_T, c->role.prev_rank, TAG_HEADER, c->comm, &hdr_req);
        if (rc != MPI_SUCCESS) { st = mpi_fail(rc, "Irecv", err); break; }
        const double t0 = rms_now_seconds();
        float *out = NULL;
        size_t count = 0;
        if ((st = stage_compute(c, s, &out, &count, err)) != RMS_OK) break;
        c->compute_s += rms_now_seconds() - t0;
        c->batches++;
        c->tokens += s->hdr[HDR_TOKENS];
        if ((st = stage_send(c, s, out, count, err)) != RMS_OK) break;
        cur = 1 - cur;
    }
    // drain: finish sends, then pass the stop on (the root counts the last stages' stops)
    for (int i = 0; st == RMS_OK && i < 2; i++) st = wait_all(slots[i].sends, 3, &c->wait_s, err);
    if (st == RMS_OK) {
        int64_t stop_hdr[HDR_LEN] = {KIND_STOP, -1, 0, 0};
        rc = MPI_Send(stop_hdr, HDR_LEN, MPI_INT64_T, last ? 0 : c->role.next_rank, last ? TAG_RESULT : TAG_HEADER, c->comm);
        if (rc != MPI_SUCCESS) st = mpi_fail(rc, "Send", err);
    }
    for (int i = 0; i < 2; i++) {
        free(slots[i].offsets);
        free(slots[i].payload);
        free(slots[i].scores);
        free(slots[i].hidden);
    }
    return st;
}

/* ------------------------------------------------------------------ root */

/* A batch in flight: its rows (for writing results) and the buffers of its messages to stage 0. */
typedef struct flight {
    int used;
    int64_t batch, k;
    int replica;
    int64_t *rows;            // (max rows)
    rms_ids ids;
    int64_t *offsets;         // (2 * max rows + 1)
    int64_t hdr[HDR_LEN];
    MPI_Request sends[3];
} flight;

typedef struct root_ctx {
    MPI_Comm comm;
    rms_layout layout;
    rms_score_job job;
    flight *flights;          // (replicas * depth)
    int n_flights, depth;
    int *in_flight;           // (replicas)
    float *scores;            // (2 * max rows) received scores
    double wait_s;
} root_ctx;

static rms_status root_dispatch(root_ctx *r, int64_t *next_batch, int replica, int *sent, rms_err *err) {
    *sent = 0;
    flight *f = NULL;
    for (int i = 0; i < r->n_flights && !f; i++)
        if (!r->flights[i].used) f = &r->flights[i];
    if (!f) return RMS_OK;
    while (*next_batch < r->job.plan.n_batches) {
        const int64_t b = (*next_batch)++;
        rms_status st = rms_score_job_batch(&r->job, b, f->rows, &f->k, &f->ids, f->offsets, err);
        if (st != RMS_OK) return st;
        if (f->k == 0) continue; // done by an earlier run
        f->used = 1;
        f->batch = b;
        f->replica = replica;
        f->hdr[HDR_KIND] = KIND_DATA;
        f->hdr[HDR_BATCH] = b;
        f->hdr[HDR_SEQS] = 2 * f->k;
        f->hdr[HDR_TOKENS] = f->ids.n;
        const int dest = rms_layout_rank(&r->layout, replica, 0);
        MPI_CHECK(MPI_Isend(f->hdr, HDR_LEN, MPI_INT64_T, dest, TAG_HEADER, r->comm, &f->sends[0]), "Isend");
        MPI_CHECK(MPI_Isend(f->offsets, (int)(2 * f->k + 1), MPI_INT64_T, dest, TAG_OFFSETS, r->comm, &f->sends[1]), "Isend");
        MPI_CHECK(MPI_Isend(f->ids.ids, (int)f->ids.n, MPI_INT32_T, dest, TAG_PAYLOAD, r->comm, &f->sends[2]), "Isend");
        r->in_flight[replica]++;
        *sent = 1;
        return RMS_OK;
    }
    return RMS_OK;
}

/* Receives one result (or a replica's stop) and writes it. */
static rms_status root_collect(root_ctx *r, MPI_Request *req, int64_t *hdr, MPI_Status *status, int *stops,
                               rms_err *err) {
    if (hdr[HDR_KIND] == KIND_STOP) {
        (*stops)++;
        return RMS_OK;
    }
    flight *f = NULL;
    for (int i = 0; i < r->n_flights && !f; i++)
        if (r->flights[i].used && r->flights[i].batch == hdr[HDR_BATCH]) f = &r->flights[i];
    if (!f || hdr[HDR_SEQS] != 2 * f->k)
        return rms_fail(err, RMS_ERR_IO, "rank %d returned scores for unknown batch %lld", status->MPI_SOURCE,
                        (long long)hdr[HDR_BATCH]);
    MPI_CHECK(MPI_Irecv(r->scores, (int)(2 * f->k), MPI_FLOAT, status->MPI_SOURCE, TAG_RESULT_SCORES, r->comm, req), "Irecv");
    rms_status st = wait_one(req, MPI_STATUS_IGNORE, &r->wait_s, err);
    if (st == RMS_OK) st = wait_all(f->sends, 3, &r->wait_s, err);
    if (st == RMS_OK) st = rms_score_job_write(&r->job, f->rows, f->k, r->scores, err);
    if (st != RMS_OK) return st;
    rms_score_job_progress(&r->job, r->job.done_rows == r->job.todo_rows);
    r->in_flight[f->replica]--;
    f->used = 0;
    return RMS_OK;
}

static rms_status root_loop(root_ctx *r, volatile sig_atomic_t *stop, rms_err *err) {
    int64_t next_batch = 0;
    int total_in_flight = 0, stops = 0, interrupted = 0;
    int64_t hdr[HDR_LEN];
    MPI_Request req;
    MPI_Status status;
    rms_status st = RMS_OK;
    MPI_CHECK(MPI_Irecv(hdr, HDR_LEN, MPI_INT64_T, MPI_ANY_SOURCE, TAG_RESULT, r->comm, &req), "Irecv");
    for (;;) {
        // keep every replica `depth` batches deep: a replica that finishes gets more work
        for (int progress = 1; progress && !interrupted;) {
            progress = 0;
            for (int rep = 0; rep < r->layout.replicas; rep++) {
                if (r->in_flight[rep] >= r->depth) continue;
                int sent;
                if ((st = root_dispatch(r, &next_batch, rep, &sent, err)) != RMS_OK) return st;
                total_in_flight += sent;
                progress |= sent;
            }
        }
        if (*stop && !interrupted) interrupted = 1; // no new batches; finish the ones in flight
        if (total_in_flight == 0) break;
        if ((st = wait_one(&req, &status, &r->wait_s, err)) != RMS_OK) return st;
        int64_t got[HDR_LEN];
        memcpy(got, hdr, sizeof got);
        if ((st = root_collect(r, &req, got, &status, &stops, err)) != RMS_OK) return st;
        if (got[HDR_KIND] == KIND_DATA) total_in_flight--;
        MPI_CHECK(MPI_Irecv(hdr, HDR_LEN, MPI_INT64_T, MPI_ANY_SOURCE, TAG_RESULT, r->comm, &req), "Irecv");
    }
    // end of data: stop every replica and wait until each pipeline has drained
    const int64_t stop_hdr[HDR_LEN] = {KIND_STOP, -1, 0, 0};
    for (int rep = 0; rep < r->layout.replicas; rep++)
        MPI_CHECK(MPI_Send(stop_hdr, HDR_LEN, MPI_INT64_T, rms_layout_rank(&r->layout, rep, 0), TAG_HEADER, r->comm), "Send");
    while (stops < r->layout.replicas) {
        if ((st = wait_one(&req, &status, &r->wait_s, err)) != RMS_OK) return st;
        if (hdr[HDR_KIND] == KIND_STOP) stops++;
        if (stops < r->layout.replicas)
            MPI_CHECK(MPI_Irecv(hdr, HDR_LEN, MPI_INT64_T, MPI_ANY_SOURCE, TAG_RESULT, r->comm, &req), "Irecv");
    }
    if (interrupted && r->job.done_rows < r->job.todo_rows)
        return rms_fail(err, RMS_ERR_IO, "interrupted after %lld of %lld pairs; rerun the same command to resume",
                        (long long)r->job.done_rows, (long long)r->job.todo_rows);
    return RMS_OK;
}

static rms_status root_alloc(root_ctx *r, rms_err *err) {
    r->depth = r->layout.stages + 1; // enough to keep every stage of a replica busy
    r->n_flights = r->layout.replicas * r->depth;
    const int64_t max_rows = rms_score_job_max_batch_rows(&r->job) + 1;
    r->flights = calloc((size_t)r->n_flights, sizeof *r->flights);
    r->in_flight = calloc((size_t)r->layout.replicas, sizeof *r->in_flight);
    r->scores = malloc((size_t)(2 * max_rows) * sizeof *r->scores);
    if (!r->flights || !r->in_flight || !r->scores) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < r->n_flights; i++) {
        flight *f = &r->flights[i];
        rms_ids_init(&f->ids);
        f->rows = malloc((size_t)max_rows * sizeof *f->rows);
        f->offsets = malloc((size_t)(2 * max_rows + 1) * sizeof *f->offsets);
        for (int k = 0; k < 3; k++) f->sends[k] = MPI_REQUEST_NULL;
        if (!f->rows || !f->offsets) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    }
    return RMS_OK;
}

static void root_free(root_ctx *r) {
    for (int i = 0; r->flights && i < r->n_flights; i++) {
        free(r->flights[i].rows);
        free(r->flights[i].offsets);
        rms_ids_free(&r->flights[i].ids);
    }
    free(r->flights);
    free(r->in_flight);
    free(r->scores);
}

/* ------------------------------------------------------------------ job */

/* Threads per worker: --threads, else this rank's CPUs; when ranks are not pinned (each sees the
 * whole node), the node's CPUs shared among the node's workers. */
static int64_t worker_threads(MPI_Comm comm, const rms_score_opts *o, int is_worker) {
    MPI_Comm node;
    int local_workers = 1;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Allreduce(&is_worker, &local_workers, 1, MPI_INT, MPI_SUM, node);
        MPI_Comm_free(&node);
    }
    if (o->threads > 0) return o->threads;
    if (getenv("SLURM_CPUS_PER_TASK")) return rms_default_threads();
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    const int mine = rms_available_cpus();
    if (mine < online) return mine; // pinned by the launcher
    const int64_t share = (int64_t)mine / (local_workers > 0 ? local_workers : 1);
    return share > 0 ? share : 1;
}

static void print_summary(MPI_Comm comm, const rms_layout *l, const double *mine, double wall) {
    double *all = malloc(sizeof(double) * N_STATS * (size_t)l->size);
    if (MPI_Gather(mine, N_STATS, MPI_DOUBLE, all, N_STATS, MPI_DOUBLE, 0, comm) != MPI_SUCCESS || !all) {
        free(all);
        return;
    }
    int rank;
    MPI_Comm_rank(comm, &rank);
    if (rank == 0) {
        fprintf(stderr, "rmscore: score: per-rank time over %.1f s (compute vs waiting on communication):\n", wall);
        fprintf(stderr, "rmscore: score:   rank replica stage  layers   batches    tokens  compute s   wait s  busy  cpu s  peak RSS MiB\n");
        for (int q = 0; q < l->size; q++) {
            const double *s = all + (size_t)q * N_STATS;
            const rms_role role = rms_layout_role(l, q);
            char who[32], layers[32];
            if (role.is_root) {
                snprintf(who, sizeof who, "   root     -");
                snprintf(layers, sizeof layers, "-");
            } else {
                snprintf(who, sizeof who, "%7d %5d", role.replica, role.stage);
                snprintf(layers, sizeof layers, "%.0f-%.0f", s[5], s[6] - 1);
            }
            fprintf(stderr, "rmscore: score: %6d %s %7s %9.0f %9.0f %10.2f %8.2f %4.0f%% %6.2f %13.1f\n", q, who, layers,
                    s[2], s[3], s[0], s[1], wall > 0 ? 100.0 * s[0] / wall : 0.0, s[4], s[7] / 1024.0);
        }
    }
    free(all);
}

/* All ranks agree on start-up: returns the lowest failing rank or -1. */
static int agree(MPI_Comm comm, int rank, rms_status st) {
    int mine = st == RMS_OK ? INT_MAX : rank, lowest = INT_MAX;
    if (MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) return rank;
    return lowest == INT_MAX ? -1 : lowest;
}

static rms_status setup_stage(stage_ctx *c, const rms_score_opts *o, const rms_layout *l, rms_err *err) {
    rms_config cfg;
    rms_status st = rms_config_load(&cfg, o->model, err);
    if (st == RMS_OK)
        st = rms_layout_stage_layers(cfg.n_layers, l->stages, o->split, o->n_split, c->role.stage, &c->l0, &c->l1, err);
    if (st == RMS_OK) st = rms_model_load(&c->model, o->model, c->l0, c->l1, err);
    rms_workspace_init(&c->ws, o->compute);
    return st;
}

rms_status rms_mpi_score(MPI_Comm comm, int argc, char **argv, volatile sig_atomic_t *stop, int *collective,
                         rms_err *err) {
    *collective = 1;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    rms_score_opts o;
    rms_layout l;
    rms_status st = rms_score_opts_parse(argc, argv, &o, err);
    if (st == RMS_OK) st = rms_layout_make(size, (int)o.stages, &l, err);
    if (st != RMS_OK) { // every rank parsed the same argv: the root reports
        rms_score_opts_free(&o);
        return rank == 0 ? st : RMS_ERR_PEER;
    }
    const rms_role role = rms_layout_role(&l, rank);
    const int64_t threads = worker_threads(comm, &o, !role.is_root);
    rms_blas_set_threads((int)threads);
    root_ctx root;
    stage_ctx stage;
    memset(&root, 0, sizeof root);
    memset(&stage, 0, sizeof stage);
    root.comm = stage.comm = comm;
    root.layout = l;
    stage.role = role;
    stage.n_stages = l.stages;
    const double t0 = rms_now_seconds();
    if (role.is_root) {
        st = rms_score_job_open(&root.job, &o, l.stages, l.replicas, err);
        if (st == RMS_OK) st = root_alloc(&root, err);
        if (st == RMS_OK && !o.quiet)
            fprintf(stderr, "rmscore: score: MPI: %d ranks = root + %d replica(s) x %d stage(s), %lld thread(s) per worker\n",
                    size, l.replicas, l.stages, (long long)threads);
    } else {
        st = setup_stage(&stage, &o, &l, err);
    }
    const int failed = agree(comm, rank, st);
    if (failed >= 0) { // the lowest failing rank reports; the others stop quietly
        if (rank == failed)
            rms_fail_prefix(err, st, "rank %d (%s)", rank, role.is_root ? "root" : "pipeline stage");
        else
            st = RMS_ERR_PEER;
    } else {
        *collective = 0; // from here on, a failure is this rank's alone
        st = role.is_root ? root_loop(&root, stop, err) : stage_loop(&stage, err);
        if (st != RMS_OK)
            rms_fail_prefix(err, st, "rank %d (%s)", rank, role.is_root ? "root" : "pipeline stage");
    }
    if (role.is_root) rms_score_job_close(&root.job, &st, err);
    if (*collective == 0 && (st == RMS_OK || (role.is_root && *stop))) {
        rms_memstat mem;
        rms_memstat_read(&mem);
        const double stats[N_STATS] = {role.is_root ? 0.0 : stage.compute_s, role.is_root ? root.wait_s : stage.wait_s,
                                       (double)stage.batches, (double)stage.tokens, cpu_seconds(), (double)stage.l0,
                                       (double)stage.l1, (double)mem.peak_rss_kb};
        if (!o.quiet) print_summary(comm, &l, stats, rms_now_seconds() - t0);
        if (role.is_root && st == RMS_OK && !o.quiet)
            fprintf(stderr, "rmscore: score: wrote %s in %.1f s\n", o.out, rms_now_seconds() - t0);
        if (role.is_root && st != RMS_OK) *collective = 1; // interrupted: every rank has stopped cleanly
    }
    root_free(&root);
    rms_workspace_free(&stage.ws);
    rms_model_free(&stage.model);
    rms_score_opts_free(&o);
    return st;
}
