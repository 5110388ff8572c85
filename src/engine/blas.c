#define _GNU_SOURCE
#include "src/engine/blas.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Declared by OpenBLAS (cblas.h of some builds lacks the prototypes). */
char *openblas_get_corename(void);
void openblas_set_num_threads(int num_threads);

const char *rms_blas_corename(void) {
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}

int rms_blas_core_rank(const char *name) {
    static const char *const order[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                        "Sandybridge", "Haswell", "Zen", "SkylakeX", "Cooperlake",
                                        "SapphireRapids"};
    if (!name) return 0;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (strcasecmp(name, order[i]) == 0) return (int)i + 1;
    return 0;
}

const char *rms_blas_best_core_for_cpu(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512cd");
    if (avx512 && __builtin_cpu_supports("avx512bf16")) return "Cooperlake";
    if (avx512) return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

int rms_blas_core_plan(const char *policy, const char *env_core, int already_restarted, const char **core_out) {
    *core_out = NULL;
    if (already_restarted) return 0;
    if (policy && *policy && strcasecmp(policy, "keep") == 0) return 0;
    if (policy && *policy && strcasecmp(policy, "auto") != 0) {
        if (strcasecmp(policy, rms_blas_corename()) == 0) return 0;
        *core_out = policy;
        return 1;
    }
    const int explicit_auto = policy && strcasecmp(policy, "auto") == 0;
    if (!explicit_auto && env_core && *env_core) return 0; // the environment chose a core: keep it
    const char *best = rms_blas_best_core_for_cpu();
    if (!best) return 0;
    if (rms_blas_core_rank(rms_blas_corename()) >= rms_blas_core_rank(best)) return 0;
    *core_out = best;
    return 1;
}

void rms_blas_set_threads(int n) { openblas_set_num_threads(n > 0 ? n : 1); }

int rms_available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

#define RESTART_ENV "RMSCORE_BLAS_RESTARTED"

void rms_blas_restart_if_slow(char **argv) {
    const char *core = NULL;
    if (!rms_blas_core_plan(getenv("RMSCORE_BLAS_CORE"), getenv("OPENBLAS_CORETYPE"), getenv(RESTART_ENV) != NULL, &core))
        return;
    setenv(RESTART_ENV, rms_blas_corename(), 1);
    setenv("OPENBLAS_CORETYPE", core, 1);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "rmscore: warning: could not restart with OPENBLAS_CORETYPE=%s; using %s kernels\n", core,
            rms_blas_corename());
}

const char *rms_blas_restarted_from(void) { return getenv(RESTART_ENV); }
