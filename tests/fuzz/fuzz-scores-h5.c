/* fuzz-scores-h5.c — a mutated scores file (io/scores_h5.h) opened as `report`, `export` and `merge` open it (the
 * commands themselves, stdout sent to /dev/null) and as `score` resumes it (rms_scores_open on the existing file
 * with the identity it records, then its status column read). Input: the whole file, written to a scratch file.
 * report/export read the dataset the file names (pairs_file) when it exists, as they do.
 *
 * FUZZ_MAX_ROWS: as in fuzz-pairs-h5.c, a file declaring more rows is opened and checked, not read. */
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/fuzz_hdf5.h"

#include "io/h5util.h"
#include "io/scores_h5.h"
#include "src/cli/commands.h"

#define FUZZ_MAX_ROWS ((int64_t)1 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    rms_h5_process_init(); // as main does (io/h5util.h: no HDF5 clean-up at exit)
    fuzz_hdf5_init(argc, argv); // the probe's child: its crashes are its verdict, not findings (fuzz_hdf5.h)
    if (!freopen("/dev/null", "w", stdout)) abort(); // report/export print there
    return 0;
}

static void run(rms_cmd_fn fn, int argc, char **argv) {
    rms_err err;
    err.msg[0] = '\0';
    const rms_status st = fn(argc, argv, &err);
    if (st != RMS_OK && st != RMS_BAD_ROWS && !err.msg[0]) abort(); // every failure carries its message
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write_file("scores.h5", data, size);
    char path[8192], out[8192];
    FUZZ_PRINT(path, "%s", fuzz_path("scores.h5"));
    FUZZ_PRINT(out, "%s", fuzz_path("merged.h5"));
    static rms_scores_meta meta; // large (the model manifest): not on the stack
    rms_scores *s = NULL;
    rms_err err;
    if (rms_scores_open_read(&s, path, &meta, &err) != RMS_OK) {
        if (s != NULL || !err.msg[0]) abort();
        return 0;
    }
    rms_scores_close(s, &err);
    if (meta.n_rows < 0) abort();
    if (meta.n_rows > FUZZ_MAX_ROWS) return 0;

    char *report[] = {"rmscore", "report", path, "--json", NULL};
    run(rms_cmd_report, 4, report);
    char *export[] = {"rmscore", "export", path, "--format", "jsonl", NULL};
    run(rms_cmd_export, 5, export);
    char *merge[] = {"rmscore", "merge", "--out", out, "--allow-incomplete", path, NULL};
    run(rms_cmd_merge, 6, merge);
    unlink(out);

    // score's resume: the same identity as recorded, so the open goes as far as a resume does.
    int resumed = 0;
    if (rms_scores_open(&s, path, &meta, &resumed, &err) == RMS_OK) {
        int8_t *status = malloc((size_t)(meta.n_rows ? meta.n_rows : 1)); // (n_rows)
        if (!status) abort();
        if (rms_scores_read(s, NULL, NULL, status, &err) == RMS_OK) fuzz_touch(status, (size_t)meta.n_rows);
        free(status);
        rms_scores_close(s, &err);
    } else if (s != NULL || !err.msg[0]) {
        abort();
    }
    return 0;
}
