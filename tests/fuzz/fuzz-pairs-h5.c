/* fuzz-pairs-h5.c — a mutated pairs file (io/pairs_h5.h) read as `score` reads it (open and layout checks, the
 * fixed-size columns, the ids of every row in batches) and as `report`/`export` read it (every string column).
 * Input: the whole file, written to a scratch file (HDF5 opens paths).
 *
 * FUZZ_MAX_ROWS: rows read at most. The commands allocate their columns for the N rows the file declares; a
 * mutated N in the billions is only an out-of-memory error for them, and here would stop the fuzzer at its
 * allocation limit, so such files are opened and checked but their rows not read. */
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/fuzz_hdf5.h"

#include "io/h5util.h"
#include "io/pairs_h5.h"

#define FUZZ_MAX_ROWS ((int64_t)1 << 20)
#define FUZZ_IDS_BATCH 64

static void read_rows(rms_pairs_reader *r, int64_t n) {
    rms_err err;
    int32_t *len_c = malloc((size_t)n * sizeof(int32_t)), *len_r = malloc((size_t)n * sizeof(int32_t)); // (n)
    int32_t *shared = malloc((size_t)n * sizeof(int32_t));                                              // (n)
    int8_t *status = malloc((size_t)n);                                                                 // (n)
    if (!len_c || !len_r || !shared || !status) abort();
    if (rms_pairs_reader_columns(r, len_c, len_r, shared, status, &err) == RMS_OK) {
        rms_ids ids;
        rms_ids_init(&ids);
        int64_t rows[FUZZ_IDS_BATCH], offsets[2 * FUZZ_IDS_BATCH + 1];
        for (int64_t r0 = 0; r0 < n; r0 += FUZZ_IDS_BATCH) {
            const int64_t k = n - r0 < FUZZ_IDS_BATCH ? n - r0 : FUZZ_IDS_BATCH;
            for (int64_t i = 0; i < k; i++) rows[i] = n - 1 - (r0 + i); // any order, as the scheduler asks
            ids.n = 0;
            if (rms_pairs_reader_ids(r, rows, k, &ids, offsets, &err) != RMS_OK) break;
            // The promise score relies on: sequence lengths are the stored lengths, inside what was appended.
            if (offsets[0] != 0 || offsets[2 * k] != ids.n) abort();
            for (int64_t i = 0; i < k; i++)
                if (offsets[2 * i + 1] - offsets[2 * i] != len_c[rows[i]] ||
                    offsets[2 * i + 2] - offsets[2 * i + 1] != len_r[rows[i]])
                    abort();
            fuzz_touch(ids.ids, (size_t)ids.n * sizeof(int32_t));
        }
        rms_ids_free(&ids);
    }
    static const char *const COLUMNS[] = {"id", "source", "error", "chosen_text", "rejected_text"};
    int64_t *starts = malloc((size_t)(n ? n : 1) * sizeof(int64_t)); // (n)
    if (!starts) abort();
    rms_text t;
    rms_text_init(&t);
    for (int c = 0; c < 5; c++) {
        if (rms_pairs_reader_strings(r, COLUMNS[c], 0, n, &t, starts, &err) != RMS_OK) continue;
        for (int64_t i = 0; i < n; i++) {
            if (starts[i] < 0 || (size_t)starts[i] >= t.len + (t.len == 0)) abort();
            if (t.len) fuzz_touch(t.data + starts[i], strlen(t.data + starts[i]));
        }
    }
    rms_text_free(&t);
    free(starts);
    free(len_c);
    free(len_r);
    free(shared);
    free(status);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    rms_h5_process_init(); // as main does (io/h5util.h: no HDF5 clean-up at exit)
    fuzz_hdf5_init(argc, argv); // the probe's child: its crashes are its verdict, not findings (fuzz_hdf5.h)
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write_file("pairs.h5", data, size);
    rms_pairs_reader *r = NULL;
    rms_pairs_meta meta;
    rms_err err;
    if (rms_pairs_reader_open(&r, fuzz_path("pairs.h5"), &meta, &err) == RMS_OK) {
        if (meta.n_rows < 0) abort();
        if (meta.n_rows <= FUZZ_MAX_ROWS) read_rows(r, meta.n_rows);
        rms_pairs_reader_close(r);
    } else if (r != NULL || !err.msg[0]) {
        abort();
    }
    return 0;
}
