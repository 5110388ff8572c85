/* Unit tests of src/tokenizer.c on small hand-made tokenizer.json files: the byte-level alphabet,
 * BPE merge order, ignore_merges, added-token splitting and its flags, the post-processor, and what
 * the loader refuses. (Parity with Hugging Face on the real Llama 3.1 tokenizer is
 * tests/tokenizer/test_tokenizer_parity.py.) */
#include "tests/check.h"
#include "src/text/tokenizer.h"

#include <stdint.h>

#define LLAMA3_REGEX                                                                                   \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|" \
    "\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"

/* UTF-8 of a code point below 0x800, JSON-escaped as \uXXXX to keep the file ASCII. */
static void append_escaped_cp(char *buf, int cp) { sprintf(buf + strlen(buf), "\\u%04x", cp); }

static int byte_cp(int b) { // the GPT-2 byte-level alphabet, written out independently of the tokenizer
    static int table[256], ready = 0;
    if (!ready) {
        int next = 256;
        for (int c = 0; c < 256; c++) {
            const int printable = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
            table[c] = printable ? c : next++;
        }
        ready = 1;
    }
    return table[b];
}

/* Writes DIR/tokenizer.json: the 256 byte symbols with id = code point of their byte-level character,
 * extra vocab entries and merges (JSON fragments), added tokens, normalizer, post-processor. */
static const char *write_tokenizer(const char *name, const char *extra_vocab, const char *merges, const char *added,
                                   int ignore_merges, const char *normalizer, const char *model_type) {
    const char *dir = check_tmpdir(name);
    static char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    static char vocab[65536];
    vocab[0] = '\0';
    for (int b = 0; b < 256; b++) {
        strcat(vocab, b ? ",\"" : "\"");
        append_escaped_cp(vocab, byte_cp(b));
        sprintf(vocab + strlen(vocab), "\":%d", byte_cp(b));
    }
    fprintf(f,
            "{\"version\":\"1.0\",\"added_tokens\":[%s],\"normalizer\":%s,"
            "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":\"%s\"},"
            "\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
            "\"trim_offsets\":true,\"use_regex\":false}]},"
            "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
            "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
            "{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}],\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[900],"
            "\"tokens\":[\"<s>\"]}}},"
            "\"model\":{\"type\":\"%s\",\"dropout\":null,\"unk_token\":null,\"fuse_unk\":false,\"byte_fallback\":false,"
            "\"ignore_merges\":%s,\"vocab\":{%s%s%s},\"merges\":[%s]}}",
            added, normalizer, LLAMA3_REGEX, model_type, ignore_merges ? "true" : "false", vocab,
            *extra_vocab ? "," : "", extra_vocab, merges);
    fclose(f);
    return dir;
}

static rms_tokenizer *load(const char *dir) {
    rms_tokenizer *t = NULL;
    rms_err err;
    if (rms_tokenizer_load(&t, dir, &err) != RMS_OK) fprintf(stderr, "  load: %s\n", err.msg);
    return t;
}

/* Encodes text (no special tokens) and compares with the expected ids (terminated by -1). */
static void expect_ids(rms_tokenizer *t, const char *text, size_t len, int add_special, const int *want) {
    rms_ids ids;
    rms_ids_init(&ids);
    rms_err err;
    CHECK_EQ_INT(rms_tokenizer_encode(t, text, len, add_special, &ids, &err), RMS_OK);
    int64_t n = 0;
    while (want[n] >= 0) n++;
    int same = ids.n == n;
    for (int64_t i = 0; same && i < n; i++) same = ids.ids[i] == want[i];
    if (!same) {
        fprintf(stderr, "  \"%s\": got", text);
        for (int64_t i = 0; i < ids.n; i++) fprintf(stderr, " %d", ids.ids[i]);
        fprintf(stderr, "\n");
    }
    CHECK(same);
    rms_ids_free(&ids);
}

