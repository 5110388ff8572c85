/* cli.h — small helpers for parsing subcommand options ("--name value" or "--name=value").
 * No allocation: values point into argv. */
#ifndef RMS_CLI_H
#define RMS_CLI_H

#include <stdint.h>

#include "src/base/status.h"

typedef struct rms_cli {
    int argc;
    char **argv;
    int i;             /* next argument to read */
    const char *value; /* value of the option just matched */
} rms_cli;

void rms_cli_init(rms_cli *c, int argc, char **argv, int first);
/* 1 while arguments remain. */
int rms_cli_more(const rms_cli *c);
/* The current argument (for error messages). */
const char *rms_cli_current(const rms_cli *c);
/* If the current argument is option `name` (e.g. "--model"), consumes it and its value (stored in
 * c->value) and returns 1; a missing value is an error (returns -1 and fills err). Else returns 0. */
int rms_cli_option(rms_cli *c, const char *name, rms_err *err);
/* If the current argument is the flag `name`, consumes it and returns 1; else 0. */
int rms_cli_flag(rms_cli *c, const char *name);

/* Parses an integer option value in [lo, hi]. */
rms_status rms_cli_parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out, rms_err *err);

#endif
