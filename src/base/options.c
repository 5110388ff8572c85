/* options.c — declarative command-line options (see options.h). */
#include "src/base/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define USAGE_COLUMN 30 /* where option help starts in the usage text */

static void *field(const rms_opt *o, void *target) { return (char *)target + o->offset; }

rms_status rms_parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out, rms_err *err) {
    char *end = NULL;
    errno = 0;
    const long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return rms_fail(err, RMS_ERR_USAGE, "%s: '%s' is not an integer", opt, s);
    if (v < lo || v > hi)
        return rms_fail(err, RMS_ERR_USAGE, "%s: %lld is outside [%lld, %lld]", opt, v, (long long)lo, (long long)hi);
    *out = v;
    return RMS_OK;
}

/* The index of text among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *text) {
    const size_t len = strlen(text);
    int i = 0;
    for (const char *p = choices; p; i++) {
        const char *bar = strchr(p, '|');
        const size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, text, n) == 0) return i;
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

static void choices_text(const char *choices, char *out, size_t len) {
    size_t k = 0;
    for (const char *p = choices; *p && k + 3 < len; p++) {
        if (*p == '|') {
            out[k++] = ',';
            out[k++] = ' ';
        } else {
            out[k++] = *p;
        }
    }
    out[k] = '\0';
}

static rms_status set_int_list(const rms_opt *o, rms_int_list *list, const char *s, rms_err *err) {
    rms_int_list parsed = {0};
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        const long long v = strtoll(p, &end, 10);
        if (end == p || errno != 0 || (*end != ',' && *end != '\0') || parsed.n >= RMS_INT_LIST_MAX)
            return rms_fail(err, RMS_ERR_USAGE, "%s: '%s' is not a list of at most %d integers N,N,...", o->name, s,
                            RMS_INT_LIST_MAX);
        if (v < o->lo || v > o->hi)
            return rms_fail(err, RMS_ERR_USAGE, "%s: %lld is outside [%lld, %lld]", o->name, v, (long long)o->lo,
                            (long long)o->hi);
        parsed.v[parsed.n++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    if (parsed.n == 0) return rms_fail(err, RMS_ERR_USAGE, "%s: empty list", o->name);
    *list = parsed;
    return RMS_OK;
}

/* A decimal number of at most 7 digits (the limit RMS_SHARD_MAX has 7), nothing else: *end after it; -1 if none. */
static int64_t shard_number(const char *s, const char **end) {
    int64_t v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9' && p - s < 8) v = v * 10 + (*p++ - '0');
    *end = p;
    return p == s || p - s > 7 ? -1 : v;
}

/* "I/N", digits only, 0 <= I < N <= RMS_SHARD_MAX. */
static rms_status set_shard(const rms_opt *o, rms_shard *shard, const char *s, rms_err *err) {
    const char *end;
    const int64_t i = shard_number(s, &end);
    const int64_t n = i >= 0 && *end == '/' ? shard_number(end + 1, &end) : -1;
    if (i < 0 || n < 0 || *end != '\0' || n < 1 || i >= n || n > RMS_SHARD_MAX)
        return rms_fail(err, RMS_ERR_USAGE, "%s: '%.64s' is not I/N with 0 <= I < N <= %d", o->name, s, RMS_SHARD_MAX);
    shard->index = i;
    shard->count = n;
    return RMS_OK;
}

rms_status rms_option_set(const rms_opt *o, void *target, const char *text, rms_err *err) {
    void *f = field(o, target);
    switch (o->type) {
    case RMS_OPT_FLAG:
        if (strcmp(text, "true") == 0) *(int *)f = 1;
        else if (strcmp(text, "false") == 0) *(int *)f = 0;
        else return rms_fail(err, RMS_ERR_USAGE, "%s takes no value", o->name);
        return RMS_OK;
    case RMS_OPT_INT: {
        int64_t v;
        rms_status st = rms_parse_int(o->name, text, o->lo, o->hi, &v, err);
        if (st == RMS_OK) *(int64_t *)f = v;
        return st;
    }
    case RMS_OPT_PATH:
        if (strlen(text) >= RMS_PATH_MAX)
            return rms_fail(err, RMS_ERR_USAGE, "%s: the value is longer than %d bytes", o->name, RMS_PATH_MAX - 1);
        memcpy(f, text, strlen(text) + 1);
        return RMS_OK;
    case RMS_OPT_CHOICE: {
        const int i = choice_index(o->metavar, text);
        if (i < 0) {
            char list[256];
            choices_text(o->metavar, list, sizeof list);
            return rms_fail(err, RMS_ERR_USAGE, "%s: '%s' is not one of %s", o->name, text, list);
        }
        *(int *)f = i;
        return RMS_OK;
    }
    case RMS_OPT_INT_LIST: return set_int_list(o, f, text, err);
    case RMS_OPT_SHARD: return set_shard(o, f, text, err);
    }
    return rms_fail(err, RMS_ERR_USAGE, "%s: unknown option type", o->name);
}

