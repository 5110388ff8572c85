/* pipeline.c — the MPI scoring job: liveness watch, root scheduler and pipeline stages (see pipeline.h). */
#define _GNU_SOURCE
#include "mpi/pipeline.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi/layout.h"
#include "src/base/clock.h"
#include "src/base/memstat.h"
#include "src/base/sizes.h"
#include "src/engine/gemm.h"
#include "src/engine/parallel.h"
#include "src/engine/forward.h"
#include "src/engine/model.h"
#include "src/job/preflight.h"
#include "src/job/progress.h"
#include "src/job/score_job.h"
#include "src/job/score_run.h"

enum { TAG_HEADER = 11, TAG_OFFSETS = 12, TAG_PAYLOAD = 13, TAG_RESULT = 14, TAG_RESULT_SCORES = 15 };
enum { TAG_HEARTBEAT = 16 }; // on the watch's own communicator
enum { KIND_DATA = 0, KIND_STOP = 1 };
enum { HDR_KIND, HDR_BATCH, HDR_SEQS, HDR_TOKENS, HDR_LEN };
enum { BEAT_ALIVE = 0, BEAT_BYE = 1 };        // heartbeat kinds: int32 {kind, stop signal}
#define SLEEP_MIN_NS 20000L
#define SLEEP_MAX_NS 1000000L
#define WATCH_TICK_NS 50000000L                // the heartbeat thread wakes every 50 ms
#define PEER_TIMEOUT_MIN_S (3 * RMS_HEARTBEAT_S) // shorter would take a late heartbeat for a lost peer
#define DROP_WAIT_S 1.0                        // how long a cancelled request may take to complete
#define N_STATS 8

/* ------------------------------------------------------------------ helpers */

static rms_status mpi_fail(int rc, const char *what, rms_err *err) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error code %d", rc);
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
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    nanosleep(&ts, NULL);
}

static const char *signal_name(int sig) {
    switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
    }
}

static int grow_bytes(void **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    void *p = realloc(*buf, need);
    if (!p) return 0;
    *buf = p;
    *cap = need;
    return 1;
}

/* Gives up requests a failed wait left pending: all are cancelled, then waited for up to DROP_WAIT_S together (a
 * posted receive or a send already buffered completes at once), and those still active are freed. Returns 1 when
 * every request completed (its buffer may be freed), 0 when one is still active: its buffer must stay allocated
 * (the process is about to end: MPI_Abort). MPI errors here change nothing of that, so they are not reported. */
static int drop_requests(MPI_Request *reqs, int n) {
    int active = 0;
    for (int i = 0; i < n; i++)
        if (reqs[i] != MPI_REQUEST_NULL) {
            MPI_Cancel(&reqs[i]); // may do nothing (Open MPI does not cancel sends): the tests below decide
            active++;
        }
    const double t0 = rms_now_seconds();
    while (active > 0) {
        active = 0;
        for (int i = 0; i < n; i++) {
            int done = 0;
            if (reqs[i] == MPI_REQUEST_NULL) continue;
            if (MPI_Test(&reqs[i], &done, MPI_STATUS_IGNORE) != MPI_SUCCESS || !done) active++;
            else reqs[i] = MPI_REQUEST_NULL;
        }
        if (active == 0 || rms_now_seconds() - t0 >= DROP_WAIT_S) break;
        sleep_ns(SLEEP_MAX_NS);
    }
    for (int i = 0; i < n; i++)
        if (reqs[i] != MPI_REQUEST_NULL) MPI_Request_free(&reqs[i]); // sets it to MPI_REQUEST_NULL
    return active == 0;
}

/* ------------------------------------------------------------------ liveness watch */

struct rms_mpi_watch {
    MPI_Comm comm;                      // a duplicate of the job's communicator, for heartbeats only
    int rank, size;
    int threaded;                       // 1: the heartbeat thread runs (needs MPI_THREAD_MULTIPLE)
    double timeout;                     // seconds of silence after which a peer counts as lost
    volatile sig_atomic_t *local_stop;  // main's flag: the signal that asked this rank to stop, or 0
    volatile sig_atomic_t job_stop;     // root: the signal that stops the job (its own, or a worker's), or 0
    rms_layout layout;                  // set once known (names the lost peer's role); size 0 before
    atomic_int quiet;                   // no log line from the thread
    atomic_int quit;                    // asks the thread to say goodbye and end
    atomic_int lost;                    // the first peer silent for longer than timeout, or -1
    atomic_int lost_silence_ms;         // how long it had been silent
    atomic_int failed_rc;               // an MPI error the thread hit (it stopped), or MPI_SUCCESS
    pthread_t thread;
    // the thread's own (no other thread touches them while it runs)
    double *heard;                      // (size) when each peer was last heard from (monotonic seconds)
    unsigned char *bye;                 // (size) 1 once the peer said goodbye
    unsigned char *bye_out;             // (size) 1 once the goodbye to the peer is on its way
    int32_t (*out)[2];                  // (size) the heartbeat being sent to each peer: kind, stop signal
    MPI_Request *sends;                 // (size)
    int leak;                           // a send could not be completed: out[] stays allocated
};

/* The root watches every worker; a worker watches the root. */
static int watch_is_peer(const rms_mpi_watch *w, int r) { return w->rank == 0 ? r != 0 : r == 0; }

/* Sends one heartbeat to peer p unless the previous one is still on its way (a peer that does not receive:
 * nothing piles up); *sent says whether it went. */
static int watch_beat(rms_mpi_watch *w, int p, int kind, int sig, int *sent) {
    *sent = 0;
    if (w->sends[p] != MPI_REQUEST_NULL) {
        int done = 0;
        const int rc = MPI_Test(&w->sends[p], &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || !done) return rc;
    }
    w->out[p][0] = kind;
    w->out[p][1] = sig;
    *sent = 1;
    return MPI_Isend(w->out[p], 2, MPI_INT32_T, p, TAG_HEARTBEAT, w->comm, &w->sends[p]);
}

