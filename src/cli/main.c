/* main.c — the rmscore command line: picks the subcommand, sets up what the process needs (OpenBLAS
 * kernels, signal handlers, MPI for `score`), and is the only place that prints errors, calls
 * MPI_Abort and chooses the exit status. See README.md and ../shared/design.md for the contract. */
#define _GNU_SOURCE
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/pipeline.h"
#include "src/engine/blas.h"
#include "src/cli/commands.h"
#include "src/base/status.h"

static const char *const usage_main =
    "usage: rmscore <command> [options]\n"
    "\n"
    "Scores preference pairs with a Llama-3.1 reward model (LlamaForSequenceClassification).\n"
    "\n"
    "commands:\n"
    "  make-test-model   write a random-weight checkpoint in the Hugging Face layout\n"
    "  score-ids         score token-id sequences read from stdin (single process)\n"
    "  tokenize          text (JSON strings) to token ids, as Hugging Face tokenizers\n"
    "  render            conversations to token ids through the chat template, as apply_chat_template\n"
    "  prepare           preference JSONL -> HDF5 dataset (rendered + tokenized pairs)\n"
    "  score             score a prepared dataset -> HDF5 results (incremental, resumable)\n"
    "  report            accuracy overall and per source, margins\n"
    "  export            scores as JSONL or CSV\n"
    "  merge             combine the results of dataset shards (score --shard I/N) into one file\n"
    "\n"
    "Run 'rmscore <command> --help' for the options of a command.\n"
    "Environment: RMSCORE_BLAS_CORE=auto|keep|<OpenBLAS core> (default auto: pick the fastest\n"
    "OpenBLAS kernels this CPU supports when the library's own detection falls short).\n";

static volatile sig_atomic_t stop_requested = 0;

static void on_stop_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

/* SIGINT/SIGTERM (Ctrl-C, Slurm's time limit or preemption) ask long jobs to stop after the work in
 * flight is saved. */
static void install_stop_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* score: single process, or one rank of an MPI job. Only here does the job end: MPI_Abort when a rank
 * failed alone (so no rank waits forever on it), a normal finalize when all ranks agreed on the failure. */
static int run_score(int argc, char **argv) {
    rms_err err = {{0}};
    install_stop_handlers();
    if (!rms_mpi_launched()) {
        // srun sets SLURM_STEP_NUM_TASKS in its tasks (not in the batch script itself)
        const char *ntasks = getenv("SLURM_STEP_NUM_TASKS");
        if (ntasks && atoi(ntasks) > 1) {
            fprintf(stderr, "rmscore: error: started by srun as one of %s tasks without MPI (PMI/PMIx); use srun "
                            "--mpi=pmix or mpirun\n", ntasks);
            return 1;
        }
        const rms_status st = rms_cmd_score(argc, argv, &stop_requested, &err);
        if (st == RMS_OK) return 0;
        fprintf(stderr, "rmscore: error: %s\n", err.msg);
        return stop_requested ? 3 : 1;
    }
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm comm;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    int size;
    MPI_Comm_size(comm, &size);
    rms_status st;
    int collective = 1;
    if (size == 1)
        st = rms_cmd_score(argc, argv, &stop_requested, &err);
    else
        st = rms_mpi_score(comm, argc, argv, &stop_requested, &collective, &err);
    if (st != RMS_OK && st != RMS_ERR_PEER) fprintf(stderr, "rmscore: error: %s\n", err.msg);
    if (st != RMS_OK && !collective) {
        fflush(stderr);
        MPI_Abort(comm, 1);
    }
    MPI_Comm_free(&comm);
    MPI_Finalize();
    if (st == RMS_OK) return 0;
    return stop_requested ? 3 : 1;
}

int main(int argc, char **argv) {
    rms_blas_restart_if_slow(argv);
    rms_err err = {{0}};
    rms_status st;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("rmscore %s\n", RMSCORE_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "make-test-model") == 0)
        st = rms_cmd_make_test_model(argc, argv, &err);
    else if (strcmp(argv[1], "score-ids") == 0)
        st = rms_cmd_score_ids(argc, argv, &err);
    else if (strcmp(argv[1], "tokenize") == 0)
        st = rms_cmd_tokenize(argc, argv, &err);
    else if (strcmp(argv[1], "render") == 0)
        st = rms_cmd_render(argc, argv, &err);
    else if (strcmp(argv[1], "prepare") == 0)
        st = rms_cmd_prepare(argc, argv, &err);
    else if (strcmp(argv[1], "score") == 0)
        return run_score(argc, argv);
    else if (strcmp(argv[1], "report") == 0)
        st = rms_cmd_report(argc, argv, &err);
    else if (strcmp(argv[1], "export") == 0)
        st = rms_cmd_export(argc, argv, &err);
    else if (strcmp(argv[1], "merge") == 0)
        st = rms_cmd_merge(argc, argv, &err);
    else
        st = rms_fail(&err, RMS_ERR_ARG, "unknown command '%s' (see rmscore --help)", argv[1]);
    if (st != RMS_OK) {
        fprintf(stderr, "rmscore: error: %s\n", err.msg);
        return 1;
    }
    return 0;
}
