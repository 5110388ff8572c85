/* main.c — the rmscore command line: picks the subcommand, sets up what the process needs (signal
 * handlers, MPI for `score`), and is the only place that prints errors, calls
 * MPI_Abort and chooses the exit status (0 done, 1 error, 2 usage, 3 interrupted and resumable, 4 done with
 * bad input rows under --strict).
 * See README.md and ARCHITECTURE.md. */
#define _GNU_SOURCE
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/h5util.h"
#include "mpi/layout.h"
#include "mpi/pipeline.h"
#include "src/base/outstream.h"
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
    {"compare", &RMS_CMD_COMPARE, rms_cmd_compare, "two models' scores of the same pairs: accuracy, McNemar, agreement"},
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
          "Exit status: 0 done, 1 error, 2 usage, 3 interrupted or stopped before a deadline (score: rerun the same\n"
          "command to resume), 4 done but rows are bad input or non-finite (score --strict).\n"
          "Environment: RMSCORE_KERNEL=auto|avx512|avx2|generic (the matrix kernels; unset or auto: the best\n"
          "this CPU runs that passes its start-up self-test).\n", out);
}

/* Prints what a command's final status calls for and returns the exit status. Standard output is closed here
 * (what is still buffered written out): a command whose data or usage could not be written fails with "writing
 * standard output: <OS error>" (a full disk, /dev/full, a file-size limit), unless it failed before. */
static int finish(rms_status st, const rms_command *spec, rms_err *err) {
    if (st == RMS_HELP) rms_options_usage(spec, stdout);
    rms_err out_err;
    if (rms_out_close(stdout, "standard output", &out_err) != RMS_OK &&
        (st == RMS_OK || st == RMS_HELP || st == RMS_BAD_ROWS)) {
        st = RMS_ERR_IO;
        *err = out_err;
    }
    if (st != RMS_OK && st != RMS_HELP && st != RMS_ERR_PEER) fprintf(stderr, "rmscore: error: %s\n", err->msg);
    return rms_status_exit_code(st);
}

#define EXIT_GRACE_S 1 // seconds a rank of an MPI job waits after MPI_Finalize before exiting non-zero (run_score)

/* The signal that asked to stop (0: none). Set by the handler only; read by the score driver and, under MPI, by
 * the heartbeat thread (mpi/pipeline.h), which carries a worker's request to the root. */
static volatile sig_atomic_t stop_requested = 0;

static void on_stop_signal(int sig) {
    if (!stop_requested) stop_requested = sig;
}

/* SIGINT/SIGTERM (Ctrl-C, Slurm's time limit or preemption, scancel --signal) and SIGUSR1/SIGUSR2 (what mpirun and
 * srun forward to every rank: mpirun turns its own SIGTERM into a kill of the job, srun its SIGTERM into SIGKILL)
 * ask long jobs to stop after the work in flight is saved. SA_RESTART: file and MPI system calls resume. */