static void watch_note_stop(rms_mpi_watch *w, int from, int sig) {
    w->job_stop = sig;
    if (atomic_load(&w->quiet)) return;
    char line[256];
    snprintf(line, sizeof line, "rmscore: score: stop requested (%s on rank %d%s): no new micro-batches; those in "
             "flight are finished and written, then every rank exits with status 3\n", signal_name(sig), from,
             from == 0 ? ", the root" : "");
    fputs(line, stderr);
}

static void *watch_main(void *arg) {
    rms_mpi_watch *w = arg;
    double next_beat = 0, quit_at = 0, last_tick = rms_now_seconds();
    int sig_sent = 0, bye_sent = 0, rc = MPI_SUCCESS;
    for (;;) {
        const double now = rms_now_seconds();
        // this thread did not run for a while (the process was stopped, as Slurm's job suspension does, or
        // starved): it cannot tell whether its peers were silent, so their timeouts start again
        if (now - last_tick > 2 * RMS_HEARTBEAT_S)
            for (int p = 0; p < w->size; p++) w->heard[p] = now;
        last_tick = now;
        const int quitting = atomic_load(&w->quit);
        if (quitting && quit_at == 0) quit_at = now;
        const int sig = w->local_stop ? (int)*w->local_stop : 0;
        if (w->rank == 0 && sig && !w->job_stop) watch_note_stop(w, 0, sig);
        // send: every RMS_HEARTBEAT_S, at once when this worker was asked to stop, goodbye when quitting (retried
        // on the next tick for a peer whose last heartbeat is still on its way)
        int sent = 0;
        if (quitting && !bye_sent) {
            int pending = 0;
            for (int p = 0; p < w->size && rc == MPI_SUCCESS; p++) {
                if (!watch_is_peer(w, p) || w->bye_out[p]) continue;
                rc = watch_beat(w, p, BEAT_BYE, 0, &sent);
                w->bye_out[p] = (unsigned char)sent;
                pending += !sent;
            }
            bye_sent = pending == 0;
        } else if (!quitting && (now >= next_beat || (w->rank != 0 && sig && !sig_sent))) {
            for (int p = 0; p < w->size && rc == MPI_SUCCESS; p++)
                if (watch_is_peer(w, p)) rc = watch_beat(w, p, BEAT_ALIVE, w->rank != 0 ? sig : 0, &sent);
            next_beat = now + RMS_HEARTBEAT_S;
            sig_sent = sig != 0;
        }
        // receive everything that arrived
        for (;;) {
            int flag = 0;
            MPI_Status status;
            if (rc == MPI_SUCCESS) rc = MPI_Iprobe(MPI_ANY_SOURCE, TAG_HEARTBEAT, w->comm, &flag, &status);
            if (rc != MPI_SUCCESS || !flag) break;
            int32_t in[2];
            rc = MPI_Recv(in, 2, MPI_INT32_T, status.MPI_SOURCE, TAG_HEARTBEAT, w->comm, MPI_STATUS_IGNORE);
            if (rc != MPI_SUCCESS) break;
            const int from = status.MPI_SOURCE;
            w->heard[from] = now;
            if (in[0] == BEAT_BYE) w->bye[from] = 1;
            if (w->rank == 0 && in[1] && !w->job_stop) watch_note_stop(w, from, in[1]);
        }
        if (rc != MPI_SUCCESS) {
            atomic_store(&w->failed_rc, rc);
            break;
        }
        int all_bye = 1;
        for (int p = 0; p < w->size; p++) {
            if (!watch_is_peer(w, p) || w->bye[p]) continue;
            all_bye = 0;
            const double silent = now - w->heard[p];
            if (!quitting && silent > w->timeout && atomic_load(&w->lost) < 0) {
                atomic_store(&w->lost_silence_ms, (int)(silent * 1000));
                atomic_store(&w->lost, p);
            }
        }
        // at the end: until every peer said goodbye (then nothing more comes from it), or the timeout
        if (quitting && ((bye_sent && all_bye) || now - quit_at > w->timeout)) break;
        sleep_ns(WATCH_TICK_NS);
    }
    if (!drop_requests(w->sends, w->size)) w->leak = 1;
    return NULL;
}

