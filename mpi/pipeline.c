/* pipeline.c — the MPI scoring job: root scheduler and pipeline stages (see pipeline.h). */
#define _GNU_SOURCE
#include "mpi/pipeline.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi/layout.h"
#include "src/base/clock.h"
#include "src/base/memstat.h"
#include "src/engine/gemm.h"
#include "src/engine/parallel.h"
#include "src/engine/forward.h"
#include "src/engine/model.h"
#include "src/job/score_job.h"
#include "src/job/score_run.h"

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
    void *offsets; size_t offsets_cap;  // (2 n_seqs + 1) int64: offsets (n_seqs + 1), then parent (n_seqs)
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
    const rms_batch b = {.n_seqs = n_seqs, .offsets = in->offsets, .parent = (int64_t *)in->offsets + n_seqs + 1};
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

/* Receives the layout (offsets and parents) and payload that follow a header into s. */
static rms_status stage_recv_body(stage_ctx *c, slot *s, rms_err *err) {
    const int64_t n_seqs = s->hdr[HDR_SEQS], n_tok = s->hdr[HDR_TOKENS];
    const int from_root = c->role.stage == 0;
    const size_t elem = from_root ? sizeof(int32_t) : sizeof(float);
    const int64_t count = from_root ? n_tok : n_tok * c->model.config.hidden_size;
    if (count > INT_MAX) return rms_fail(err, RMS_ERR_ARG, "a micro-batch of %lld tokens is too large for one MPI message; lower --microbatch-tokens", (long long)n_tok);
    if (!grow_bytes(&s->offsets, &s->offsets_cap, (size_t)(2 * n_seqs + 1) * sizeof(int64_t)) ||
        !grow_bytes(&s->payload, &s->payload_cap, (size_t)count * elem + 1))
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory receiving %lld tokens", (long long)n_tok);
    MPI_Request r[2];
    MPI_CHECK(MPI_Irecv(s->offsets, (int)(2 * n_seqs + 1), MPI_INT64_T, c->role.prev_rank, TAG_OFFSETS, c->comm, &r[0]), "Irecv");
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
    MPI_CHECK(MPI_Isend(s->offsets, (int)(2 * n_seqs + 1), MPI_INT64_T, next, TAG_OFFSETS, c->comm, &s->sends[1]), "Isend");
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

/* ------------------------------------------------------------------ root: the MPI executor */

/* A batch in flight: the buffers of its messages to stage 0 of its replica. */
typedef struct flight {
    int used;
    int replica;
    int64_t hdr[HDR_LEN];
    int64_t *offsets; size_t offsets_cap; // (2 n_seqs + 1): offsets (n_seqs + 1), then parent (n_seqs)
    int32_t *ids; size_t ids_cap;         // (n_tokens)
    MPI_Request sends[3];
} flight;

/* The root's side of the pipelines, as an rms_executor for the score driver (src/job/score_run.h):
 * submit sends a batch to the replica with the fewest in flight (each kept up to stages + 1 deep, so a
 * replica that finishes early gets the next batch), collect waits for the scores of any batch. */
typedef struct mpi_executor {
    MPI_Comm comm;
    rms_layout layout;
    int depth;                // per replica
    flight *flights;          // (replicas * depth)
    int n_flights;
    int *in_flight;           // (replicas)
    float *scores; size_t scores_cap; // (n_seqs) of the batch just collected
    int64_t hdr[HDR_LEN];     // the last result header received
    double wait_s;
} mpi_executor;

static rms_status root_submit(void *self, const rms_batch_work *w, rms_err *err) {
    mpi_executor *x = self;
    int rep = -1;
    for (int r = 0; r < x->layout.replicas; r++)
        if (x->in_flight[r] < x->depth && (rep < 0 || x->in_flight[r] < x->in_flight[rep])) rep = r;
    flight *f = NULL;
    for (int i = 0; i < x->n_flights && !f; i++)
        if (!x->flights[i].used) f = &x->flights[i];
    RMS_ASSERT(rep >= 0 && f); // the driver keeps at most depth * replicas batches in flight
    const int64_t n_tok = w->offsets[w->n_seqs];
    if (n_tok > INT_MAX || 2 * w->n_seqs + 1 > INT_MAX)
        return rms_fail(err, RMS_ERR_ARG, "a micro-batch of %lld tokens is too large for one MPI message; lower "
                        "--microbatch-tokens", (long long)n_tok);
    if (!grow_bytes((void **)&f->offsets, &f->offsets_cap, (size_t)(2 * w->n_seqs + 1) * sizeof *f->offsets) ||
        !grow_bytes((void **)&f->ids, &f->ids_cap, (size_t)n_tok * sizeof *f->ids + 1))
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory for a micro-batch of %lld tokens", (long long)n_tok);
    memcpy(f->offsets, w->offsets, (size_t)(w->n_seqs + 1) * sizeof *f->offsets);
    for (int64_t i = 0; i < w->n_seqs; i++) f->offsets[w->n_seqs + 1 + i] = w->parent ? w->parent[i] : -1;
    memcpy(f->ids, w->ids, (size_t)n_tok * sizeof *f->ids);
    f->hdr[HDR_KIND] = KIND_DATA;
    f->hdr[HDR_BATCH] = w->batch;
    f->hdr[HDR_SEQS] = w->n_seqs;
    f->hdr[HDR_TOKENS] = n_tok;
    const int dest = rms_layout_rank(&x->layout, rep, 0);
    MPI_CHECK(MPI_Isend(f->hdr, HDR_LEN, MPI_INT64_T, dest, TAG_HEADER, x->comm, &f->sends[0]), "Isend");
    MPI_CHECK(MPI_Isend(f->offsets, (int)(2 * w->n_seqs + 1), MPI_INT64_T, dest, TAG_OFFSETS, x->comm, &f->sends[1]), "Isend");
    MPI_CHECK(MPI_Isend(f->ids, (int)n_tok, MPI_INT32_T, dest, TAG_PAYLOAD, x->comm, &f->sends[2]), "Isend");
    f->used = 1;
    f->replica = rep;
    x->in_flight[rep]++;
    return RMS_OK;
}

/* Waits for the next result header from any last stage into x->hdr. */
static rms_status root_next_header(mpi_executor *x, MPI_Status *status, rms_err *err) {
    MPI_Request req;
    MPI_CHECK(MPI_Irecv(x->hdr, HDR_LEN, MPI_INT64_T, MPI_ANY_SOURCE, TAG_RESULT, x->comm, &req), "Irecv");
    return wait_one(&req, status, &x->wait_s, err);
}

static rms_status root_collect(void *self, int64_t *batch, const float **scores, rms_err *err) {
    mpi_executor *x = self;
    MPI_Status status;
    rms_status st = root_next_header(x, &status, err);
    if (st != RMS_OK) return st;
    flight *f = NULL;
    for (int i = 0; i < x->n_flights && !f; i++)
        if (x->flights[i].used && x->flights[i].hdr[HDR_BATCH] == x->hdr[HDR_BATCH]) f = &x->flights[i];
    if (x->hdr[HDR_KIND] != KIND_DATA || !f || x->hdr[HDR_SEQS] != f->hdr[HDR_SEQS])
        return rms_fail(err, RMS_ERR_IO, "rank %d returned an unexpected message (kind %lld, batch %lld)",
                        status.MPI_SOURCE, (long long)x->hdr[HDR_KIND], (long long)x->hdr[HDR_BATCH]);
    const int64_t n_seqs = f->hdr[HDR_SEQS];
    if (!grow_bytes((void **)&x->scores, &x->scores_cap, (size_t)n_seqs * sizeof *x->scores))
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    MPI_Request req;
    MPI_CHECK(MPI_Irecv(x->scores, (int)n_seqs, MPI_FLOAT, status.MPI_SOURCE, TAG_RESULT_SCORES, x->comm, &req), "Irecv");
    if ((st = wait_one(&req, MPI_STATUS_IGNORE, &x->wait_s, err)) != RMS_OK) return st;
    if ((st = wait_all(f->sends, 3, &x->wait_s, err)) != RMS_OK) return st;
    *batch = f->hdr[HDR_BATCH];
    *scores = x->scores;
    x->in_flight[f->replica]--;
    f->used = 0;
    return RMS_OK;
}

/* End of data: stops every replica and waits until each pipeline has drained. */
static rms_status root_finish(void *self, rms_err *err) {
    mpi_executor *x = self;
    const int64_t stop_hdr[HDR_LEN] = {KIND_STOP, -1, 0, 0};
    for (int rep = 0; rep < x->layout.replicas; rep++)
        MPI_CHECK(MPI_Send(stop_hdr, HDR_LEN, MPI_INT64_T, rms_layout_rank(&x->layout, rep, 0), TAG_HEADER, x->comm),
                  "Send");
    for (int stops = 0; stops < x->layout.replicas;) {
        MPI_Status status;
        rms_status st = root_next_header(x, &status, err);
        if (st != RMS_OK) return st;
        if (x->hdr[HDR_KIND] != KIND_STOP)
            return rms_fail(err, RMS_ERR_IO, "rank %d sent scores after the end of data", status.MPI_SOURCE);
        stops++;
    }
    return RMS_OK;
}

static rms_status root_init(mpi_executor *x, MPI_Comm comm, const rms_layout *l, rms_executor *ex, rms_err *err) {
    memset(x, 0, sizeof *x);
    x->comm = comm;
    x->layout = *l;
    x->depth = l->stages + 1; // enough to keep every stage of a replica busy
    x->n_flights = l->replicas * x->depth;
    x->flights = calloc((size_t)x->n_flights, sizeof *x->flights);
    x->in_flight = calloc((size_t)l->replicas, sizeof *x->in_flight);
    if (!x->flights || !x->in_flight) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < x->n_flights; i++)
        for (int k = 0; k < 3; k++) x->flights[i].sends[k] = MPI_REQUEST_NULL;
    *ex = (rms_executor){.self = x, .depth = x->n_flights, .submit = root_submit, .collect = root_collect,
                         .finish = root_finish};
    return RMS_OK;
}

