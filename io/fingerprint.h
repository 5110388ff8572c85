/* fingerprint.h — a checkpoint identified by its content, not by its path: what `score` records in /scores and
 * compares on resume and merge, so that a checkpoint staged to another directory (node-local disk) is the same
 * model and a checkpoint replaced at the same path is not.
 *
 * The fingerprint is the SHA-256 of a manifest: one line per file that decides the scores, in `sha256sum`'s format
 * ("<sha256 of the file's bytes>  <name>\n"), sorted by name (bytewise): config.json, the safetensors files (every
 * shard the index names, or model.safetensors) and model.safetensors.index.json when present. Every byte of the
 * weights is hashed: two fine-tunes of one architecture have identical safetensors headers and sizes, so a
 * fingerprint of headers and sizes would not tell them apart. The same value from the shell:
 *   cd DIR && sha256sum config.json model*.safetensors* | LC_ALL=C sort -k 2 | sha256sum
 * and a directory can be checked against a recorded manifest with `sha256sum -c`. Each file's line is also what
 * the Hugging Face Hub shows as its LFS "SHA256". Tokenizer files are not part of it: scores depend on the ids,
 * and the dataset records its tokenizer's hash.
 *
 * Cost: one read of the checkpoint, files hashed in parallel (up to `threads`, one file per thread); SHA-256 runs
 * at ~1.5 GB/s per core with the CPU's SHA extensions. The pages read stay in the page cache, where a
 * single-process run then finds its weights.
 *
 * Ownership: rms_model_fingerprint is a plain caller-owned value (fixed buffers; nothing to free).
 */
#ifndef RMS_FINGERPRINT_H
#define RMS_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "src/base/status.h"

#define RMS_FINGERPRINT_MANIFEST_MAX 16384 /* a longer manifest is kept cut, with a last line saying so */

typedef struct rms_model_fingerprint {
    char sha256[65];                             /* the fingerprint: SHA-256 of the whole manifest */
    char manifest[RMS_FINGERPRINT_MANIFEST_MAX]; /* "<sha256>  <name>\n" per file, by name */
    int n_files;
    uint64_t bytes;  /* bytes hashed */
    double seconds;  /* wall time */
} rms_model_fingerprint;

/* Fingerprints the checkpoint directory dir with up to threads threads (< 1: 1). A missing config.json,
 * index or shard is an error naming it. */
rms_status rms_model_fingerprint_compute(rms_model_fingerprint *fp, const char *dir, int threads, rms_err *err);

/* What tells two manifests apart, for an error message: "<name>: sha256 <12 hex>… vs <12 hex>…", "<name> only
 * in the first", …, joined with "; " into out (cap bytes); "" when neither is a manifest or they are equal. */
void rms_fingerprint_manifest_diff(const char *a, const char *b, char *out, size_t cap);

#endif
