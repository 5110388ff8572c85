/* fuzz-tokenizer-load.c — a mutated tokenizer.json (src/text/tokenizer.h: rms_tokenizer_load). Input: the file's
 * bytes, written as SCRATCH/tok/tokenizer.json. A tokenizer that loads then encodes a fixed text (plain words,
 * digits, whitespace runs, the Llama 3 special tokens) with and without special tokens: every id it returns must
 * lie below rms_tokenizer_vocab_size. */
#include "tests/fuzz/fuzz_util.h"

#include "src/text/tokenizer.h"

static const char TEXT[] = "<|begin_of_text|>Hello world, the 12345 cats  ran\n\n\t<|eot_id|> <pad>caf\xc3\xa9 \xf0\x9f\x98\x80!";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_write_file("tok/tokenizer.json", data, size);
    char dir[8192];
    FUZZ_PRINT(dir, "%s", fuzz_path("tok"));
    rms_tokenizer *t = NULL;
    rms_err err;
    if (rms_tokenizer_load(&t, dir, &err) != RMS_OK) {
        if (!err.msg[0]) abort();
        return 0;
    }
    const int64_t vocab = rms_tokenizer_vocab_size(t);
    rms_ids out;
    rms_ids_init(&out);
    for (int special = 0; special < 2; special++) {
        out.n = 0;
        if (rms_tokenizer_encode(t, TEXT, sizeof TEXT - 1, special, &out, &err) != RMS_OK) continue;
        for (int64_t i = 0; i < out.n; i++)
            if (out.ids[i] < 0 || out.ids[i] >= vocab) abort();
    }
    (void)rms_tokenizer_token_id(t, "<|eot_id|>");
    rms_ids_free(&out);
    rms_tokenizer_free(t);
    return 0;
}
