/* bench-args.h — what the C benchmark programs share: "--name N" arguments. Header-only (static). */
#ifndef RMS_BENCH_ARGS_H
#define RMS_BENCH_ARGS_H

#include <stdlib.h>
#include <string.h>

/* The value after --name in argv, or dflt. */
static long arg_value(int argc, char **argv, const char *name, long dflt) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return strtol(argv[i + 1], NULL, 10);
    return dflt;
}

#endif