static void install_stop_handlers(void) {
    static const int sigs[] = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaddset(&sa.sa_mask, sigs[i]);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

/* MPI's text for error code rc (before MPI_Finalize). */
static const char *mpi_text(int rc, char *buf, int cap) {
    int len = 0;
    if (MPI_Error_string(rc, buf, &len) != MPI_SUCCESS) snprintf(buf, (size_t)cap, "MPI error code %d", rc);
    return buf;
}

/* score: single process, or one rank of an MPI job. Under MPI only rank 0 reads argv and the run config;
 * every rank gets the result from it. Only here does the job end: MPI_Abort when a rank failed alone (so
 * no rank waits on it), a normal finalize when all ranks know the outcome.
 * Thread level: rmscore asks for MPI_THREAD_MULTIPLE, for the heartbeat thread of each rank (it calls MPI
 * while the main thread does); the compute threads never call MPI. MPI_THREAD_FUNNELED is the least it
 * runs with (then without heartbeats: mpi/pipeline.h). */
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
    int provided = 0, rank = 0, size = 1, rc;
    char msg[MPI_MAX_ERROR_STRING];
    if ((rc = MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided)) != MPI_SUCCESS) {
        fprintf(stderr, "rmscore: error: MPI_Init_thread failed (MPI error code %d)\n", rc);
        return 1;
    }
    MPI_Comm comm = MPI_COMM_NULL;
    rms_mpi_watch *watch = NULL;
    if ((rc = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)) != MPI_SUCCESS ||
        (rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm)) != MPI_SUCCESS || (rc = MPI_Comm_rank(comm, &rank)) != MPI_SUCCESS ||
        (rc = MPI_Comm_size(comm, &size)) != MPI_SUCCESS) {
        fprintf(stderr, "rmscore: error: MPI set-up failed: %s\n", mpi_text(rc, msg, sizeof msg));
        MPI_Abort(MPI_COMM_WORLD, 1);
        return 1;
    }
    rms_status st = RMS_OK;
    if (provided < MPI_THREAD_FUNNELED)
        st = rms_fail(&err, RMS_ERR_UNSUPPORTED, "the MPI library provides thread level %d, less than "
                      "MPI_THREAD_FUNNELED (%d), which rmscore needs", provided, MPI_THREAD_FUNNELED);
    int collective = 1, from_root = 0;
    if (st == RMS_OK) st = rms_mpi_watch_start(comm, provided, &stop_requested, &watch, &err);
    if (st != RMS_OK) { // this rank alone knows
        collective = 0;
    } else {
        if (rank == 0) {
            st = rms_score_opts_parse(argc, argv, &o, &err);
            rms_layout layout; // does the launch fit the stages? (checked here so that every rank exits alike)
            if (st == RMS_OK && size > 1) st = rms_layout_make(size, (int)o.stages, &layout, &err);
        }
        const rms_status bst = rms_mpi_bcast_score_opts(comm, watch, &st, &o, &err);
        if (bst != RMS_OK) { // the broadcast itself failed: this rank cannot know what the others do
            st = bst;
            collective = 0;
        } else if (st == RMS_OK) {
            if (size == 1) st = rms_cmd_score_local(&o, &stop_requested, &err);
            else st = rms_mpi_score(comm, watch, &o, &collective, &err);
        } else {
            from_root = 1; // rank 0's usage or error: it prints it, every rank exits alike
        }
    }
    // the root prints the job's end; a worker that ends alike (stopped on request, done with bad rows under --strict,
    // or a peer's failure) is quiet
    const int quiet = rank != 0 && (from_root || st == RMS_INTERRUPTED || st == RMS_BAD_ROWS);
    const int code = quiet ? rms_status_exit_code(st) : finish(st, &RMS_CMD_SCORE, &err);
    if (st != RMS_OK && st != RMS_HELP && !collective) {
        fflush(stderr);
        MPI_Abort(comm != MPI_COMM_NULL ? comm : MPI_COMM_WORLD, code);
    }
    // the job's outcome is settled (files closed): a failure from here on is reported, the exit status stays
    rms_err end_err = {{0}};
    if (rms_mpi_watch_end(watch, &end_err) != RMS_OK) fprintf(stderr, "rmscore: warning: %s\n", end_err.msg);
    if ((rc = MPI_Comm_free(&comm)) != MPI_SUCCESS)
        fprintf(stderr, "rmscore: warning: MPI Comm_free failed: %s\n", mpi_text(rc, msg, sizeof msg));
    if ((rc = MPI_Finalize()) != MPI_SUCCESS) // no MPI_Error_string after MPI_Finalize
        fprintf(stderr, "rmscore: warning: MPI_Finalize failed (MPI error code %d)\n", rc);
    // Every rank ends with the same non-zero status (3 after a stop request): mpirun ends the job as soon as one
    // process exits non-zero, and a rank still finishing MPI_Finalize then waits for mpirun's kill (it is given 2 s,
    // then SIGKILL). So each rank lingers a moment after MPI_Finalize before exiting non-zero: by the time the
    // first exits, the others are past MPI_Finalize too, and every rank exits with the status itself.
    if (code != 0 && size > 1) {
        const struct timespec grace = {EXIT_GRACE_S, 0};
        nanosleep(&grace, NULL);
    }
    return code;
}

int main(int argc, char **argv) {
    // A write past the file-size limit (ulimit -f) fails with EFBIG and takes the error path, instead of SIGXFSZ
    // killing the process (with a core dump) before it can say which file and remove what it half wrote.
    signal(SIGXFSZ, SIG_IGN);
    rms_h5_process_init();
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage_main(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : finish(RMS_OK, NULL, &(rms_err){{0}});
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("rmscore %s\n", RMSCORE_VERSION);
        return finish(RMS_OK, NULL, &(rms_err){{0}});
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
