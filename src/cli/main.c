/* main.c — the rmscore command line: picks the subcommand, sets up what the process needs (signal
 * handlers, MPI for `score`), and is the only place that prints errors, calls
 * MPI_Abort and chooses the exit status (0 done, 1 error, 2 usage, 3 interrupted and resumable).
 * See README.md and ARCHITECTURE.md. */
#define _GNU_SOURCE
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/layout.h"
#include "mpi/pipeline.h"
#include "src/base/status.h"
#include "src/cli/commands.h"

static const struct {
    const char *name;
    const rms_command *spec;
    rms_cmd_fn run; // NULL: score (set up here, with MPI)
    const char *what;
} COMMANDS[] = {
    {"make-test-model", &RMS_CMD_MAKE_TEST_MODEL, rms_cmd_make_test_model,
     "write a random-weight checkpoint in the Hugging Face layout"},
    {"score-ids", &RMS_CMD_SCORE_IDS, rms_cmd_score_ids, "score token-id sequences read from stdin (single process)"},
    {"tokenize", &RMS_CMD_TOKENIZE, rms_cmd_tokenize, "text (JSON strings) to token ids, as Hugging Face tokenizers"},
    {"render", &RMS_CMD_RENDER, rms_cmd_render,
     "conversations to token ids through the chat template, as apply_chat_template"},
    {"prepare", &RMS_CMD_PREPARE, rms_cmd_prepare, "preference JSONL -> HDF5 dataset (rendered + tokenized pairs)"},
    {"score", &RMS_CMD_SCORE, NULL, "score a prepared dataset -> HDF5 results (incremental, resumable)"},
    {"report", &RMS_CMD_REPORT, rms_cmd_report, "accuracy overall and per source, margins"},
    {"export", &RMS_CMD_EXPORT, rms_cmd_export, "scores as JSONL or CSV"},
    {"merge", &RMS_CMD_MERGE, rms_cmd_merge, "combine the results of dataset shards (score --shard I/N) into one file"},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void usage_main(FILE *out) {
    fputs("usage: rmscore <command> [options]\n"
          "\n"
          "Scores preference pairs with a Llama-3.1 reward model (LlamaForSequenceClassification).\n"
          "\n"
          "commands:\n", out);
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-17s %s\n", COMMANDS[i].name, COMMANDS[i].what);
    fputs("\n"
          "Run 'rmscore <command> --help' for the options of a command.\n"
          "Exit status: 0 done, 1 error, 2 usage, 3 interrupted (score: rerun the same command to resume).\n"
          "Environment: RMSCORE_KERNEL=auto|avx512|avx2|generic (the matrix kernels; unset or auto: the best\n"
          "this CPU runs that passes its start-up self-test).\n", out);
}

/* Prints what a command's final status calls for and returns the exit status. */
static int finish(rms_status st, const rms_command *spec, const rms_err *err) {
    if (st == RMS_HELP) rms_options_usage(spec, stdout);
    else if (st != RMS_OK && st != RMS_ERR_PEER) fprintf(stderr, "rmscore: error: %s\n", err->msg);
    return rms_status_exit_code(st);
}

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

/* score: single process, or one rank of an MPI job. Under MPI only rank 0 reads argv and the run config;
 * every rank gets the result from it. Only here does the job end: MPI_Abort when a rank failed alone (so
 * no rank waits forever on it), a normal finalize when all ranks know the outcome. */
static int run_score(int argc, char **argv) {
    static rms_score_opts o; // a few pages: kept off the stack
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
        rms_status st = rms_score_opts_parse(argc, argv, &o, &err);
        if (st == RMS_OK) st = rms_cmd_score_local(&o, &stop_requested, &err);
        return finish(st, &RMS_CMD_SCORE, &err);
    }
    int provided = 0, rank = 0, size = 1;
    if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "rmscore: error: MPI_Init_thread failed\n");
        return 1;
    }
    MPI_Comm comm;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    rms_status st = RMS_OK;
    if (rank == 0) {
        st = rms_score_opts_parse(argc, argv, &o, &err);
        rms_layout layout; // does the launch fit the stages? (checked here so that every rank exits alike)
        if (st == RMS_OK && size > 1) st = rms_layout_make(size, (int)o.stages, &layout, &err);
        if (st == RMS_OK && provided < MPI_THREAD_FUNNELED)
            st = rms_fail(&err, RMS_ERR_UNSUPPORTED, "the MPI library provides no MPI_THREAD_FUNNELED support");
    }
    int collective = 1, from_root = 0;
    const rms_status bst = rms_mpi_bcast_score_opts(comm, &st, &o, &err);
    if (bst != RMS_OK) { // the broadcast itself failed: this rank cannot know what the others do
        st = bst;
        collective = 0;
    } else if (st == RMS_OK) {
        if (size == 1) st = rms_cmd_score_local(&o, &stop_requested, &err);
        else st = rms_mpi_score(comm, &o, &stop_requested, &collective, &err);
    } else {
        from_root = 1; // rank 0's usage or error: it prints it, every rank exits alike
    }
    const int code = from_root && rank != 0 ? rms_status_exit_code(st) : finish(st, &RMS_CMD_SCORE, &err);
    if (st != RMS_OK && st != RMS_HELP && !collective) {
        fflush(stderr);
        MPI_Abort(comm, code);
    }
    MPI_Comm_free(&comm);
    MPI_Finalize();
    return code;
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage_main(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("rmscore %s\n", RMSCORE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], COMMANDS[i].name) != 0) continue;
        if (!COMMANDS[i].run) return run_score(argc, argv);
        rms_err err = {{0}};
        return finish(COMMANDS[i].run(argc, argv, &err), COMMANDS[i].spec, &err);
    }
    fprintf(stderr, "rmscore: error: unknown command '%s' (see rmscore --help)\n", argv[1]);
    return 2;
}
