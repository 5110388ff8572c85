/* run_config.h — run configs for `rmscore score --config FILE` (JSON, parsed with cJSON).
 *
 * A config is one JSON object whose keys are score's long options with '_' for '-' (model, data, out,
 * tokenizer, threads, microbatch_tokens, max_tokens, overlong, compute, stages, layer_split,
 * progress_every, allow_tokenizer_mismatch, quiet, shard). It is turned into the equivalent
 * command-line arguments, placed before the real ones so that flags given on the command line override
 * it. Unknown keys and wrong types are errors naming the key. See configs/README.md.
 *
 * Ownership: *args (n strings) are allocated here and freed with rms_run_config_free_args.
 */
#ifndef RMS_RUN_CONFIG_H
#define RMS_RUN_CONFIG_H

#include "src/base/status.h"

/* Parses JSON text (origin names it in messages) into option arguments. */
rms_status rms_run_config_args(const char *json_text, const char *origin, char ***args, int *n, rms_err *err);
/* Reads and parses path. */
rms_status rms_run_config_load(const char *path, char ***args, int *n, rms_err *err);
void rms_run_config_free_args(char **args, int n);

#endif
