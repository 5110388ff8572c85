/* replay.c — runs a fuzz target (tests/fuzz/fuzz-<name>.c) without libFuzzer: calls LLVMFuzzerInitialize (if the
 * target has one) and then LLVMFuzzerTestOneInput once on every regular file of each argument (a file, or a
 * directory read one level deep, in name order). A missing argument is skipped with a note, so a target without
 * committed regressions still replays its corpus; arguments starting with '-' (libFuzzer's flags) are skipped. A
 * crash is the test failing (the sanitizers of the build report it); otherwise prints how many inputs ran and exits 0.
 *
 *     replay-<name> tests/fuzz/regressions/<name> build/test-tmp/fuzz-corpus/<name>
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        fclose(f);
        return -1;
    }
    size_t n = (size_t)sb.st_size;
    uint8_t *buf = malloc(n ? n : 1); // (n) an exact-size buffer: ASan sees any read past the input
    if (!buf || (n && fread(buf, 1, n, f) != n)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    if (getenv("RMS_REPLAY_VERBOSE")) fprintf(stderr, "replay: %s\n", path);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

int main(int argc, char **argv) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    long ran = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (argv[i][0] == '-') continue; // a libFuzzer flag (a target's LLVMFuzzerInitialize may add some)
        if (stat(argv[i], &sb) != 0) {
            fprintf(stderr, "replay: %s: absent, skipped\n", argv[i]);
            continue;
        }
        if (!S_ISDIR(sb.st_mode)) {
            if (run_file(argv[i]) == 0) ran++;
            else failed++;
            continue;
        }
        struct dirent **list;
        int n = scandir(argv[i], &list, NULL, by_name);
        if (n < 0) {
            perror(argv[i]);
            return 1;
        }
        for (int k = 0; k < n; k++) {
            char p[8192];
            const int len = snprintf(p, sizeof p, "%s/%s", argv[i], list[k]->d_name);
            if (len >= (int)sizeof p) {
                fprintf(stderr, "replay: %s/%s: path too long\n", argv[i], list[k]->d_name);
                failed++;
            } else if (list[k]->d_name[0] != '.' && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
                if (run_file(p) == 0) ran++;
                else failed++;
            }
            free(list[k]);
        }
        free(list);
    }
    fprintf(stderr, "replay: %ld inputs ran, %ld unreadable\n", ran, failed); // stdout may be a target's sink
    return failed ? 1 : 0;
}
