/* commands.h — the subcommands (make-test-model, score-ids, tokenize, render, prepare, score, report,
 * export, merge). Each parses its own
 * options from argv (argv[1] is the subcommand), does the work, and returns a status with a one-line
 * message in err; main prints it and exits. --help prints usage to stdout and exits 0.
 * `stop` (score only) points to a flag set by SIGINT/SIGTERM: the job stops after the micro-batch in
 * flight is written. */
#ifndef RMS_COMMANDS_H
#define RMS_COMMANDS_H

#include <signal.h>

#include "src/base/status.h"

rms_status rms_cmd_make_test_model(int argc, char **argv, rms_err *err);
rms_status rms_cmd_score_ids(int argc, char **argv, rms_err *err);
rms_status rms_cmd_tokenize(int argc, char **argv, rms_err *err);
rms_status rms_cmd_render(int argc, char **argv, rms_err *err);
rms_status rms_cmd_prepare(int argc, char **argv, rms_err *err);
rms_status rms_cmd_score(int argc, char **argv, volatile sig_atomic_t *stop, rms_err *err);
rms_status rms_cmd_report(int argc, char **argv, rms_err *err);
rms_status rms_cmd_export(int argc, char **argv, rms_err *err);
rms_status rms_cmd_merge(int argc, char **argv, rms_err *err);

#endif