rms_status rms_mpi_watch_start(MPI_Comm comm, int provided, volatile sig_atomic_t *stop, rms_mpi_watch **out,
                               rms_err *err) {
    *out = NULL;
    int rank, size;
    MPI_CHECK(MPI_Comm_rank(comm, &rank), "Comm_rank");
    MPI_CHECK(MPI_Comm_size(comm, &size), "Comm_size");
    // the lowest thread level any rank got, and rank 0's timeout: the only blocking collectives of this module,
    // before any heartbeat can exist (right after MPI_Init_thread, which is as blocking)
    int level = provided;
    MPI_CHECK(MPI_Allreduce(&provided, &level, 1, MPI_INT, MPI_MIN, comm), "Allreduce");
    double timeout = RMS_PEER_TIMEOUT_S;
    if (rank == 0) {
        const char *env = getenv("RMSCORE_PEER_TIMEOUT");
        if (rms_peer_timeout_parse(env, &timeout) != 0 || timeout < PEER_TIMEOUT_MIN_S) {
            fprintf(stderr, "rmscore: warning: RMSCORE_PEER_TIMEOUT='%s' is not a number of seconds from %.0f to "
                    "86400; using %.0f\n", env, PEER_TIMEOUT_MIN_S, RMS_PEER_TIMEOUT_S);
            timeout = RMS_PEER_TIMEOUT_S;
        }
    }
    MPI_CHECK(MPI_Bcast(&timeout, 1, MPI_DOUBLE, 0, comm), "Bcast");
    rms_mpi_watch *w = calloc(1, sizeof *w);
    if (!w) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    w->comm = MPI_COMM_NULL;
    w->rank = rank;
    w->size = size;
    w->timeout = timeout;
    w->local_stop = stop;
    atomic_init(&w->quiet, 0);
    atomic_init(&w->quit, 0);
    atomic_init(&w->lost, -1);
    atomic_init(&w->lost_silence_ms, 0);
    atomic_init(&w->failed_rc, MPI_SUCCESS);
    w->threaded = size > 1 && level >= MPI_THREAD_MULTIPLE;
    int rc = MPI_Comm_dup(comm, &w->comm);
    if (rc != MPI_SUCCESS) {
        free(w);
        return mpi_fail(rc, "Comm_dup", err);
    }
    if (size > 1 && !w->threaded && rank == 0)
        fprintf(stderr, "rmscore: warning: the MPI library provides no MPI_THREAD_MULTIPLE (thread level %d): no "
                "heartbeats between the ranks; a rank that dies is noticed only by the launcher, and a stop request "
                "reaches the job only through the root\n", level);
    if (!w->threaded) {
        *out = w;
        return RMS_OK;
    }
    w->heard = calloc((size_t)size, sizeof *w->heard);
    w->bye = calloc((size_t)size, sizeof *w->bye);
    w->bye_out = calloc((size_t)size, sizeof *w->bye_out);
    w->out = calloc((size_t)size, sizeof *w->out);
    w->sends = malloc((size_t)size * sizeof *w->sends);
    rms_status st = RMS_OK;
    if (!w->heard || !w->bye || !w->bye_out || !w->out || !w->sends) st = rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int p = 0; st == RMS_OK && p < size; p++) {
        w->sends[p] = MPI_REQUEST_NULL;
        w->heard[p] = rms_now_seconds();
    }
    if (st == RMS_OK && pthread_create(&w->thread, NULL, watch_main, w) != 0)
        st = rms_fail(err, RMS_ERR_NOMEM, "cannot start the heartbeat thread");
    if (st != RMS_OK) {
        w->threaded = 0;
        rms_err ignored;
        rms_mpi_watch_end(w, &ignored);
        return st;
    }
    *out = w;
    return RMS_OK;
}

rms_status rms_mpi_watch_end(rms_mpi_watch *w, rms_err *err) {
    if (!w) return RMS_OK;
    if (w->threaded) {
        atomic_store(&w->quit, 1);
        pthread_join(w->thread, NULL);
    }
    const int rc = w->threaded ? atomic_load(&w->failed_rc) : MPI_SUCCESS;
    free(w->heard);
    free(w->bye);
    free(w->bye_out);
    if (!w->leak) free(w->out);
    free(w->sends);
    const int frc = w->comm != MPI_COMM_NULL ? MPI_Comm_free(&w->comm) : MPI_SUCCESS;
    free(w);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "heartbeat", err);
    if (frc != MPI_SUCCESS) return mpi_fail(frc, "Comm_free", err);
    return RMS_OK;
}

/* The flag the root's driver stops on: the job's (its own signal or a worker's), or main's without heartbeats. */
static volatile sig_atomic_t *watch_stop_flag(rms_mpi_watch *w) { return w->threaded ? &w->job_stop : w->local_stop; }

/* RMS_OK while every watched peer is alive; else an error naming the one lost. */
static rms_status watch_check(const rms_mpi_watch *w, rms_err *err) {
    if (!w || !w->threaded) return RMS_OK;
    const int rc = atomic_load(&w->failed_rc);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "heartbeat", err);
    const int p = atomic_load(&w->lost);
    if (p < 0) return RMS_OK;
    char who[96] = "";
    if (w->layout.size > 0) rms_layout_describe(&w->layout, p, 0, 0, who, sizeof who);
    return rms_fail(err, RMS_ERR_IO, "lost rank %d%s%s%s: no heartbeat for %.1f s (RMSCORE_PEER_TIMEOUT %.0f s): it "
                    "died, stopped or cannot be reached", p, who[0] ? " (" : "", who, who[0] ? ")" : "",
                    atomic_load(&w->lost_silence_ms) / 1000.0, w->timeout);
}

/* ------------------------------------------------------------------ waiting */

/* Waits for all n requests with a backing-off sleep (no busy-polling), bounded by the watch; adds the time
 * to *wait_s. On failure the requests may still be pending: the caller drops them (drop_requests). */
static rms_status wait_all(rms_mpi_watch *w, MPI_Request *reqs, int n, MPI_Status *statuses, double *wait_s,
                           rms_err *err) {
    const double t0 = rms_now_seconds();
    long nap = SLEEP_MIN_NS;
    rms_status st = RMS_OK;
    for (;;) {
        int done = 0;
        const int rc = MPI_Testall(n, reqs, &done, statuses ? statuses : MPI_STATUSES_IGNORE);
        if (rc != MPI_SUCCESS) {
            st = mpi_fail(rc, "Testall", err);
            break;
        }
        if (done || (st = watch_check(w, err)) != RMS_OK) break;
        sleep_ns(nap);
        nap = nap * 2 > SLEEP_MAX_NS ? SLEEP_MAX_NS : nap * 2;
    }
    if (wait_s) *wait_s += rms_now_seconds() - t0;
    return st;
}

