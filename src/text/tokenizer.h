/* tokenizer.h — the Hugging Face `tokenizers` pipeline of Llama 3 tokenizer.json files, exactly:
 * added tokens split out first (leftmost-longest, with their lstrip/rstrip/single_word flags, the
 * non-normalized ones before the normalized ones), the `Split` pre-tokenizer regex (PCRE2, UTF + UCP,
 * JIT), byte-level mapping, BPE with merge ranks and `ignore_merges`, and the `TemplateProcessing`
 * post-processor (BOS) when special tokens are requested.
 *
 * What it does not understand it refuses at load time with a clear error (another model type, a
 * normalizer, another pre-tokenizer, byte_fallback, dropout, ...), rather than tokenizing differently.
 *
 * Ownership: rms_tokenizer_load returns a tokenizer owned by the caller, released with
 * rms_tokenizer_free. Encoding appends ids to a caller-owned rms_ids. A tokenizer holds a BPE cache
 * and PCRE2 match data: use one tokenizer per thread.
 */
#ifndef RMS_TOKENIZER_H
#define RMS_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "io/ids_input.h"
#include "src/base/status.h"

/* Limits on what tokenizer.json may declare (README "What rmscore refuses, and how"): ids and the vocabulary size
 * as config.json's vocab_size (2^22; Llama 3 has 128,256 ids, the largest published vocabularies ~256k), merges
 * (Llama 3: 280,147), added tokens (Llama 3: 256; each is a capture group of one PCRE2 pattern, whose limit is
 * 65,535). Integral ids only; a value outside is an RMS_ERR_FORMAT error. */
#define RMS_TOKENIZER_MAX_ID 4194304      /* every id < this */
#define RMS_TOKENIZER_MAX_MERGES 4194304  /* entries of model.merges */
#define RMS_TOKENIZER_MAX_ADDED 60000     /* entries of added_tokens */
#define RMS_TOKENIZER_MAX_ADDED_BYTES 1048576 /* their contents together (Llama 3: ~6 KB; compiling a pattern of
                                                * 100 MB would take PCRE2 minutes) */

typedef struct rms_tokenizer rms_tokenizer;

/* Loads DIR/tokenizer.json. */
rms_status rms_tokenizer_load(rms_tokenizer **out, const char *dir, rms_err *err);
void rms_tokenizer_free(rms_tokenizer *t);

/* Appends the ids of `text` (len bytes, UTF-8) to out: HF `tokenizer(text)["input_ids"]` with
 * add_special = 1, `add_special_tokens=False` with 0. Invalid UTF-8 is an RMS_ERR_INPUT error naming
 * the byte offset; out is then left as it was. */
rms_status rms_tokenizer_encode(rms_tokenizer *t, const char *text, size_t len, int add_special, rms_ids *out,
                                rms_err *err);

/* RMS_OK if text is valid UTF-8, else RMS_ERR_INPUT naming the byte offset (what encode checks first). */
rms_status rms_tokenizer_check_utf8(rms_tokenizer *t, const char *text, size_t len, rms_err *err);

/* The id of an added token or vocabulary entry given as text (e.g. "<|end_of_text|>"), or -1. */
int64_t rms_tokenizer_token_id(const rms_tokenizer *t, const char *token);

/* Highest id + 1 over the vocabulary, the added tokens and the post-processor's special tokens: every id encode
 * can return is below it. */
int64_t rms_tokenizer_vocab_size(const rms_tokenizer *t);

#endif
