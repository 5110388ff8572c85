#define _GNU_SOURCE
#include "src/engine/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include <stdatomic.h>
#include <stdlib.h>

/* One job at a time: the caller publishes it under the lock, bumps `generation`, works on it itself
 * and waits until every worker has left it. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_t *workers;
    int n_threads;      // including the caller
    uint64_t generation; // bumped for every job (and for shutdown)
    int stop;
    int busy;           // workers still inside the current job
    rms_task_fn fn;
    void *ctx;
    int64_t n_tasks;
    atomic_llong next;  // next task index to claim
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 1, 0, 0, 0,
          NULL, NULL, 0, 0};

int rms_parallel_threads(void) { return pool.n_threads; }

static _Thread_local int in_task; // this thread is inside a task: nested runs go inline

static void work(int thread) {
    in_task = 1;
    for (;;) {
        const long long t = atomic_fetch_add(&pool.next, 1);
        if (t >= pool.n_tasks) break;
        pool.fn(pool.ctx, t, thread);
    }
    in_task = 0;
}

static void *worker_main(void *arg) {
    const int thread = (int)(intptr_t)arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.generation == seen && !pool.stop) pthread_cond_wait(&pool.wake, &pool.lock);
        if (pool.stop) break;
        seen = pool.generation;
        pthread_mutex_unlock(&pool.lock);
        work(thread);
        pthread_mutex_lock(&pool.lock);
        if (--pool.busy == 0) pthread_cond_signal(&pool.done);
    }
    pthread_mutex_unlock(&pool.lock);
    return NULL;
}

void rms_parallel_free(void) {
    if (!pool.workers) return;
    pthread_mutex_lock(&pool.lock);
    pool.stop = 1;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    for (int i = 1; i < pool.n_threads; i++) pthread_join(pool.workers[i - 1], NULL);
    free(pool.workers);
    pool.workers = NULL;
    pool.n_threads = 1;
    pool.stop = 0;
}

rms_status rms_parallel_init(int n, rms_err *err) {
    rms_parallel_free();
    if (n <= 1) return RMS_OK;
    pool.workers = calloc((size_t)n - 1, sizeof *pool.workers);
    if (!pool.workers) return rms_fail(err, RMS_ERR_NOMEM, "out of memory for %d threads", n);
    for (int i = 1; i < n; i++) {
        if (pthread_create(&pool.workers[i - 1], NULL, worker_main, (void *)(intptr_t)i) != 0) {
            pool.n_threads = i; // join the ones that started
            rms_parallel_free();
            return rms_fail(err, RMS_ERR_IO, "cannot start compute thread %d of %d", i, n);
        }
        pool.n_threads = i + 1;
    }
    return RMS_OK;
}

void rms_parallel_run(int64_t n_tasks, rms_task_fn fn, void *ctx) {
    if (n_tasks <= 0) return;
    if (pool.n_threads == 1 || n_tasks == 1 || in_task) {
        for (int64_t t = 0; t < n_tasks; t++) fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n_tasks = n_tasks;
    atomic_store(&pool.next, 0);
    pool.busy = pool.n_threads - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    work(0);
    pthread_mutex_lock(&pool.lock);
    while (pool.busy > 0) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

int rms_available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
