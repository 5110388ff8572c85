#include "src/base/argv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void rms_cli_init(rms_cli *c, int argc, char **argv, int first) {
    c->argc = argc;
    c->argv = argv;
    c->i = first;
    c->value = NULL;
}

int rms_cli_more(const rms_cli *c) { return c->i < c->argc; }

const char *rms_cli_current(const rms_cli *c) { return c->i < c->argc ? c->argv[c->i] : ""; }

int rms_cli_option(rms_cli *c, const char *name, rms_err *err) {
    const char *arg = c->argv[c->i];
    const size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0) return 0;
    if (arg[len] == '=') {
        c->value = arg + len + 1;
        c->i++;
        return 1;
    }
    if (arg[len] != '\0') return 0;
    if (c->i + 1 >= c->argc) {
        rms_fail(err, RMS_ERR_ARG, "option %s needs a value", name);
        return -1;
    }
    c->value = c->argv[c->i + 1];
    c->i += 2;
    return 1;
}

int rms_cli_flag(rms_cli *c, const char *name) {
    if (strcmp(c->argv[c->i], name) != 0) return 0;
    c->i++;
    return 1;
}

rms_status rms_cli_parse_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out, rms_err *err) {
    char *end = NULL;
    errno = 0;
    const long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return rms_fail(err, RMS_ERR_ARG, "%s: '%s' is not an integer", opt, s);
    if (v < lo || v > hi)
        return rms_fail(err, RMS_ERR_ARG, "%s: %lld is outside [%lld, %lld]", opt, v, (long long)lo, (long long)hi);
    *out = v;
    return RMS_OK;
}