void rms_options_defaults(const rms_command *cmd, void *target) {
    for (const rms_opt *o = cmd->opts; o && o->name; o++) {
        void *f = field(o, target);
        switch (o->type) {
        case RMS_OPT_FLAG:
        case RMS_OPT_CHOICE: *(int *)f = 0; break;
        case RMS_OPT_INT: *(int64_t *)f = 0; break;
        case RMS_OPT_PATH: ((char *)f)[0] = '\0'; break;
        case RMS_OPT_INT_LIST: memset(f, 0, sizeof(rms_int_list)); break;
        case RMS_OPT_SHARD: memset(f, 0, sizeof(rms_shard)); break;
        }
        if (o->value) {
            rms_err err;
            const rms_status st = rms_option_set(o, target, o->value, &err);
            RMS_ASSERT(st == RMS_OK); // a table's own default must parse
        }
    }
    if (cmd->positional == RMS_POS_ONE) ((char *)target + cmd->positional_offset)[0] = '\0';
    if (cmd->positional == RMS_POS_LIST) memset((char *)target + cmd->positional_offset, 0, sizeof(rms_arg_list));
}

void rms_option_key(const rms_opt *o, char *key, size_t len) {
    snprintf(key, len, "%s", o->name + 2);
    for (char *p = key; *p; p++)
        if (*p == '-') *p = '_';
}

const rms_opt *rms_options_lookup_key(const rms_command *cmd, const char *key) {
    for (const rms_opt *o = cmd->opts; o && o->name; o++) {
        char k[64];
        rms_option_key(o, k, sizeof k);
        if (!o->not_in_config && strcmp(k, key) == 0) return o;
    }
    return NULL;
}

/* Splits "--name=value": the option named by arg (its part before '='), or NULL. */
static const rms_opt *match(const rms_command *cmd, const char *arg, const char **inline_value) {
    *inline_value = NULL;
    const char *eq = strchr(arg, '=');
    for (const rms_opt *o = cmd->opts; o && o->name; o++) {
        const size_t n = strlen(o->name);
        if (strncmp(arg, o->name, n) != 0) continue;
        if (arg[n] == '\0') return o;
        if (eq && arg + n == eq) {
            *inline_value = eq + 1;
            return o;
        }
    }
    return NULL;
}

