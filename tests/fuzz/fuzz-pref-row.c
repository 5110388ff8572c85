/* fuzz-pref-row.c — one JSONL preference row (io/pref_row.h: rms_pref_row_parse) in every format, as `prepare`
 * reads its input. Input: byte 0 picks the format (auto, tulu, rewardbench, trl), the rest is the line.
 * A row that parses is checked against the header's promises and written back as JSON the way prepare stores
 * the conversations. */
#include "tests/fuzz/fuzz_util.h"

#include "io/pref_row.h"

static void check_conversation(const rms_json *c) {
    if (!c || c->kind != RMS_JSON_ARRAY || c->n < 1) abort();
    for (int64_t i = 0; i < c->n; i++)
        if (!c->items[i] || c->items[i]->kind != RMS_JSON_OBJECT) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const rms_row_format want = (rms_row_format)(data[0] % 4);
    rms_json_doc *doc = rms_json_doc_new();
    if (!doc) abort();
    rms_pref_row row;
    rms_err err;
    const int64_t index = data[0] >> 2;
    if (rms_pref_row_parse(doc, (const char *)data + 1, size - 1, index, want, &row, &err) == RMS_OK) {
        if (row.format == RMS_ROW_AUTO || (want != RMS_ROW_AUTO && row.format != want)) abort();
        if (!row.id || strlen(row.id) != row.id_len || !row.source || strlen(row.source) != row.source_len) abort();
        check_conversation(row.chosen);
        check_conversation(row.rejected);
        rms_text t;
        rms_text_init(&t);
        if (rms_json_write(&t, row.chosen) != 0 || rms_json_write(&t, row.rejected) != 0) abort();
        rms_text_free(&t);
    } else if (!err.msg[0]) {
        abort();
    }
    rms_json_doc_free(doc);
    return 0;
}