static void test_bytes_map_to_the_gpt2_byte_level_alphabet(void) {
    rms_tokenizer *t = load(write_tokenizer("tok-bytes", "", "", "", 0, "null", "BPE"));
    CHECK(t != NULL);
    if (!t) return;
    expect_ids(t, "A", 1, 0, (const int[]){'A', -1});
    expect_ids(t, " ", 1, 0, (const int[]){0x120, -1});  // space -> U+0120
    expect_ids(t, "\n", 1, 0, (const int[]){0x10A, -1}); // newline -> U+010A
    expect_ids(t, "\t", 1, 0, (const int[]){0x109, -1});
    expect_ids(t, "\xc2\xad", 2, 0, (const int[]){0xC2, 0x143, -1}); // U+00AD soft hyphen: bytes C2 AD
    expect_ids(t, "\0", 1, 0, (const int[]){0x100, -1});
    expect_ids(t, "", 0, 1, (const int[]){900, -1});
    rms_tokenizer_free(t);
}

static void test_merges_apply_lowest_rank_first(void) {
    // "a b" before "b c": abc -> ab + c -> abc
    rms_tokenizer *t = load(write_tokenizer("tok-rank1", "\"ab\":1000,\"bc\":1001,\"abc\":1002",
                                            "\"a b\",\"b c\",\"ab c\"", "", 0, "null", "BPE"));
    if (!t) { CHECK(t != NULL); return; }
    expect_ids(t, "abc", 3, 0, (const int[]){1002, -1});
    rms_tokenizer_free(t);
    // "b c" first and no "a bc" merge: a + bc
    t = load(write_tokenizer("tok-rank2", "\"ab\":1000,\"bc\":1001,\"abc\":1002", "\"b c\",\"a b\",\"ab c\"", "", 0,
                             "null", "BPE"));
    if (!t) { CHECK(t != NULL); return; }
    expect_ids(t, "abc", 3, 0, (const int[]){'a', 1001, -1});
    rms_tokenizer_free(t);
}

static void test_equal_ranks_merge_the_leftmost_pair_first(void) {
    rms_tokenizer *t = load(write_tokenizer("tok-left", "\"aa\":1000", "[\"a\",\"a\"]", "", 0, "null", "BPE"));
    if (!t) { CHECK(t != NULL); return; }
    expect_ids(t, "aaa", 3, 0, (const int[]){1000, 'a', -1});
    expect_ids(t, "aaaa", 4, 0, (const int[]){1000, 1000, -1});
    rms_tokenizer_free(t);
}

static void test_ignore_merges_takes_a_whole_word_found_in_the_vocabulary(void) {
    const char *vocab = "\"xy\":1000,\"xyz\":1001";
    rms_tokenizer *t = load(write_tokenizer("tok-ignore", vocab, "\"x y\"", "", 1, "null", "BPE"));
    if (!t) { CHECK(t != NULL); return; }
    expect_ids(t, "xyz", 3, 0, (const int[]){1001, -1}); // no merge reaches xyz, the vocabulary does
    rms_tokenizer_free(t);
    t = load(write_tokenizer("tok-noignore", vocab, "\"x y\"", "", 0, "null", "BPE"));
    if (!t) { CHECK(t != NULL); return; }
    expect_ids(t, "xyz", 3, 0, (const int[]){1000, 'z', -1});
    rms_tokenizer_free(t);
}

#define ADDED(id, content, lstrip, rstrip, single, special)                                              \
    "{\"id\":" #id ",\"content\":\"" content "\",\"single_word\":" single ",\"lstrip\":" lstrip ",\"rstrip\":" rstrip \
    ",\"normalized\":false,\"special\":" special "}"

static void test_added_tokens_are_split_out_leftmost_longest(void) {
    rms_tokenizer *t = load(write_tokenizer("tok-added", "", "",
                                            ADDED(2000, "<a>", "false", "false", "false", "true") ","
                                            ADDED(2001, "<a><b>", "false", "false", "false", "true"),
                                            0, "null", "BPE"));
    if (!t) { CHECK(t != NULL); return; }
    expect_ids(t, "x<a><b>y", 8, 0, (const int[]){'x', 2001, 'y', -1});
    expect_ids(t, "<a>", 3, 1, (const int[]){900, 2000, -1});
    expect_ids(t, "<a", 2, 0, (const int[]){'<', 'a', -1});
    CHECK_EQ_INT(rms_tokenizer_token_id(t, "<a><b>"), 2001);
    CHECK_EQ_INT(rms_tokenizer_vocab_size(t), 2002);
    rms_tokenizer_free(t);
}