int rms_options_want_help(int argc, char **argv, int first) {
    for (int i = first; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    return 0;
}

static rms_status add_positional(const rms_command *cmd, void *target, const char *arg, rms_err *err) {
    void *f = (char *)target + cmd->positional_offset;
    if (cmd->positional == RMS_POS_ONE) {
        if (((char *)f)[0] != '\0')
            return rms_fail(err, RMS_ERR_USAGE, "%s: unexpected argument '%s' (see --help)", cmd->name, arg);
        if (strlen(arg) >= RMS_PATH_MAX)
            return rms_fail(err, RMS_ERR_USAGE, "%s: %s is longer than %d bytes", cmd->name, cmd->positional_name,
                            RMS_PATH_MAX - 1);
        memcpy(f, arg, strlen(arg) + 1);
        return RMS_OK;
    }
    rms_arg_list *list = f;
    const char **v = realloc(list->v, (size_t)(list->n + 1) * sizeof *v);
    if (!v) return rms_fail(err, RMS_ERR_NOMEM, "out of memory");
    v[list->n++] = arg;
    list->v = v;
    return RMS_OK;
}

static rms_status check_required(const rms_command *cmd, void *target, rms_err *err) {
    for (const rms_opt *o = cmd->opts; o && o->name; o++) {
        if (!o->required) continue;
        const int missing = (o->type == RMS_OPT_PATH && ((char *)field(o, target))[0] == '\0');
        if (missing)
            return rms_fail(err, RMS_ERR_USAGE, "%s: %s %s is required (see --help)", cmd->name, o->name,
                            o->metavar ? o->metavar : "");
    }
    if (cmd->positional == RMS_POS_ONE && ((char *)target + cmd->positional_offset)[0] == '\0')
        return rms_fail(err, RMS_ERR_USAGE, "%s: %s is required (see --help)", cmd->name, cmd->positional_name);
    if (cmd->positional == RMS_POS_LIST && ((rms_arg_list *)((char *)target + cmd->positional_offset))->n == 0)
        return rms_fail(err, RMS_ERR_USAGE, "%s: at least one %s is required (see --help)", cmd->name,
                        cmd->positional_name);
    return RMS_OK;
}

rms_status rms_options_parse_over(const rms_command *cmd, int argc, char **argv, int first, void *target,
                                  rms_err *err) {
    if (rms_options_want_help(argc, argv, first)) return RMS_HELP;
    for (int i = first; i < argc; i++) {
        const char *arg = argv[i], *value;
        const rms_opt *o = match(cmd, arg, &value);
        if (!o) {
            if (arg[0] == '-' && arg[1] != '\0')
                return rms_fail(err, RMS_ERR_USAGE, "%s: unknown option '%s' (see --help)", cmd->name, arg);
            if (cmd->positional == RMS_POS_NONE)
                return rms_fail(err, RMS_ERR_USAGE, "%s: unexpected argument '%s' (see --help)", cmd->name, arg);
            rms_status st = add_positional(cmd, target, arg, err);
            if (st != RMS_OK) return st;
            continue;
        }
        if (o->type == RMS_OPT_FLAG) {
            if (value) return rms_fail(err, RMS_ERR_USAGE, "%s takes no value", o->name);
            *(int *)field(o, target) = 1;
            continue;
        }
        if (!value) {
            if (i + 1 >= argc) return rms_fail(err, RMS_ERR_USAGE, "option %s needs a value", o->name);
            value = argv[++i];
        }
        rms_status st = rms_option_set(o, target, value, err);
        if (st != RMS_OK) return st;
    }
    return check_required(cmd, target, err);
}

rms_status rms_options_parse(const rms_command *cmd, int argc, char **argv, int first, void *target, rms_err *err) {
    rms_options_defaults(cmd, target);
    return rms_options_parse_over(cmd, argc, argv, first, target, err);
}

const char *rms_options_find(int argc, char **argv, int first, const char *name) {
    const char *found = NULL;
    const size_t n = strlen(name);
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], name) == 0 && i + 1 < argc) found = argv[++i];
        else if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') found = argv[i] + n + 1;
    }
    return found;
}

/* One option's line(s) of the usage text: name and metavar, then the help from USAGE_COLUMN on. */
static void usage_option(const rms_opt *o, FILE *out) {
    char head[128];
    snprintf(head, sizeof head, "  %s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
    fputs(head, out);
    int col = (int)strlen(head);
    if (col >= USAGE_COLUMN) {
        fputc('\n', out);
        col = 0;
    }
    for (const char *h = o->help ? o->help : "";;) {
        const char *nl = strchr(h, '\n');
        const int n = nl ? (int)(nl - h) : (int)strlen(h);
        fprintf(out, "%*s%.*s", USAGE_COLUMN - col, "", n, h);
        if (!nl) break;
        fputc('\n', out);
        col = 0;
        h = nl + 1;
    }
    if (o->required) fputs(" (required)", out);
    else if (o->shown) fprintf(out, " (default: %s)", o->shown);
    else if (o->value) fprintf(out, " (default %s)", o->value);
    fputc('\n', out);
}

void rms_options_usage(const rms_command *cmd, FILE *out) {
    fprintf(out, "%s\n", cmd->synopsis);
    if (cmd->about) fprintf(out, "\n%s\n", cmd->about);
    if (cmd->opts && cmd->opts->name) fputs("\noptions:\n", out);
    for (const rms_opt *o = cmd->opts; o && o->name; o++) usage_option(o, out);
    fprintf(out, "  -h, --help%*sthis help\n", USAGE_COLUMN - 12, "");
    if (cmd->epilog) fprintf(out, "\n%s\n", cmd->epilog);
}

void rms_options_free(const rms_command *cmd, void *target) {
    if (cmd->positional != RMS_POS_LIST) return;
    rms_arg_list *list = (rms_arg_list *)((char *)target + cmd->positional_offset);
    free(list->v);
    list->v = NULL;
    list->n = 0;
}
