/* layout.h — who does what in an MPI scoring job: pure functions, no MPI calls (unit-tested). A layout
 * that does not fit the launch or the model is the user's to fix: RMS_ERR_USAGE (exit status 2).
 *
 * Rank 0 is the root (reads the dataset, schedules, writes results; it does not compute). Ranks
 * 1..size-1 are workers forming R replicas of P stages: worker w = rank - 1 is stage w % P of replica
 * w / P, so a replica's stages are consecutive ranks (neighbours on a node when ranks are packed).
 * Stage s holds a contiguous slice of the decoder layers; stage 0 also the embedding, stage P-1 the
 * final norm and score head.
 */
#ifndef RMS_LAYOUT_H
#define RMS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "src/base/status.h"

typedef struct rms_layout {
    int size;      /* MPI ranks */
    int stages;    /* P */
    int replicas;  /* R = (size - 1) / P */
} rms_layout;

typedef struct rms_role {
    int is_root;
    int replica, stage;      /* workers only */
    int prev_rank, next_rank; /* upstream / downstream rank (the root for stage 0 / the last stage) */
} rms_role;

/* Checks size >= 2 and (size - 1) % stages == 0 with a message saying what would fit. */
rms_status rms_layout_make(int size, int stages, rms_layout *out, rms_err *err);
rms_role rms_layout_role(const rms_layout *l, int rank);
/* The rank of stage `stage` of replica `replica`. */
int rms_layout_rank(const rms_layout *l, int replica, int stage);

/* Layers [*l0, *l1) of `stage`: split[] (n_split == stages, summing to n_layers) if given, else
 * balanced (the first n_layers % stages stages get one more). Every stage needs at least one layer. */
rms_status rms_layout_stage_layers(int64_t n_layers, int stages, const int64_t *split, int64_t n_split, int stage,
                                   int64_t *l0, int64_t *l1, rms_err *err);

/* The role of `rank` for the logs: "root", or "replica R stage S: layers A-B" (A-B the stage's layers [l0, l1),
 * inclusive; without them when l1 <= l0, as before they are known). Cut to fit cap (> 0). */
void rms_layout_describe(const rms_layout *l, int rank, int64_t l0, int64_t l1, char *buf, size_t cap);

/* A CPU set as a compact list, as taskset and Slurm print it: on[c] != 0 for the n CPUs c -> "0-3,8"
 * ("none" when empty). A list that does not fit cap (> 0) ends with "...". */
void rms_cpu_list_format(const unsigned char *on, int n, char *buf, size_t cap);

/* RMSCORE_PEER_TIMEOUT's value: seconds in (0, 86400], a decimal number ("20", "2.5"). NULL or "" leaves
 * *seconds as it is. Returns 0, or -1 (and leaves *seconds) for anything else. */
int rms_peer_timeout_parse(const char *text, double *seconds);

#endif