static void root_free(mpi_executor *x) {
    for (int i = 0; x->flights && i < x->n_flights; i++) {
        free(x->flights[i].offsets);
        free(x->flights[i].ids);
    }
    free(x->flights);
    free(x->in_flight);
    free(x->scores);
    memset(x, 0, sizeof *x);
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
        st = rms_layout_stage_layers(cfg.n_layers, l->stages, o->layer_split.v, o->layer_split.n, c->role.stage,
                                     &c->l0, &c->l1, err);
    if (st == RMS_OK) st = rms_model_load(&c->model, o->model, c->l0, c->l1, err);
    rms_workspace_init(&c->ws, (rms_compute)o->compute);
    return st;
}

rms_status rms_mpi_bcast_score_opts(MPI_Comm comm, rms_status *st, rms_score_opts *o, rms_err *err) {
    int code = (int)*st;
    MPI_CHECK(MPI_Bcast(&code, 1, MPI_INT, 0, comm), "Bcast");
    if (code == RMS_OK) {
        MPI_CHECK(MPI_Bcast(o, (int)sizeof *o, MPI_BYTE, 0, comm), "Bcast");
    } else {
        MPI_CHECK(MPI_Bcast(err->msg, (int)sizeof err->msg, MPI_CHAR, 0, comm), "Bcast");
        err->msg[sizeof err->msg - 1] = '\0';
    }
    *st = (rms_status)code;
    return RMS_OK;
}

