/* fuzz-config.c — config.json text (io/config.h: rms_config_parse) as the model loader reads it.
 * Input: the file's bytes. A config that parses must hold what the header promises (positive sizes, the head
 * arithmetic consistent): a violation aborts, so libFuzzer reports it. */
#include "tests/fuzz/fuzz_util.h"

#include "io/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_strndup(data, size);
    rms_config c;
    rms_err err;
    if (rms_config_parse(&c, text, "fuzz/config.json", &err) == RMS_OK) {
        if (c.hidden_size <= 0 || c.intermediate_size <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 ||
            c.head_dim <= 0 || c.vocab_size <= 0 || c.n_heads % c.n_kv_heads != 0 || c.num_labels != 1)
            abort();
    } else if (!err.msg[0]) {
        abort(); // every failure carries its one-line message
    }
    free(text);
    return 0;
}