/* wait_all of one request; on failure it is dropped, and *leak set if it stayed active. */
static rms_status wait_one(rms_mpi_watch *w, MPI_Request *req, MPI_Status *status, double *wait_s, int *leak,
                           rms_err *err) {
    rms_status st = wait_all(w, req, 1, status, wait_s, err);
    if (st != RMS_OK && !drop_requests(req, 1)) *leak = 1;
    return st;
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
    rms_mpi_watch *watch;
    rms_role role;
    int n_stages;
    rms_model model;
    rms_workspace ws;
    int64_t l0, l1;
    double compute_s, wait_s;
    int64_t batches, tokens;
    int leak;                 // a request could not be completed: its buffers stay allocated
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
    int64_t count = n_tok;
    if (n_seqs < 0 || n_tok < 0 || n_seqs > (INT_MAX - 1) / 2)
        return rms_fail(err, RMS_ERR_IO, "rank %d sent a malformed micro-batch header (%lld sequences, %lld tokens)",
                        c->role.prev_rank, (long long)n_seqs, (long long)n_tok);
    if (!from_root && rms_mul_i64(n_tok, c->model.config.hidden_size, &count) != 0) count = INT64_MAX;
    if (count > INT_MAX) return rms_fail(err, RMS_ERR_ARG, "a micro-batch of %lld tokens is too large for one MPI message; lower --microbatch-tokens", (long long)n_tok);
    if (!grow_bytes(&s->offsets, &s->offsets_cap, (size_t)(2 * n_seqs + 1) * sizeof(int64_t)) ||
        !grow_bytes(&s->payload, &s->payload_cap, (size_t)count * elem + 1))
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory receiving %lld tokens", (long long)n_tok);
    MPI_Request r[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    int rc = MPI_Irecv(s->offsets, (int)(2 * n_seqs + 1), MPI_INT64_T, c->role.prev_rank, TAG_OFFSETS, c->comm, &r[0]);
    if (rc == MPI_SUCCESS)
        rc = MPI_Irecv(s->payload, (int)count, from_root ? MPI_INT32_T : MPI_FLOAT, c->role.prev_rank, TAG_PAYLOAD,
                       c->comm, &r[1]);
    rms_status st = rc != MPI_SUCCESS ? mpi_fail(rc, "Irecv", err) : wait_all(c->watch, r, 2, NULL, &c->wait_s, err);
    if (st != RMS_OK && !drop_requests(r, 2)) c->leak = 1;
    return st;
}

/* Sends s's result downstream (hidden states to the next stage, or scores to the root). */
static rms_status stage_send(stage_ctx *c, slot *s, const float *out, size_t count, rms_err *err) {
    const int last = c->role.stage == c->n_stages - 1;
    const int64_t n_seqs = s->hdr[HDR_SEQS];
    if (count > INT_MAX)
        return rms_fail(err, RMS_ERR_ARG, "a micro-batch is too large for one MPI message; lower --microbatch-tokens");
    if (last) {
        MPI_CHECK(MPI_Isend(s->hdr, HDR_LEN, MPI_INT64_T, 0, TAG_RESULT, c->comm, &s->sends[0]), "Isend");
        MPI_CHECK(MPI_Isend(out, (int)count, MPI_FLOAT, 0, TAG_RESULT_SCORES, c->comm, &s->sends[1]), "Isend");
        return RMS_OK;
    }
    const int next = c->role.next_rank;
    MPI_CHECK(MPI_Isend(s->hdr, HDR_LEN, MPI_INT64_T, next, TAG_HEADER, c->comm, &s->sends[0]), "Isend");
    MPI_CHECK(MPI_Isend(s->offsets, (int)(2 * n_seqs + 1), MPI_INT64_T, next, TAG_OFFSETS, c->comm, &s->sends[1]), "Isend");
    MPI_CHECK(MPI_Isend(out, (int)count, MPI_FLOAT, next, TAG_PAYLOAD, c->comm, &s->sends[2]), "Isend");
    return RMS_OK;
}

/* Receives, computes and passes on micro-batches until the stop message, which it passes on too (the root
 * counts the last stages' stops). A stop request on this rank is the watch's business (it tells the root). */
static rms_status stage_loop(stage_ctx *c, rms_err *err) {
    slot *slots = calloc(2, sizeof *slots); // on the heap: leaked, not popped, if a request stays pending
    if (!slots) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) slots[i].sends[k] = MPI_REQUEST_NULL;
    const int last = c->role.stage == c->n_stages - 1;
    rms_status st = RMS_OK;
    int cur = 0;
    MPI_Request hdr_req = MPI_REQUEST_NULL, stop_req = MPI_REQUEST_NULL;
    int rc = MPI_Irecv(slots[cur].hdr, HDR_LEN, MPI_INT64_T, c->role.prev_rank, TAG_HEADER, c->comm, &hdr_req);
    if (rc != MPI_SUCCESS) st = mpi_fail(rc, "Irecv", err);
    while (st == RMS_OK) {
        slot *s = &slots[cur];
        if ((st = wait_all(c->watch, &hdr_req, 1, NULL, &c->wait_s, err)) != RMS_OK) break;
        if (s->hdr[HDR_KIND] == KIND_STOP) break;
        if (s->hdr[HDR_KIND] != KIND_DATA) {
            st = rms_fail(err, RMS_ERR_IO, "rank %d sent an unknown message (kind %lld)", c->role.prev_rank,
                          (long long)s->hdr[HDR_KIND]);
            break;
        }
        if ((st = stage_recv_body(c, s, err)) != RMS_OK) break;
        // the other slot takes the next header while this batch computes (its sends must be done)
        slot *o = &slots[1 - cur];
        if ((st = wait_all(c->watch, o->sends, 3, NULL, &c->wait_s, err)) != RMS_OK) break;
        rc = MPI_Irecv(o->hdr, HDR_LEN, MPI_INT64_T, c->role.prev_rank, TAG_HEADER, c->comm, &hdr_req);
        if (rc != MPI_SUCCESS) {
            st = mpi_fail(rc, "Irecv", err);
            break;
        }
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
    // drain: finish the sends, then pass the stop on
    for (int i = 0; st == RMS_OK && i < 2; i++) st = wait_all(c->watch, slots[i].sends, 3, NULL, &c->wait_s, err);
    static const int64_t stop_hdr[HDR_LEN] = {KIND_STOP, -1, 0, 0};
    if (st == RMS_OK) {
        rc = MPI_Isend(stop_hdr, HDR_LEN, MPI_INT64_T, last ? 0 : c->role.next_rank, last ? TAG_RESULT : TAG_HEADER,
                       c->comm, &stop_req);
        st = rc != MPI_SUCCESS ? mpi_fail(rc, "Isend", err) : wait_all(c->watch, &stop_req, 1, NULL, &c->wait_s, err);
    }
    // on failure, nothing may be freed under a pending request
    if (st != RMS_OK) {
        MPI_Request pending[8] = {hdr_req, stop_req};
        for (int i = 0; i < 2; i++) memcpy(pending + 2 + 3 * i, slots[i].sends, sizeof slots[i].sends);
        if (!drop_requests(pending, 8)) c->leak = 1;
    }
    for (int i = 0; i < 2 && !c->leak; i++) {
        free(slots[i].offsets);
        free(slots[i].payload);
        free(slots[i].scores);
        free(slots[i].hidden);
    }
    if (!c->leak) free(slots);
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
    rms_mpi_watch *watch;
    rms_layout layout;
    int depth;                // per replica
    flight *flights;          // (replicas * depth)
    int n_flights;
    int *in_flight;           // (replicas)
    float *scores; size_t scores_cap; // (n_seqs) of the batch just collected
    int64_t hdr[HDR_LEN];     // the last result header received
    double wait_s;
    int finished;             // root_finish completed: every pipeline drained and stopped
    int leak;                 // a request could not be completed: its buffers stay allocated
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
    // a free flight's sends completed when it was collected (root_collect waits for them)
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
    f->used = 1; // from the first Isend on, its buffers are in MPI's hands (root_free drops them)
    f->replica = rep;
    x->in_flight[rep]++;
    MPI_CHECK(MPI_Isend(f->hdr, HDR_LEN, MPI_INT64_T, dest, TAG_HEADER, x->comm, &f->sends[0]), "Isend");
    MPI_CHECK(MPI_Isend(f->offsets, (int)(2 * w->n_seqs + 1), MPI_INT64_T, dest, TAG_OFFSETS, x->comm, &f->sends[1]), "Isend");
    MPI_CHECK(MPI_Isend(f->ids, (int)n_tok, MPI_INT32_T, dest, TAG_PAYLOAD, x->comm, &f->sends[2]), "Isend");
    return RMS_OK;
}

/* Waits for the next result header from any last stage into x->hdr. */
static rms_status root_next_header(mpi_executor *x, MPI_Status *status, rms_err *err) {
    MPI_Request req = MPI_REQUEST_NULL;
    MPI_CHECK(MPI_Irecv(x->hdr, HDR_LEN, MPI_INT64_T, MPI_ANY_SOURCE, TAG_RESULT, x->comm, &req), "Irecv");
    return wait_one(x->watch, &req, status, &x->wait_s, &x->leak, err);
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
    if (!grow_bytes((void **)&x->scores, &x->scores_cap, (size_t)n_seqs * sizeof *x->scores + 1))
        return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    MPI_Request req = MPI_REQUEST_NULL;
    MPI_CHECK(MPI_Irecv(x->scores, (int)n_seqs, MPI_FLOAT, status.MPI_SOURCE, TAG_RESULT_SCORES, x->comm, &req), "Irecv");
    if ((st = wait_one(x->watch, &req, MPI_STATUS_IGNORE, &x->wait_s, &x->leak, err)) != RMS_OK) return st;
    if ((st = wait_all(x->watch, f->sends, 3, NULL, &x->wait_s, err)) != RMS_OK) return st; // root_free drops them
    *batch = f->hdr[HDR_BATCH];
    *scores = x->scores;
    x->in_flight[f->replica]--;
    f->used = 0;
    return RMS_OK;
}

/* End of data (after the last collect, also after a stop request): stops every replica and waits until each
 * pipeline has drained. */
static rms_status root_finish(void *self, rms_err *err) {
    mpi_executor *x = self;
    static const int64_t stop_hdr[HDR_LEN] = {KIND_STOP, -1, 0, 0};
    const int R = x->layout.replicas;
    MPI_Request *reqs = malloc((size_t)R * sizeof *reqs);
    if (!reqs) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    for (int rep = 0; rep < R; rep++) reqs[rep] = MPI_REQUEST_NULL;
    rms_status st = RMS_OK;
    for (int rep = 0; rep < R && st == RMS_OK; rep++) {
        const int rc = MPI_Isend(stop_hdr, HDR_LEN, MPI_INT64_T, rms_layout_rank(&x->layout, rep, 0), TAG_HEADER,
                                 x->comm, &reqs[rep]);
        if (rc != MPI_SUCCESS) st = mpi_fail(rc, "Isend", err);
    }
    if (st == RMS_OK) st = wait_all(x->watch, reqs, R, NULL, &x->wait_s, err);
    if (st != RMS_OK && !drop_requests(reqs, R)) x->leak = 1;
    free(reqs);
    for (int stops = 0; st == RMS_OK && stops < R;) {
        MPI_Status status;
        if ((st = root_next_header(x, &status, err)) != RMS_OK) break;
        if (x->hdr[HDR_KIND] != KIND_STOP)
            st = rms_fail(err, RMS_ERR_IO, "rank %d sent scores after the end of data", status.MPI_SOURCE);
        stops++;
    }
    x->finished = st == RMS_OK;
    return st;
}

static rms_status root_init(mpi_executor *x, MPI_Comm comm, rms_mpi_watch *w, const rms_layout *l, rms_executor *ex,
                            rms_err *err) {
    memset(x, 0, sizeof *x);
    x->comm = comm;
    x->watch = w;
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

/* Drops what is still pending and frees the buffers; returns 1 when a request stayed active: then the buffers
 * (and x itself) are left allocated. */
static int root_free(mpi_executor *x) {
    if (x->flights) { // every flight's pending sends dropped together
        MPI_Request *all = malloc((size_t)x->n_flights * 3 * sizeof *all);
        if (!all) x->leak = 1; // cannot drop them: keep everything
        for (int i = 0; all && i < x->n_flights; i++)
            memcpy(all + 3 * i, x->flights[i].sends, sizeof x->flights[i].sends);
        if (all && !drop_requests(all, 3 * x->n_flights)) x->leak = 1;
        free(all);
    }
    if (x->leak) return 1;
    for (int i = 0; x->flights && i < x->n_flights; i++) {
        free(x->flights[i].offsets);
        free(x->flights[i].ids);
    }
    free(x->flights);
    free(x->scores);
    free(x->in_flight);
    return 0;
}

/* ------------------------------------------------------------------ job */

/* A collective started on every rank, waited for under the watch; on failure it is dropped. */
static rms_status wait_collective(rms_mpi_watch *w, MPI_Request *req, int rc, const char *what, double *wait_s,
                                  int *leak, rms_err *err) {
    if (rc != MPI_SUCCESS) return mpi_fail(rc, what, err);
    return wait_one(w, req, MPI_STATUS_IGNORE, wait_s, leak, err);
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Threads per worker: --threads, else this rank's CPUs; when ranks are not pinned (each sees the whole
 * node), the node's CPUs shared among the node's workers (counted by host name, all ranks taking part). */
static rms_status worker_threads(MPI_Comm comm, rms_mpi_watch *w, const rms_score_opts *o, int is_worker,
                                 const char *host, int64_t *threads, int64_t *workers_on_node, int *leak, rms_err *err) {
    int rank, size;
    MPI_CHECK(MPI_Comm_rank(comm, &rank), "Comm_rank");
    MPI_CHECK(MPI_Comm_size(comm, &size), "Comm_size");
    uint64_t mine[2] = {fnv1a(host), (uint64_t)is_worker}, *all = malloc((size_t)size * sizeof mine);
    if (!all) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    MPI_Request req = MPI_REQUEST_NULL;
    rms_status st = wait_collective(w, &req, MPI_Iallgather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, comm, &req),
                                    "Iallgather", NULL, leak, err);
    int64_t local_workers = 0;
    for (int q = 0; st == RMS_OK && q < size; q++) local_workers += all[2 * q] == mine[0] && all[2 * q + 1];
    if (!*leak) free(all);
    if (st != RMS_OK) return st;
    *workers_on_node = local_workers > 0 ? local_workers : 1;
    if (o->threads > 0) *threads = o->threads;
    else if (getenv("SLURM_CPUS_PER_TASK")) *threads = rms_default_threads();
    else {
        const long online = sysconf(_SC_NPROCESSORS_ONLN);
        const int cpus = rms_available_cpus();
        const int64_t share = (int64_t)cpus / (local_workers > 0 ? local_workers : 1);
        *threads = cpus < online ? cpus : share > 0 ? share : 1; // fewer CPUs than online: pinned by the launcher
    }
    return RMS_OK;
}

/* The one start line of a rank: who, where, what it does, the CPUs it may run on and its threads. */
static void log_start(const rms_layout *l, int rank, const char *host, int64_t l0, int64_t l1, int64_t threads,
                      int heartbeat) {
    char role[96], cpus[256];
    rms_layout_describe(l, rank, l0, l1, role, sizeof role);
    cpu_set_t set;
    unsigned char on[CPU_SETSIZE];
    int n = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (n = 0; n < CPU_SETSIZE; n++) on[n] = CPU_ISSET(n, &set) != 0;
    rms_cpu_list_format(on, n, cpus, sizeof cpus);
    char line[512];
    if (rank == 0)
        snprintf(line, sizeof line, "rmscore: score: rank %d on %s (pid %ld): %s; CPUs %s; threads: main%s (the root "
                 "does not compute)\n", rank, host, (long)getpid(), role, cpus, heartbeat ? " + heartbeat" : "");
    else
        snprintf(line, sizeof line, "rmscore: score: rank %d on %s (pid %ld): %s; CPUs %s; threads: %lld compute%s\n",
                 rank, host, (long)getpid(), role, cpus, (long long)threads, heartbeat ? " + heartbeat" : "");
    fputs(line, stderr);
}

static rms_status print_summary(MPI_Comm comm, rms_mpi_watch *w, const rms_layout *l, const double *mine, double wall,
                                int *leak, rms_err *err) {
    int rank;
    MPI_CHECK(MPI_Comm_rank(comm, &rank), "Comm_rank");
    double *all = rank == 0 ? malloc(sizeof(double) * N_STATS * (size_t)l->size) : NULL;
    if (rank == 0 && !all) return rms_fail(err, RMS_ERR_NOMEM, "out of memory"); // the others wait: main aborts
    MPI_Request req = MPI_REQUEST_NULL;
    const int rc = MPI_Igather(mine, N_STATS, MPI_DOUBLE, all, N_STATS, MPI_DOUBLE, 0, comm, &req);
    rms_status st = wait_collective(w, &req, rc, "Igather", NULL, leak, err);
    if (st == RMS_OK && rank == 0) {
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
    if (!*leak) free(all);
    return st;
}

/* All ranks agree on start-up: *lowest gets the lowest failing rank, or -1. */
static rms_status agree(MPI_Comm comm, rms_mpi_watch *w, int rank, rms_status st, int *lowest, int *leak, rms_err *err) {
    static int mine, min; // static: a dropped request may leave them in MPI's hands
    mine = st == RMS_OK ? INT_MAX : rank;
    min = INT_MAX;
    MPI_Request req = MPI_REQUEST_NULL;
    rms_status cst = wait_collective(w, &req, MPI_Iallreduce(&mine, &min, 1, MPI_INT, MPI_MIN, comm, &req),
                                     "Iallreduce", NULL, leak, err);
    *lowest = min == INT_MAX ? -1 : min;
    return cst;
}

/* A stage: its layers, its memory need against what its node lets it use (before any weight is touched), its
 * slice of the model. */
static rms_status setup_stage(stage_ctx *c, const rms_score_opts *o, const rms_layout *l, int rank, int64_t threads,
                              int64_t workers_on_node, const int64_t batch[2], rms_err *err) {
    rms_config cfg;
    rms_status st = rms_config_load(&cfg, o->model, err);
    if (st == RMS_OK)
        st = rms_layout_stage_layers(cfg.n_layers, l->stages, o->layer_split.v, o->layer_split.n, c->role.stage,
                                     &c->l0, &c->l1, err);
    // batch[0]: the most tokens of a micro-batch of this run (the budget, or one longer pair), batch[1]: its longest
    // sequence, from the root's plan (bcast_batch_sizes); activations in flight between stages: the one received and
    // the one sent
    if (st == RMS_OK) {
        // the hidden states of a micro-batch go to the next stage as one MPI message of at most INT_MAX floats
        int64_t floats;
        if (l->stages > 1 && (rms_mul_i64(batch[0], cfg.hidden_size, &floats) != 0 || floats > INT_MAX))
            st = rms_fail(err, RMS_ERR_USAGE, "a micro-batch of %lld tokens of hidden size %lld is more than one MPI "
                          "message holds (%d floats); lower --microbatch-tokens or --max-tokens", (long long)batch[0],
                          (long long)cfg.hidden_size, INT_MAX);
    }
    if (st == RMS_OK) {
        rms_mem_need need;
        rms_preflight_need(&cfg, c->l0, c->l1, batch[0], batch[1], (int)threads, 2, &need);
        char what[64], who[96];
        snprintf(what, sizeof what, "stage %d (layers %lld-%lld)", c->role.stage, (long long)c->l0, (long long)c->l1 - 1);
        snprintf(who, sizeof who, "rank %d: %s", rank, what);
        if (!o->quiet) rms_preflight_log(&need, workers_on_node, who);
        st = rms_preflight_check(&need, workers_on_node, what, err); // its error gets "rank N ..." in front
    }
    if (st == RMS_OK) st = rms_model_load(&c->model, o->model, c->l0, c->l1, err);
    rms_workspace_init(&c->ws, (rms_compute)o->compute);
    return st;
}

/* The root's largest micro-batch and longest sequence (rms_preflight_largest_batch, rms_preflight_longest) to every
 * rank, for the stages' memory pre-flight; {-1, -1} when the root could not open the job. */
static rms_status bcast_batch_sizes(MPI_Comm comm, rms_mpi_watch *w, const rms_score_job *job, int64_t out[2],
                                    int *leak, rms_err *err) {
    static int64_t sizes[2]; // static: a dropped request may leave it in MPI's hands
    sizes[0] = job ? rms_preflight_largest_batch(job) : -1;
    sizes[1] = job ? rms_preflight_longest(job) : -1;
    MPI_Request req = MPI_REQUEST_NULL;
    const rms_status st = wait_collective(w, &req, MPI_Ibcast(sizes, 2, MPI_INT64_T, 0, comm, &req), "Ibcast", NULL,
                                          leak, err);
    out[0] = sizes[0];
    out[1] = sizes[1];
    return st;
}

rms_status rms_mpi_bcast_score_opts(MPI_Comm comm, rms_mpi_watch *w, rms_status *st, rms_score_opts *o, rms_err *err) {
    static int code; // static: a dropped request may leave it in MPI's hands
    code = (int)*st;
    int leak = 0;
    MPI_Request req = MPI_REQUEST_NULL;
    rms_status cst = wait_collective(w, &req, MPI_Ibcast(&code, 1, MPI_INT, 0, comm, &req), "Ibcast", NULL, &leak, err);
    if (cst != RMS_OK) return cst;
    if (code == RMS_OK)
        cst = wait_collective(w, &req, MPI_Ibcast(o, (int)sizeof *o, MPI_BYTE, 0, comm, &req), "Ibcast", NULL, &leak, err);
    else
        cst = wait_collective(w, &req, MPI_Ibcast(err->msg, (int)sizeof err->msg, MPI_CHAR, 0, comm, &req), "Ibcast",
                              NULL, &leak, err);
    if (cst != RMS_OK) return cst; // o and err belong to main, which aborts: never freed before the process ends
    err->msg[sizeof err->msg - 1] = '\0';
    *st = (rms_status)code;
    return RMS_OK;
}

/* A status that ends the job as a failure (not done, stopped on request, done with bad rows under --strict). */
static int job_failed(rms_status st) { return st != RMS_OK && st != RMS_INTERRUPTED && st != RMS_BAD_ROWS; }

rms_status rms_mpi_score(MPI_Comm comm, rms_mpi_watch *w, const rms_score_opts *o, int *collective, rms_err *err) {
    *collective = 0; // until every rank is known to have reached the same point
    int rank, size, host_len = 0, leak = 0;
    char host[MPI_MAX_PROCESSOR_NAME + 1] = "";
    MPI_CHECK(MPI_Comm_rank(comm, &rank), "Comm_rank");
    MPI_CHECK(MPI_Comm_size(comm, &size), "Comm_size");
    MPI_CHECK(MPI_Get_processor_name(host, &host_len), "Get_processor_name");
    rms_layout l;
    rms_status st = rms_layout_make(size, (int)o->stages, &l, err);
    if (st != RMS_OK) { // every rank has the same options: the root reports
        *collective = 1;
        return rank == 0 ? st : RMS_ERR_PEER;
    }
    w->layout = l;
    atomic_store(&w->quiet, o->quiet);
    const rms_role role = rms_layout_role(&l, rank);
    char who[32];
    snprintf(who, sizeof who, "rank %d (%s)", rank, role.is_root ? "root" : "pipeline stage");
    int64_t threads = 1, workers_on_node = 1;
    if ((st = worker_threads(comm, w, o, !role.is_root, host, &threads, &workers_on_node, &leak, err)) != RMS_OK)
        return rms_fail_prefix(err, st, "%s", who);
    rms_score_job job;
    rms_executor ex;
    stage_ctx stage;
    memset(&job, 0, sizeof job);
    memset(&stage, 0, sizeof stage);
    // on the heap: its receive buffers must outlive this call if a request stays pending (then leaked)
    mpi_executor *root = calloc(1, sizeof *root);
    if (!root) return rms_fail(err, RMS_ERR_NOMEM, "%s: out of memory", who);
    stage.comm = comm;
    stage.watch = w;
    stage.role = role;
    stage.n_stages = l.stages;
    const double t0 = rms_now_seconds();
    if (role.is_root) {
        st = rms_score_job_open(&job, o, l.stages, l.replicas, err);
        if (st == RMS_OK) st = root_init(root, comm, w, &l, &ex, err);
        if (st == RMS_OK && !o->quiet) {
            char engine[192];
            rms_engine_describe(engine, sizeof engine, o->compute == RMS_COMPUTE_BF16);
            fprintf(stderr, "rmscore: score: MPI: %d ranks = root + %d replica(s) x %d stage(s), %lld thread(s) per "
                    "worker, %s\n", size, l.replicas, l.stages, (long long)threads, engine);
            if (w->threaded)
                fprintf(stderr, "rmscore: score: MPI: heartbeats every %.0f s between the root and every worker; a "
                        "peer silent for %.0f s counts as lost\n", RMS_HEARTBEAT_S, w->timeout);
        }
    } else {
        st = rms_engine_start((int)threads, err);
    }
    int64_t batch[2];
    const rms_status sst = bcast_batch_sizes(comm, w, role.is_root && st == RMS_OK ? &job : NULL, batch, &leak, err);
    if (sst != RMS_OK) { // this rank cannot know what the others do: it fails alone
        rms_err cerr;
        if (role.is_root) rms_score_job_close(&job, &st, &cerr); // err keeps the lost collective's message
        return rms_fail_prefix(err, sst, "%s", who);
    }
    if (!role.is_root && st == RMS_OK)
        st = batch[0] < 1 ? RMS_ERR_PEER // the root failed: it reports
                          : setup_stage(&stage, o, &l, rank, threads, workers_on_node, batch, err);
    if (!o->quiet) log_start(&l, rank, host, stage.l0, stage.l1, threads, w->threaded);
    int failed = -1;
    const rms_status ast = agree(comm, w, rank, st, &failed, &leak, err);
    if (ast != RMS_OK) { // this rank cannot know what the others do: it fails alone
        if (role.is_root) rms_score_job_close(&job, &st, err);
        st = rms_fail_prefix(err, ast, "%s", who);
    } else if (failed >= 0) { // every rank knows: the lowest failing rank reports, the others stop quietly
        *collective = 1;
        if (role.is_root) rms_score_job_close(&job, &st, err);
        if (rank == failed) rms_fail_prefix(err, st, "%s", who);
        else st = RMS_ERR_PEER;
    } else {
        // from here on, a failure is this rank's alone (main aborts) until every pipeline has drained
        st = role.is_root ? rms_score_run(&job, &ex, watch_stop_flag(w), err) : stage_loop(&stage, err);
        if (role.is_root) { // as the single-process run: the closing summary, then the files closed
            rms_progress_summary(&job, st, rms_status_exit_code(st), rms_now_seconds() - t0);
            rms_score_job_close(&job, &st, err);
        }
        if (job_failed(st)) rms_fail_prefix(err, st, "%s", who);
        if (role.is_root ? root->finished : st == RMS_OK) {
            // every pipeline drained (and the root's files are closed): the root tells every rank how the job
            // ended, and the workers end alike (exit status 3 everywhere after a stop request)
            static int code; // static: a dropped request may leave it in MPI's hands
            code = (int)st;
            MPI_Request req = MPI_REQUEST_NULL;
            const int rc = MPI_Ibcast(&code, 1, MPI_INT, 0, comm, &req);
            const rms_status bst = wait_collective(w, &req, rc, "Ibcast", NULL, &leak, err);
            if (bst != RMS_OK) {
                st = rms_fail_prefix(err, bst, "%s", who);
            } else {
                *collective = 1;
                if (!role.is_root) {
                    st = job_failed((rms_status)code) ? RMS_ERR_PEER : (rms_status)code;
                    err->msg[0] = '\0';
                }
            }
        }
    }
    // the job ended (done, stopped, done with bad rows) and every pipeline drained: all ranks are here and can
    // gather the per-rank table
    if (*collective && !job_failed(st) && !o->quiet) {
        rms_memstat mem;
        rms_memstat_read(&mem);
        const double stats[N_STATS] = {role.is_root ? 0.0 : stage.compute_s, role.is_root ? root->wait_s : stage.wait_s,
                                       (double)stage.batches, (double)stage.tokens, rms_cpu_seconds(), (double)stage.l0,
                                       (double)stage.l1, (double)mem.peak_rss_kb};
        rms_err serr;
        if (print_summary(comm, w, &l, stats, rms_now_seconds() - t0, &leak, &serr) != RMS_OK) {
            *err = serr;
            st = rms_fail_prefix(err, RMS_ERR_IO, "%s", who);
            *collective = 0;
        } else if (role.is_root && (st == RMS_OK || st == RMS_BAD_ROWS)) {
            fprintf(stderr, "rmscore: score: wrote %s in %.1f s\n", o->out, rms_now_seconds() - t0);
        }
    }
    root->leak |= leak;
    if (!root_free(root)) free(root); // drops what is still pending first
    rms_workspace_free(&stage.ws);
    rms_model_free(&stage.model);
    return st;
}
