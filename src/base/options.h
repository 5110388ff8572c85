/* options.h — declarative command-line options. Each command describes its options once, in a table
 * (name, type, range, default, help, where the value goes); from that table come the usage text
 * (rms_options_usage), the argv parser (rms_options_parse) and the JSON run-config reader
 * (io/run_config.h, keys = long options with '_' for '-'). An option therefore exists in one place.
 *
 *   typedef struct my_opts { char model[RMS_PATH_MAX]; int64_t threads; int quiet; } my_opts;
 *   static const rms_opt MY_OPTS[] = {
 *       {"--model", RMS_OPT_PATH, "DIR", offsetof(my_opts, model), .required = 1, .help = "checkpoint"},
 *       {"--threads", RMS_OPT_INT, "N", offsetof(my_opts, threads), .lo = 1, .hi = 1024, .help = "..."},
 *       {"--quiet", RMS_OPT_FLAG, NULL, offsetof(my_opts, quiet), .help = "no progress"},
 *       {0}};
 *   static const rms_command MY_CMD = {"mine", "usage: rmscore mine --model DIR", "What it does.", MY_OPTS};
 *   st = rms_options_parse(&MY_CMD, argc, argv, 2, &o, err);   // RMS_HELP: print rms_options_usage
 *
 * Values land in a plain struct the caller owns (strings are copied into fixed buffers, so the struct can
 * be copied or sent to other MPI ranks as bytes); only positional lists (RMS_POS_LIST) point into argv
 * and own an array freed by rms_options_free. Errors are RMS_ERR_USAGE with a one-line message naming the
 * option. Nothing here prints or exits.
 */
#ifndef RMS_OPTIONS_H
#define RMS_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "src/base/status.h"

#define RMS_PATH_MAX 4096     /* bytes of a string option, NUL included; a longer value is an error */
#define RMS_INT_LIST_MAX 256  /* entries of an RMS_OPT_INT_LIST */

typedef enum rms_opt_type {
    RMS_OPT_FLAG,     /* --name            -> int, set to 1 (a run config's false sets 0) */
    RMS_OPT_INT,      /* --name N          -> int64_t in [lo, hi] */
    RMS_OPT_PATH,     /* --name TEXT       -> char[RMS_PATH_MAX] */
    RMS_OPT_CHOICE,   /* --name a|b        -> int: index of the value in metavar "a|b" */
    RMS_OPT_INT_LIST, /* --name N,N,...    -> rms_int_list, entries in [lo, hi] */
    RMS_OPT_SHARD,    /* --name I/N        -> rms_shard with 0 <= I < N */
} rms_opt_type;

typedef struct rms_int_list {
    int64_t n;
    int64_t v[RMS_INT_LIST_MAX];
} rms_int_list;

#define RMS_SHARD_MAX 1048576 /* N of --shard I/N: at most 2^20 shards (a Slurm array holds at most 4M tasks, clusters
                                 cap it far lower; with at most 2^32 rows, I * rows / N stays within int64_t) */

typedef struct rms_shard {
    int64_t index, count; /* count 0: not set */
} rms_shard;

typedef struct rms_opt {
    const char *name;     /* "--model"; a table ends with an entry whose name is NULL */
    rms_opt_type type;
    const char *metavar;  /* "DIR", "N"; for RMS_OPT_CHOICE the choices, "fp32|bf16" */
    size_t offset;        /* offsetof(the options struct, field) */
    int64_t lo, hi;       /* range of RMS_OPT_INT and of each RMS_OPT_INT_LIST entry */
    int required;         /* must be given (on the command line or in the run config) */
    int not_in_config;    /* not a run-config key (e.g. --config itself) */
    const char *value;    /* default, as command-line text parsed into the field at start; NULL: zero */
    const char *shown;    /* default as the usage shows it when it is not `value` ("CPUs available") */
    const char *help;     /* one or more lines separated by '\n' */
} rms_opt;

typedef enum rms_positional {
    RMS_POS_NONE = 0,     /* no positional arguments */
    RMS_POS_ONE,          /* exactly one: char[RMS_PATH_MAX] at positional_offset */
    RMS_POS_LIST,         /* one or more: rms_arg_list at positional_offset (pointers into argv) */
} rms_positional;

typedef struct rms_arg_list {
    const char **v; /* (n) owned array; strings borrowed from argv */
    int n;
} rms_arg_list;

typedef struct rms_command {
    const char *name;       /* "score" */
    const char *synopsis;   /* "usage: rmscore score --model DIR ..." */
    const char *about;      /* paragraphs shown after the synopsis */
    const rms_opt *opts;    /* table ending with {0} */
    rms_positional positional;
    size_t positional_offset;
    const char *positional_name; /* "scores.h5" (for messages) */
    const char *epilog;     /* shown after the options, or NULL */
} rms_command;

/* Sets every option of the table to its default (`value` parsed, else zero). */
void rms_options_defaults(const rms_command *cmd, void *target);

/* 1 if -h or --help is among argv[first..argc). */
int rms_options_want_help(int argc, char **argv, int first);

/* Parses argv[first..argc) into target (defaults are set first). Later options override earlier ones;
 * `--name=value` and `--name value` are both accepted. -h/--help anywhere returns RMS_HELP at once.
 * Checks required options at the end unless skip_required. */
rms_status rms_options_parse(const rms_command *cmd, int argc, char **argv, int first, void *target, rms_err *err);

/* Like rms_options_parse but onto values already in target (no defaults), e.g. after a run config. */
rms_status rms_options_parse_over(const rms_command *cmd, int argc, char **argv, int first, void *target,
                                  rms_err *err);

/* The value of option `name` in argv[first..argc) (the last one given), or NULL. */
const char *rms_options_find(int argc, char **argv, int first, const char *name);

/* The option of cmd whose run-config key is `key` ("max_tokens"), or NULL. */
const rms_opt *rms_options_lookup_key(const rms_command *cmd, const char *key);

/* Sets one option from its command-line text ("8192", "a|b" choice, "1/4", "8,8,8,8"; flags: "true" or
 * "false"). Errors name the option. */
rms_status rms_option_set(const rms_opt *o, void *target, const char *text, rms_err *err);

/* The run-config key of an option: name without "--", '-' as '_' ("max_tokens"). */
void rms_option_key(const rms_opt *o, char *key, size_t len);

/* Writes the usage text: synopsis, about, one line per option with its default, epilog. */
void rms_options_usage(const rms_command *cmd, FILE *out);

/* Frees what parsing allocated (positional lists). Safe on a zeroed or partly parsed target. */
void rms_options_free(const rms_command *cmd, void *target);

/* Parses a whole decimal integer in [lo, hi]; opt names it in messages. */
rms_status rms_parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out, rms_err *err);

#endif
