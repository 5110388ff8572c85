/* fuzz-ids-input.c — one line of token ids (io/ids_input.h: rms_ids_parse_line) as `score-ids` reads stdin.
 * Input: byte 0 picks the vocabulary size (1 .. 2^31-1 on a log scale), the rest is the line. Checks what the
 * header promises: on success every id appended is in [0, vocab) and *n_added of them were appended after what
 * was there; on failure v is left as it was. */
#include "tests/fuzz/fuzz_util.h"

#include "io/ids_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int64_t vocab = (int64_t)1 << (data[0] % 32);
    if (vocab > INT32_MAX) vocab = INT32_MAX;
    char *line = fuzz_strndup(data + 1, size - 1);
    rms_ids v;
    rms_ids_init(&v);
    int64_t added = -1;
    rms_err err;
    if (rms_ids_parse_line(&v, "[7]", 8, &added, &err) != RMS_OK || v.n != 1 || v.ids[0] != 7) abort();
    if (rms_ids_parse_line(&v, line, vocab, &added, &err) == RMS_OK) {
        if (added < 1 || v.n != 1 + added || v.ids[0] != 7) abort();
        for (int64_t i = 1; i < v.n; i++)
            if (v.ids[i] < 0 || v.ids[i] >= vocab) abort();
    } else if (v.n != 1 || v.ids[0] != 7 || !err.msg[0]) {
        abort();
    }
    rms_ids_free(&v);
    free(line);
    return 0;
}