static void test_lstrip_and_rstrip_absorb_neighbouring_whitespace(void) {
    rms_tokenizer *t = load(write_tokenizer("tok-strip", "", "",
                                            ADDED(2000, "<l>", "true", "false", "false", "true") ","
                                            ADDED(2001, "<r>", "false", "true", "false", "true"),
                                            0, "null", "BPE"));
    if (!t) { CHECK(t != NULL); return; }
    expect_ids(t, "a  <l>b", 7, 0, (const int[]){'a', 2000, 'b', -1});
    expect_ids(t, "a<r> \tb", 7, 0, (const int[]){'a', 2001, 'b', -1});
    expect_ids(t, "a <r> b", 7, 0, (const int[]){'a', 0x120, 2001, 'b', -1});
    rms_tokenizer_free(t);
}

static void test_single_word_tokens_match_only_between_non_word_characters(void) {
    rms_tokenizer *t = load(write_tokenizer("tok-single", "", "", ADDED(2000, "<w>", "false", "false", "true", "false"),
                                            0, "null", "BPE"));
    if (!t) { CHECK(t != NULL); return; }
    expect_ids(t, "a<w>", 4, 0, (const int[]){'a', '<', 'w', '>', -1});
    expect_ids(t, "<w> a", 5, 0, (const int[]){2000, 0x120, 'a', -1});
    rms_tokenizer_free(t);
}

static void test_invalid_utf8_is_an_error_naming_the_byte(void) {
    rms_tokenizer *t = load(write_tokenizer("tok-utf8", "", "", "", 0, "null", "BPE"));
    if (!t) { CHECK(t != NULL); return; }
    rms_ids ids;
    rms_ids_init(&ids);
    rms_err err;
    CHECK_EQ_INT(rms_tokenizer_encode(t, "ab\xff", 3, 1, &ids, &err), RMS_ERR_INPUT);
    CHECK_CONTAINS(err.msg, "byte 2");
    CHECK_EQ_INT(ids.n, 0);
    CHECK_EQ_INT(rms_tokenizer_encode(t, "\xed\xa0\x80", 3, 0, &ids, &err), RMS_ERR_INPUT); // a surrogate
    CHECK_EQ_INT(rms_tokenizer_encode(t, "\xc0\xaf", 2, 0, &ids, &err), RMS_ERR_INPUT);     // overlong
    rms_ids_free(&ids);
    rms_tokenizer_free(t);
}

static void test_tokenizers_it_does_not_understand_are_refused(void) {
    rms_tokenizer *t = NULL;
    rms_err err;
    CHECK_EQ_INT(rms_tokenizer_load(&t, write_tokenizer("tok-norm", "", "", "", 0, "{\"type\":\"NFC\"}", "BPE"), &err),
                 RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "normalizer");
    CHECK_EQ_INT(rms_tokenizer_load(&t, write_tokenizer("tok-wp", "", "", "", 0, "null", "WordPiece"), &err),
                 RMS_ERR_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "BPE");
    CHECK(t == NULL);
    CHECK_EQ_INT(rms_tokenizer_load(&t, check_tmpdir("tok-missing"), &err), RMS_ERR_IO);
    CHECK_CONTAINS(err.msg, "tokenizer.json");
}

int main(void) {
    RUN(test_bytes_map_to_the_gpt2_byte_level_alphabet);
    RUN(test_merges_apply_lowest_rank_first);
    RUN(test_equal_ranks_merge_the_leftmost_pair_first);
    RUN(test_ignore_merges_takes_a_whole_word_found_in_the_vocabulary);
    RUN(test_added_tokens_are_split_out_leftmost_longest);
    RUN(test_lstrip_and_rstrip_absorb_neighbouring_whitespace);
    RUN(test_single_word_tokens_match_only_between_non_word_characters);
    RUN(test_invalid_utf8_is_an_error_naming_the_byte);
    RUN(test_tokenizers_it_does_not_understand_are_refused);
    return check_summary();
}
