/* fuzz-tokenize.c — tokenizer encoding of arbitrary bytes (src/text/tokenizer.h: rms_tokenizer_encode) with a
 * fixed small Llama-3-style tokenizer loaded once: byte-level BPE over the 256 byte symbols (ids 0..255) plus a
 * few merges, Llama 3's pre-tokenizer regex with ignore_merges, added tokens (special and not, with lstrip /
 * rstrip / single_word), and the BOS post-processor. Input: byte 0 bit 0 = add_special, the rest the text.
 * Checks what the header promises: invalid UTF-8 is an error that leaves out as it was (and check_utf8 agrees);
 * otherwise ids are appended after what out held (BOS first with add_special, at least one id for non-empty
 * text), each a known id (< the vocabulary size). */
#include "tests/fuzz/fuzz_util.h"

#include "src/text/tokenizer.h"

static rms_tokenizer *tok;
static int64_t vocab;

/* The GPT-2 byte-level symbol of byte b: printable Latin-1 bytes stand for themselves, the others for 256 + k in
 * byte order. Written as a JSON \u escape. */
static void byte_symbol(int b, char *out) {
    int cp = b, k = 0;
    const int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (!printable) {
        for (int c = 0; c < b; c++)
            if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) k++;
        cp = 256 + k;
    }
    sprintf(out, "\\u%04x", cp);
}

static const char *const MERGES[][2] = {{"h", "e"}, {"t", "he"}, {"\\u0120", "the"}, {"i", "n"}, {"\\u0120", "in"},
                                        {"e", "r"}, {"o", "n"},  {"\\u0120", "a"},   {"r", "e"}, {"a", "t"}};

static const char REGEX[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
                            "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+";

static void write_tokenizer(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fprintf(f, "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":["
               "{\"id\":1000,\"content\":\"<|begin_of_text|>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
               "\"normalized\":false,\"special\":true},"
               "{\"id\":1001,\"content\":\"<|eot_id|>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":true,"
               "\"normalized\":false,\"special\":true},"
               "{\"id\":1002,\"content\":\"<tool>\",\"single_word\":true,\"lstrip\":true,\"rstrip\":false,"
               "\"normalized\":true,\"special\":false}],"
               "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
               "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"%s\"},\"behavior\":\"Isolated\",\"invert\":false},"
               "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]},"
               "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":"
               "{\"id\":\"<|begin_of_text|>\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
               "\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}],"
               "\"special_tokens\":{\"<|begin_of_text|>\":{\"id\":\"<|begin_of_text|>\",\"ids\":[1000],"
               "\"tokens\":[\"<|begin_of_text|>\"]}}},"
               "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},"
               "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
               "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":true,\"vocab\":{",
            REGEX);
    char sym[16];
    for (int b = 0; b < 256; b++) {
        byte_symbol(b, sym);
        fprintf(f, "%s\"%s\":%d", b ? "," : "", sym, b);
    }
    const int n_merges = (int)(sizeof MERGES / sizeof MERGES[0]);
    for (int i = 0; i < n_merges; i++) fprintf(f, ",\"%s%s\":%d", MERGES[i][0], MERGES[i][1], 256 + i);
    fprintf(f, "},\"merges\":[");
    for (int i = 0; i < n_merges; i++) fprintf(f, "%s\"%s %s\"", i ? "," : "", MERGES[i][0], MERGES[i][1]);
    fprintf(f, "]}}\n");
    if (fclose(f) != 0) abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_write_file("tok/.keep", "", 0);
    char dir[8192];
    FUZZ_PRINT(dir, "%s", fuzz_path("tok"));
    char path[8300];
    FUZZ_PRINT(path, "%s/tokenizer.json", dir);
    write_tokenizer(path);
    rms_err err;
    if (rms_tokenizer_load(&tok, dir, &err) != RMS_OK) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    vocab = rms_tokenizer_vocab_size(tok);
    if (vocab != 1003) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int add_special = data[0] & 1;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    rms_ids out;
    rms_ids_init(&out);
    if (rms_ids_reserve(&out, 1) != 0) abort();
    out.ids[0] = -7; // something already there, which encode must keep
    out.n = 1;
    rms_err err;
    const rms_status utf8 = rms_tokenizer_check_utf8(tok, text, len, &err);
    const rms_status st = rms_tokenizer_encode(tok, text, len, add_special, &out, &err);
    if ((utf8 == RMS_OK) != (st == RMS_OK) || out.ids[0] != -7) abort();
    if (st == RMS_OK) {
        if (add_special && (out.n < 2 || out.ids[1] != 1000)) abort();
        if (!add_special && len > 0 && out.n < 2) abort();
        for (int64_t i = 1; i < out.n; i++)
            if (out.ids[i] < 0 || out.ids[i] >= vocab) abort();
    } else if (out.n != 1) {
        abort();
    }
    rms_ids_free(&out);
    return 0;
}
