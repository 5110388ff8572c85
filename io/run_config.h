/* run_config.h — run configs (`rmscore score --config FILE`): one JSON object whose keys are a command's
 * long options with '_' for '-' (model, data, out, microbatch_tokens, layer_split, ...), read with cJSON
 * and applied through the command's option table (src/base/options.h), so the config knows exactly
 * the options the command line knows. JSON types: strings for paths, choices and shards (\"1/4\"),
 * integers, true/false for flags, a list of integers for lists; null = not set (the default stays).
 * Unknown keys and wrong types are RMS_ERR_FORMAT errors naming the key; a value the option refuses
 * (range, choice) is its RMS_ERR_USAGE error. Messages name the config file. See configs/README.md.
 *
 * Ownership: nothing is allocated for the caller; values are copied into the caller's options struct.
 */
#ifndef RMS_RUN_CONFIG_H
#define RMS_RUN_CONFIG_H

#include "src/base/options.h"
#include "src/base/status.h"

/* Applies JSON text (origin names it in messages) to target, over the values already there. */
rms_status rms_run_config_apply_text(const char *json_text, const char *origin, const rms_command *cmd, void *target,
                                     rms_err *err);
/* Reads path, applies it, and stores the file's SHA-256 (hex, 65 bytes) in sha256_hex if non-NULL. */
rms_status rms_run_config_apply(const char *path, const rms_command *cmd, void *target, char *sha256_hex,
                                rms_err *err);

#endif