rms_status rms_mpi_score(MPI_Comm comm, const rms_score_opts *o, volatile sig_atomic_t *stop, int *collective,
                         rms_err *err) {
    *collective = 1;
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    rms_layout l;
    rms_status st = rms_layout_make(size, (int)o->stages, &l, err);
    if (st != RMS_OK) return rank == 0 ? st : RMS_ERR_PEER; // every rank has the same options: the root reports
    const rms_role role = rms_layout_role(&l, rank);
    const int64_t threads = worker_threads(comm, o, !role.is_root);
    rms_score_job job;
    mpi_executor root;
    rms_executor ex;
    stage_ctx stage;
    memset(&job, 0, sizeof job);
    memset(&root, 0, sizeof root);
    memset(&stage, 0, sizeof stage);
    stage.comm = comm;
    stage.role = role;
    stage.n_stages = l.stages;
    const double t0 = rms_now_seconds();
    if (role.is_root) {
        st = rms_score_job_open(&job, o, l.stages, l.replicas, err);
        if (st == RMS_OK) st = root_init(&root, comm, &l, &ex, err);
        if (st == RMS_OK && !o->quiet) {
            char engine[192];
            rms_engine_describe(engine, sizeof engine, o->compute == RMS_COMPUTE_BF16);
            fprintf(stderr, "rmscore: score: MPI: %d ranks = root + %d replica(s) x %d stage(s), %lld thread(s) per "
                    "worker, %s\n", size, l.replicas, l.stages, (long long)threads, engine);
        }
    } else {
        st = rms_engine_start((int)threads, err);
        if (st == RMS_OK) st = setup_stage(&stage, o, &l, err);
    }
    const int failed = agree(comm, rank, st);
    if (failed >= 0) { // the lowest failing rank reports; the others stop quietly
        if (rank == failed)
            rms_fail_prefix(err, st, "rank %d (%s)", rank, role.is_root ? "root" : "pipeline stage");
        else
            st = RMS_ERR_PEER;
    } else {
        *collective = 0; // from here on, a failure is this rank's alone
        st = role.is_root ? rms_score_run(&job, &ex, stop, err) : stage_loop(&stage, err);
        if (st != RMS_OK && st != RMS_INTERRUPTED)
            rms_fail_prefix(err, st, "rank %d (%s)", rank, role.is_root ? "root" : "pipeline stage");
    }
    if (role.is_root) rms_score_job_close(&job, &st, err);
    // done, or interrupted with every pipeline drained: all ranks are here and can gather the summary
    if (*collective == 0 && (st == RMS_OK || st == RMS_INTERRUPTED)) {
        rms_memstat mem;
        rms_memstat_read(&mem);
        const double stats[N_STATS] = {role.is_root ? 0.0 : stage.compute_s, role.is_root ? root.wait_s : stage.wait_s,
                                       (double)stage.batches, (double)stage.tokens, rms_cpu_seconds(), (double)stage.l0,
                                       (double)stage.l1, (double)mem.peak_rss_kb};
        if (!o->quiet) print_summary(comm, &l, stats, rms_now_seconds() - t0);
        if (role.is_root && st == RMS_OK && !o->quiet)
            fprintf(stderr, "rmscore: score: wrote %s in %.1f s\n", o->out, rms_now_seconds() - t0);
        *collective = 1;
    }
    root_free(&root);
    rms_workspace_free(&stage.ws);
    rms_model_free(&stage.model);
    return st;
}
