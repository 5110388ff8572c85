/* commands.h — the subcommands of rmscore, one file each under src/cli/ (cmd_<name>.c). Each command
 * has an option table (RMS_CMD_<NAME>, src/base/options.h) that gives its usage text, and a function
 * that parses argv (argv[1] is the command's name), does the work and returns a status with a one-line
 * message in err. RMS_HELP means --help was given: main prints the usage. Only main prints errors,
 * calls MPI_Abort and chooses the exit status (rms_status_exit_code).
 */
#ifndef RMS_COMMANDS_H
#define RMS_COMMANDS_H

#include <signal.h>

#include "src/base/options.h"
#include "src/base/status.h"
#include "src/job/score_job.h"

typedef rms_status (*rms_cmd_fn)(int argc, char **argv, rms_err *err);

extern const rms_command RMS_CMD_MAKE_TEST_MODEL, RMS_CMD_SCORE_IDS, RMS_CMD_TOKENIZE, RMS_CMD_RENDER,
    RMS_CMD_PREPARE, RMS_CMD_SCORE, RMS_CMD_REPORT, RMS_CMD_EXPORT, RMS_CMD_MERGE, RMS_CMD_COMPARE;

/* The --template choices of render and prepare ("auto", "tulu", "llama3"), indexed by the option's value. */
extern const char *const RMS_TEMPLATE_CHOICES[];

rms_status rms_cmd_make_test_model(int argc, char **argv, rms_err *err);
rms_status rms_cmd_score_ids(int argc, char **argv, rms_err *err);
rms_status rms_cmd_tokenize(int argc, char **argv, rms_err *err);
rms_status rms_cmd_render(int argc, char **argv, rms_err *err);
rms_status rms_cmd_prepare(int argc, char **argv, rms_err *err);
rms_status rms_cmd_report(int argc, char **argv, rms_err *err);
rms_status rms_cmd_export(int argc, char **argv, rms_err *err);
rms_status rms_cmd_merge(int argc, char **argv, rms_err *err);
rms_status rms_cmd_compare(int argc, char **argv, rms_err *err);

/* score: the options from argv and the run config (--config FILE first, the command line over it).
 * Under MPI only rank 0 calls this and broadcasts the result (mpi/pipeline.h). */
rms_status rms_score_opts_parse(int argc, char **argv, rms_score_opts *o, rms_err *err);
/* score in this process alone (no MPI). `stop` is set by SIGINT/SIGTERM: the job stops after the batch in
 * flight is written and returns RMS_INTERRUPTED. */
rms_status rms_cmd_score_local(const rms_score_opts *o, volatile sig_atomic_t *stop, rms_err *err);

#endif
